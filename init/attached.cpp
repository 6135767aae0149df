// What the PID-1 loop serves and follows (core.h): the control socket, the health endpoints
// and the status file, GitLab's variables, its clone and its postStart runner.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "core.h"

namespace wsinit::init {

void Init::open_control_socket() {
  std::string path = supervisor::control_socket_path(config::environment_of(envp_), config_);
  control_ = std::make_unique<supervisor::ControlServer>(
      &loop_,
      [this](const supervisor::ControlRequest& request, supervisor::Supervisor::Reply reply) { handle_control(request, reply); },
      [this](const supervisor::ControlRequest& request, std::shared_ptr<supervisor::ControlStream> stream) {
        handle_held(request, std::move(stream));
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
    case Kind::logs: {  // without follow (a follow is held: held.cpp)
      auto tail = supervisor_->log_tail(request.service, request.lines);
      return tail ? reply(true, *tail) : reply(false, tail.error().message);
    }
    case Kind::wait_ready:
    case Kind::wait_service:
    case Kind::wait_port: return reply(false, "wait is answered on a held connection");
    case Kind::incomplete:
    case Kind::invalid: return reply(false, request.error);
  }
}

health::Snapshot Init::snapshot() const {
  health::Snapshot s;
  s.version = changes_;
  s.overall = supervisor_->overall();
  s.uptime_s = std::chrono::duration<double>(Clock::now() - started_).count();
  s.orphans_reaped = orphans_reaped_;
  s.log_lines_dropped = supervisor_->dropped_lines();
  s.services = supervisor_->status();
  s.not_ready = supervisor_->not_ready();
  s.user = &identity_;
  s.login_env = login_env_;
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
  if (resources_) s.resources = resources_->resources();
  s.workspace.poststart_mode = workspace::poststart_mode_name(workspace_.poststart_mode);
  s.workspace.poststart = poststart_steps();
  if (variables_) {
    s.workspace.variables_dir = variables_->dir();
    s.workspace.file_variables = variables_->file_count();
    s.workspace.reconciled_state = variables_->reconciled_state();
  }
  add_ports(s);
  return s;
}

// Every service change: the status file, the long polls, and a log line when the overall state moves.
void Init::on_services_changed() {
  ++changes_;
  supervisor::Overall now = supervisor_->overall();
  if (now != last_overall_) {
    if (now == supervisor::Overall::ready && std::none_of(startup_ms_.begin(), startup_ms_.end(), [](auto& p) { return p.first == "ready"; }))
      startup_ms_.emplace_back("ready", std::chrono::duration<double, std::milli>(Clock::now() - started_).count());
    if (now == supervisor::Overall::degraded) spdlog::warn("workspace degraded: a required service is down or a oneshot failed");
    else spdlog::info("workspace {}", supervisor::overall_name(now));
    last_overall_ = now;
  }
  if (status_file_) status_file_->changed();
  check_waits_soon();
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

// The memory cgroup and the services' process trees, sampled every kResourcePeriod (measured in
// bench/README.md), and OOM kills told apart. A plain tini stand-in has no status to show them in.
void Init::start_resources() {
  if (tini_mode() && services_.empty()) return;
  telemetry::Monitor::Hooks hooks;
  hooks.roots = [this] {
    std::vector<telemetry::Root> roots;
    for (const auto& s : supervisor_->status()) roots.push_back({s.name, s.pid});
    return roots;
  };
  hooks.on_oom_kill = [this] { on_services_changed(); };
  resources_ = std::make_unique<telemetry::Monitor>(&loop_, hooks, telemetry::find_cgroup());
  if (const auto& cg = resources_->cgroup())
    spdlog::debug("memory cgroup {}: {}", telemetry::cgroup_version_name(cg->version), cg->memory_dir);
  else
    spdlog::debug("no memory cgroup found: OOM kills cannot be told from other SIGKILLs");
  resources_->start(kResourcePeriod);
}

// Asked by a service whose process died of a SIGKILL wsinit did not send. The SIGKILLs of the
// shutdown's last phase are wsinit's own.
std::optional<std::string> Init::service_oom_killed() {
  if (!resources_ || phase_ == Phase::killing) return std::nullopt;
  return resources_->claim_oom_kill();
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

// The listening ports and the activity, sampled in workspace and plain modes (not by a bare
// tini stand-in). A change in the ports, or the workspace turning idle or active, is a change
// of the status like a service's.
void Init::start_ports() {
  if (tini_mode() && services_.empty()) return;
  telemetry::WatchHooks hooks;
  hooks.roots = [this] {
    std::vector<telemetry::Root> roots;
    for (const auto& service : supervisor_->status()) {
      if (service.pid > 0) roots.push_back({service.name, service.pid});
    }
    return roots;
  };
  hooks.ready = [this] { return supervisor_->overall() == supervisor::Overall::ready; };
  hooks.on_change = [this] { on_services_changed(); };
  ports_ = std::make_unique<telemetry::NetWatch>(&loop_, watch_settings(), hooks);
  if (auto started = ports_->start(); !started) {
    spdlog::warn("ports and activity off: {}", started.error().message);
    ports_.reset();
  }
}

// What is watched: wsinit's own sshd's and editor's ports, activity.ports, and the devfile's endpoints.
telemetry::WatchSettings Init::watch_settings() const {
  telemetry::WatchSettings w;
  if (config_.sshd.enabled != config::Switch::off) {
    for (const auto& listen : config_.sshd.listen) {
      if (auto address = config::parse_listen(listen)) w.ssh_ports.push_back(static_cast<std::uint16_t>(address->port));
    }
  }
  if (config_.editor.enabled != config::Switch::off) w.editor_ports.push_back(static_cast<std::uint16_t>(config_.editor.port));
  for (int port : config_.activity.ports) w.activity_ports.push_back(static_cast<std::uint16_t>(port));
  for (const auto& e : workspace_.endpoints) w.declared.push_back({static_cast<std::uint16_t>(e.port), e.name, e.url});
  if (config_.activity.idle_after) w.idle_after_ms = config_.activity.idle_after->count();
  return w;
}

void Init::add_ports(health::Snapshot& s) const {
  if (!ports_) return;
  s.ports = ports_->ports();
  s.activity = ports_->activity();
  auto warnings = ports_->warnings();
  s.warnings.insert(s.warnings.end(), warnings.begin(), warnings.end());
}

}  // namespace wsinit::init
