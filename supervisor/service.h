// Internal to supervisor/: one service's state machine. Everything that happens to a service is
// an Event; what it does about it is one entry of a phase x event table (service.cpp, mirrored
// in docs/DESIGN.md "Service states"), a tiny named action. Nothing else decides what it does next.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>

#include "common/timer.h"
#include "log_relay.h"
#include "probe.h"
#include "supervisor/spawn.h"
#include "supervisor/supervisor.h"

namespace wsinit::supervisor {

using Clock = std::chrono::steady_clock;

// What all services share, owned by the supervisor.
struct Context {
  uv_loop_t* loop;
  OutputSink* out;
  std::string logs_dir;  // empty: no log files
  LineFormat format = LineFormat::text;
  std::uint64_t log_max_size = 10u << 20;
  int log_max_files = 3;
  std::vector<std::string> env;
  std::optional<int> own_oom_score_adj;      // wsinit's, which services inherit; nullopt: unknown
  std::optional<SignalState> main_signals;   // tini mode's CMD: what wsinit was started with
  std::function<void()> changed;             // a service changed phase
  std::function<void(int)> main_exited;      // tini mode's CMD is gone, with its exit status
  std::function<void()> last_process_gone;   // a service at rest lost its last process (a probe's)
  std::function<std::optional<std::string>()> oom_killed;  // Supervisor::Hooks::oom_killed
  std::function<void(const std::string& service, std::string_view lines)> lines;  // its log file's lines, for followers
  std::mt19937_64 random{std::random_device{}()};
  std::uint64_t impossible_events = 0;       // events the table calls impossible (a bug; logged)
  std::string once_dir;                      // where `once: true` steps leave their markers (once.h)
};

class Supervisor::Service {
 public:
  enum class Role { service, main };
  // The rows of the table; finer than the State that status shows (state_of).
  //   held: waits for the service it replaces (reload) to be down; then it is waiting.
  //   unready: its readiness timed out; it has been sent its stop signal and is going down.
  //   timed_out: its `timeout` passed (a oneshot still running, another service not ready); sent
  //     its stop signal, going down, then a failure with last_exit "timeout".
  //   external / external_ready: another process serves its port; probed, not yet / answering.
  enum class Phase {
    held, waiting, starting, unready, timed_out, running, ready, stopping, stopped, exited, failed, backoff, external,
    external_ready
  };
  // The columns. go, release, rearm and stop come from the supervisor; spawned, spawn_failed and
  // port_taken from the service's own start (already_ran: a `once` step's marker is there, so it is
  // not run); the rest from its process, its probe and its timers (step_timeout: its `timeout`).
  enum class Event {
    go, release, rearm, spawned, spawn_failed, port_taken, probe_passed, ready_timeout, exited, stop,
    kill_timer, backoff_over, recheck_port, step_timeout, already_ran
  };
  static constexpr int kPhases = 14;
  static constexpr int kEvents = 15;

  Service(Context& context, ServiceSpec spec, Role role, Phase initial = Phase::waiting);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  const ServiceSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }
  Phase phase() const { return phase_; }
  State state() const { return state_of(phase_); }
  bool satisfies_dependents() const;  // ready, or a oneshot that succeeded
  bool finished() const;              // a oneshot that ran to its end, however it ended
  bool has_process() const { return pid_ > 0 || probe_.exec_pid() > 0; }
  bool owns(pid_t pid) const;
  bool was_ever_ready() const { return ever_ready_; }
  bool is_failing() const;  // crashed or cannot run (backoff, failed), or down after being up
  std::uint64_t dropped_lines() const { return relay_ ? relay_->dropped_lines() : 0; }
  std::uint64_t log_file_dropped_lines() const { return relay_ ? relay_->file_failures() : 0; }
  ServiceStatus status() const;
  // Its log file (empty when there are none), and whether its output is relayed at all (CMD's is not).
  std::string log_path() const;
  bool logged() const { return role_ != Role::main; }

  void on_event(Event event);
  // Event::stop; `on_down` runs once the service has no process (at once when it has none).
  void stop(std::function<void()> on_down);
  // The reaper's (pid, status) for a pid owns() claims: Event::exited for the service's process.
  void on_exit(pid_t pid, int wait_status);
  void signal_group(int signal);

  static State state_of(Phase phase);
  static const char* phase_name(Phase phase);
  static const char* event_name(Event event);
  // The name of the action the table holds for (phase, event): "launch", "bug", ...
  static const char* action_name(Phase phase, Event event);
  static bool table_in_order();  // row i is Phase i

 private:
  using Next = std::optional<Event>;  // what an action may hand on: the outcome of a start
  struct Step {
    const char* name;
    Next (Service::*run)();
  };
  struct Row {
    Phase phase;
    Step steps[kEvents];
  };
  static const Row kTable[kPhases];

  Next bug();
  Next nop();
  Next launch();
  Next observe();
  Next cannot_run();
  Next adopt();
  Next recheck();
  Next become_ready();
  Next adopted_ready();
  Next give_up();
  Next time_out();
  bool already_exited() const;
  Next exit_timed_out();
  Next skip();
  Next exit();
  Next exit_unready();
  Next begin_stop();
  Next halt();
  Next settle();
  Next down();
  Next kill();
  Next rearm();
  Next release();

  void enter(Phase phase);
  void record_exit(const std::string& description);
  bool already_ran();
  void remember_run();
  bool killed_for_memory();
  void after_exit(bool success, int exit_status);
  void run_on_down();
  void stop_timers();
  void arm(Timer& timer, std::chrono::milliseconds delay, Event event);
  std::vector<std::string> environment() const;
  SpawnResult spawn_process(const std::vector<std::string>& argv);
  void note_oom_score_adj(const SpawnResult& spawned);
  LogRelay* relay();

  Context& ctx_;
  ServiceSpec spec_;
  Role role_;
  Phase phase_;
  Event event_ = Event::go;  // the one being handled, for bug()
  pid_t pid_ = 0;
  int wait_status_ = 0;                  // Event::exited: how the process ended
  SpawnResult spawned_;                  // Event::spawned / spawn_failed: what spawn said
  std::vector<pid_t> failed_exec_pids_;  // children whose exec failed, still to be reaped
  Clock::time_point started_at_{};
  std::int64_t since_unix_ms_ = 0;
  bool ever_ready_ = false;
  int attempt_ = 0;  // consecutive failures, for the backoff
  std::chrono::milliseconds ran_{0};  // how long the last process ran
  std::uint64_t restarts_ = 0;
  std::uint64_t starts_ = 0;
  std::string last_exit_;
  int last_exit_status_ = -1;
  std::optional<int> oom_score_adj_;     // what its process runs with (status)
  bool sent_kill_ = false;               // wsinit sent the current process SIGKILL
  std::uint64_t oom_kills_ = 0;
  bool oom_score_adj_failure_said_ = false;
  std::unique_ptr<LogRelay> relay_;
  Probe probe_;
  std::string once_key_;                 // once: the name of its marker (once.h); "" otherwise
  std::string ran_at_;                   // once: when the run its marker records happened
  Timer restart_timer_, stop_timer_, readiness_timer_, external_timer_, timeout_timer_;
  std::vector<std::function<void()>> on_down_;
};

}  // namespace wsinit::supervisor
