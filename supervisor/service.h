// Internal to supervisor/: one service's state machine.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <random>

#include "common/timer.h"
#include "supervisor/log_relay.h"
#include "supervisor/probe.h"
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
  std::optional<SignalState> main_signals;   // tini mode's CMD: what wsinit was started with
  std::function<void()> changed;             // a service changed state
  std::function<void(int)> main_exited;      // tini mode's CMD is gone, with its exit status
  std::mt19937_64 random{std::random_device{}()};
};

class Supervisor::Service {
 public:
  enum class Role { service, main };
  Service(Context& context, config::Service spec, Role role);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  const config::Service& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }
  State state() const { return state_; }
  bool satisfies_dependents() const;  // ready, or a oneshot that succeeded
  bool finished() const;              // a oneshot that ran to its end, however it ended
  bool has_process() const { return pid_ > 0 || probe_.exec_pid() > 0; }
  bool owns(pid_t pid) const;
  bool held_by_user() const { return held_by_user_; }
  bool was_ever_ready() const { return ever_ready_; }
  bool is_failing() const;  // crashed or cannot run (backoff, failed), or down after being up
  std::uint64_t dropped_lines() const { return relay_ ? relay_->dropped_lines() : 0; }
  std::uint64_t log_file_dropped_lines() const { return relay_ ? relay_->file_failures() : 0; }
  ServiceStatus status() const;

  void start();                           // spawns now; the caller checked `after`
  void stop(std::function<void()> on_down);  // stop_signal, then SIGKILL after stop_timeout
  void hold(bool held) { held_by_user_ = held; }  // `wsinit stop` keeps it down until `start`
  void rearm();  // a service at rest goes back to waiting, its backoff forgotten
  void on_exit(pid_t pid, int wait_status);
  void signal_group(int signal);

 private:
  void enter(State state);
  bool start_external();
  void on_spawned(const SpawnResult& result);
  void after_exit(bool success, int exit_status);
  void on_ready();
  void on_readiness_timeout();
  std::vector<std::string> environment() const;
  SpawnResult spawn_process(const std::vector<std::string>& argv);
  LogRelay* relay();

  Context& ctx_;
  config::Service spec_;
  Role role_;
  State state_ = State::waiting;
  pid_t pid_ = 0;
  std::vector<pid_t> failed_exec_pids_;  // children whose exec failed, still to be reaped
  Clock::time_point started_at_{};
  std::int64_t since_unix_ms_ = 0;
  bool stop_requested_ = false;
  bool readiness_timed_out_ = false;
  bool external_ready_ = false;
  bool held_by_user_ = false;
  bool ever_ready_ = false;
  bool last_success_ = false;
  int attempt_ = 0;  // consecutive failures, for the backoff
  std::chrono::milliseconds ran_{0};  // how long the last process ran
  std::uint64_t restarts_ = 0;
  std::uint64_t starts_ = 0;
  std::string last_exit_;
  int last_exit_status_ = -1;
  std::unique_ptr<LogRelay> relay_;
  Probe probe_;
  Timer restart_timer_, stop_timer_, readiness_timer_, external_timer_;
  std::function<void()> on_down_;
};

}  // namespace wsinit::supervisor
