// supervisor/: the services wsinit runs, each a small state machine: started in dependency
// order, restarted with backoff, probed for readiness, stopped in reverse order; their output
// relayed; controlled over a unix socket.
// Uses config/ (the services it runs) and, inside, common/. Public: this and spawn.h.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "supervisor/service_spec.h"
#include "supervisor/spawn.h"

namespace wsinit::supervisor {

// external: wsinit's own service found its port already served by another process, so it runs
// nothing and only probes that one (sshd when GitLab's postStart started one).
enum class State { waiting, starting, running, ready, stopping, stopped, exited, failed, backoff, external };
const char* state_name(State state);

struct ServiceStatus {
  std::string name;
  State state = State::waiting;
  pid_t pid = 0;
  bool ready = false;
  bool required = false;
  bool oneshot = false;
  std::uint64_t restarts = 0;
  std::string last_exit;        // "exit 0", "signal 9 (KILL)", "oom-killed", "failed: exec: No such file or directory"
  int last_exit_status = -1;    // the same as a shell status (128+N for signal N); -1 before any exit
  std::int64_t since_unix_ms = 0;  // when it entered this state (wall clock, for people)
  std::int64_t uptime_ms = 0;      // for how long the current process has run (0 when none)
  std::uint64_t dropped_lines = 0;           // kept from stdout (a slow reader); the log file has them
  std::uint64_t log_file_dropped_lines = 0;  // the log file could not take (disk full, ...)
  std::optional<int> oom_score_adj;          // what its processes run with; nullopt: unknown
  std::uint64_t oom_kills = 0;               // its processes the kernel killed for memory
};

// How the whole set is doing: starting, ready, degraded (a required service crashed or cannot
// run, or went down after having been up; or a oneshot failed) or stopping.
enum class Overall { starting, ready, degraded, stopping };
const char* overall_name(Overall overall);

class Supervisor {
 public:
  struct Hooks {
    std::function<void()> on_change;                 // any service changed state
    std::function<void(int exit_status)> on_main_exit;  // tini mode: CMD is gone
    // A service's process died of a SIGKILL wsinit did not send: did the kernel's OOM killer
    // kill it (a kill counted since last asked)? When it did, the memory in words for the log
    // ("limit 512 MiB, peak 511 MiB"). Unset, or nullopt: not known to be.
    std::function<std::optional<std::string>()> oom_killed;
  };

  // Runs `services` (the enabled ones, in dependency order) with `config`'s log and shutdown
  // settings. `main_argv` (tini mode) becomes the service "main": own foreground process group,
  // the terminal's stdio, never restarted, and `main_signals` as its signal mask and ignored
  // signals (nullopt: defaults, as every service has). `env` is the environment every service
  // starts from.
  Supervisor(uv_loop_t* loop, const config::Config& config, std::vector<ServiceSpec> services,
             std::vector<std::string> main_argv, std::vector<std::string> env, Hooks hooks,
             std::optional<SignalState> main_signals = std::nullopt);
  ~Supervisor();

  // Starts what may start; before it is called nothing starts (conditions are only noted).
  void start();
  // The environment every process started from now on starts from (running ones keep theirs).
  void set_environment(std::vector<std::string> env);
  // The reaper hands every (pid, status) here; false when the pid is none of ours (an orphan).
  bool on_child_exit(pid_t pid, int wait_status);
  // Stops every service in reverse dependency order, each with its stop_signal and stop_timeout;
  // `done` runs once all are down.
  void stop_all(std::function<void()> done);
  void forward_to_main(int signal);
  // A condition services may wait for with `after` (config::is_condition): services waiting
  // for it start once it holds. It going away again stops nothing. While project-cloned has been
  // told and does not hold, a service whose cwd does not exist yet waits too.
  void set_condition(const std::string& name, bool holds);
  // Applies a new config: starts added services, stops removed ones, restarts changed ones (one
  // that has not started yet is replaced as it is).
  void reload(const config::Config& config, std::vector<ServiceSpec> services);
  // start | stop | restart NAME. `reply` runs once, when the action is done (stop and restart
  // wait for the service to be down), with ok=false and a reason when it cannot be done.
  enum class Action { start, stop, restart };
  using Reply = std::function<void(bool ok, const std::string& message)>;
  void control(Action action, const std::string& name, Reply reply);

  // `wsinit logs`: the last `lines` lines of the service's log file and its rotated ones (at
  // most kMaxTailBytes of them), or why there are none to read (no such service, no log file).
  Result<std::string> log_tail(const std::string& name, size_t lines) const;
  // From now on, every batch of the service's lines as its log file gets them (its format),
  // across restarts and reloads, until unfollow(id). `sink` must not call back into the
  // supervisor. Fails as log_tail.
  using LineSink = std::function<void(std::string_view lines)>;
  Result<std::uint64_t> follow(const std::string& name, LineSink sink);
  void unfollow(std::uint64_t id);
  static constexpr size_t kMaxTailBytes = 2 << 20;

  std::vector<ServiceStatus> status() const;
  Overall overall() const;
  std::vector<std::string> not_ready() const;  // required services not ready, for /readyz
  bool required_never_ready() const;            // for the exit status in workspace mode
  std::uint64_t dropped_lines() const;

  class Service;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "2026-11-29T01:02:03.456Z" for the given milliseconds since the epoch.
std::string utc_timestamp_of(std::int64_t unix_ms);

// The services as a table for people (`wsinit status`); their JSON is part of the status
// document (health::status_json).
std::string status_table(const std::vector<ServiceStatus>& services);

// One request of the control protocol: a line "status", "status --json",
// "start|stop|restart NAME", "logs NAME LINES [follow]", "wait ready TIMEOUT_MS",
// "wait service NAME TIMEOUT_MS" or "wait port PORT TIMEOUT_MS", ended by "\n" (or the end of
// the stream). Numbers are decimal digits, no sign and no leading zero, within the bounds below.
struct ControlRequest {
  enum class Kind { incomplete, invalid, status, status_json, start, stop, restart, logs, wait_ready, wait_service, wait_port };
  Kind kind = Kind::incomplete;
  std::string service;  // start | stop | restart | logs | wait_service: the service named
  std::string error;    // invalid: why, safe to send back (no control bytes)
  std::uint32_t lines = 0;       // logs: how many of the last lines (0..kMaxLogLines)
  bool follow = false;           // logs: then the lines as they come, until either side ends
  std::uint16_t port = 0;        // wait_port: 1..65535
  std::int64_t timeout_ms = 0;   // wait_*: 0 waits without end; at most kMaxWaitTimeoutMs
  // Held open: answered later (wait) or streamed to (logs ... follow); see ControlStream.
  bool held() const { return follow || kind == Kind::wait_ready || kind == Kind::wait_service || kind == Kind::wait_port; }
};
inline constexpr std::uint32_t kMaxLogLines = 100'000;
inline constexpr std::int64_t kMaxWaitTimeoutMs = 7LL * 24 * 3600 * 1000;  // a week
inline constexpr size_t kMaxControlRequest = 4096;     // bytes of the request line
inline constexpr size_t kMaxControlConnections = 32;  // open at once; see ControlServer
// Reads the request at the front of what has arrived; `at_end`: nothing more will come.
ControlRequest parse_control_request(std::string_view received, bool at_end);
// A count as the protocol and the client commands take one: decimal digits, no sign, no leading
// zero, at most `max` (nullopt otherwise).
std::optional<std::int64_t> parse_count(std::string_view text, std::int64_t max);

// A follow's reply after its "ok\n": frames "data LEN\n" and LEN bytes of whole lines (as the
// log file has them), "note TEXT\n" (wsinit's word in the stream: lines dropped) and
// "end TEXT\n" (the last: why the follow ended).
struct LogFrame {
  enum class Kind { incomplete, data, note, end, bad } kind = Kind::incomplete;
  std::string text;
  size_t size = 0;  // bytes of the buffer it took
};
inline constexpr size_t kMaxFrameData = 4 << 20;
std::string data_frame(std::string_view lines);
// The frame at the front of `received`.
LogFrame next_log_frame(std::string_view received);

// A request held open (ControlRequest::held: a wait, a follow): its handler answers it later,
// or streams to it, while the connection counts against kMaxControlConnections. What is queued
// for the client and not yet taken is bounded: send() refuses what does not fit, so a client
// that does not read never holds wsinit up.
class ControlStream {
 public:
  bool open() const { return connection_ != nullptr && !finishing_; }
  size_t queued() const { return queued_; }
  // Queues `data` for the client; false when the connection is gone, or when the queue is not
  // empty and `data` does not fit in kMaxStreamQueue with it (dropped).
  // `bounded` false: queued whatever is queued already (a follow's first lines, sent once).
  bool send(std::string data, bool bounded = true);
  // Queues the last `data` (past the bound if need be) and closes once it is out.
  void finish(std::string data);
  // Run once when the client went away, or the server closed the connection, before finish().
  std::function<void()> on_gone;
  // Run when everything queued has been taken: a client that fell behind has caught up.
  std::function<void()> on_drained;

 private:
  friend struct ControlServerConnections;
  void* connection_ = nullptr;  // the server's, while open
  bool finishing_ = false;
  size_t queued_ = 0;
};
inline constexpr size_t kMaxStreamQueue = 256 << 10;  // bytes per held connection
// Held connections at most: the rest of kMaxControlConnections stays for status and control.
inline constexpr size_t kMaxHeldConnections = 24;

// The control socket: `wsinit status|start|stop|restart|logs|wait` talk to the running instance here.
class ControlServer {
 public:
  // Gets one parsed request (never incomplete or invalid); answers through `reply` (at once or later).
  using Handler = std::function<void(const ControlRequest& request, Supervisor::Reply reply)>;
  // Gets a held request (ControlRequest::held), with the stream to answer it on.
  using HeldHandler = std::function<void(const ControlRequest& request, std::shared_ptr<ControlStream> stream)>;
  ControlServer(uv_loop_t* loop, Handler handler, HeldHandler held = nullptr);
  ~ControlServer();
  // Binds `path` (0600) in its directory (created 0700 when missing).
  Status listen(const std::string& path);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Where the socket is: $WSINIT_SOCKET, else <runtime>/wsinit.sock.
std::string control_socket_path(const config::Environment& env, const config::Config& config);
// Client side: sends one request line, prints the reply; returns the exit status (0 ok,
// 1 refused, 3 no running instance). `timeout_s`: how long the reply may take (0: no end).
int control_request(const std::string& socket_path, const std::string& request, int timeout_s = 60);
// Client side: connects and sends one request line; the socket, or -1 (said) with no instance.
int control_connect(const std::string& socket_path, const std::string& request, int timeout_s);

}  // namespace wsinit::supervisor
