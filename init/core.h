// Internal to init/: the PID-1 core's state, one object for the life of `wsinit` in run mode.
// init.cpp holds the loop (signals, the reaper, shutdown); attached.cpp what it serves and
// follows: the control socket, the health endpoints and status file, GitLab's variables, clone
// and postStart.
#pragma once

#include <sys/signalfd.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/timer.h"
#include "config/config.h"
#include "health/health.h"
#include "internal.h"
#include "login_probe.h"
#include "shutdown.h"
#include "supervisor/spawn.h"
#include "supervisor/supervisor.h"
#include "telemetry/resources.h"
#include "telemetry/watch.h"
#include "workspace/login_env.h"
#include "workspace/workspace.h"

namespace wsinit::init {

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
  std::optional<config::Config> reread_config();
  void on_config_reloaded();
  std::optional<config::Config> load_config(const std::string& why);
  bool load_and_apply(const std::string& why);
  // user.login_env (login_env.cpp): runs the login shell with the settings of `settings` (the
  // config about to run), then `then`; false (and `then` not run) when there is nothing to
  // probe. Off or skipped drops what an earlier probe gave (login_overrides_).
  bool probe_login_env(const std::string& why, const config::Config& settings, std::function<void()> then);
  struct LoginProbeRun {
    std::vector<std::string> base;  // the environment it started with
    Clock::time_point started;
    std::chrono::milliseconds timeout;
    std::string log_file;
  };
  bool login_env_off(const char* state);
  void on_login_env(LoginProbe::Result result, const LoginProbeRun& run, const std::function<void()>& then);
  bool take_login_env(const LoginProbe::Result& result, const LoginProbeRun& run);
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
  // held.cpp: `wsinit logs -f` and `wsinit wait`, held open on the control socket.
  void handle_held(const supervisor::ControlRequest& request, std::shared_ptr<supervisor::ControlStream> stream);
  void follow_logs(const supervisor::ControlRequest& request, std::shared_ptr<supervisor::ControlStream> stream);
  void on_follow_lines(supervisor::ControlStream* stream, std::string_view lines);
  void on_follow_drained(supervisor::ControlStream* stream);
  void hold_wait(const supervisor::ControlRequest& request, std::shared_ptr<supervisor::ControlStream> stream);
  struct WaitWorld;
  WaitWorld wait_world() const;
  static WaitOutcome wait_outcome(const supervisor::ControlRequest& request, const WaitWorld& world);
  WaitOutcome wait_outcome(const supervisor::ControlRequest& request) const;
  void check_waits();
  void check_waits_soon();
  void end_follows_of_removed(const std::vector<supervisor::ServiceStatus>& services);
  void end_waits(const std::string& why);
  void end_follows(const std::string& why);
  void on_services_changed();
  void start_health();
  void start_resources();
  std::optional<std::string> service_oom_killed();
  void start_ports();
  telemetry::WatchSettings watch_settings() const;
  void add_ports(health::Snapshot& s) const;

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
  // What services and SSH sessions start from: the workspace's environment, and what the login
  // shell added or changed (login_overrides_).
  std::vector<std::string> base_environment() const {
    return workspace::service_environment(environment_list(envp_), identity_);
  }
  std::vector<std::string> session_environment() const {
    return workspace::with_overrides(base_environment(), login_overrides_);
  }
  std::unique_ptr<LoginProbe> login_probe_;
  std::vector<std::string> login_overrides_;  // NAME=value
  health::Snapshot::LoginEnv login_env_;
  bool login_env_empty_said_ = false;  // "the profile sets nothing" is said once
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
  std::unique_ptr<telemetry::Monitor> resources_;  // the cgroup and the services' process trees
  static constexpr std::chrono::seconds kResourcePeriod{5};
  std::unique_ptr<telemetry::NetWatch> ports_;  // listening ports and activity
  struct Follow {
    std::shared_ptr<supervisor::ControlStream> stream;
    std::uint64_t id = 0;       // the supervisor's
    std::uint64_t dropped = 0;  // lines not sent since the client fell behind
    std::string service;
  };
  std::map<supervisor::ControlStream*, Follow> follows_;
  struct Wait {
    supervisor::ControlRequest request;
    std::shared_ptr<supervisor::ControlStream> stream;
    std::unique_ptr<Timer> timeout;
  };
  std::list<Wait> waits_;
  // Judges the held waits once after the loop turn's changes (a reload or a restart passes
  // through states that are no answer: a half-built table, `stopped` before the restart).
  std::unique_ptr<Timer> waits_check_;
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
  std::uint64_t changes_ = 0;  // the status document's version
};

}  // namespace wsinit::init
