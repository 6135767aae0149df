// One client connection, in a process of its own: key exchange, authentication, and the
// channels it opens (sessions and local forwards), driven by libssh's event loop.
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <sys/types.h>

#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "internal.h"
#include "libssh_message.h"

namespace wsinit::ssh_server {

// A log line on stderr (the supervisor keeps it in start-sshd.log), through the log encoder.
void say(const std::string& message);

class Conn;

// What a channel is to its connection: told about exited children and asked, after each turn of
// the event loop, to move what it can and whether it is finished (then it is freed).
class Channel {
 public:
  virtual ~Channel() = default;
  virtual bool on_child_exit(pid_t, int) { return false; }
  virtual ssh_channel channel() const = 0;
  // A pty-req for this channel; 0 when granted.
  virtual int on_pty(const libssh_message::PtyRequest&) { return -1; }
  virtual void turn() = 0;
  virtual bool finished() const = 0;
  virtual void hang_up() {}  // the connection is ending
};

// Bytes from a channel for a descriptor that may not take them all at once (a child's stdin,
// a forwarded socket): written as the descriptor allows, at most kMaxPending held here. What
// does not fit stays in libssh's channel buffer (whose window then stops the client) and is
// pulled once the descriptor drains.
struct Inbound {
  std::string pending;   // from `head` on: not written yet
  size_t head = 0;
  bool starved = false;  // libssh holds bytes this refused
  // Takes what it can of `data`; returns how many bytes, -1 when the descriptor is gone.
  long put(int fd, const char* data, size_t len);
  // Writes what is pending, then pulls what libssh holds; false when the descriptor is gone.
  bool pump(int fd, ssh_channel channel);
  bool idle() const { return head == pending.size() && !starved; }
  bool holds() const { return head < pending.size(); }

 private:
  bool write_out(int fd);
};

// Whether a client sent past the window it was given (libssh keeps such data rather than
// refusing it): `unread` is what libssh holds for the channel. OpenSSH ends the channel too.
bool beyond_window(uint32_t unread);

// Moves what `fd` has into the channel, at most what the client's window allows.
enum class Moved { data, again, end, blocked };
Moved move_to_channel(int fd, ssh_channel channel, bool is_stderr);

class Conn {
 public:
  Conn(ssh_session session, const Options& o, const sockaddr_storage& peer, const sockaddr_storage& local);
  ~Conn();
  // Key exchange and authentication; false when the client did not get in.
  bool authenticate();
  // Serves channels until the client leaves.
  void serve();

  // The event loop's descriptors: wanted events and what to do, applied between polls (libssh's
  // poll loop must not see a registration change inside its callbacks).
  using Handler = void (*)(void* owner, int fd, int revents);
  void watch(int fd, short events, Handler on, void* owner);
  void forget(int fd);  // also closes it, once it is out of the loop

  ssh_session session() const { return session_; }
  const Options& options() const { return o_; }
  SessionFacts facts() const;
  const std::string& peer_text() const { return peer_text_; }

  // libssh's callbacks (static trampolines in connection.cpp).
  int auth_none(const char* user);
  int auth_password(const char* user, const char* password);
  int auth_pubkey(const char* user, ssh_key key, char state);
  ssh_channel open_session();
  int on_message(ssh_message msg);

 private:
  struct Registration {
    short wanted = 0, registered = 0;
    Handler on = nullptr;
    void* owner = nullptr;
    bool close_after = false;
  };
  static int dispatch(socket_t fd, int revents, void* userdata);
  void apply_watches();
  void reap_children();
  bool allowed(const char* user, const char* method);
  int denied(const char* method, const std::string& detail);
  void load_keys();
  ssh_channel open_forward(ssh_message msg);

  ssh_session session_;
  ssh_event event_ = nullptr;
  const Options& o_;
  sockaddr_storage peer_, local_;
  std::string peer_text_;
  int sigchld_fd_ = -1;
  bool authenticated_ = false;
  int failures_ = 0;
  bool keys_loaded_ = false;
  std::vector<ssh_key> keys_;
  std::map<int, Registration> fds_;
  std::list<std::unique_ptr<Channel>> channels_;
  ssh_server_callbacks_struct server_cb_{};
};

// A session channel: pty-req, env, shell, exec, the sftp subsystem, window-change, signal.
std::unique_ptr<Channel> make_session(Conn& conn, ssh_channel channel);
// A direct-tcpip channel joined to a socket; `connecting` names where it is still connecting to
// (empty: connected), for at most kForwardConnectSeconds.
constexpr int kForwardConnectSeconds = 10;
std::unique_ptr<Channel> make_forward(Conn& conn, ssh_channel channel, int socket_fd, const std::string& connecting);

}  // namespace wsinit::ssh_server
