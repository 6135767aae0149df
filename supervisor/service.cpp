#include "supervisor/service.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <spdlog/spdlog.h>

#include "supervisor/backoff.h"

namespace wsinit::supervisor {
namespace {

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string describe_exit(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    return "signal " + std::to_string(sig) + " (" + config::signal_name(sig) + ")";
  }
  return "exit " + std::to_string(WEXITSTATUS(wait_status));
}

}  // namespace

const char* state_name(State state) {
  switch (state) {
    case State::waiting: return "waiting";
    case State::starting: return "starting";
    case State::running: return "running";
    case State::ready: return "ready";
    case State::stopping: return "stopping";
    case State::stopped: return "stopped";
    case State::exited: return "exited";
    case State::failed: return "failed";
    case State::backoff: return "backoff";
    case State::external: return "external";
  }
  return "?";
}

Supervisor::Service::Service(Context& context, config::Service spec, Role role)
    : ctx_(context),
      spec_(std::move(spec)),
      role_(role),
      probe_(context.loop, spec_.ready),
      restart_timer_(context.loop),
      stop_timer_(context.loop),
      readiness_timer_(context.loop),
      external_timer_(context.loop) {
  since_unix_ms_ = unix_ms_now();
  if (!probe_.problem().empty()) spdlog::error("{}: {}; it will never be ready", name(), probe_.problem());
}

Supervisor::Service::~Service() = default;

bool Supervisor::Service::owns(pid_t pid) const {
  return pid == pid_ || pid == probe_.exec_pid() ||
         std::find(failed_exec_pids_.begin(), failed_exec_pids_.end(), pid) != failed_exec_pids_.end();
}

bool Supervisor::Service::satisfies_dependents() const {
  if (spec_.oneshot) return state_ == State::exited && last_success_;
  return state_ == State::ready || (state_ == State::external && external_ready_) || (state_ == State::running && spec_.ready.kind == config::Readiness::Kind::none);
}

bool Supervisor::Service::finished() const {
  return spec_.oneshot && (state_ == State::exited || state_ == State::failed || state_ == State::stopped);
}

bool Supervisor::Service::is_failing() const {
  if (state_ == State::backoff || state_ == State::failed) return true;  // a crash loop is not "starting"
  return !spec_.oneshot && ever_ready_ && (state_ == State::starting || state_ == State::exited);
}

void Supervisor::Service::enter(State state) {
  if (state == state_) return;
  state_ = state;
  since_unix_ms_ = unix_ms_now();
  if (satisfies_dependents()) ever_ready_ = true;
  ctx_.changed();
}

std::vector<std::string> Supervisor::Service::environment() const {
  if (spec_.env.empty()) return ctx_.env;
  std::vector<std::string> env;
  env.reserve(ctx_.env.size() + spec_.env.size());
  for (const auto& entry : ctx_.env) {
    std::string name = entry.substr(0, entry.find('='));
    if (!spec_.env.count(name)) env.push_back(entry);
  }
  for (const auto& [name, value] : spec_.env) env.push_back(name + "=" + value);
  return env;
}

LogRelay* Supervisor::Service::relay() {
  if (role_ == Role::main) return nullptr;  // CMD keeps the terminal's stdio, as under tini
  if (!relay_) {
    std::unique_ptr<LogFile> file;
    if (!ctx_.logs_dir.empty()) file = std::make_unique<LogFile>(ctx_.logs_dir + "/" + (spec_.log_name.empty() ? spec_.name : spec_.log_name) + ".log", ctx_.log_max_size, ctx_.log_max_files);
    relay_ = std::make_unique<LogRelay>(ctx_.loop, spec_.name, *ctx_.out, std::move(file), ctx_.format);
  }
  return relay_->ok() ? relay_.get() : nullptr;
}

namespace {

// True when something already listens on `port` (a wildcard bind collides with any listener).
bool port_busy(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  bool busy = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0 && errno == EADDRINUSE;
  close(fd);
  return busy;
}

}  // namespace

// Another process serves our port: probe it instead of starting a rival that would crash-loop,
// and look again every 5 s whether the port came free.
bool Supervisor::Service::start_external() {
  if (spec_.external_port == 0 || !port_busy(spec_.external_port)) return false;
  if (state_ != State::external) {
    spdlog::warn("{}: port {} is already served by another process; probing it instead of starting one", name(),
                 spec_.external_port);
    external_ready_ = false;
    enter(State::external);
    probe_.start(
        [this] {
          external_ready_ = ever_ready_ = true;
          spdlog::info("{}: the process already on port {} answers", name(), spec_.external_port);
          ctx_.changed();
        },
        [] { return pid_t(-1); });
  }
  external_timer_.start(std::chrono::seconds(5), [this] {
    if (state_ == State::external && !start_external()) start();
  });
  return true;
}

void Supervisor::Service::start() {
  external_timer_.stop();
  if (start_external()) return;
  probe_.stop();
  restart_timer_.stop();
  stop_requested_ = readiness_timed_out_ = false;
  SpawnResult result = spawn_process(spec_.command);
  if (starts_++ > 0) ++restarts_;
  on_spawned(result);
}

// A process of this service (the service itself or its exec probe): its environment and cwd,
// stdin /dev/null and output into its log relay, default signals. CMD (main) keeps the
// terminal's stdio and the signal mask and ignored signals wsinit was started with instead.
SpawnResult Supervisor::Service::spawn_process(const std::vector<std::string>& argv) {
  SpawnRequest request;
  request.argv = argv;
  request.env = environment();
  request.cwd = spec_.cwd;
  int null_fd = -1;
  if (role_ == Role::main) {
    request.grouping = SpawnRequest::Grouping::foreground;
    request.signals = ctx_.main_signals;
  } else if (LogRelay* log = relay()) {
    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    request.stdin_fd = null_fd;
    request.stdout_fd = request.stderr_fd = log->write_fd();
  }
  SpawnResult result = spawn(request);
  if (null_fd >= 0) close(null_fd);
  return result;
}

void Supervisor::Service::on_spawned(const SpawnResult& result) {
  if (!result.ok()) {
    // The child (if any) exits at once with 127; its pid is remembered only to be reaped.
    if (result.pid > 0) failed_exec_pids_.push_back(result.pid);
    std::string stage = result.stage == "lookup" ? "exec" : result.stage;
    last_exit_ = "failed: " + stage + ": " + strerror(result.error);
    last_exit_status_ = exit_code_for_spawn_error(result.error);
    if (role_ == Role::main) spdlog::error("cannot run '{}': {}", spec_.command[0], strerror(result.error));
    else spdlog::error("{}: cannot run '{}': {}: {}", name(), spec_.command[0], stage, strerror(result.error));
    last_success_ = false;
    after_exit(false, exit_code_for_spawn_error(result.error));
    return;
  }
  pid_ = result.pid;
  started_at_ = Clock::now();
  spdlog::info("{}: started (pid {})", name(), pid_);
  if (spec_.ready.kind == config::Readiness::Kind::none) {
    enter(State::running);
    return;
  }
  enter(State::starting);
  readiness_timer_.start(spec_.ready.timeout, [this] { on_readiness_timeout(); });
  probe_.start([this] { on_ready(); },
               [this]() -> pid_t {
                 SpawnResult r = spawn_process(spec_.ready.exec);
                 if (!r.ok() && r.pid > 0) failed_exec_pids_.push_back(r.pid);
                 return r.ok() ? r.pid : -1;
               });
}

void Supervisor::Service::on_ready() {
  readiness_timer_.stop();
  if (state_ != State::starting) return;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_at_).count();
  spdlog::info("{}: ready after {} ms", name(), ms);
  enter(State::ready);
}

void Supervisor::Service::on_readiness_timeout() {
  if (state_ != State::starting || pid_ <= 0) return;
  std::string why = probe_.problem().empty() ? "" : " (" + probe_.problem() + ")";
  spdlog::warn("{}: not ready after {}{}; stopping it to try again", name(), config::format_duration(spec_.ready.timeout), why);
  readiness_timed_out_ = true;
  probe_.stop();
  signal_group(spec_.stop_signal);
  stop_timer_.start(spec_.stop_timeout, [this] { signal_group(SIGKILL); });
}

void Supervisor::Service::signal_group(int signal) {
  if (pid_ <= 0) return;
  if (kill(-pid_, signal) < 0) kill(pid_, signal);
}

void Supervisor::Service::stop(std::function<void()> on_down) {
  restart_timer_.stop();
  external_timer_.stop();
  readiness_timer_.stop();
  probe_.stop();
  if (pid_ <= 0) {
    if (state_ == State::waiting || state_ == State::backoff || state_ == State::starting || state_ == State::external)
      enter(State::stopped);
    if (on_down) on_down();
    return;
  }
  on_down_ = std::move(on_down);
  stop_requested_ = true;
  enter(State::stopping);
  spdlog::info("{}: stopping (SIG{}, pid {})", name(), config::signal_name(spec_.stop_signal), pid_);
  signal_group(spec_.stop_signal);
  stop_timer_.start(spec_.stop_timeout, [this] {
    spdlog::warn("{}: still running {} after SIG{}; sending SIGKILL", name(),
                 config::format_duration(spec_.stop_timeout), config::signal_name(spec_.stop_signal));
    signal_group(SIGKILL);
  });
}

void Supervisor::Service::on_exit(pid_t pid, int wait_status) {
  if (auto it = std::find(failed_exec_pids_.begin(), failed_exec_pids_.end(), pid); it != failed_exec_pids_.end()) {
    failed_exec_pids_.erase(it);
    return;
  }
  if (pid == probe_.exec_pid()) {
    probe_.on_exec_exit(wait_status);
    return;
  }
  pid_ = 0;
  stop_timer_.stop();
  readiness_timer_.stop();
  probe_.stop();
  if (relay_) relay_->drain();
  bool success = !readiness_timed_out_ && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
  last_exit_ = readiness_timed_out_ ? "not ready after " + config::format_duration(spec_.ready.timeout)
                                    : describe_exit(wait_status);
  last_exit_status_ = exit_status_of(wait_status);
  last_success_ = success;
  ran_ = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_at_);
  if (stop_requested_) {
    stop_requested_ = false;
    spdlog::info("{}: stopped ({})", name(), last_exit_);
    enter(State::stopped);
    if (auto done = std::move(on_down_)) done();
    return;
  }
  after_exit(success, exit_status_of(wait_status));
}

// Decides what follows an exit or a failed start: a restart after backoff, or rest.
void Supervisor::Service::after_exit(bool success, int exit_status) {
  if (role_ == Role::main) {
    enter(success ? State::exited : State::failed);
    ctx_.main_exited(exit_status);
    return;
  }
  bool restart = spec_.restart == config::Restart::always || (spec_.restart == config::Restart::on_failure && !success);
  if (!restart) {
    if (success) spdlog::info("{}: {}", name(), last_exit_);
    else spdlog::warn("{}: {}; not restarting (restart: {})", name(), last_exit_,
                      spec_.restart == config::Restart::never ? "never" : "on-failure");
    enter(success ? State::exited : State::failed);
    return;
  }
  attempt_ = next_attempt(attempt_, ran_);
  double jitter = std::uniform_real_distribution<double>(0.0, 1.0)(ctx_.random);
  Duration delay = backoff_delay(spec_.backoff_initial, spec_.backoff_max, attempt_, jitter);
  spdlog::warn("{}: {}; restarting in {}", name(), last_exit_, config::format_duration(delay));
  enter(State::backoff);
  restart_timer_.start(delay, [this] {
    if (state_ == State::backoff) start();
  });
}

void Supervisor::Service::rearm() {
  if (has_process()) return;
  restart_timer_.stop();
  attempt_ = 0;
  enter(State::waiting);
}

ServiceStatus Supervisor::Service::status() const {
  ServiceStatus s;
  s.name = name();
  s.state = state_;
  s.pid = pid_;
  s.ready = satisfies_dependents();
  s.required = spec_.required;
  s.oneshot = spec_.oneshot;
  s.restarts = restarts_;
  s.last_exit = last_exit_;
  s.last_exit_status = last_exit_status_;
  s.since_unix_ms = since_unix_ms_;
  if (pid_ > 0) s.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_at_).count();
  s.dropped_lines = dropped_lines();
  s.log_file_dropped_lines = log_file_dropped_lines();
  return s;
}

}  // namespace wsinit::supervisor
