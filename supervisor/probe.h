// Internal to supervisor/: readiness probes (tcp connect, http GET, exec), retried every
// interval until one succeeds. Network probes only reach addresses given as IP literals or
// localhost: resolving names would need a thread, and probes are local anyway.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <optional>
#include <string>

#include "common/result.h"
#include "common/timer.h"
#include "config/config.h"

namespace wsinit::supervisor {

struct HttpTarget {
  std::string host;  // IP literal
  int port = 80;
  std::string path = "/";
  std::string host_header;  // "127.0.0.1:8080"
};
// Accepts http://HOST[:PORT][/PATH] with HOST an IPv4 or [IPv6] literal or localhost
// (config validation refuses the rest with file:line:column).
Result<HttpTarget> parse_http_url(const std::string& url);

class Probe {
 public:
  // `host`: where a tcp probe connects (an IP literal).
  Probe(uv_loop_t* loop, const config::Readiness& spec, std::string host = "127.0.0.1");
  ~Probe();
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  // Tries now and then every interval; calls `on_ready` once. Exec probes are started through
  // `spawn_exec`, which returns the pid (or -1); their exit comes back through on_exec_exit.
  void start(std::function<void()> on_ready, std::function<pid_t()> spawn_exec);
  void stop();
  pid_t exec_pid() const { return exec_pid_; }
  // Why this probe can never pass ("cannot probe URL: why"), or why its last attempt could not
  // be made (a libuv call refused), or "" when neither.
  const std::string& problem() const { return problem_; }
  void on_exec_exit(int wait_status);

  struct Attempt;  // one network attempt in flight

 private:
  void attempt();
  void succeed();
  void start_network_attempt();
  void attempt_failed(const char* what, int error);
  friend struct Attempt;

  uv_loop_t* loop_;
  config::Readiness spec_;
  std::string host_;
  std::optional<HttpTarget> http_;
  std::string problem_;
  Timer timer_;
  std::function<void()> on_ready_;
  std::function<pid_t()> spawn_exec_;
  Attempt* in_flight_ = nullptr;
  pid_t exec_pid_ = -1;
  bool running_ = false;
};

}  // namespace wsinit::supervisor
