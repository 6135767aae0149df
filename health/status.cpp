// The status document and the metrics, both made from one Snapshot.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>
#include <spdlog/fmt/fmt.h>

#include "common/json.h"
#include "health/health.h"

namespace wsinit::health {
namespace {

void write_strings(json::Writer& w, const char* key, const std::vector<std::string>& items) {
  w.key(key).begin_array();
  for (const auto& item : items) w.value(item);
  w.end_array();
}

// An absent value is JSON null, not an empty string.
void write_string_or_null(json::Writer& w, const char* key, const std::optional<std::string>& value) {
  w.key(key);
  if (value) w.value(*value);
  else w.null();
}

std::optional<std::string> unless_empty(const std::string& s) { return s.empty() ? std::nullopt : std::optional(s); }

void write_login_env(json::Writer& w, const Snapshot::LoginEnv& l) {
  w.key("login_env").begin_object();
  w.key("state").value(l.state);
  write_string_or_null(w, "shell", unless_empty(l.shell));
  write_strings(w, "added", l.added);
  write_strings(w, "changed", l.changed);
  w.key("took_ms");
  if (l.took_ms) w.value(*l.took_ms);
  else w.null();
  w.end_object();
}

void write_user(json::Writer& w, const user_ids::Identity& id, const Snapshot::LoginEnv& login_env) {
  w.key("user").begin_object();
  w.key("name").value(id.name);
  w.key("uid").value(static_cast<std::uint64_t>(id.uid));
  w.key("gid").value(static_cast<std::uint64_t>(id.gid));
  w.key("home").value(id.home);
  w.key("shell").value(id.shell);
  w.key("entry").value(user_ids::source_name(id.source));
  write_strings(w, "warnings", id.warnings);
  w.key("persist").begin_array();
  for (const auto& p : id.persist) {
    w.begin_object().key("path").value(p.path).key("state").value(user_ids::persist_state_name(p.state));
    w.key("detail").value(p.detail).end_object();
  }
  w.end_array();
  write_login_env(w, login_env);
  w.end_object();
}

void write_sshd(json::Writer& w, const sshd_setup::Setup& sshd) {
  w.key("sshd").begin_object();
  w.key("enabled").value(sshd.enabled);
  if (!sshd.enabled) w.key("why_off").value(sshd.why_off);
  if (sshd.enabled) w.key("server").value(sshd.server);
  w.key("host_keys").begin_array();
  for (const auto& key : sshd.host_keys) {
    w.begin_object().key("type").value(key.type).key("fingerprint").value(key.fingerprint).end_object();
  }
  w.end_array();
  write_strings(w, "warnings", sshd.warnings);
  w.end_object();
}

void write_steps(json::Writer& w, const std::vector<Snapshot::PostStartStep>& steps) {
  w.key("poststart").begin_array();
  for (const auto& step : steps) {
    w.begin_object();
    w.key("id").value(step.id);
    write_string_or_null(w, "component", unless_empty(step.component));
    w.key("state").value(step.finished_unix_ms ? "finished" : "running");
    w.key("started").value(supervisor::utc_timestamp_of(step.started_unix_ms));
    write_string_or_null(w, "finished",
                         step.finished_unix_ms ? std::optional(supervisor::utc_timestamp_of(*step.finished_unix_ms)) : std::nullopt);
    w.key("duration_s").value(step.duration_s);
    w.key("slow").value(step.slow);
    w.end_object();
  }
  w.end_array();
}

void write_workspace(json::Writer& w, const Snapshot::Workspace& ws) {
  w.key("workspace").begin_object();
  write_string_or_null(w, "editor_url", unless_empty(ws.editor_url));
  write_string_or_null(w, "variables_dir", unless_empty(ws.variables_dir));
  w.key("file_variables").value(static_cast<std::uint64_t>(ws.file_variables));
  write_string_or_null(w, "reconciled_state", ws.reconciled_state);
  w.key("project_cloned").value(ws.project_cloned);
  w.key("clone_s");
  if (ws.clone_s) w.value(*ws.clone_s);
  else w.null();
  w.key("poststart_mode").value(ws.poststart_mode);
  write_steps(w, ws.poststart);
  w.end_object();
}

void write_optional(json::Writer& w, const char* key, std::optional<std::uint64_t> value) {
  w.key(key);
  if (value) w.value(*value);
  else w.null();
}

void write_optional(json::Writer& w, const char* key, std::optional<double> value) {
  w.key(key);
  if (value) w.value(*value);
  else w.null();
}

// A service's process tree as last sampled (null: no process then, or a newer one since), and
// what the OOM killer has done to it.
void write_service_resources(json::Writer& w, const supervisor::ServiceStatus& s, const telemetry::Resources& r) {
  auto usage = r.services.find(s.name);
  bool sampled = usage != r.services.end() && s.pid > 0 && usage->second.pid == s.pid;
  write_optional(w, "memory_bytes", sampled ? std::optional(usage->second.memory_bytes) : std::nullopt);
  write_optional(w, "cpu_s", sampled ? std::optional(usage->second.cpu_s) : std::nullopt);
  w.key("oom_kills").value(s.oom_kills);
  w.key("oom_score_adj");
  if (s.oom_score_adj) w.value(static_cast<std::int64_t>(*s.oom_score_adj));
  else w.null();
}

// The container's memory cgroup.
void write_resources(json::Writer& w, const telemetry::Resources& r) {
  w.key("resources").begin_object();
  write_optional(w, "memory_bytes", r.memory_bytes);
  write_optional(w, "memory_limit_bytes", r.memory_limit_bytes);
  write_optional(w, "memory_peak_bytes", r.memory_peak_bytes);
  w.key("oom_kills").value(r.oom_kills);
  write_optional(w, "cpu_throttled_s", r.cpu_throttled_s);
  write_string_or_null(w, "cgroup", r.cgroup);
  w.end_object();
}

void write_ports(json::Writer& w, const std::vector<telemetry::Port>& ports) {
  w.key("ports").begin_array();
  for (const auto& p : ports) {
    w.begin_object();
    w.key("port").value(static_cast<std::int64_t>(p.port));
    w.key("address").value(p.address);
    w.key("loopback_only").value(p.loopback_only);
    write_string_or_null(w, "service", p.owner.service);
    w.key("pid");
    if (p.owner.pid > 0) w.value(static_cast<std::int64_t>(p.owner.pid));
    else w.null();
    write_string_or_null(w, "process", p.owner.pid > 0 ? std::optional(p.owner.process) : std::nullopt);
    w.key("since").value(supervisor::utc_timestamp_of(p.since_unix_ms));
    w.key("declared").value(p.declared);
    write_string_or_null(w, "url", p.url);
    w.end_object();
  }
  w.end_array();
}

void write_activity(json::Writer& w, const std::optional<telemetry::Activity>& activity) {
  w.key("activity");
  if (!activity) {
    w.null();
    return;
  }
  w.begin_object();
  write_string_or_null(w, "last_active",
                       activity->last_active_unix_ms ? std::optional(supervisor::utc_timestamp_of(*activity->last_active_unix_ms))
                                                     : std::nullopt);
  w.key("idle_s").value(activity->idle_s);
  w.key("idle").value(activity->idle);
  w.key("ssh_sessions").value(static_cast<std::uint64_t>(activity->ssh_sessions));
  w.key("editor_connections").value(static_cast<std::uint64_t>(activity->editor_connections));
  w.end_object();
}

void write_services(json::Writer& w, const std::vector<supervisor::ServiceStatus>& services,
                    const telemetry::Resources& resources) {
  w.key("services").begin_array();
  for (const auto& s : services) {
    w.begin_object();
    w.key("name").value(s.name);
    w.key("state").value(supervisor::state_name(s.state));
    w.key("pid");
    if (s.pid > 0) w.value(static_cast<std::int64_t>(s.pid));
    else w.null();
    w.key("ready").value(s.ready);
    w.key("required").value(s.required);
    w.key("oneshot").value(s.oneshot);
    w.key("restarts").value(s.restarts);
    write_string_or_null(w, "last_exit", unless_empty(s.last_exit));
    w.key("since").value(supervisor::utc_timestamp_of(s.since_unix_ms));
    w.key("uptime_s").value(static_cast<double>(s.uptime_ms) / 1000.0);
    w.key("dropped_lines").value(s.dropped_lines);
    w.key("log_file_dropped_lines").value(s.log_file_dropped_lines);
    write_service_resources(w, s, resources);
    w.end_object();
  }
  w.end_array();
}

// Prometheus label values escape \, " and newlines, and must be UTF-8 (one bad byte and the
// whole scrape is refused): a postStart step id comes from a log the user writes.
std::string label(std::string_view raw) {
  std::string value = json::valid_utf8(raw);
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? 'n' : c;
  }
  return out;
}

// The resources' metrics: the memory cgroup, each service's process tree, OOM kills. A figure
// that is not known (no cgroup, no limit, no process) has no sample line.
void resource_metrics(std::string& out, const Snapshot& s) {
  const telemetry::Resources& r = s.resources;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  auto sample = [&](const char* name, auto value) {
    if (value) out += fmt::format("{} {}\n", name, *value);
  };
  metric("wsinit_memory_bytes", "gauge", "Memory the container's cgroup uses now.");
  sample("wsinit_memory_bytes", r.memory_bytes);
  metric("wsinit_memory_limit_bytes", "gauge", "The container's memory limit (no sample: none).");
  sample("wsinit_memory_limit_bytes", r.memory_limit_bytes);
  metric("wsinit_memory_peak_bytes", "gauge", "The most memory the container's cgroup has used.");
  sample("wsinit_memory_peak_bytes", r.memory_peak_bytes);
  metric("wsinit_cpu_throttled_seconds_total", "counter", "Time the container's processes were held back by its CPU limit.");
  sample("wsinit_cpu_throttled_seconds_total", r.cpu_throttled_s);
  metric("wsinit_oom_kills_total", "counter", "Processes in the container the kernel killed for memory since wsinit started.");
  out += fmt::format("wsinit_oom_kills_total {}\n", r.oom_kills);
  metric("wsinit_service_oom_kills_total", "counter", "Times the kernel killed the service's process for memory.");
  for (const auto& svc : s.services)
    out += fmt::format("wsinit_service_oom_kills_total{{service=\"{}\"}} {}\n", label(svc.name), svc.oom_kills);
  auto sampled = [&](const supervisor::ServiceStatus& svc) -> const telemetry::Resources::Usage* {
    auto it = r.services.find(svc.name);
    return it != r.services.end() && svc.pid > 0 && it->second.pid == svc.pid ? &it->second : nullptr;
  };
  metric("wsinit_service_memory_bytes", "gauge", "Resident memory of the service's process tree.");
  for (const auto& svc : s.services) {
    if (auto* u = sampled(svc))
      out += fmt::format("wsinit_service_memory_bytes{{service=\"{}\"}} {}\n", label(svc.name), u->memory_bytes);
  }
  metric("wsinit_service_cpu_seconds_total", "counter", "CPU time of the service's process tree (its current process and what it reaped).");
  for (const auto& svc : s.services) {
    if (auto* u = sampled(svc))
      out += fmt::format("wsinit_service_cpu_seconds_total{{service=\"{}\"}} {:.3f}\n", label(svc.name), u->cpu_s);
  }
}

// The listening ports, and (where it is sampled) the activity.
void activity_metrics(std::string& out, const Snapshot& s) {
  auto metric = [&](const char* name, const char* help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help, name, name, value);
  };
  metric("wsinit_listening_ports", "TCP ports the workspace listens on.", s.ports.size());
  if (!s.activity) return;
  metric("wsinit_idle_seconds", "Seconds since the last SSH or editor traffic (since wsinit started when there was none).",
         fmt::format("{:.3f}", s.activity->idle_s));
  metric("wsinit_ssh_sessions", "Established connections to the SSH port, wsinit's own probes left out.", s.activity->ssh_sessions);
  metric("wsinit_editor_connections", "Established connections to the editor's port (and activity.ports), wsinit's own probes left out.",
         s.activity->editor_connections);
}

}  // namespace

std::string status_json(const Snapshot& s) {
  json::Writer w;
  w.begin_object();
  w.key("state").value(supervisor::overall_name(s.overall));
  w.key("version").value(s.version);
  w.key("uptime_s").value(s.uptime_s);
  w.key("orphans_reaped").value(s.orphans_reaped);
  w.key("log_lines_dropped").value(s.log_lines_dropped);
  if (s.user) write_user(w, *s.user, s.login_env);
  if (s.sshd) write_sshd(w, *s.sshd);
  w.key("config").begin_object();
  write_string_or_null(w, "file", s.config.file);
  w.key("state").value(s.config.state);
  w.end_object();
  write_strings(w, "warnings", s.warnings);
  write_workspace(w, s.workspace);
  write_resources(w, s.resources);
  write_ports(w, s.ports);
  write_activity(w, s.activity);
  w.key("startup").begin_object();
  for (const auto& [phase, ms] : s.startup_ms) w.key(phase + "_ms").value(ms);
  w.end_object();
  write_strings(w, "not_ready", s.not_ready);
  write_services(w, s.services, s.resources);
  w.end_object();
  return w.str() + "\n";
}

std::string readyz_json(const Snapshot& s) {
  json::Writer w;
  w.begin_object();
  w.key("ready").value(s.not_ready.empty() && s.overall == supervisor::Overall::ready);
  w.key("state").value(supervisor::overall_name(s.overall));
  write_strings(w, "not_ready", s.not_ready);
  w.end_object();
  return w.str() + "\n";
}

std::string metrics_text(const Snapshot& s) {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  metric("wsinit_build_info", "gauge", "wsinit's version.");
  out += fmt::format("wsinit_build_info{{version=\"{}\"}} 1\n", WSINIT_VERSION);
  metric("wsinit_uptime_seconds", "gauge", "Seconds since wsinit started.");
  out += fmt::format("wsinit_uptime_seconds {:.3f}\n", s.uptime_s);
  metric("wsinit_ready", "gauge", "1 when every required service is ready.");
  out += fmt::format("wsinit_ready {}\n", s.overall == supervisor::Overall::ready ? 1 : 0);
  metric("wsinit_degraded", "gauge", "1 when a required service went down or a oneshot failed.");
  out += fmt::format("wsinit_degraded {}\n", s.overall == supervisor::Overall::degraded ? 1 : 0);
  metric("wsinit_orphans_reaped_total", "counter", "Processes re-parented to wsinit and reaped.");
  out += fmt::format("wsinit_orphans_reaped_total {}\n", s.orphans_reaped);
  metric("wsinit_log_lines_dropped_total", "counter", "Service output lines dropped because stdout did not keep up.");
  out += fmt::format("wsinit_log_lines_dropped_total {}\n", s.log_lines_dropped);
  metric("wsinit_project_cloned", "gauge", "1 once GitLab's clone of the project is done (or there is none to wait for).");
  out += fmt::format("wsinit_project_cloned {}\n", s.workspace.project_cloned ? 1 : 0);
  activity_metrics(out, s);
  metric("wsinit_poststart_step_seconds", "gauge", "How long a step of GitLab's postStart runner ran (so far, while it runs).");
  for (const auto& step : s.workspace.poststart)
    out += fmt::format("wsinit_poststart_step_seconds{{step=\"{}\"}} {:.3f}\n", label(step.id), step.duration_s);
  metric("wsinit_poststart_step_running", "gauge", "1 while a step of GitLab's postStart runner runs.");
  for (const auto& step : s.workspace.poststart)
    out += fmt::format("wsinit_poststart_step_running{{step=\"{}\"}} {}\n", label(step.id), step.finished_unix_ms ? 0 : 1);
  metric("wsinit_poststart_steps_slow", "gauge", "Steps of GitLab's postStart runner that ran longer than workspace.poststart_slow_after.");
  out += fmt::format("wsinit_poststart_steps_slow {}\n",
                     std::count_if(s.workspace.poststart.begin(), s.workspace.poststart.end(), [](auto& p) { return p.slow; }));
  metric("wsinit_service_up", "gauge", "1 when the service has a running process.");
  for (const auto& svc : s.services) out += fmt::format("wsinit_service_up{{service=\"{}\"}} {}\n", label(svc.name), svc.pid > 0 ? 1 : 0);
  metric("wsinit_service_ready", "gauge", "1 when the service is ready.");
  for (const auto& svc : s.services) out += fmt::format("wsinit_service_ready{{service=\"{}\"}} {}\n", label(svc.name), svc.ready ? 1 : 0);
  metric("wsinit_service_restarts_total", "counter", "Times the service was started again.");
  for (const auto& svc : s.services) out += fmt::format("wsinit_service_restarts_total{{service=\"{}\"}} {}\n", label(svc.name), svc.restarts);
  metric("wsinit_service_last_exit_code", "gauge", "Exit status of the service's last process (128+N: signal N).");
  for (const auto& svc : s.services) {
    if (svc.last_exit_status >= 0)
      out += fmt::format("wsinit_service_last_exit_code{{service=\"{}\"}} {}\n", label(svc.name), svc.last_exit_status);
  }
  metric("wsinit_service_dropped_lines_total", "counter", "Output lines of the service dropped from stdout.");
  for (const auto& svc : s.services) {
    out += fmt::format("wsinit_service_dropped_lines_total{{service=\"{}\"}} {}\n", label(svc.name), svc.dropped_lines);
  }
  metric("wsinit_service_log_file_dropped_lines_total", "counter", "Output lines of the service its log file could not take.");
  for (const auto& svc : s.services) {
    out += fmt::format("wsinit_service_log_file_dropped_lines_total{{service=\"{}\"}} {}\n", label(svc.name),
                       svc.log_file_dropped_lines);
  }
  resource_metrics(out, s);
  return out;
}

}  // namespace wsinit::health
