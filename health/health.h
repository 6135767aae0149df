// health/: what wsinit tells Kubernetes, the proxy and people about the workspace: the status
// document (also written to <logs>/wsinit-status.json), Prometheus metrics, and a small
// read-only HTTP server for /healthz, /readyz, /status, /metrics and, for a browser, a page
// showing the status (health/page/).
// Uses config/, supervisor/, sshd_setup/ and user_ids/ (what it reports on); inside, common/ and OpenSSL.
#pragma once

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
#include "sshd_setup/sshd_setup.h"
#include "supervisor/supervisor.h"
#include "telemetry/resources.h"
#include "telemetry/ports.h"
#include "user_ids/user_ids.h"

namespace wsinit::health {

// Everything the status document and the metrics are made of, taken when asked.
struct Snapshot {
  // How many changes the workspace has had (its owner counts them): every document carries it, so
  // /status, the status file, the reports and `status --json` agree on it, and a client waits for
  // it to move (/status?wait=change).
  std::uint64_t version = 0;
  supervisor::Overall overall = supervisor::Overall::starting;
  double uptime_s = 0;
  std::uint64_t orphans_reaped = 0;
  std::uint64_t log_lines_dropped = 0;
  std::vector<supervisor::ServiceStatus> services;
  std::vector<std::string> not_ready;  // required services that are not ready
  const user_ids::Identity* user = nullptr;
  // user.login_env: what the login shell's profile gave services and SSH sessions (names only).
  struct LoginEnv {
    std::string state = "off";  // applied | unchanged | timeout | failed | off | skipped | probing
    std::string shell;
    std::vector<std::string> added, changed;
    std::optional<double> took_ms;
  } login_env;
  const sshd_setup::Setup* sshd = nullptr;
  std::vector<std::pair<std::string, double>> startup_ms;  // phase, milliseconds
  struct Config {
    std::optional<std::string> file;  // the file named (--config, WSINIT_CONFIG, /etc/wsinit/wsinit.yaml)
    std::string state = "embedded";   // embedded | loaded | waiting-for-clone | missing
  } config;
  std::vector<std::string> warnings;  // what a person should know and fix
  // One step of GitLab's postStart runner, as its log shows it.
  struct PostStartStep {
    std::string id;
    std::string component;  // the log folder (GitLab's per-component layout); empty: flat
    std::int64_t started_unix_ms = 0;
    std::optional<std::int64_t> finished_unix_ms;
    double duration_s = 0;  // so far, while it runs
    bool slow = false;      // ran (or has been running) longer than workspace.poststart_slow_after
  };
  struct Workspace {
    std::string editor_url;                       // empty: no editor
    std::string variables_dir;                    // empty: not watched
    std::size_t file_variables = 0;
    std::optional<std::string> reconciled_state;  // GitLab's gl_workspace_reconciled_actual_state.txt
    bool project_cloned = true;                   // GitLab's clone done, or none to wait for
    std::optional<double> clone_s;                // how long wsinit waited for the clone
    std::string poststart_mode = "off";           // off | run | observe
    std::vector<PostStartStep> poststart;         // observe: GitLab's runner's steps
  } workspace;
  // The memory cgroup and each service's process tree, as last sampled; OOM kills.
  telemetry::Resources resources;
  // What the sockets say (telemetry/watch.h): the ports the workspace listens on, and whether
  // anyone uses it. Empty and nullopt where they are not sampled (a bare tini stand-in).
  std::vector<telemetry::Port> ports;
  std::optional<telemetry::Activity> activity;
};

std::string status_json(const Snapshot& s);  // the document of /status and `status --json`
std::string readyz_json(const Snapshot& s);
std::string metrics_text(const Snapshot& s);

// --- HTTP ---

struct Request {
  std::string method, target, path, query;
  int minor_version = 1;  // HTTP/1.x
  bool keep_alive = true;
  bool has_body = false;  // we take none; the connection closes after answering
  bool accepts_html = false;  // an Accept header lists text/html (a browser): `/` is the page
};

enum class Parse { incomplete, done, bad };
// Parses one request from the front of `buffer`. done: `request` and `consumed` are set.
// bad: `status` is the answer to send (400, 431, 505) before closing.
Parse parse_request(std::string_view buffer, Request* request, size_t* consumed, int* status);

constexpr size_t kMaxHeaderBytes = 8 * 1024;
// Connections held at once (fewer when RLIMIT_NOFILE is low: a quarter of it, so the health
// port can never take the descriptors services and the control socket need); a newcomer past
// this closes the stalest connection of the peer address that holds the most (pick_victim).
constexpr size_t kMaxConnections = 1024;
size_t connection_limit();  // kMaxConnections, or a quarter of the soft RLIMIT_NOFILE if lower
// /status?wait=ready and ?wait=change requests held at once; past this the stalest is answered at once.
constexpr size_t kMaxHeldRequests = 64;

// The value of `name` in a query string ("a=1&wait=ready"), or nullopt.
std::optional<std::string> query_value(std::string_view query, std::string_view name);

class Server {
 public:
  using SnapshotSource = std::function<Snapshot()>;
  Server(uv_loop_t* loop, SnapshotSource source);
  ~Server();
  // "ADDRESS:PORT".
  Status listen(const std::string& address);
  // Something changed (the snapshot's version has moved): answers the long polls waiting for a
  // change, and those waiting for readiness once it is ready.
  void notify_change();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Pushes the status to health.report.url (see reporter.h for the details).
class Reporter {
 public:
  Reporter(uv_loop_t* loop, const config::Config::Health& settings, Server::SnapshotSource source);
  ~Reporter();
  // Reads the secret, prepares TLS; on failure the reporter stays off.
  Status start();
  void changed();  // a report follows within about 200 ms

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// <logs>/wsinit-status.json, rewritten atomically (temp file, rename) after changes, at most
// every 100 ms.
class StatusFile {
 public:
  StatusFile(uv_loop_t* loop, std::string path, Server::SnapshotSource source);
  ~StatusFile();
  void changed();
  void write_now();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wsinit::health
