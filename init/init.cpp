// The PID-1 core: one libuv loop; signals through a signalfd; one reaper; ordered shutdown
// within the grace budget. Read top to bottom: run() -> start_main() -> the loop's callbacks.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "config/config.h"
#include "init/init.h"
#include "init/pid1.h"
#include "supervisor/spawn.h"

namespace wsinit::init {
namespace {

using config::signal_name;

class Init {
 public:
  Init(const config::Config& config, std::vector<std::string> main_argv, char** envp)
      : config_(config), main_argv_(std::move(main_argv)), envp_(envp) {}

  int run();

 private:
  static void on_signal_readable(uv_poll_t* handle, int status, int events);
  static void on_grace_expired(uv_timer_t* handle);

  bool start_main();
  void handle_signal(const signalfd_siginfo& info);
  void forward_to_main(int signal);
  void reap_children();
  void on_child_exit(pid_t pid, int wait_status);
  void begin_shutdown(const std::string& reason);
  void finish_if_nothing_left();
  void kill_remaining();
  void stop_loop();

  const config::Config& config_;
  std::vector<std::string> main_argv_;
  char** envp_;

  uv_loop_t loop_{};
  uv_poll_t signal_poll_{};
  uv_timer_t grace_timer_{};
  int signal_fd_ = -1;

  pid_t main_pid_ = 0;
  bool main_running_ = false;
  int main_spawn_error_ = 0;  // errno when CMD's exec failed in the child
  int exit_code_ = 0;
  bool stopping_ = false;
  bool others_terminated_ = false;
  bool children_left_ = true;
  std::uint64_t orphans_reaped_ = 0;
};

int Init::run() {
  if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    spdlog::error("cannot become a child subreaper: {}; orphans will not be reaped", strerror(errno));
  }
  signal_fd_ = open_signal_fd();
  if (signal_fd_ < 0) {
    spdlog::critical("cannot open a signalfd: {}", strerror(errno));
    return 1;
  }
  if (uv_loop_init(&loop_) != 0) return 1;
  loop_.data = this;
  uv_poll_init(&loop_, &signal_poll_, signal_fd_);
  uv_poll_start(&signal_poll_, UV_READABLE, on_signal_readable);
  uv_timer_init(&loop_, &grace_timer_);

  if (!main_argv_.empty() && !start_main()) {
    uv_close(reinterpret_cast<uv_handle_t*>(&signal_poll_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&grace_timer_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    close(signal_fd_);
    return exit_code_;
  }
  reap_children();  // anything that exited before the loop started
  uv_run(&loop_, UV_RUN_DEFAULT);

  uv_close(reinterpret_cast<uv_handle_t*>(&signal_poll_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&grace_timer_), nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
  close(signal_fd_);
  spdlog::debug("exiting with status {} ({} orphans reaped)", exit_code_, orphans_reaped_);
  return exit_code_;
}

// Starts CMD in its own process group, in the terminal's foreground when there is one.
// False when no child could be forked at all (exit_code_ is then set).
bool Init::start_main() {
  supervisor::SpawnRequest request;
  request.argv = main_argv_;
  for (char** e = envp_; e && *e; ++e) request.env.emplace_back(*e);
  request.grouping = supervisor::SpawnRequest::Grouping::foreground;
  supervisor::SpawnResult result = supervisor::spawn(request);
  if (!result.ok()) {
    spdlog::error("cannot run '{}': {}", main_argv_[0], strerror(result.error));
    exit_code_ = supervisor::exit_code_for_spawn_error(result.error);
    main_spawn_error_ = result.error;
  }
  if (result.pid <= 0) return false;
  main_pid_ = result.pid;
  main_running_ = true;
  spdlog::info("started {} as pid {}", main_argv_[0], main_pid_);
  return true;
}

void Init::on_signal_readable(uv_poll_t* handle, int, int) {
  Init* self = static_cast<Init*>(handle->loop->data);
  signalfd_siginfo batch[16];
  ssize_t n;
  do {
    n = read(self->signal_fd_, batch, sizeof batch);
    for (ssize_t i = 0; i < n / static_cast<ssize_t>(sizeof batch[0]); ++i) self->handle_signal(batch[i]);
  } while (n == static_cast<ssize_t>(sizeof batch));
}

void Init::handle_signal(const signalfd_siginfo& info) {
  int sig = static_cast<int>(info.ssi_signo);
  // Our own writes to a closed pipe raise SIGPIPE at us; that is not the user's signal.
  if (static_cast<pid_t>(info.ssi_pid) == getpid() && info.ssi_code == SI_USER) return;
  if (sig == SIGCHLD) {
    reap_children();
    return;
  }
  if (!is_forwarded(sig)) return;
  bool terminate = sig == SIGTERM || sig == SIGINT;
  if (terminate) spdlog::info("received SIG{} from pid {}", signal_name(sig), info.ssi_pid);
  if (!main_argv_.empty()) forward_to_main(sig);
  if (terminate) {
    begin_shutdown("SIG" + signal_name(sig));
    reap_children();  // with nothing left to stop, this ends the loop
  }
}

// To CMD's whole process group; to CMD alone if it moved itself to another group.
void Init::forward_to_main(int sig) {
  if (!main_running_) return;
  if (kill(-main_pid_, sig) < 0 && kill(main_pid_, sig) < 0) {
    spdlog::warn("cannot forward SIG{} to pid {}: {}", signal_name(sig), main_pid_, strerror(errno));
    return;
  }
  spdlog::debug("forwarded SIG{} to process group {}", signal_name(sig), main_pid_);
}

// The one place that waits for children: every exited child, until none is left waiting.
void Init::reap_children() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      on_child_exit(pid, status);
      continue;
    }
    if (pid < 0 && errno == EINTR) continue;
    children_left_ = pid == 0;
    break;
  }
  finish_if_nothing_left();
}

void Init::on_child_exit(pid_t pid, int wait_status) {
  if (pid != main_pid_ || !main_running_) {
    ++orphans_reaped_;
    spdlog::trace("reaped pid {} (status {})", pid, exit_status_of(wait_status));
    return;
  }
  main_running_ = false;
  if (main_spawn_error_ == 0) exit_code_ = exit_status_of(wait_status);
  if (WIFSIGNALED(wait_status)) {
    spdlog::info("{} (pid {}) was killed by SIG{}", main_argv_[0], pid, signal_name(WTERMSIG(wait_status)));
  } else {
    spdlog::info("{} (pid {}) exited with status {}", main_argv_[0], pid, exit_code_);
  }
  begin_shutdown("the main command exited");
}

// Starts (or advances) the shutdown: the grace budget runs from the first call; other processes
// get SIGTERM once the main command is gone; SIGKILL when the budget ends.
void Init::begin_shutdown(const std::string& reason) {
  if (!stopping_) {
    stopping_ = true;
    spdlog::info("shutting down ({}), grace {}", reason, config::format_duration(config_.shutdown.grace));
    uv_timer_start(&grace_timer_, on_grace_expired, static_cast<uint64_t>(config_.shutdown.grace.count()), 0);
  }
  if (main_running_ || others_terminated_) return;
  others_terminated_ = true;
  int count = signal_all_others(SIGTERM);
  if (count != 0) spdlog::debug("sent SIGTERM to {} remaining processes", count < 0 ? std::string("all") : std::to_string(count));
}

void Init::finish_if_nothing_left() {
  if (stopping_ && others_terminated_ && !children_left_) stop_loop();
}

void Init::on_grace_expired(uv_timer_t* handle) {
  Init* self = static_cast<Init*>(handle->loop->data);
  spdlog::warn("grace period of {} is over; killing what is left",
               config::format_duration(self->config_.shutdown.grace));
  self->kill_remaining();
  self->stop_loop();
}

// SIGKILL to everything left, then reap. Rescans because a dying parent's children are
// re-parented to us only as it exits; gives up after a second (stuck in the kernel, D state).
void Init::kill_remaining() {
  for (int round = 0; round < 100; ++round) {
    int signalled = signal_all_others(SIGKILL);
    if (signalled == 0 && !children_left_) break;
    usleep(10'000);
    reap_children();
    if (!children_left_) break;
  }
}

void Init::stop_loop() { uv_stop(&loop_); }

}  // namespace

int run(const Command& command, char** envp) {
  config::Environment env = config::environment_of(envp);
  bool tini_mode = !command.argv.empty();
  config::Profile fallback = tini_mode ? config::Profile::plain : config::Profile::gitlab;
  config::Config config;
  if (auto file = config::choose_file(command.config_file, env)) {
    config::LoadResult loaded = config::load_file(*file, env, fallback);
    if (!loaded.config) {
      for (const auto& e : loaded.errors) fprintf(stderr, "wsinit: %s\n", e.c_str());
      return 2;
    }
    config = std::move(*loaded.config);
  } else {
    config = config::profile_defaults(fallback, env);
    config.source = "(embedded default)";
  }

  std::string level = config.log.level.empty() ? (tini_mode ? "warn" : "info") : config.log.level;
  if (auto it = env.find("WSINIT_LOG_LEVEL"); it != env.end() && !it->second.empty()) level = it->second;
  spdlog::set_level(spdlog::level::from_str(level));

  Init init(config, command.argv, envp);
  return init.run();
}

}  // namespace wsinit::init
