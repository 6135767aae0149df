// `wsinit ssh-server`: the listener. It accepts, refuses past MaxStartups, and gives each
// connection a process of its own, in a session of its own (it outlives a restart of the
// listener, as OpenSSH's connections do).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>

#include "common/fs.h"
#include "connection.h"
#include "ssh_server/ssh_server.h"

namespace wsinit::ssh_server {
namespace {

// The options of the command line and the config file together.
Result<Options> load(const std::vector<std::string>& args) {
  auto cli = parse_args(args);
  if (!cli) return cli.error();
  auto text = fs::read_file(cli->config_path, kMaxConfigFile);
  if (!text) return fail("ssh-server: " + text.error().message);
  auto o = parse_config(*text, cli->config_path);
  if (!o) return o.error();
  o->config_path = cli->config_path;
  o->home = cli->home;
  o->shell = cli->shell;
  o->test_only = cli->test_only;
  return o;
}

// The bind with every host key, which each connection's process inherits.
Result<ssh_bind> make_bind(const Options& o) {
  ssh_bind bind = ssh_bind_new();
  if (!bind) return fail("ssh-server: out of memory");
  bool no = false;
  ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);  // no /etc/ssh config: ours is all
  ssh_bind_options_set(bind, SSH_BIND_OPTIONS_BANNER, "wsinit");
  for (const auto& path : o.host_keys) {
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
      ssh_bind_free(bind);
      return fail("ssh-server: cannot read the host key " + path);
    }
    // The bind keeps the key (ssh_bind_options_set takes it over for IMPORT_KEY).
    if (ssh_bind_options_set(bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) != SSH_OK) {
      ssh_key_free(key);
      ssh_bind_free(bind);
      return fail("ssh-server: cannot use the host key " + path + ": " + ssh_get_error(bind));
    }
  }
  return bind;
}

Result<std::vector<int>> listen_all(const Options& o) {
  std::vector<int> fds;
  for (const auto& text : o.listen) {
    socklen_t len = 0;
    auto addr = parse_address(text, &len);
    int fd = addr ? socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, reinterpret_cast<sockaddr*>(&*addr), len) != 0 || listen(fd, 128) != 0) {
      std::string why = addr ? strerror(errno) : addr.error().message;
      if (fd >= 0) close(fd);
      for (int f : fds) close(f);
      return fail("ssh-server: cannot listen on " + text + ": " + why);
    }
    fds.push_back(fd);
  }
  return fds;
}

// One connection, in the child: never returns.
[[noreturn]] void serve_connection(ssh_bind bind, int fd, const Options& o, int auth_pipe) {
  setsid();
  signal(SIGPIPE, SIG_IGN);
  alarm(static_cast<unsigned>(o.login_grace_seconds));  // LoginGraceTime: the default action ends the process
  sockaddr_storage peer{}, local{};
  socklen_t pl = sizeof peer, ll = sizeof local;
  getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl);
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll);
  ssh_session session = ssh_new();
  if (!session || ssh_bind_accept_fd(bind, session, fd) != SSH_OK) _exit(1);
  {
    Conn conn(session, o, peer, local);
    if (!conn.authenticate()) {
      ssh_disconnect(session);
      ssh_free(session);
      _exit(1);
    }
    alarm(0);
    pid_t me = getpid();
    ssize_t ignored = write(auth_pipe, &me, sizeof me);  // the listener stops counting it against MaxStartups
    (void)ignored;
    close(auth_pipe);
    conn.serve();
  }
  ssh_disconnect(session);
  ssh_free(session);
  _exit(0);
}

struct Listener {
  const Options& o;
  ssh_bind bind;
  std::vector<int> fds;
  int signals = -1, auth_read = -1, auth_write = -1;
  std::map<pid_t, bool> children;  // pid -> authenticated
  bool paused = false;              // accept failed for want of resources: listen again at resume_at
  std::chrono::steady_clock::time_point resume_at;
  std::minstd_rand random{std::random_device{}()};

  int unauthenticated() const {
    int n = 0;
    for (const auto& [pid, authed] : children) n += authed ? 0 : 1;
    return n;
  }

  void accept_one(int listen_fd) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors or memory: the connection stays queued, and polling on would spin.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        if (!paused) say(std::string("cannot accept a connection: ") + strerror(errno) + "; trying again each second");
        paused = true;
        resume_at = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      }
      return;
    }
    paused = false;
    int one = 1;  // TCPKeepAlive, as OpenSSH's default: a client that vanished is found out
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    if (drop_startup(o, unauthenticated(), static_cast<int>(random() % 100))) {
      say("drop connection from " + address_ip(peer) + " port " + std::to_string(address_port(peer)) +
          ": too many unauthenticated connections (MaxStartups)");
      close(fd);
      return;
    }
    pid_t pid = fork();
    if (pid == 0) {
      for (int l : fds) close(l);
      close(signals);
      close(auth_read);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      serve_connection(bind, fd, o, auth_write);
    }
    if (pid < 0) say(std::string("cannot fork for a connection: ") + strerror(errno));
    else children[pid] = false;
    close(fd);
  }

  // Signals: SIGCHLD reaps; SIGTERM, SIGINT and SIGHUP end the listener (the supervisor
  // restarts it when its config changed). Returns false to stop.
  bool on_signal() {
    signalfd_siginfo info;
    bool go_on = true;
    while (read(signals, &info, sizeof info) == sizeof info) {
      if (info.ssi_signo != SIGCHLD) go_on = false;
    }
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) children.erase(pid);
    return go_on;
  }

  void on_authenticated() {
    pid_t pid;
    while (read(auth_read, &pid, sizeof pid) == sizeof pid) {
      auto it = children.find(pid);
      if (it != children.end()) it->second = true;
    }
  }

  int loop() {
    std::vector<pollfd> polls;
    for (int fd : fds) polls.push_back({fd, POLLIN, 0});
    polls.push_back({signals, POLLIN, 0});
    polls.push_back({auth_read, POLLIN, 0});
    while (true) {
      if (paused && std::chrono::steady_clock::now() >= resume_at) paused = false;  // accept again
      for (size_t i = 0; i < fds.size(); ++i) polls[i].events = paused ? 0 : POLLIN;
      for (auto& p : polls) p.revents = 0;
      int ready = poll(polls.data(), polls.size(), paused ? 100 : -1);
      if (ready < 0 && errno != EINTR) {
        say(std::string("poll: ") + strerror(errno));
        return 1;
      }
      for (size_t i = 0; i < fds.size(); ++i) {
        if (polls[i].revents & POLLIN) accept_one(fds[i]);
      }
      if ((polls[fds.size()].revents & POLLIN) && !on_signal()) return 0;
      if (polls[fds.size() + 1].revents & POLLIN) on_authenticated();
    }
  }
};

}  // namespace

int run(const std::vector<std::string>& args) {
  auto o = load(args);
  if (!o) {
    std::fprintf(stderr, "%s\n", o.error().message.c_str());
    return o.error().message.find("unexpected") != std::string::npos ? 2 : 1;
  }
  ssh_init();
  auto bind = make_bind(*o);
  if (!bind) {
    std::fprintf(stderr, "%s\n", bind.error().message.c_str());
    return 1;
  }
  // Freed on every way out (each connection's process leaves with _exit and its copy).
  std::unique_ptr<ssh_bind_struct, void (*)(ssh_bind)> owned(*bind, [](ssh_bind b) {
    ssh_bind_free(b);
    ssh_finalize();
  });
  if (o->test_only) return 0;
  auto fds = listen_all(*o);
  if (!fds) {
    std::fprintf(stderr, "%s\n", fds.error().message.c_str());
    return 1;
  }
  Listener l{*o, *bind, *fds};
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  l.signals = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  int auth[2];
  if (l.signals < 0 || pipe2(auth, O_NONBLOCK | O_CLOEXEC) != 0) {
    std::fprintf(stderr, "ssh-server: %s\n", strerror(errno));
    return 1;
  }
  l.auth_read = auth[0];
  l.auth_write = auth[1];
  say("listening on " + o->listen.front() + (o->listen.size() > 1 ? " and more" : "") + " for " + o->user);
  return l.loop();
}

}  // namespace wsinit::ssh_server
