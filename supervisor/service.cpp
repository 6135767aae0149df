#include "service.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <spdlog/spdlog.h>

#include "common/backoff.h"
#include "common/environment.h"
#include "once.h"

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

using Service = Supervisor::Service;
using P = Service::Phase;

#define A(action) Step { #action, &Service::action }
#define ROW(phase, go, release, rearm, spawned, spawn_failed, port_taken, probe_passed, ready_timeout, exited, stop, \
            kill_timer, backoff_over, recheck_port, step_timeout, already_ran)                                    \
  Row {                                                                                                           \
    P::phase, {                                                                                                   \
      A(go), A(release), A(rearm), A(spawned), A(spawn_failed), A(port_taken), A(probe_passed), A(ready_timeout),  \
          A(exited), A(stop), A(kill_timer), A(backoff_over), A(recheck_port), A(step_timeout), A(already_ran)    \
    }                                                                                                             \
  }

// clang-format off
const Service::Row Service::kTable[kPhases] = {
  //            go      release  rearm  spawned  spawn_failed port_taken probe_passed   ready_timeout exited        stop        kill_timer backoff_over recheck_port step_timeout already_ran
  ROW(held,           bug,    release, nop,   bug,     bug,        bug,     bug,           bug,    bug,            halt,       bug,  bug,    bug,    bug,      bug),
  ROW(waiting,        launch, nop,     rearm, observe, cannot_run, adopt,   bug,           bug,    bug,            halt,       bug,  bug,    bug,    bug,      skip),
  ROW(starting,       bug,    nop,     nop,   bug,     bug,        bug,     become_ready,  give_up, exit,          begin_stop, bug,  bug,    bug,    time_out, bug),
  ROW(unready,        bug,    nop,     nop,   bug,     bug,        bug,     bug,           bug,    exit_unready,   begin_stop, kill, bug,    bug,    bug,      bug),
  ROW(timed_out,      bug,    nop,     nop,   bug,     bug,        bug,     bug,           bug,    exit_timed_out, begin_stop, kill, bug,    bug,    bug,      bug),
  ROW(running,        bug,    nop,     nop,   bug,     bug,        bug,     bug,           bug,    exit,           begin_stop, bug,  bug,    bug,    time_out, bug),
  ROW(ready,          bug,    nop,     nop,   bug,     bug,        bug,     bug,           bug,    exit,           begin_stop, bug,  bug,    bug,    time_out, bug),
  ROW(stopping,       bug,    nop,     nop,   bug,     bug,        bug,     bug,           bug,    down,           nop,        kill, bug,    bug,    bug,      bug),
  ROW(stopped,        bug,    nop,     rearm, bug,     bug,        bug,     bug,           bug,    bug,            settle,     bug,  bug,    bug,    bug,      bug),
  ROW(exited,         bug,    nop,     rearm, bug,     bug,        bug,     bug,           bug,    bug,            settle,     bug,  bug,    bug,    bug,      bug),
  ROW(failed,         bug,    nop,     rearm, bug,     bug,        bug,     bug,           bug,    bug,            settle,     bug,  bug,    bug,    bug,      bug),
  ROW(backoff,        bug,    nop,     rearm, observe, cannot_run, adopt,   bug,           bug,    bug,            halt,       bug,  launch, bug,    bug,      skip),
  ROW(external,       bug,    nop,     nop,   observe, cannot_run, recheck, adopted_ready, bug,    bug,            halt,       bug,  bug,    launch, bug,      bug),
  ROW(external_ready, bug,    nop,     nop,   observe, cannot_run, recheck, bug,           bug,    bug,            halt,       bug,  bug,    launch, bug,      bug),
};
// clang-format on
#undef ROW
#undef A

bool Service::table_in_order() {
  for (int i = 0; i < kPhases; ++i) {
    if (static_cast<int>(kTable[i].phase) != i) return false;
  }
  return true;
}

State Service::state_of(Phase phase) {
  switch (phase) {
    case P::held: return State::waiting;
    case P::waiting: return State::waiting;
    case P::starting: return State::starting;
    case P::unready: return State::starting;
    case P::timed_out: return State::stopping;
    case P::running: return State::running;
    case P::ready: return State::ready;
    case P::stopping: return State::stopping;
    case P::stopped: return State::stopped;
    case P::exited: return State::exited;
    case P::failed: return State::failed;
    case P::backoff: return State::backoff;
    case P::external: return State::external;
    case P::external_ready: return State::external;
  }
  return State::waiting;
}

const char* Service::phase_name(Phase phase) {
  static const char* const names[kPhases] = {"held",     "waiting",  "starting", "unready", "timed_out",
                                             "running",  "ready",    "stopping", "stopped", "exited",
                                             "failed",   "backoff",  "external", "external_ready"};
  return names[static_cast<int>(phase)];
}

const char* Service::event_name(Event event) {
  static const char* const names[kEvents] = {"go",           "release",       "rearm",  "spawned",   "spawn_failed",
                                             "port_taken",   "probe_passed",  "ready_timeout", "exited", "stop",
                                             "kill_timer",   "backoff_over",  "recheck_port", "step_timeout",
                                             "already_ran"};
  return names[static_cast<int>(event)];
}

const char* Service::action_name(Phase phase, Event event) {
  return kTable[static_cast<int>(phase)].steps[static_cast<int>(event)].name;
}

Service::Service(Context& context, ServiceSpec spec, Role role, Phase initial)
    : ctx_(context),
      spec_(std::move(spec)),
      role_(role),
      phase_(initial),
      probe_(context.loop, spec_.ready, spec_.probe_host),
      restart_timer_(context.loop),
      stop_timer_(context.loop),
      readiness_timer_(context.loop),
      external_timer_(context.loop),
      timeout_timer_(context.loop) {
  if (spec_.once) once_key_ = once_key(spec_.command, spec_.cwd, spec_.env);
  since_unix_ms_ = unix_ms_now();
  oom_score_adj_ = oom_score_adj_to_write(spec_.wanted_oom_score_adj(ctx_.own_oom_score_adj), ctx_.own_oom_score_adj);
  if (!oom_score_adj_) oom_score_adj_ = ctx_.own_oom_score_adj;
  if (!probe_.problem().empty()) spdlog::error("{}: {}; it will never be ready", name(), probe_.problem());
}

Service::~Service() = default;

// The one place a service's events are handled. An action may hand on the outcome of what it
// did (a start: spawned, spawn_failed or port_taken), handled in the phase it left the service in.
void Service::on_event(Event event) {
  std::optional<Event> next = event;
  while (next) {
    event_ = *next;
    const Step& step = kTable[static_cast<int>(phase_)].steps[static_cast<int>(event_)];
    next = (this->*step.run)();
  }
}

void Service::stop(std::function<void()> on_down) {
  if (on_down) on_down_.push_back(std::move(on_down));
  on_event(Event::stop);
}

void Service::on_exit(pid_t pid, int wait_status) {
  if (auto it = std::find(failed_exec_pids_.begin(), failed_exec_pids_.end(), pid); it != failed_exec_pids_.end()) {
    failed_exec_pids_.erase(it);
    return;
  }
  if (pid == probe_.exec_pid()) {
    probe_.on_exec_exit(wait_status);
    // A stopped service waited for by a reload or shutdown is down only now.
    if (pid_ == 0 && !has_process() && ctx_.last_process_gone) ctx_.last_process_gone();
    return;
  }
  wait_status_ = wait_status;
  on_event(Event::exited);
}

bool Service::owns(pid_t pid) const {
  return (pid_ > 0 && pid == pid_) || pid == probe_.exec_pid() ||
         std::find(failed_exec_pids_.begin(), failed_exec_pids_.end(), pid) != failed_exec_pids_.end();
}

bool Service::satisfies_dependents() const {
  if (spec_.oneshot) return phase_ == P::exited;
  return phase_ == P::ready || phase_ == P::external_ready ||
         (phase_ == P::running && spec_.ready.kind == config::Readiness::Kind::none);
}

bool Service::finished() const {
  return spec_.oneshot && (phase_ == P::exited || phase_ == P::failed || phase_ == P::stopped);
}

bool Service::is_failing() const {
  // A crash loop is not "starting", nor is a service its timeout is stopping.
  if (phase_ == P::backoff || phase_ == P::failed || phase_ == P::timed_out) return true;
  State s = state();
  return !spec_.oneshot && ever_ready_ && (s == State::starting || s == State::exited);
}

void Service::enter(Phase phase) {
  if (phase == phase_) return;
  bool state_changes = state_of(phase) != state_of(phase_);
  phase_ = phase;
  if (state_changes) since_unix_ms_ = unix_ms_now();
  if (satisfies_dependents()) ever_ready_ = true;
  ctx_.changed();
}

// ---- actions: each does one thing for one (phase, event) of the table ----

// An event the table says cannot happen in this phase: a bug in wsinit. Said out loud (and fatal
// in debug builds); PID 1 itself carries on, the service where it was.
Service::Next Service::bug() {
  ++ctx_.impossible_events;
  spdlog::error("{}: bug: event {} in phase {} cannot happen; ignored", name(), event_name(event_), phase_name(phase_));
  assert(!"impossible service event");
  return std::nullopt;
}

Service::Next Service::nop() { return std::nullopt; }

// Starts the service's process, unless another process serves its port already.
Service::Next Service::launch() {
  external_timer_.stop();
  if (spec_.external_port != 0 && port_busy(spec_.external_port)) return Event::port_taken;
  if (already_ran()) return Event::already_ran;
  probe_.stop();
  restart_timer_.stop();
  spawned_ = spawn_process(spec_.command);
  if (spawned_.ok()) note_oom_score_adj(spawned_);
  if (starts_++ > 0) ++restarts_;
  return spawned_.ok() ? Event::spawned : Event::spawn_failed;
}

// The process runs: ready at once without a probe, else probed until ready or its timeout.
Service::Next Service::observe() {
  pid_ = spawned_.pid;
  sent_kill_ = false;
  started_at_ = Clock::now();
  spdlog::info("{}: started (pid {})", name(), pid_);
  // A oneshot's timeout bounds its whole run; another's its time to ready (none without a probe).
  if (spec_.timeout && (spec_.oneshot || spec_.ready.kind != config::Readiness::Kind::none))
    arm(timeout_timer_, *spec_.timeout, Event::step_timeout);
  if (spec_.ready.kind == config::Readiness::Kind::none) {
    enter(P::running);
    return std::nullopt;
  }
  enter(P::starting);
  arm(readiness_timer_, spec_.ready.timeout, Event::ready_timeout);
  probe_.start([this] { on_event(Event::probe_passed); },
               [this]() -> pid_t {
                 SpawnResult r = spawn_process(spec_.ready.exec);
                 if (!r.ok() && r.pid > 0) failed_exec_pids_.push_back(r.pid);
                 return r.ok() ? r.pid : -1;
               });
  return std::nullopt;
}

// The process could not be started; the child (if any) exits at once with 127 and is only reaped.
Service::Next Service::cannot_run() {
  const SpawnResult& r = spawned_;
  if (r.pid > 0) failed_exec_pids_.push_back(r.pid);
  std::string stage = r.stage == "lookup" ? "exec" : r.stage;
  last_exit_ = "failed: " + stage + ": " + strerror(r.error);
  last_exit_status_ = exit_code_for_spawn_error(r.error);
  if (role_ == Role::main) spdlog::error("cannot run '{}': {}", spec_.command[0], strerror(r.error));
  else spdlog::error("{}: cannot run '{}': {}: {}", name(), spec_.command[0], stage, strerror(r.error));
  after_exit(false, exit_code_for_spawn_error(r.error));
  return std::nullopt;
}

// Another process serves our port: probe it instead of starting a rival that would crash-loop,
// and look again every 5 s whether the port came free.
Service::Next Service::adopt() {
  spdlog::warn("{}: port {} is already served by another process; probing it instead of starting one", name(),
               spec_.external_port);
  probe_.stop();
  restart_timer_.stop();
  enter(P::external);
  probe_.start([this] { on_event(Event::probe_passed); }, [] { return pid_t(-1); });
  return recheck();
}

Service::Next Service::recheck() {
  arm(external_timer_, std::chrono::seconds(5), Event::recheck_port);
  return std::nullopt;
}

Service::Next Service::become_ready() {
  readiness_timer_.stop();
  if (!spec_.oneshot) timeout_timer_.stop();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_at_).count();
  spdlog::info("{}: ready after {} ms", name(), ms);
  enter(P::ready);
  return std::nullopt;
}

Service::Next Service::adopted_ready() {
  spdlog::info("{}: the process already on port {} answers", name(), spec_.external_port);
  enter(P::external_ready);
  return std::nullopt;
}

// Not ready in time: stopped (stop signal, SIGKILL after stop_timeout), then restarted as a failure.
Service::Next Service::give_up() {
  std::string why = probe_.problem().empty() ? "" : " (" + probe_.problem() + ")";
  spdlog::warn("{}: not ready after {}{}; stopping it to try again", name(), config::format_duration(spec_.ready.timeout), why);
  probe_.stop();
  timeout_timer_.stop();
  signal_group(spec_.stop_signal);
  arm(stop_timer_, spec_.stop_timeout, Event::kill_timer);
  enter(P::unready);
  return std::nullopt;
}

// Its `timeout` passed: stopped (stop signal to its group, SIGKILL after stop_timeout), then a
// failure with last_exit "timeout"; the restart policy applies as to any failure.
Service::Next Service::time_out() {
  if (already_exited()) return std::nullopt;  // it finished in time: its exit is on the way to the reaper
  std::string what = spec_.oneshot ? "still running" : "not ready";
  spdlog::warn("{}: {} after its timeout of {}; stopping it (SIG{}, pid {})", name(), what,
               config::format_duration(*spec_.timeout), config::signal_name(spec_.stop_signal), pid_);
  readiness_timer_.stop();
  probe_.stop();
  signal_group(spec_.stop_signal);
  arm(stop_timer_, spec_.stop_timeout, Event::kill_timer);
  enter(P::timed_out);
  return std::nullopt;
}

// Whether the process has exited and waits to be reaped: a timer can run before the loop reads
// the SIGCHLD of an exit that came first. WNOWAIT only looks; the reaper still collects it.
bool Service::already_exited() const {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_;
}

// A run stopped for taking too long was no stable run, however long it took: the backoff grows.
Service::Next Service::exit_timed_out() {
  record_exit("timeout");
  ran_ = std::chrono::milliseconds(0);
  after_exit(false, exit_status_of(wait_status_));
  return std::nullopt;
}

// A `once` step whose marker is there: not run, done as after a success.
Service::Next Service::skip() {
  restart_timer_.stop();
  last_exit_ = "skipped (already ran at " + ran_at_ + ")";
  last_exit_status_ = 0;
  spdlog::info("{}: {}; once: true (delete {}/{} to run it again)", name(), last_exit_, ctx_.once_dir, once_key_);
  enter(P::exited);
  return std::nullopt;
}

Service::Next Service::exit() {
  record_exit(describe_exit(wait_status_));
  bool success = WIFEXITED(wait_status_) && WEXITSTATUS(wait_status_) == 0;
  if (success && spec_.once) remember_run();
  after_exit(success, exit_status_of(wait_status_));
  return std::nullopt;
}

Service::Next Service::exit_unready() {
  record_exit("not ready after " + config::format_duration(spec_.ready.timeout));
  ran_ = std::chrono::milliseconds(0);
  after_exit(false, exit_status_of(wait_status_));
  return std::nullopt;
}

Service::Next Service::begin_stop() {
  stop_timers();
  probe_.stop();
  enter(P::stopping);
  spdlog::info("{}: stopping (SIG{}, pid {})", name(), config::signal_name(spec_.stop_signal), pid_);
  signal_group(spec_.stop_signal);
  arm(stop_timer_, spec_.stop_timeout, Event::kill_timer);
  return std::nullopt;
}

// Stopped while it had no process (waiting, held, backoff, external): nothing to signal.
Service::Next Service::halt() {
  stop_timers();
  probe_.stop();
  enter(P::stopped);
  run_on_down();
  return std::nullopt;
}

// Asked to stop while at rest: it is down already.
Service::Next Service::settle() {
  run_on_down();
  return std::nullopt;
}

Service::Next Service::down() {
  record_exit(describe_exit(wait_status_));
  spdlog::info("{}: stopped ({})", name(), last_exit_);
  enter(P::stopped);
  run_on_down();
  return std::nullopt;
}

Service::Next Service::kill() {
  spdlog::warn("{}: still running {} after SIG{}; sending SIGKILL", name(), config::format_duration(spec_.stop_timeout),
               config::signal_name(spec_.stop_signal));
  signal_group(SIGKILL);
  return std::nullopt;
}

// Back to waiting, its backoff forgotten (`wsinit start`, or after `wsinit restart` stopped it).
Service::Next Service::rearm() {
  restart_timer_.stop();
  attempt_ = 0;
  enter(P::waiting);
  return std::nullopt;
}

// The service it replaces is down.
Service::Next Service::release() {
  enter(P::waiting);
  return std::nullopt;
}

// ---- helpers of the actions ----

void Service::record_exit(const std::string& description) {
  pid_ = 0;
  stop_timer_.stop();
  readiness_timer_.stop();
  timeout_timer_.stop();
  probe_.stop();
  if (relay_) relay_->drain();
  last_exit_ = killed_for_memory() ? "oom-killed" : description;
  last_exit_status_ = exit_status_of(wait_status_);
  ran_ = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_at_);
}

// A SIGKILL wsinit did not send, while the cgroup counted an OOM kill: the kernel's OOM killer
// (it counts the kill before it sends the signal, so the count is there when the reaper sees the death).
bool Service::killed_for_memory() {
  if (!WIFSIGNALED(wait_status_) || WTERMSIG(wait_status_) != SIGKILL || sent_kill_ || !ctx_.oom_killed) return false;
  std::optional<std::string> memory = ctx_.oom_killed();
  if (!memory) return false;
  ++oom_kills_;
  spdlog::warn("service {} was killed by the kernel for memory ({})", name(), *memory);
  return true;
}

// What follows an exit or a failed start: a restart after backoff, or rest.
void Service::after_exit(bool success, int exit_status) {
  if (role_ == Role::main) {
    enter(success ? P::exited : P::failed);
    ctx_.main_exited(exit_status);
    return;
  }
  bool restart = spec_.restart == config::Restart::always || (spec_.restart == config::Restart::on_failure && !success);
  if (!restart) {
    if (success) spdlog::info("{}: {}", name(), last_exit_);
    else spdlog::warn("{}: {}; not restarting (restart: {})", name(), last_exit_,
                      spec_.restart == config::Restart::never ? "never" : "on-failure");
    enter(success ? P::exited : P::failed);
    return;
  }
  attempt_ = next_attempt(attempt_, ran_);
  double jitter = std::uniform_real_distribution<double>(0.0, 1.0)(ctx_.random);
  Duration delay = backoff_delay(spec_.backoff_initial, spec_.backoff_max, attempt_, jitter);
  spdlog::warn("{}: {}; restarting in {}", name(), last_exit_, config::format_duration(delay));
  arm(restart_timer_, delay, Event::backoff_over);
  enter(P::backoff);
}

void Service::run_on_down() {
  auto callbacks = std::move(on_down_);
  on_down_.clear();
  for (auto& done : callbacks) done();
}

// A timer whose end is `event`. libuv refuses only a closing handle, which a service never
// holds: a refusal is a bug, said as one (the service then waits for another event).
void Service::arm(Timer& timer, std::chrono::milliseconds delay, Event event) {
  if (timer.start(delay, [this, event] { on_event(event); })) return;
  ++ctx_.impossible_events;
  spdlog::error("{}: bug: cannot start the timer for {} in phase {}", name(), event_name(event), phase_name(phase_));
}

void Service::stop_timers() {
  restart_timer_.stop();
  external_timer_.stop();
  readiness_timer_.stop();
  timeout_timer_.stop();
}

// A `once` step: whether its marker says it ran (kept in ran_at_). A marker that cannot be read
// is said, and the step runs: a lost marker costs a rerun, never a refusal to start.
bool Service::already_ran() {
  if (!spec_.once) return false;
  if (ctx_.once_dir.empty()) {
    spdlog::warn("{}: once: true, but there is no directory for its marker; running it", name());
    return false;
  }
  OnceLookup found = read_once_marker(ctx_.once_dir, once_key_);
  if (found.kind == OnceLookup::Kind::unreadable)
    spdlog::warn("{}: once: true, but its marker cannot be read ({}); running it", name(), found.problem);
  ran_at_ = found.ran_at;
  return found.kind == OnceLookup::Kind::ran;
}

// A `once` step that exited 0 leaves its marker; one that cannot be written is said (it runs
// again at the next start).
void Service::remember_run() {
  std::string ran_at = utc_timestamp_of(unix_ms_now());
  Status written = ctx_.once_dir.empty() ? Status(fail("there is no directory for it"))
                                         : write_once_marker(ctx_.once_dir, once_key_, name(), ran_at);
  if (!written) spdlog::warn("{}: cannot record that it ran ({}); it runs again at the next start", name(), written.error().message);
}

void Service::signal_group(int signal) {
  if (pid_ <= 0) return;
  if (signal == SIGKILL) sent_kill_ = true;
  if (::kill(-pid_, signal) < 0) ::kill(pid_, signal);
}

std::vector<std::string> Service::environment() const {
  if (spec_.env.empty()) return ctx_.env;
  return merged(ctx_.env, spec_.env);
}

std::string Service::log_path() const {
  if (ctx_.logs_dir.empty()) return "";
  return ctx_.logs_dir + "/" + (spec_.log_name.empty() ? spec_.name : spec_.log_name) + ".log";
}

LogRelay* Service::relay() {
  if (role_ == Role::main) return nullptr;  // CMD keeps the terminal's stdio, as under tini
  if (!relay_) {
    std::unique_ptr<LogFile> file;
    if (!ctx_.logs_dir.empty()) file = std::make_unique<LogFile>(log_path(), ctx_.log_max_size, ctx_.log_max_files, ctx_.loop);
    relay_ = std::make_unique<LogRelay>(ctx_.loop, spec_.name, *ctx_.out, std::move(file), ctx_.format);
    relay_->set_tap([this](std::string_view lines) {
      if (ctx_.lines) ctx_.lines(spec_.name, lines);
    });
  }
  return relay_->ok() ? relay_.get() : nullptr;
}

// A process of this service (the service itself or its exec probe): its environment and cwd,
// stdin /dev/null and output into its log relay, default signals. CMD (main) keeps the
// terminal's stdio and the signal mask and ignored signals wsinit was started with instead.
SpawnResult Service::spawn_process(const std::vector<std::string>& argv) {
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
  request.oom_score_adj = oom_score_adj_to_write(spec_.wanted_oom_score_adj(ctx_.own_oom_score_adj), ctx_.own_oom_score_adj);
  SpawnResult result = spawn(request);
  if (null_fd >= 0) close(null_fd);
  return result;
}

// What the process just started runs with: its oom_score_adj, or wsinit's own when it had none
// to write or the kernel refused it (said once: the service runs, only less protected).
void Service::note_oom_score_adj(const SpawnResult& spawned) {
  std::optional<int> written = oom_score_adj_to_write(spec_.wanted_oom_score_adj(ctx_.own_oom_score_adj), ctx_.own_oom_score_adj);
  if (written && spawned.oom_score_adj_error == 0) {
    oom_score_adj_ = written;
    return;
  }
  oom_score_adj_ = ctx_.own_oom_score_adj;
  if (!written || oom_score_adj_failure_said_) return;
  oom_score_adj_failure_said_ = true;
  spdlog::warn("{}: cannot set its oom_score_adj to {}: {}; it runs with wsinit's own{}", name(), *written,
               strerror(spawned.oom_score_adj_error),
               ctx_.own_oom_score_adj ? " (" + std::to_string(*ctx_.own_oom_score_adj) + ")" : std::string());
}

ServiceStatus Service::status() const {
  ServiceStatus s;
  s.name = name();
  s.state = state();
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
  s.oom_score_adj = oom_score_adj_;
  s.oom_kills = oom_kills_;
  return s;
}

}  // namespace wsinit::supervisor
