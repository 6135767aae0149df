// `wsinit status|start|stop|restart|logs|wait`: a request to the running instance over its control socket.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "config/config.h"
#include "init/init.h"
#include "supervisor/supervisor.h"

namespace wsinit::init {
namespace {

std::string request_of(const Command& command) {
  switch (command.kind) {
    case Command::Kind::status: return command.json ? "status --json" : "status";
    case Command::Kind::logs:
      return "logs " + command.target + " " + std::to_string(command.lines) + (command.follow ? " follow" : "");
    case Command::Kind::wait: {
      std::string what = command.action == "ready"  ? "ready"
                         : command.action == "port" ? "port " + std::to_string(command.port)
                                                    : "service " + command.target;
      return "wait " + what + " " + std::to_string(command.timeout_ms);
    }
    default: return command.action + " " + command.target;
  }
}

// Prints a follow's frames until its end; the exit status.
int print_frames(int fd, std::string received) {
  char buf[64 << 10];
  for (;;) {
    supervisor::LogFrame frame = supervisor::next_log_frame(received);
    if (frame.kind == supervisor::LogFrame::Kind::incomplete) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fprintf(stderr, "wsinit: the connection to wsinit ended%s%s\n", n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
        return 1;
      }
      received.append(buf, static_cast<size_t>(n));
      continue;
    }
    received.erase(0, frame.size);
    switch (frame.kind) {
      case supervisor::LogFrame::Kind::data: fwrite(frame.text.data(), 1, frame.text.size(), stdout); break;
      case supervisor::LogFrame::Kind::note: printf("%s\n", frame.text.c_str()); break;
      case supervisor::LogFrame::Kind::end:
        fflush(stdout);
        fprintf(stderr, "wsinit: %s; the follow ends\n", frame.text.c_str());
        return 0;
      default:
        fprintf(stderr, "wsinit: wsinit sent something that is not a log frame; the follow ends\n");
        return 1;
    }
    fflush(stdout);
  }
}

// `wsinit logs -f`: "ok\n" and frames, or "error\n" and why.
int follow(const std::string& socket_path, const std::string& request) {
  int fd = supervisor::control_connect(socket_path, request, 0);
  if (fd < 0) return 3;
  std::string received;
  char buf[4096];
  while (received.find('\n') == std::string::npos && received.size() < supervisor::kMaxControlRequest) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    received.append(buf, static_cast<size_t>(n));
  }
  int status;
  if (received.starts_with("ok\n")) {
    status = print_frames(fd, received.substr(3));
  } else if (received.starts_with("error\n")) {
    fprintf(stderr, "%s", received.substr(6).c_str());  // the rest of the reason, if any, is short
    status = 1;
  } else {
    fprintf(stderr, "wsinit: no complete answer from %s\n", socket_path.c_str());
    status = 3;
  }
  close(fd);
  return status;
}

}  // namespace

int client(const Command& command, char** envp) {
  config::Environment env = config::environment_of(envp);
  config::Config config = config::profile_defaults(config::Profile::gitlab, env);
  if (auto file = config::choose_file(std::nullopt, env)) {
    if (auto loaded = config::load_file(*file, env, config::Profile::gitlab); loaded.config) config = *loaded.config;
  }
  std::string socket = supervisor::control_socket_path(env, config);
  std::string request = request_of(command);
  if (command.kind == Command::Kind::logs && command.follow) return follow(socket, request);
  int timeout_s = 60;  // a restart waits for the service's stop_timeout
  // A wait is answered by wsinit at its timeout; the socket's own bound comes a little later.
  if (command.kind == Command::Kind::wait) timeout_s = command.timeout_ms == 0 ? 0 : static_cast<int>(command.timeout_ms / 1000) + 10;
  return supervisor::control_request(socket, request, timeout_s);
}

}  // namespace wsinit::init
