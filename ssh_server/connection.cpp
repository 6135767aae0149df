// One connection: authentication as OpenSSH's sshd does it for the one workspace user, then
// the event loop its channels run on.
#include "connection.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fs.h"
#include "common/log_text.h"

namespace wsinit::ssh_server {
namespace {

Conn& of(void* userdata) { return *static_cast<Conn*>(userdata); }

int cb_none(ssh_session, const char* user, void* u) { return of(u).auth_none(user); }
int cb_password(ssh_session, const char* user, const char* pw, void* u) { return of(u).auth_password(user, pw); }
int cb_pubkey(ssh_session, const char* user, ssh_key key, char state, void* u) { return of(u).auth_pubkey(user, key, state); }
ssh_channel cb_open_session(ssh_session, void* u) { return of(u).open_session(); }
int cb_message(ssh_session, ssh_message msg, void* u) { return of(u).on_message(msg); }

// A socket connecting to IP:PORT (non-blocking): connected, or `*in_progress`; -1 with errno when
// it failed at once. Names are not resolved (a static binary has no NSS), except "localhost".
int start_connect(const char* host, int port, bool* in_progress) {
  std::string h = std::strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  socklen_t len = 0;
  auto addr = parse_address(h + ":" + std::to_string(port), &len);
  if (!addr) {
    errno = EINVAL;
    return -1;
  }
  int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  *in_progress = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&*addr), len) != 0) {
    if (errno == EINPROGRESS) {
      *in_progress = true;
      return fd;
    }
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

}  // namespace

void say(const std::string& message) {
  std::string line = "ssh-server[" + std::to_string(getpid()) + "]: " + log_text::escape(message) + "\n";
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;  // nowhere to report that stderr failed
}

bool Inbound::write_out(int fd) {
  while (head < pending.size()) {
    ssize_t n = write(fd, pending.data() + head, pending.size() - head);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    if (n <= 0) return true;
    head += static_cast<size_t>(n);
  }
  pending.clear();
  head = 0;
  return true;
}

long Inbound::put(int fd, const char* data, size_t len) {
  size_t taken = 0;
  if (idle()) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return -1;
    taken = n > 0 ? static_cast<size_t>(n) : 0;
  }
  size_t held = pending.size() - head;
  size_t room = !starved && kMaxPending > held ? kMaxPending - held : 0;
  size_t hold = std::min(room, len - taken);
  pending.append(data + taken, hold);
  if (taken + hold < len) starved = true;
  return static_cast<long>(taken + hold);
}

// Bytes are pulled from libssh only once everything held here is written, and then all it
// holds at once: each read reopens the client's window to 1.28 MB, and reading while libssh still
// held bytes would let a client outrun a slow reader without bound.
bool Inbound::pump(int fd, ssh_channel channel) {
  if (!write_out(fd)) return false;
  if (head < pending.size() || !starved) return true;
  starved = false;
  for (int round = 0; round < 64; ++round) {  // bounded: libssh holds at most its window and a packet
    int available = ssh_channel_poll(channel, 0);
    if (available <= 0) break;
    size_t old = pending.size();
    pending.resize(old + static_cast<size_t>(available));
    int n = ssh_channel_read_nonblocking(channel, pending.data() + old, static_cast<uint32_t>(available), 0);
    pending.resize(old + static_cast<size_t>(std::max(n, 0)));
    if (n <= 0) break;
  }
  return write_out(fd);
}

bool beyond_window(uint32_t unread) { return unread > kMaxUnread; }

Moved move_to_channel(int fd, ssh_channel channel, bool is_stderr) {
  uint32_t window = ssh_channel_window_size(channel);
  if (window == 0) return Moved::blocked;
  char buf[kReadChunk];
  ssize_t n = read(fd, buf, std::min<size_t>(sizeof buf, window));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return Moved::again;
  if (n <= 0) return Moved::end;  // EOF, or EIO from a terminal whose processes are gone
  int written = is_stderr ? ssh_channel_write_stderr(channel, buf, static_cast<uint32_t>(n))
                          : ssh_channel_write(channel, buf, static_cast<uint32_t>(n));
  return written < 0 ? Moved::end : Moved::data;
}

Conn::Conn(ssh_session session, const Options& o, const sockaddr_storage& peer, const sockaddr_storage& local)
    : session_(session), o_(o), peer_(peer), local_(local) {
  peer_text_ = address_ip(peer) + " port " + std::to_string(address_port(peer));
}

Conn::~Conn() {
  channels_.clear();
  for (ssh_key k : keys_) ssh_key_free(k);
  if (event_) ssh_event_free(event_);
  for (auto& [fd, r] : fds_) close(fd);
  if (sigchld_fd_ >= 0) close(sigchld_fd_);
}

SessionFacts Conn::facts() const {
  SessionFacts f;
  f.user = o_.user;
  f.home = o_.home;
  f.shell = o_.shell;
  f.peer_ip = address_ip(peer_);
  f.peer_port = address_port(peer_);
  f.local_ip = address_ip(local_);
  f.local_port = address_port(local_);
  return f;
}

bool Conn::allowed(const char* user, const char* method) {
  if (failures_ >= o_.max_auth_tries) return false;
  if (o_.user != user) {
    denied(method, "for a user other than " + o_.user + " ('" + std::string(user).substr(0, 64) + "')");
    return false;
  }
  if (o_.allow_from.empty()) return true;
  for (const auto& c : o_.allow_from) {
    if (cidr_contains(c, peer_)) return true;
  }
  denied(method, "from an address outside sshd.allow_from");
  return false;
}

int Conn::denied(const char* method, const std::string& detail) {
  ++failures_;
  say("refused " + std::string(method) + " " + detail + " from " + peer_text_);
  return SSH_AUTH_DENIED;
}

// OpenSSH with PermitEmptyPasswords and PasswordAuthentication lets "none" in as an empty
// password: the login GitLab's proxy makes.
int Conn::auth_none(const char* user) {
  if (!o_.permit_empty_passwords || !o_.password_authentication) return SSH_AUTH_DENIED;  // a probe, not a failure
  if (!allowed(user, "none")) return SSH_AUTH_DENIED;
  say("accepted none (empty password) for " + o_.user + " from " + peer_text_);
  authenticated_ = true;
  return SSH_AUTH_SUCCESS;
}

int Conn::auth_password(const char* user, const char* password) {
  if (!allowed(user, "password")) return SSH_AUTH_DENIED;
  if (!o_.password_authentication || !o_.permit_empty_passwords || password[0] != '\0')
    return denied("password", "for " + o_.user + " (only the empty password, with sshd.password_less)");
  say("accepted password (empty) for " + o_.user + " from " + peer_text_);
  authenticated_ = true;
  return SSH_AUTH_SUCCESS;
}

void Conn::load_keys() {
  keys_loaded_ = true;
  for (const auto& file : o_.authorized_keys_files) {
    std::string path = file[0] == '/' ? file : o_.home + "/" + file;
    auto text = fs::read_file(path, kMaxKeysFile);
    if (!text) {
      if (text.error().code != ENOENT) say("authorized keys: " + text.error().message);
      continue;
    }
    KeyLines lines = parse_authorized_keys(*text);
    for (const auto& r : lines.refused) say("authorized keys: " + path + ":" + r + "; not accepted");
    for (const auto& k : lines.keys) {
      ssh_key key = nullptr;
      if (ssh_pki_import_pubkey_base64(k.base64.c_str(), ssh_key_type_from_name(k.type.c_str()), &key) == SSH_OK) keys_.push_back(key);
      else say("authorized keys: " + path + ": a " + k.type.substr(0, 40) + " key that cannot be read; not accepted");
    }
  }
}

int Conn::auth_pubkey(const char* user, ssh_key key, char state) {
  if (!allowed(user, "publickey")) return SSH_AUTH_DENIED;
  if (!keys_loaded_) load_keys();
  bool known = false;
  for (ssh_key k : keys_) known = known || ssh_key_cmp(k, key, SSH_KEY_CMP_PUBLIC) == 0;
  char* fp = nullptr;
  unsigned char* hash = nullptr;
  size_t hash_len = 0;
  std::string print = "?";
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_len) == 0) {
    fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_len);
    if (fp) print = fp;
    ssh_string_free_char(fp);
    ssh_clean_pubkey_hash(&hash);
  }
  if (!known) return denied("publickey", "for " + o_.user + " (" + print + " is not an authorized key)");
  if (state == SSH_PUBLICKEY_STATE_NONE) return SSH_AUTH_SUCCESS;  // "would this key do?": yes
  if (state != SSH_PUBLICKEY_STATE_VALID) return denied("publickey", "for " + o_.user + " (a bad signature)");
  say("accepted publickey for " + o_.user + " from " + peer_text_ + " (" + print + ")");
  authenticated_ = true;
  return SSH_AUTH_SUCCESS;
}

ssh_channel Conn::open_session() {
  if (channels_.size() >= kMaxChannels) return nullptr;
  ssh_channel channel = ssh_channel_new(session_);
  if (!channel) return nullptr;
  channels_.push_back(make_session(*this, channel));
  return channel;
}

ssh_channel Conn::open_forward(ssh_message msg) {
  const char* host = ssh_message_channel_request_open_destination(msg);
  int port = ssh_message_channel_request_open_destination_port(msg);
  std::string where = std::string(host ? host : "?").substr(0, 255) + ":" + std::to_string(port);
  if (channels_.size() >= kMaxChannels || !host) return nullptr;
  // A local port answers or refuses at once, and the client hears which. A connect still under way
  // is not waited for here (the connection's other channels would stop): the channel opens, and
  // closes if the connect fails.
  bool in_progress = false;
  int fd = start_connect(host, port, &in_progress);
  if (fd < 0) {
    say("forward to " + where + " refused: " + (errno == EINVAL ? "not an IP address" : strerror(errno)));
    return nullptr;
  }
  ssh_channel channel = ssh_message_channel_request_open_reply_accept(msg);
  if (!channel) {
    close(fd);
    return nullptr;
  }
  channels_.push_back(make_forward(*this, channel, fd, in_progress ? where : std::string()));
  return channel;
}

// Messages no callback takes: direct-tcpip opens and pty-req (here for its terminal modes) are
// served; everything else (remote and agent forwarding, X11, keepalives) gets libssh's default
// refusal, which a keepalive counts as an answer.
int Conn::on_message(ssh_message msg) {
  if (!authenticated_) return 1;
  if (ssh_message_type(msg) == SSH_REQUEST_CHANNEL_OPEN && ssh_message_subtype(msg) == SSH_CHANNEL_DIRECT_TCPIP)
    return open_forward(msg) ? 0 : 1;
  if (ssh_message_type(msg) == SSH_REQUEST_CHANNEL && ssh_message_subtype(msg) == SSH_CHANNEL_REQUEST_PTY) {
    ssh_channel target = ssh_message_channel_request_channel(msg);
    for (auto& ch : channels_) {
      if (ch->channel() != target) continue;
      if (ch->on_pty(libssh_message::pty_request(msg)) != 0) return 1;
      ssh_message_channel_request_reply_success(msg);
      return 0;
    }
  }
  return 1;
}

bool Conn::authenticate() {
  server_cb_.userdata = this;
  server_cb_.auth_none_function = cb_none;
  server_cb_.auth_password_function = cb_password;
  server_cb_.auth_pubkey_function = cb_pubkey;
  server_cb_.channel_open_request_session_function = cb_open_session;
  ssh_callbacks_init(&server_cb_);
  if (ssh_set_server_callbacks(session_, &server_cb_) != SSH_OK) return false;
  ssh_set_message_callback(session_, cb_message, this);
  int methods = SSH_AUTH_METHOD_PUBLICKEY;
  if (o_.password_authentication && o_.permit_empty_passwords) methods |= SSH_AUTH_METHOD_PASSWORD;
  ssh_set_auth_methods(session_, methods);
  if (ssh_handle_key_exchange(session_) != SSH_OK) {
    say("key exchange with " + peer_text_ + " failed: " + ssh_get_error(session_));
    return false;
  }
  event_ = ssh_event_new();
  if (!event_ || ssh_event_add_session(event_, session_) != SSH_OK) return false;
  while (!authenticated_ && ssh_is_connected(session_) && failures_ < o_.max_auth_tries) {
    if (ssh_event_dopoll(event_, 1000) == SSH_ERROR) break;
  }
  if (!authenticated_ && failures_ >= o_.max_auth_tries) {
    say("too many authentication failures from " + peer_text_ + " (MaxAuthTries " + std::to_string(o_.max_auth_tries) + ")");
    ssh_disconnect(session_);
  }
  return authenticated_;
}

void Conn::watch(int fd, short events, Handler on, void* owner) {
  Registration& r = fds_[fd];
  r.wanted = events;
  r.on = on;
  r.owner = owner;
}

void Conn::forget(int fd) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) {
    close(fd);
    return;
  }
  it->second.wanted = 0;
  it->second.close_after = true;
  it->second.owner = nullptr;
}

int Conn::dispatch(socket_t fd, int revents, void* userdata) {
  Conn& c = of(userdata);
  auto it = c.fds_.find(fd);
  if (it != c.fds_.end() && it->second.owner && it->second.on) it->second.on(it->second.owner, fd, revents);
  return 0;
}

void Conn::apply_watches() {
  for (auto it = fds_.begin(); it != fds_.end();) {
    Registration& r = it->second;
    if (r.registered != r.wanted) {
      if (r.registered) ssh_event_remove_fd(event_, it->first);
      if (r.wanted && ssh_event_add_fd(event_, it->first, r.wanted, dispatch, this) != SSH_OK) r.wanted = 0;
      r.registered = r.wanted;
    }
    if (r.close_after && !r.registered) {
      close(it->first);
      it = fds_.erase(it);
    } else {
      ++it;
    }
  }
}

void Conn::reap_children() {
  signalfd_siginfo info;
  while (read(sigchld_fd_, &info, sizeof info) == sizeof info) {
  }
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (auto& ch : channels_) {
      if (ch->on_child_exit(pid, status)) break;
    }
  }
}

void Conn::serve() {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  // Blocked, so that it arrives on the descriptor; session processes unblock it before exec.
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  sigchld_fd_ = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigchld_fd_ < 0) {
    say(std::string("signalfd: ") + strerror(errno));
    return;
  }
  ssh_set_blocking(session_, 0);
  ssh_event_add_fd(event_, sigchld_fd_, POLLIN, [](socket_t, int, void* u) { of(u).reap_children(); return 0; }, this);
  while (ssh_is_connected(session_)) {
    if (ssh_event_dopoll(event_, 1000) == SSH_ERROR && !ssh_is_connected(session_)) break;
    reap_children();
    for (auto& ch : channels_) ch->turn();
    channels_.remove_if([](const std::unique_ptr<Channel>& ch) { return ch->finished(); });
    apply_watches();
  }
  for (auto& ch : channels_) ch->hang_up();
  ssh_event_remove_fd(event_, sigchld_fd_);
  say("connection from " + peer_text_ + " closed");
}

}  // namespace wsinit::ssh_server
