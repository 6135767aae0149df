// Session channels (a login shell, a command, sftp) and direct-tcpip forwards.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "connection.h"

namespace wsinit::ssh_server {
namespace {

constexpr size_t kMaxTerm = 64;       // bytes of a TERM value taken
constexpr size_t kMaxCommand = (128 << 10) - 1;  // bytes of an exec command: Linux's limit for one argument

void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

std::string base_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// What a session runs: the program, its argv and environment, made before fork.
struct Launch {
  std::string path;
  std::vector<std::string> argv, env;
};

[[noreturn]] void exec_child(const Launch& l, const std::string& home, int tty) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGPIPE, SIGCHLD, SIGALRM, SIGTERM, SIGHUP, SIGINT, SIGQUIT}) signal(sig, SIG_DFL);
  setsid();  // its own session: signals and hangups reach all it starts, and nothing else
  close_range(3, ~0U, 0);  // what the server inherited without close-on-exec is not the session's
  if (tty >= 0) ioctl(tty, TIOCSCTTY, 0);
  if (chdir(home.c_str()) != 0) {
    std::string m = "Could not chdir to home directory " + home + ": " + strerror(errno) + "\n";
    ssize_t ignored = write(STDERR_FILENO, m.data(), m.size());
    (void)ignored;
    if (chdir("/") != 0) _exit(126);
  }
  std::vector<char*> argv, envp;
  for (const auto& a : l.argv) argv.push_back(const_cast<char*>(a.c_str()));
  for (const auto& e : l.env) envp.push_back(const_cast<char*>(e.c_str()));
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  execve(l.path.c_str(), argv.data(), envp.data());
  std::string m = l.path + ": " + strerror(errno) + "\n";
  ssize_t ignored = write(STDERR_FILENO, m.data(), m.size());
  (void)ignored;
  _exit(127);
}

// A terminal size as the client gave it, clamped to what a winsize holds.
winsize size_of(uint64_t w, uint64_t h, uint64_t pw, uint64_t ph) {
  auto clamp = [](uint64_t v) { return static_cast<unsigned short>(v > 65535 ? 65535 : v); };
  return winsize{clamp(h), clamp(w), clamp(pw), clamp(ph)};
}

// Linux's termios for a new terminal, which the client's modes then change.
termios default_termios() {
  termios t{};
  t.c_iflag = ICRNL | IXON | IUTF8;
  t.c_oflag = OPOST | ONLCR;
  t.c_cflag = CS8 | CREAD | HUPCL;
  t.c_lflag = ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN;
  const cc_t cc[][2] = {{VINTR, 3}, {VQUIT, 28}, {VERASE, 127}, {VKILL, 21}, {VEOF, 4}, {VSTART, 17},
                        {VSTOP, 19}, {VSUSP, 26}, {VREPRINT, 18}, {VWERASE, 23}, {VLNEXT, 22}, {VDISCARD, 15}, {VMIN, 1}};
  for (const auto& [index, value] : cc) t.c_cc[index] = value;
  cfsetispeed(&t, B38400);
  cfsetospeed(&t, B38400);
  return t;
}

class Session : public Channel {
 public:
  Session(Conn& c, ssh_channel ch) : c_(c), ch_(ch) {
    cb_.userdata = this;
    cb_.channel_data_function = [](ssh_session, ssh_channel, void* d, uint32_t n, int is_stderr, void* u) {
      // Extended data from a client means nothing for a process's input: dropped, as sshd does.
      return is_stderr ? static_cast<int>(n) : self(u).on_data(static_cast<const char*>(d), n);
    };
    cb_.channel_eof_function = [](ssh_session, ssh_channel, void* u) { self(u).client_eof_ = true; };
    cb_.channel_close_function = [](ssh_session, ssh_channel, void* u) { self(u).on_close(); };
    cb_.channel_signal_function = [](ssh_session, ssh_channel, const char* s, void* u) { self(u).on_signal(s); };
    cb_.channel_pty_window_change_function = [](ssh_session, ssh_channel, int w, int h, int pw, int ph, void* u) {
      return self(u).on_window(static_cast<uint32_t>(w), static_cast<uint32_t>(h), static_cast<uint32_t>(pw),
                               static_cast<uint32_t>(ph));
    };
    cb_.channel_shell_request_function = [](ssh_session, ssh_channel, void* u) { return self(u).on_start(nullptr, false); };
    cb_.channel_exec_request_function = [](ssh_session, ssh_channel, const char* cmd, void* u) {
      return self(u).on_start(cmd, false);
    };
    cb_.channel_subsystem_request_function = [](ssh_session, ssh_channel, const char* name, void* u) {
      return std::strcmp(name, "sftp") == 0 ? self(u).on_start(nullptr, true) : -1;
    };
    cb_.channel_env_request_function = [](ssh_session, ssh_channel, const char* name, const char* value, void* u) {
      return self(u).on_env(name, value);
    };
    ssh_callbacks_init(&cb_);
    ssh_set_channel_callbacks(ch_, &cb_);
  }

  ~Session() override {
    if (pid_ > 0 && !exited_) killpg(pid_, SIGHUP);  // as a terminal's hangup: the client is gone
    if (in_ >= 0 && in_ != master_) c_.forget(in_);
    if (out_ >= 0 && out_ != master_) c_.forget(out_);
    if (err_ >= 0) c_.forget(err_);
    if (master_ >= 0) c_.forget(master_);
    if (slave_ >= 0) close(slave_);
    if (ch_) {
      ssh_remove_channel_callbacks(ch_, &cb_);
      ssh_channel_free(ch_);
    }
  }

  bool on_child_exit(pid_t pid, int status) override {
    if (pid != pid_) return false;
    exited_ = true;
    status_ = status;
    return true;
  }

  void turn() override {
    if (done_) return;
    if (in_ >= 0 && !in_box_.pump(in_, ch_)) close_input();
    if (in_ >= 0 && client_eof_ && in_box_.idle() && master_ < 0) close_input();
    if (blocked_ && ssh_channel_window_size(ch_) > 0) blocked_ = false;
    if (exited_ && !blocked_) drain_and_finish();
    update_watches();
  }

  bool finished() const override { return done_; }
  void hang_up() override {
    if (pid_ > 0 && !exited_) killpg(pid_, SIGHUP);
  }

 private:
  static Session& self(void* u) { return *static_cast<Session*>(u); }

  ssh_channel channel() const override { return ch_; }

  int on_pty(const libssh_message::PtyRequest& r) override {
    if (master_ >= 0 || pid_ > 0) return -1;
    winsize ws = size_of(r.width, r.height, r.pxwidth, r.pxheight);
    termios modes = default_termios();
    if (auto applied = apply_terminal_modes(modes, r.modes); !applied) say(applied.error().message);
    if (openpty(&master_, &slave_, nullptr, &modes, &ws) != 0) {
      say(std::string("cannot open a terminal: ") + strerror(errno));
      return -1;
    }
    fcntl(master_, F_SETFD, FD_CLOEXEC);
    fcntl(slave_, F_SETFD, FD_CLOEXEC);
    char name[64];
    if (ttyname_r(slave_, name, sizeof name) == 0) tty_ = name;
    std::string t = r.term;
    bool printable = t.size() <= kMaxTerm && std::all_of(t.begin(), t.end(), [](char ch) { return ch > ' ' && ch < 0x7f; });
    term_ = printable ? t : "dumb";
    return 0;
  }

  int on_window(uint32_t w, uint32_t h, uint32_t pw, uint32_t ph) {
    if (master_ < 0) return -1;
    winsize ws = size_of(w, h, pw, ph);
    return ioctl(master_, TIOCSWINSZ, &ws) == 0 ? 0 : -1;  // the kernel sends SIGWINCH
  }

  int on_env(const char* name, const char* value) {
    if (pid_ > 0 || env_.size() >= kMaxEnvRequests) return -1;
    if (!accepted_env(c_.options().accept_env, name, value)) return -1;
    env_.emplace_back(name, value);
    return 0;
  }

  Launch launch(const char* command, bool sftp) const {
    const Options& o = c_.options();
    SessionFacts f = c_.facts();
    f.term = term_;
    f.tty = tty_;
    f.client_env = env_;
    Launch l;
    l.env = session_environment(o, f);
    if (sftp) {
      l.path = "/proc/self/exe";  // wsinit itself, even if its file was replaced meanwhile
      l.argv = {"wsinit", "sftp-server"};
    } else if (command) {
      l.path = o.shell;
      l.argv = {base_name(o.shell), "-c", command};
    } else {
      l.path = o.shell;
      l.argv = {"-" + base_name(o.shell)};  // a login shell, as sshd starts it
    }
    return l;
  }

  int on_start(const char* command, bool sftp) {
    if (pid_ > 0) return -1;
    if (command && std::strlen(command) > kMaxCommand) return -1;
    Launch l = launch(command, sftp);
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    bool tty = master_ >= 0 && !sftp;
    if (!tty && (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)) {
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) if (fd >= 0) close(fd);
      say(std::string("cannot make pipes: ") + strerror(errno));
      return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
      if (tty) {
        for (int target : {0, 1, 2}) dup2(slave_, target);
      } else {
        dup2(in[0], 0), dup2(out[1], 1), dup2(err[1], 2);
      }
      exec_child(l, c_.options().home, tty ? 0 : -1);
    }
    for (int fd : {in[0], out[1], err[1]}) if (fd >= 0) close(fd);
    if (pid < 0) {
      for (int fd : {in[1], out[0], err[0]}) if (fd >= 0) close(fd);
      say(std::string("cannot fork: ") + strerror(errno));
      return -1;
    }
    pid_ = pid;
    if (tty) {
      close(slave_);
      slave_ = -1;
      in_ = out_ = master_;
    } else {
      in_ = in[1], out_ = out[0], err_ = err[0];
    }
    for (int fd : {in_, out_, err_}) if (fd >= 0) set_nonblocking(fd);
    update_watches();
    return 0;
  }

  int on_data(const char* data, uint32_t len) {
    if (beyond_window(len)) {
      say("a client sent past its window; channel closed");
      on_close();
      return static_cast<int>(len);
    }
    if (in_ < 0) return static_cast<int>(len);  // nothing takes it: dropped, as sshd does
    long taken = in_box_.put(in_, data, len);
    if (taken < 0) {
      close_input();
      return static_cast<int>(len);
    }
    return static_cast<int>(taken);
  }

  void on_close() {
    remote_closed_ = true;
    if (pid_ > 0 && !exited_) killpg(pid_, SIGHUP);
    done_ = true;
  }

  void on_signal(const char* name) {
    int sig = signal_number(name ? name : "");
    if (sig && pid_ > 0 && !exited_) killpg(pid_, sig);
  }

  void close_input() {
    if (in_ < 0) return;
    if (in_ != master_) c_.forget(in_);
    in_ = -1;
    in_box_ = Inbound{};
  }

  void on_ready(int fd, int revents) {
    if (revents & POLLOUT) turn();
    if (!(revents & (POLLIN | POLLHUP | POLLERR)) || (fd != out_ && fd != err_)) return;
    Moved m = move_to_channel(fd, ch_, fd == err_);
    if (m == Moved::blocked) blocked_ = true;
    if (m == Moved::end) close_output(fd);
    update_watches();
  }

  void close_output(int fd) {
    if (fd == out_) {
      if (out_ != master_) c_.forget(out_);
      out_ = -1;
    } else if (fd == err_) {
      c_.forget(err_);
      err_ = -1;
    }
  }

  // The process is gone: what its descriptors still hold goes to the client, then the exit.
  // Output a background process keeps writing after that is not waited for.
  void drain_and_finish() {
    for (int fd : {out_, err_}) {
      if (fd < 0) continue;
      for (int round = 0; round < 64; ++round) {
        Moved m = move_to_channel(fd, ch_, fd == err_);
        if (m == Moved::data) continue;
        if (m == Moved::blocked) {
          blocked_ = true;
          return;
        }
        break;
      }
      if (blocked_) return;
      close_output(fd);
    }
    if (out_ >= 0 || err_ >= 0) return;
    if (WIFEXITED(status_)) {
      ssh_channel_request_send_exit_status(ch_, WEXITSTATUS(status_));
    } else if (WIFSIGNALED(status_)) {
      std::string name = signal_name(WTERMSIG(status_));
      ssh_channel_request_send_exit_signal(ch_, name.empty() ? "KILL" : name.c_str(), WCOREDUMP(status_) ? 1 : 0, "", "");
    }
    close_input();
    if (master_ >= 0) c_.forget(master_);
    master_ = -1;
    ssh_channel_send_eof(ch_);
    ssh_channel_close(ch_);
    done_ = true;
  }

  void update_watches() {
    if (done_) return;
    auto handler = [](void* owner, int fd, int revents) { self(owner).on_ready(fd, revents); };
    short out_events = blocked_ || exited_ ? 0 : POLLIN;
    short in_events = in_ >= 0 && in_box_.holds() ? POLLOUT : 0;
    if (master_ >= 0 && in_ == master_) {
      c_.watch(master_, static_cast<short>((out_ >= 0 ? out_events : 0) | in_events), handler, this);
      return;
    }
    if (out_ >= 0) c_.watch(out_, out_events, handler, this);
    if (err_ >= 0) c_.watch(err_, out_events, handler, this);
    if (in_ >= 0) c_.watch(in_, in_events, handler, this);
  }

  Conn& c_;
  ssh_channel ch_;
  ssh_channel_callbacks_struct cb_{};
  int master_ = -1, slave_ = -1;
  std::string term_, tty_;
  std::vector<std::pair<std::string, std::string>> env_;
  pid_t pid_ = 0;
  int in_ = -1, out_ = -1, err_ = -1;
  Inbound in_box_;
  bool client_eof_ = false, remote_closed_ = false, blocked_ = false, exited_ = false, done_ = false;
  int status_ = 0;
};

// A direct-tcpip channel: bytes both ways between the client and a connected socket.
class Forward : public Channel {
 public:
  ssh_channel channel() const override { return ch_; }
  Forward(Conn& c, ssh_channel ch, int fd, const std::string& connecting)
      : c_(c), ch_(ch), fd_(fd), connecting_(connecting),
        deadline_(std::chrono::steady_clock::now() + std::chrono::seconds(kForwardConnectSeconds)) {
    cb_.userdata = this;
    cb_.channel_data_function = [](ssh_session, ssh_channel, void* d, uint32_t n, int is_stderr, void* u) {
      auto& f = *static_cast<Forward*>(u);
      if (is_stderr) return static_cast<int>(n);
      if (!f.connecting_.empty() && !beyond_window(n)) {
        f.box_.starved = true;  // libssh keeps it until the socket is connected
        return 0;
      }
      if (beyond_window(n)) say("a client sent past its window; forward closed");
      long taken = beyond_window(n) ? -1 : f.box_.put(f.fd_, static_cast<const char*>(d), n);
      if (taken < 0) f.done_ = true;
      return taken < 0 ? static_cast<int>(n) : static_cast<int>(taken);
    };
    cb_.channel_eof_function = [](ssh_session, ssh_channel, void* u) { static_cast<Forward*>(u)->client_eof_ = true; };
    cb_.channel_close_function = [](ssh_session, ssh_channel, void* u) { static_cast<Forward*>(u)->done_ = true; };
    ssh_callbacks_init(&cb_);
    ssh_set_channel_callbacks(ch_, &cb_);
    update_watch();
  }
  ~Forward() override {
    c_.forget(fd_);
    ssh_remove_channel_callbacks(ch_, &cb_);
    ssh_channel_free(ch_);
  }
  void turn() override {
    if (done_) return;
    if (!connecting_.empty()) {
      if (std::chrono::steady_clock::now() < deadline_) return;
      say("forward to " + connecting_ + ": no connection within " + std::to_string(kForwardConnectSeconds) + " s");
      return finish();
    }
    if (!box_.pump(fd_, ch_)) done_ = true;
    if (client_eof_ && box_.idle() && !shut_) {
      shutdown(fd_, SHUT_WR);  // the client is done sending: so is the socket's writer
      shut_ = true;
    }
    if (blocked_ && ssh_channel_window_size(ch_) > 0) blocked_ = false;
    if (socket_eof_ && (client_eof_ || done_)) finish();
    update_watch();
  }
  bool finished() const override { return done_; }

 private:
  // The connect under way ended: connected, or the channel closes saying why.
  void connected() {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      say("forward to " + connecting_ + ": " + strerror(err));
      return finish();
    }
    connecting_.clear();
    turn();
  }

  void on_ready(int revents) {
    if (!connecting_.empty()) return connected();
    if (revents & POLLOUT) turn();
    if (done_ || socket_eof_ || !(revents & (POLLIN | POLLHUP | POLLERR))) return;
    Moved m = move_to_channel(fd_, ch_, false);
    if (m == Moved::blocked) blocked_ = true;
    if (m == Moved::end) {
      socket_eof_ = true;
      ssh_channel_send_eof(ch_);
    }
    update_watch();
  }
  void finish() {
    ssh_channel_close(ch_);
    done_ = true;
  }
  void update_watch() {
    if (done_) return;
    short events = static_cast<short>((blocked_ || socket_eof_ ? 0 : POLLIN) | (box_.holds() ? POLLOUT : 0));
    if (!connecting_.empty()) events = POLLOUT;
    c_.watch(fd_, events, [](void* o, int, int revents) { static_cast<Forward*>(o)->on_ready(revents); }, this);
  }

  Conn& c_;
  ssh_channel ch_;
  int fd_;
  std::string connecting_;  // where to, while the connect is under way
  std::chrono::steady_clock::time_point deadline_;
  ssh_channel_callbacks_struct cb_{};
  Inbound box_;
  bool client_eof_ = false, socket_eof_ = false, blocked_ = false, shut_ = false, done_ = false;
};

}  // namespace

std::unique_ptr<Channel> make_session(Conn& conn, ssh_channel channel) {
  return std::make_unique<Session>(conn, channel);
}

std::unique_ptr<Channel> make_forward(Conn& conn, ssh_channel channel, int socket_fd, const std::string& connecting) {
  return std::make_unique<Forward>(conn, channel, socket_fd, connecting);
}

}  // namespace wsinit::ssh_server
