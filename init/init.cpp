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
#include "core.h"
#include "internal.h"
#include "pid1.h"
#include "shutdown.h"
#include "supervisor/spawn.h"
#include "supervisor/supervisor.h"
#include "workspace/workspace.h"

namespace wsinit::init {

using config::signal_name;

int Init::run() {
  if (!set_up_loop()) return 1;
  supervisor::Supervisor::Hooks hooks;
  hooks.on_main_exit = [this](int status) { on_main_exit(status); };
  hooks.on_change = [this] { on_services_changed(); };
  hooks.oom_killed = [this] { return service_oom_killed(); };
  supervisor_ = std::make_unique<supervisor::Supervisor>(&loop_, config_, services_, command_.argv, session_environment(), hooks,
                                                         inherited_signals_);
  if (!tini_mode() || !services_.empty()) open_control_socket();
  start_resources();  // before any service starts: OOM kills are counted from here
  start_health();
  watch_clone();  // first: a service whose cwd the clone brings must not start before it is told
  watch_variables();
  follow_poststart();
  // Services start once the login environment is read (or could not be): they need its PATH.
  auto start = [this] {
    if (!login_overrides_.empty()) apply(config_, "login environment");  // sshd's SetEnv carries it
    supervisor_->start();
  };
  if (!probe_login_env("start", config_, start)) supervisor_->start();
  start_ports();
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
  login_probe_.reset();
  variables_.reset();
  clone_.reset();
  poststart_.reset();
  resources_.reset();
  ports_.reset();
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

// SIGHUP in workspace mode: the config re-read first (a bad one is reported and the running one
// stays), then the login environment read again with the settings of the config that will run
// (user.login_env), then that config applied once. A changed login environment alone is applied
// as a reload applies a config: processes started from then on get it, and sshd restarts when
// its SetEnv changed.
void Init::reload() {
  if (login_probe_ && login_probe_->running()) {
    spdlog::info("SIGHUP: the login environment is still being read; send SIGHUP again once it is");
    return;
  }
  auto next = std::make_shared<std::optional<config::Config>>(reread_config());
  auto before = login_overrides_;
  auto then = [this, next, before] {
    if (*next && apply(std::move(**next), "reload")) on_config_reloaded();
    else if (login_overrides_ != before) apply(config_, "SIGHUP: login environment");
  };
  if (!probe_login_env("SIGHUP", *next ? **next : config_, then)) then();
}

// The config file read again for a reload; nullopt (said) when there is none to run.
std::optional<config::Config> Init::reread_config() {
  if (config_file_.empty()) {
    spdlog::info("SIGHUP: running on the embedded default; there is no config file to re-read");
    return std::nullopt;
  }
  if (config_state_ == ConfigState::waiting_for_clone) {
    spdlog::info("SIGHUP: {} is read once the project is cloned", config_file_);
    return std::nullopt;
  }
  return load_config("reload");
}

// A reloaded config runs: the file that was missing from the project, or could not be used,
// runs now.
void Init::on_config_reloaded() {
  if (config_state_ == ConfigState::loaded) return;
  config_state_ = ConfigState::loaded;
  std::erase_if(warnings_, [](const std::string& w) { return w.starts_with("the config file "); });
}

// Reads config_file_; nullopt (said) when it cannot be used.
std::optional<config::Config> Init::load_config(const std::string& why) {
  config::LoadResult loaded = config::load_file(config_file_, config::environment_of(envp_), config_.profile);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) spdlog::error("{}: {}", why, e);
    spdlog::error("{}: {} is invalid; keeping the running config", why, config_file_);
    return std::nullopt;
  }
  return std::move(loaded.config);
}

// Reads config_file_ and runs it; false (the running config stays) when it cannot be used.
bool Init::load_and_apply(const std::string& why) {
  auto loaded = load_config(why);
  return loaded && apply(std::move(*loaded), why);
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
  supervisor_->set_environment(session_environment());
  supervisor_->reload(config_, services_);
  follow_poststart();
  if (ports_) ports_->configure(watch_settings());
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
      if (login_probe_ && login_probe_->owns(pid)) {
        login_probe_->on_exit(pid, status);
      } else if (!supervisor_->on_child_exit(pid, status)) {
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
    if (login_probe_ && login_probe_->running()) login_probe_->kill_group();  // services wait for it no longer
    spdlog::info("shutting down ({}), grace {}", reason, config::format_duration(config_.shutdown.grace));
    end_waits("wsinit is shutting down");
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
    case Phase::terminating_others:
      end_follows("wsinit is shutting down");  // the services' last lines are out
      return terminate_others();
    case Phase::killing:
      end_follows("wsinit is shutting down");
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
    int signalled = signal_all_others(SIGKILL);
    if (signalled == 0 && !reap_children()) break;  // nothing left: no need to wait
    usleep(10'000);
    if (!reap_children()) break;
  }
}


namespace {

// user.persist's moves and new links (what needs acting on is among the identity's warnings).
void log_persist(const std::vector<user_ids::Persisted>& persisted) {
  for (const auto& p : persisted) {
    if (p.state == user_ids::PersistState::moved || p.state == user_ids::PersistState::created)
      spdlog::info("user.persist {}: {}: {}", p.path, user_ids::persist_state_name(p.state), p.detail);
    else spdlog::debug("user.persist {}: {}: {}", p.path, user_ids::persist_state_name(p.state), p.detail);
  }
  if (!persisted.empty() && persisted.front().state == user_ids::PersistState::skipped)
    spdlog::info("user.persist: {}", persisted.front().detail);
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
  log_persist(identity.persist);
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
