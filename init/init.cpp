// The PID-1 core: one libuv loop; signals through a signalfd; one reaper that hands each exit
// to the supervisor; shutdown in phases within the grace budget (shutdown.h: running ->
// [waiting_for_main] -> stopping_services -> terminating_others -> done, or killing once the
// budget ends). Read top to bottom: run() -> Init::run() -> the loop's callbacks -> shutdown()
// -> the phase entered -> finish.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <set>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/timer.h"
#include "config/config.h"
#include "health/health.h"
#include "internal.h"
#include "pid1.h"
#include "shutdown.h"
#include "supervisor/spawn.h"
#include "supervisor/supervisor.h"
#include "workspace/workspace.h"

namespace wsinit::init {
namespace {

using config::signal_name;
using Clock = std::chrono::steady_clock;

class Init {
 public:
  Init(Effective effective, std::string config_file, ConfigState config_state, const Command& command, char** envp,
       user_ids::Identity identity, std::optional<supervisor::SignalState> inherited_signals)
      : config_(std::move(effective.config)),
        sshd_(std::move(effective.sshd)),
        workspace_(std::move(effective.workspace)),
        services_(std::move(effective.services)),
        config_file_(std::move(config_file)),
        config_state_(config_state),
        command_(command),
        envp_(envp),
        identity_(std::move(identity)),
        inherited_signals_(inherited_signals) {}

  int run();
  void record_phase(const std::string& name, Clock::duration took) {
    startup_ms_.emplace_back(name, std::chrono::duration<double, std::milli>(took).count());
  }

 private:
  bool set_up_loop();
  void tear_down();
  static void on_signal_readable(uv_poll_t* handle, int status, int events);

  void on_signal_poll_error(int status);
  void read_signals();
  void handle_signal(const signalfd_siginfo& info);
  void reload();
  bool load_and_apply(const std::string& why);
  bool apply(config::Config base, const std::string& why);
  bool reap_children();
  void on_main_exit(int status);
  void shutdown(ShutdownEvent event, const std::string& reason = "");
  void enter(Phase phase);
  void terminate_others();
  void kill_remaining();
  void open_control_socket();
  void handle_control(const supervisor::ControlRequest& request, supervisor::Supervisor::Reply reply);
  health::Snapshot snapshot() const;
  void on_services_changed();
  void start_health();

  void watch_variables();
  void watch_clone();
  void on_project_cloned();
  void follow_poststart();
  void on_poststart_changed();
  void link_component_logs();
  std::vector<health::Snapshot::PostStartStep> poststart_steps() const;
  void warn(const std::string& warning);

  config::Config config_;  // as loaded
  sshd_setup::Setup sshd_;
  workspace::Plan workspace_;
  std::vector<supervisor::ServiceSpec> services_;  // wsinit's own, then config_'s
  std::string config_file_;  // empty: the embedded default (nothing to re-read on SIGHUP)
  ConfigState config_state_;
  std::vector<std::string> warnings_;  // for status: what a person should know and fix
  const Command& command_;
  char** envp_;
  user_ids::Identity identity_;
  std::optional<supervisor::SignalState> inherited_signals_;  // what wsinit was started with, for CMD
  std::vector<std::string> session_environment() const {
    return workspace::service_environment(environment_list(envp_), identity_);
  }
  bool tini_mode() const { return !command_.argv.empty(); }

  uv_loop_t loop_{};
  uv_poll_t signal_poll_{};
  int signal_fd_ = -1;
  std::unique_ptr<Timer> signal_timer_;  // reads the signalfd when polling it failed
  bool signal_read_failed_ = false;
  std::unique_ptr<Timer> grace_timer_;
  std::unique_ptr<supervisor::Supervisor> supervisor_;
  std::unique_ptr<supervisor::ControlServer> control_;
  std::unique_ptr<health::Server> health_server_;
  std::unique_ptr<health::StatusFile> status_file_;
  std::unique_ptr<health::Reporter> reporter_;
  std::unique_ptr<workspace::Variables> variables_;
  std::unique_ptr<workspace::ProjectClone> clone_;
  std::unique_ptr<workspace::PostStartObserver> poststart_;
  std::set<std::pair<std::string, std::int64_t>> slow_said_;  // steps already said to be slow
  bool component_logs_linked_ = false;
  supervisor::Overall last_overall_ = supervisor::Overall::starting;
  std::vector<std::pair<std::string, double>> startup_ms_;
  Clock::time_point started_ = Clock::now();
  std::int64_t started_unix_ms_ =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  static constexpr std::int64_t kEarlierStart = 30'000;  // ms: a postStart step older than that is a past start's

  Phase phase_ = Phase::running;
  int exit_code_ = 0;
  std::uint64_t orphans_reaped_ = 0;
};

int Init::run() {
  if (!set_up_loop()) return 1;
  supervisor::Supervisor::Hooks hooks;
  hooks.on_main_exit = [this](int status) { on_main_exit(status); };
  hooks.on_change = [this] { on_services_changed(); };
  supervisor_ = std::make_unique<supervisor::Supervisor>(&loop_, config_, services_, command_.argv, session_environment(), hooks,
                                                         inherited_signals_);
  if (!tini_mode() || !services_.empty()) open_control_socket();
  start_health();
  watch_clone();  // first: a service whose cwd the clone brings must not start before it is told
  watch_variables();
  follow_poststart();
  supervisor_->start();
  reap_children();  // anything that exited before the loop ran
  uv_run(&loop_, UV_RUN_DEFAULT);  // returns once stopped; its value says only whether handles are left

  if (!tini_mode() && supervisor_->required_never_ready()) exit_code_ = 1;
  if (status_file_) status_file_->write_now();
  tear_down();
  spdlog::debug("exiting with status {} ({} orphans reaped)", exit_code_, orphans_reaped_);
  return exit_code_;
}

// The subreaper, the signal intake, the loop and the grace timer; false (said) when PID 1
// cannot work without what failed.
bool Init::set_up_loop() {
  if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    spdlog::error("cannot become a child subreaper: {}; orphans will not be reaped", strerror(errno));
  }
  signal_fd_ = open_signal_fd();
  if (signal_fd_ < 0) {
    spdlog::critical("cannot set up the signal intake (signalfd): {}", strerror(errno));
    return false;
  }
  if (int rc = uv_loop_init(&loop_); rc != 0) {
    spdlog::critical("cannot set up the event loop: {}", uv_strerror(rc));
    return false;
  }
  loop_.data = this;
  int rc = uv_poll_init(&loop_, &signal_poll_, signal_fd_);
  if (rc == 0) rc = uv_poll_start(&signal_poll_, UV_READABLE, on_signal_readable);
  if (rc != 0) {
    spdlog::critical("cannot watch the signal intake (signalfd): {}", uv_strerror(rc));
    return false;
  }
  grace_timer_ = std::make_unique<Timer>(&loop_);
  if (!grace_timer_->usable()) {
    spdlog::critical("cannot set up the shutdown's grace timer");
    return false;
  }
  return true;
}

// Everything on the loop closed and let go, in the order it was made, then the loop itself.
void Init::tear_down() {
  variables_.reset();
  clone_.reset();
  poststart_.reset();
  health_server_.reset();
  status_file_.reset();
  reporter_.reset();
  control_.reset();
  supervisor_.reset();
  signal_timer_.reset();
  grace_timer_.reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&signal_poll_), nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);  // lets the closed handles go
  if (int rc = uv_loop_close(&loop_); rc != 0) spdlog::debug("event loop: closing it: {}", uv_strerror(rc));
  close(signal_fd_);
}

void Init::on_signal_readable(uv_poll_t* handle, int status, int) {
  Init* self = static_cast<Init*>(handle->loop->data);
  if (status < 0) return self->on_signal_poll_error(status);
  self->read_signals();
}

// libuv stops a poll handle that reports an error. Without its signal intake PID 1 would
// neither reap nor forward nor shut down, so the signalfd is read on a timer from then on.
void Init::on_signal_poll_error(int status) {
  if (signal_timer_) return;
  spdlog::critical("signal intake: polling the signalfd failed: {}; reading it every 100ms from now on",
                   uv_strerror(status));
  signal_timer_ = std::make_unique<Timer>(&loop_);
  if (!signal_timer_->repeat(std::chrono::milliseconds(100), [this] { read_signals(); }))
    spdlog::critical("signal intake: cannot read the signalfd on a timer either; signals are read only now");
  read_signals();
}

// Everything the signalfd holds now, in batches.
void Init::read_signals() {
  signalfd_siginfo batch[16];
  ssize_t n;
  do {
    n = read(signal_fd_, batch, sizeof batch);
    for (ssize_t i = 0; i < n / static_cast<ssize_t>(sizeof batch[0]); ++i) handle_signal(batch[i]);
  } while (n == static_cast<ssize_t>(sizeof batch) || (n < 0 && errno == EINTR));
  if (n < 0 && errno != EAGAIN && !signal_read_failed_) {
    signal_read_failed_ = true;  // said once: a broken signalfd would say it at every wake-up
    spdlog::critical("signal intake: cannot read the signalfd: {}", strerror(errno));
  }
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
  if (tini_mode()) {
    supervisor_->forward_to_main(sig);  // tini semantics: CMD decides, HUP included
  } else if (sig == SIGHUP) {
    reload();
  }
  if (terminate) shutdown(ShutdownEvent::stop_requested, "SIG" + signal_name(sig));
}

// SIGHUP in workspace mode: re-read the config; a bad one is reported and the running one stays.
void Init::reload() {
  if (config_file_.empty()) {
    spdlog::info("SIGHUP: running on the embedded default; there is no config file to re-read");
    return;
  }
  if (config_state_ == ConfigState::waiting_for_clone) {
    spdlog::info("SIGHUP: {} is read once the project is cloned", config_file_);
    return;
  }
  if (!load_and_apply("reload") || config_state_ == ConfigState::loaded) return;
  // The file that was missing from the project, or could not be used, runs now.
  config_state_ = ConfigState::loaded;
  std::erase_if(warnings_, [](const std::string& w) { return w.starts_with("the config file "); });
}

// Reads config_file_ and runs it; false (the running config stays) when it cannot be used.
bool Init::load_and_apply(const std::string& why) {
  config::LoadResult loaded = config::load_file(config_file_, config::environment_of(envp_), config_.profile);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) spdlog::error("{}: {}", why, e);
    spdlog::error("{}: {} is invalid; keeping the running config", why, config_file_);
    return false;
  }
  return apply(std::move(*loaded.config), why);
}

// Plans wsinit's own services for `base` again and hands the result to the supervisor.
bool Init::apply(config::Config base, const std::string& why) {
  std::vector<std::string> errors;
  auto effective =
      effective_config(std::move(base), config::environment_of(envp_), identity_, session_environment(), false, &errors);
  if (!effective) {
    for (const auto& e : errors) spdlog::error("{}: {}", why, e);
    spdlog::error("{}: the new config cannot be used as it is; keeping the running config", why);
    return false;
  }
  spdlog::info("{}: running {}", why, effective->config.source);
  config_ = std::move(effective->config);
  sshd_ = std::move(effective->sshd);
  workspace_ = std::move(effective->workspace);
  services_ = std::move(effective->services);
  log_sshd(sshd_);
  log_workspace(workspace_);
  supervisor_->reload(config_, services_);
  follow_poststart();
  return true;
}

// The one place that waits for children: every exited child, until none is left waiting.
// Returns whether children are left.
bool Init::reap_children() {
  bool left = true;
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      if (!supervisor_->on_child_exit(pid, status)) {
        ++orphans_reaped_;
        spdlog::trace("reaped orphan pid {}", pid);
      }
      continue;
    }
    if (pid < 0 && errno == EINTR) continue;
    left = pid == 0;
    break;
  }
  if (!left) shutdown(ShutdownEvent::all_reaped);
  return left;
}

void Init::on_main_exit(int status) {
  exit_code_ = status;
  spdlog::info("the main command ended with status {}", status);
  shutdown(ShutdownEvent::main_exited, "the main command exited");
}

// An event the phase table says cannot happen: a bug in wsinit, said before it goes.
[[noreturn]] void refuse_move(Phase from, ShutdownEvent event) {
  spdlog::critical("internal error: shutdown event {} cannot happen in phase {}", event_name(event), phase_name(from));
  abort();
}

// The one place the shutdown moves (see shutdown.h). The grace budget runs from the first move
// out of running; `reason` says what started it.
void Init::shutdown(ShutdownEvent event, const std::string& reason) {
  Phase from = phase_;
  std::optional<Phase> to = next_phase(from, event, tini_mode());
  if (!to) refuse_move(from, event);
  if (*to == from) {
    // CMD reaped while being killed: its services are asked to stop as if it had exited in time.
    if (from == Phase::killing && event == ShutdownEvent::main_exited)
      supervisor_->stop_all([this] { shutdown(ShutdownEvent::services_stopped); });
    return;
  }
  phase_ = *to;
  spdlog::trace("shutdown: {} -> {} ({})", phase_name(from), phase_name(*to), event_name(event));
  if (from == Phase::running) {
    spdlog::info("shutting down ({}), grace {}", reason, config::format_duration(config_.shutdown.grace));
    if (!grace_timer_->start(config_.shutdown.grace, [this] { shutdown(ShutdownEvent::grace_over); }))
      spdlog::critical("cannot start the grace timer: what is left at the end of the grace budget is not killed");
  }
  enter(*to);
}

// Each phase's work, done once on entering it. It may move the shutdown on again from inside
// (a supervisor with nothing to stop says so at once; a reap may find nothing left).
void Init::enter(Phase phase) {
  switch (phase) {
    case Phase::running:
    case Phase::waiting_for_main: return;  // CMD got the signal and decides
    case Phase::stopping_services:
      return supervisor_->stop_all([this] { shutdown(ShutdownEvent::services_stopped); });
    case Phase::terminating_others: return terminate_others();
    case Phase::killing:
      spdlog::warn("grace period of {} is over; killing what is left", config::format_duration(config_.shutdown.grace));
      kill_remaining();
      uv_stop(&loop_);
      return;
    case Phase::done:
      grace_timer_->stop();
      uv_stop(&loop_);
      return;
  }
}

void Init::terminate_others() {
  int count = signal_all_others(SIGTERM);
  if (count != 0) spdlog::debug("sent SIGTERM to {} remaining processes", count < 0 ? std::string("all") : std::to_string(count));
  reap_children();
}

// SIGKILL to everything left, then reap. Rescans because a dying parent's children are
// re-parented to us only as it exits; gives up after a second (stuck in the kernel, D state).
void Init::kill_remaining() {
  for (int round = 0; round < 100; ++round) {
    signal_all_others(SIGKILL);
    usleep(10'000);
    if (!reap_children()) break;
  }
}

void Init::open_control_socket() {
  std::string path = supervisor::control_socket_path(config::environment_of(envp_), config_);
  control_ = std::make_unique<supervisor::ControlServer>(
      &loop_, [this](const supervisor::ControlRequest& request, supervisor::Supervisor::Reply reply) {
        handle_control(request, reply);
      });
  if (auto listening = control_->listen(path); !listening) {
    spdlog::warn("control socket off: {}", listening.error().message);
    control_.reset();
  }
}

void Init::handle_control(const supervisor::ControlRequest& request, supervisor::Supervisor::Reply reply) {
  using Kind = supervisor::ControlRequest::Kind;
  switch (request.kind) {
    case Kind::status_json:
      return reply(true, health::status_json(snapshot()));
    case Kind::status: {
      auto up = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count();
      return reply(true, std::string("wsinit ") + supervisor::overall_name(supervisor_->overall()) + ", up " +
                             std::to_string(up) + "s, " + std::to_string(orphans_reaped_) + " orphans reaped\n" +
                             supervisor::status_table(supervisor_->status()));
    }
    case Kind::start: return supervisor_->control(supervisor::Supervisor::Action::start, request.service, reply);
    case Kind::stop: return supervisor_->control(supervisor::Supervisor::Action::stop, request.service, reply);
    case Kind::restart: return supervisor_->control(supervisor::Supervisor::Action::restart, request.service, reply);
    case Kind::incomplete:
    case Kind::invalid: return reply(false, request.error);
  }
}

health::Snapshot Init::snapshot() const {
  health::Snapshot s;
  s.overall = supervisor_->overall();
  s.uptime_s = std::chrono::duration<double>(Clock::now() - started_).count();
  s.orphans_reaped = orphans_reaped_;
  s.log_lines_dropped = supervisor_->dropped_lines();
  s.services = supervisor_->status();
  s.not_ready = supervisor_->not_ready();
  s.user = &identity_;
  s.sshd = &sshd_;
  s.startup_ms = startup_ms_;
  s.workspace.editor_url = workspace_.editor_url;
  if (!config_file_.empty()) s.config.file = config_file_;
  s.config.state = config_state_name(config_state_);
  s.warnings = warnings_;
  if (clone_) {
    s.workspace.project_cloned = clone_->cloned();
    s.workspace.clone_s = clone_->waited_s();
  }
  s.workspace.poststart_mode = workspace::poststart_mode_name(workspace_.poststart_mode);
  s.workspace.poststart = poststart_steps();
  if (variables_) {
    s.workspace.variables_dir = variables_->dir();
    s.workspace.file_variables = variables_->file_count();
    s.workspace.reconciled_state = variables_->reconciled_state();
  }
  return s;
}

// Every service change: the status file, the long polls, and a log line when the overall state moves.
void Init::on_services_changed() {
  supervisor::Overall now = supervisor_->overall();
  if (now != last_overall_) {
    if (now == supervisor::Overall::ready && std::none_of(startup_ms_.begin(), startup_ms_.end(), [](auto& p) { return p.first == "ready"; }))
      startup_ms_.emplace_back("ready", std::chrono::duration<double, std::milli>(Clock::now() - started_).count());
    if (now == supervisor::Overall::degraded) spdlog::warn("workspace degraded: a required service is down or a oneshot failed");
    else spdlog::info("workspace {}", supervisor::overall_name(now));
    last_overall_ = now;
  }
  if (status_file_) status_file_->changed();
  if (health_server_) health_server_->notify_change();
  if (reporter_) reporter_->changed();
}

// The variables mount, and GitLab's reconciled state as the condition `workspace-running`.
// A plain tini stand-in has nothing to hand variables to and does not look.
void Init::watch_variables() {
  if (tini_mode() && services_.empty()) return;
  variables_ = std::make_unique<workspace::Variables>(&loop_, config_.paths.variables, [this](bool running) {
    supervisor_->set_condition(config::kWorkspaceRunning, running);
    on_services_changed();
  });
  variables_->start();
}

// GitLab's clone as the condition `project-cloned`, and what waits for it: the config file and
// the devfile that live in the project.
void Init::watch_clone() {
  if (tini_mode() && services_.empty()) return;
  config::Environment env = config::environment_of(envp_);
  clone_ = std::make_unique<workspace::ProjectClone>(&loop_, config::projects_root(env), config_.paths.scripts,
                                                     [this] { on_project_cloned(); });
  clone_->start();
  supervisor_->set_condition(config::kProjectCloned, clone_->cloned());
}

void Init::on_project_cloned() {
  supervisor_->set_condition(config::kProjectCloned, true);
  if (config_state_ == ConfigState::waiting_for_clone) {
    if (file_missing(config_file_)) {
      config_state_ = ConfigState::missing;
      warn("the config file " + config_file_ + " is not in the cloned project; running on the embedded profile");
    } else if (load_and_apply("the project is cloned")) {
      config_state_ = ConfigState::loaded;
    } else {
      config_state_ = ConfigState::embedded;  // the clone is done: SIGHUP reads the file again
      warn("the config file " + config_file_ + " cannot be used (see the log); running on the embedded profile");
    }
  } else if (workspace_.devfile_pending) {
    apply(config_, "the project is cloned");
    if (workspace_.devfile_pending)
      warn("workspace.devfile " + config_.workspace.devfile + " is not in the cloned project");
  }
  on_services_changed();
}

// GitLab's postStart runner, followed through its log while workspace.poststart is observe.
void Init::follow_poststart() {
  if (workspace_.poststart_mode != workspace::Plan::PostStartMode::observe) {
    poststart_.reset();
    return;
  }
  if (poststart_ && poststart_->logs_dir() == config_.paths.logs) return;
  poststart_ = std::make_unique<workspace::PostStartObserver>(&loop_, config_.paths.logs, [this] { on_poststart_changed(); });
  poststart_->start();
}

// A step past workspace.poststart_slow_after is said once in the log (status and metrics carry it).
void Init::on_poststart_changed() {
  auto steps = poststart_steps();
  std::erase_if(slow_said_, [&](const auto& said) {  // only steps still listed are remembered
    return std::none_of(steps.begin(), steps.end(),
                        [&](const auto& step) { return step.id == said.first && step.started_unix_ms == said.second; });
  });
  for (const auto& step : steps) {
    if (step.slow && slow_said_.emplace(step.id, step.started_unix_ms).second)
      spdlog::warn("postStart step {} {} {} (longer than workspace.poststart_slow_after, {})", step.id,
                   step.finished_unix_ms ? "ran" : "has been running for",
                   config::format_duration(config::Duration(static_cast<std::int64_t>(step.duration_s * 1000))),
                   config::format_duration(config_.workspace.poststart_slow_after));
  }
  link_component_logs();
  on_services_changed();
}

// GitLab's per-component log layout keeps the main component's start-vscode.log and
// start-sshd.log in <logs>/<component>/: where that folder is known and has none, a link there
// leads to wsinit's (which stay in <logs>, where GitLab's script writes them too).
void Init::link_component_logs() {
  if (component_logs_linked_ || !poststart_) return;
  auto main = poststart_->main_component();
  if (!main) return;
  component_logs_linked_ = true;
  // The folder is the workspace user's: it is opened without following a link, so a link put
  // in its place never leads wsinit to write somewhere else.
  std::string folder = config_.paths.logs + "/" + *main;
  int dir = open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0) {
    spdlog::debug("cannot link the editor's and sshd's logs into {}: {}", folder, strerror(errno));
    return;
  }
  for (const char* name : {"start-vscode.log", "start-sshd.log"}) {
    if (symlinkat((std::string("../") + name).c_str(), dir, name) != 0 && errno != EEXIST)
      spdlog::debug("cannot link {}/{}: {}", folder, name, strerror(errno));
  }
  if (close(dir) != 0) spdlog::debug("closing {} failed: {}", folder, strerror(errno));
}

std::vector<health::Snapshot::PostStartStep> Init::poststart_steps() const {
  std::vector<health::Snapshot::PostStartStep> out;
  if (!poststart_) return out;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& step : poststart_->steps()) {
    // The log is on the persistent volume and GitLab's hook appends to it: steps from before
    // this start (GitLab's hook runs after PID 1 started, or a moment before) are not this start's.
    if (step.started_unix_ms < started_unix_ms_ - kEarlierStart) continue;
    health::Snapshot::PostStartStep s;
    s.id = step.id;
    s.component = step.component;
    s.started_unix_ms = step.started_unix_ms;
    s.finished_unix_ms = step.finished_unix_ms;
    s.duration_s = std::max<double>(0, static_cast<double>(step.finished_unix_ms.value_or(now) - step.started_unix_ms) / 1000.0);
    s.slow = s.duration_s * 1000 > static_cast<double>(config_.workspace.poststart_slow_after.count());
    out.push_back(std::move(s));
  }
  return out;
}

void Init::warn(const std::string& warning) {
  spdlog::warn("{}", warning);
  warnings_.push_back(warning);
}

// The HTTP endpoints (health.listen) and the status file (<logs>/wsinit-status.json).
void Init::start_health() {
  auto source = [this] { return snapshot(); };
  if (!config_.health.listen.empty()) {
    health_server_ = std::make_unique<health::Server>(&loop_, source);
    if (auto listening = health_server_->listen(config_.health.listen); !listening) {
      spdlog::error("health endpoints off: {}", listening.error().message);
      health_server_.reset();
    }
  }
  if (!config_.health.report_url.empty()) {
    reporter_ = std::make_unique<health::Reporter>(&loop_, config_.health, source);
    if (auto started = reporter_->start(); !started) {
      spdlog::error("reports off: {}", started.error().message);
      reporter_.reset();
    }
  }
  if (tini_mode() && services_.empty()) return;  // a plain tini stand-in writes nothing
  const std::string& logs = config_.paths.logs;
  if (auto done = fs::usable_dir_in_existing_parent(logs, 0750); !done) {
    spdlog::warn("status file off: {}", done.error().message);
  } else {
    status_file_ = std::make_unique<health::StatusFile>(&loop_, logs + "/wsinit-status.json", source);
  }
}

}  // namespace

int run(const Command& command, char** envp) {
  // Read before anything of ours blocks a signal: tini mode hands it on to CMD, as tini does.
  std::optional<supervisor::SignalState> inherited_signals = supervisor::current_signal_state();
  int signals_error = errno;
  config::Environment env = config::environment_of(envp);
  std::vector<std::string> errors;
  LoadedConfig loaded = load_config(command, env, &errors);
  std::string file = loaded.file;
  auto& config = loaded.config;
  if (!config || !errors.empty()) {
    for (const auto& e : errors) print_error(e);
    return 2;
  }
  apply_log_settings(*config, env, !command.argv.empty());
  if (!inherited_signals && !command.argv.empty()) {
    spdlog::warn("cannot read the signal mask and dispositions wsinit was started with: {}; CMD starts with "
                 "none blocked or ignored",
                 strerror(signals_error));
  }
  auto t0 = Clock::now();
  user_ids::Identity identity = establish_identity(*config, envp, false);
  auto t1 = Clock::now();
  spdlog::info("user {} (uid {}, gid {}), home {}, entry: {}", identity.name, identity.uid, identity.gid, identity.home,
               user_ids::source_name(identity.source));
  for (const auto& warning : identity.warnings) spdlog::warn("{}", warning);
  auto effective = effective_config(std::move(*config), env, identity,
                                    workspace::service_environment(environment_list(envp), identity), false, &errors);
  if (!effective) {
    for (const auto& e : errors) print_error(e);
    return 2;
  }
  if (loaded.state == ConfigState::waiting_for_clone)
    spdlog::info("{} does not exist yet and GitLab's clone is pending: starting on the embedded profile; the file is "
                 "read once the project is cloned",
                 file);
  log_sshd(effective->sshd);
  log_workspace(effective->workspace);
  auto t2 = Clock::now();
  Init init(std::move(*effective), file, loaded.state, command, envp, std::move(identity),
            command.argv.empty() ? std::nullopt : inherited_signals);
  init.record_phase("user", t1 - t0);
  init.record_phase("sshd", t2 - t1);
  return init.run();
}


}  // namespace wsinit::init
