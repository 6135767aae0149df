// The set of services: who may start (dependencies), shutdown order, reload, control actions.
#include "supervisor/supervisor.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/environment.h"
#include "common/timer.h"
#include "once.h"
#include "service.h"

namespace wsinit::supervisor {
namespace {

constexpr size_t kStdoutBuffer = 1 << 20;  // what a slow stdout may hold back before lines drop

std::string prepare_logs_dir(const std::string& dir) {
  if (auto done = fs::usable_dir_in_existing_parent(dir, 0750); !done) {
    spdlog::warn("log files off: {}", done.error().message);
    return "";
  }
  return dir;
}

// Whether a reload leaves the service alone: everything but where it was written counts.
bool same_definition(ServiceSpec a, ServiceSpec b) {  // copies: a reload is rare, and no field is forgotten
  a.origin = b.origin = "";
  return a == b;
}

std::vector<ServiceSpec> enabled_in_order(std::vector<ServiceSpec> services) {
  std::erase_if(services, [](const ServiceSpec& s) { return !s.enabled; });
  return in_start_order(std::move(services));
}

}  // namespace

const char* overall_name(Overall overall) {
  switch (overall) {
    case Overall::starting: return "starting";
    case Overall::ready: return "ready";
    case Overall::degraded: return "degraded";
    case Overall::stopping: return "stopping";
  }
  return "?";
}

struct Supervisor::Impl {
  Impl(uv_loop_t* loop, Hooks h) : hooks(std::move(h)), out(loop, STDOUT_FILENO, kStdoutBuffer) {
    ctx.loop = loop;
    ctx.out = &out;
  }

  Hooks hooks;
  OutputSink out;
  Context ctx;
  std::vector<std::unique_ptr<Service>> services;  // start order; "main" first in tini mode
  bool stopping = false;
  bool started = false;  // start() was called: before, nothing starts (wsinit may still be preparing the environment)
  std::function<void()> stop_done;
  bool evaluating = false, evaluate_again = false;
  std::map<std::string, bool, std::less<>> conditions;  // the conditions told so far: whether each holds
  std::map<std::string, std::uint64_t, std::less<>> stops;  // `wsinit stop` requests so far, per service
  struct Follower {
    std::string service;
    LineSink sink;
  };
  std::map<std::uint64_t, Follower> followers;  // `wsinit logs -f`, by id
  std::uint64_t next_follower = 1;

  // Hands a batch of a service's lines to its followers. A sink may end a follow (its client
  // went away): the ids are taken first, and each looked up again.
  void tell_followers(const std::string& service, std::string_view lines) {
    std::vector<std::uint64_t> ids;
    for (const auto& [id, f] : followers) {
      if (f.service == service) ids.push_back(id);
    }
    for (std::uint64_t id : ids) {
      auto it = followers.find(id);
      if (it != followers.end()) it->second.sink(lines);
    }
  }

  // The service whose log may be read: one of ours whose output is relayed.
  Result<const Service*> logged(const std::string& name) {
    const Service* s = find(name);
    if (!s) return fail("no service '" + name + "'" + names_for_error());
    if (!s->logged()) return fail(name + " writes to wsinit's own stdout and stderr, not a log file");
    return s;
  }

  std::string names_for_error() const {
    std::string names;
    for (const auto& s : services) {
      if (s->logged()) names += (names.empty() ? "" : ", ") + s->name();
    }
    return names.empty() ? " (there are none)" : " (services: " + names + ")";
  }

  void apply_settings(const config::Config& cfg, bool any_relayed) {
    ctx.format = cfg.log.format == config::LogFormat::json ? LineFormat::json : LineFormat::text;
    ctx.log_max_size = cfg.log.max_size;
    ctx.log_max_files = cfg.log.max_files;
    if (any_relayed && ctx.logs_dir.empty()) ctx.logs_dir = prepare_logs_dir(cfg.paths.logs);
  }

  // Where `once` steps keep their markers, looked for (and the data directory made) only when
  // a service has `once: true`; the same directory host keys use: paths.data, else $HOME/.wsinit.
  void place_once_markers(const config::Config& cfg, const std::vector<ServiceSpec>& specs) {
    bool any = std::any_of(specs.begin(), specs.end(), [](const ServiceSpec& s) { return s.once; });
    if (!any || !ctx.once_dir.empty()) return;
    ctx.once_dir = once_dir(cfg.paths.data, variable_of(ctx.env, "HOME").value_or(""));
    spdlog::debug("once: markers in {}", ctx.once_dir);
  }

  Service* find(const std::string& name) {
    for (auto& s : services) {
      if (s->name() == name) return s.get();
    }
    return nullptr;
  }

  bool holds(std::string_view condition) const {
    auto it = conditions.find(condition);
    return it != conditions.end() && it->second;
  }

  // A service whose working directory is not there yet, while the project is still being cloned
  // (GitLab clones it after PID 1 started), waits for the clone instead of failing to chdir.
  bool waits_for_project(const config::Service& spec) const {
    auto cloned = conditions.find(config::kProjectCloned);
    return cloned != conditions.end() && !cloned->second && !spec.cwd.empty() && access(spec.cwd.c_str(), F_OK) != 0;
  }

  // A dependency that is not (or no longer) a service here counts as met: it was disabled.
  // A condition (workspace-running, project-cloned) is met once the workspace module says it holds.
  bool dependencies_met(const Service& s) {
    const config::Service& spec = s.spec();
    if (waits_for_project(spec)) return false;
    return std::all_of(spec.after.begin(), spec.after.end(),
                       [&](const std::string& dep) {
                         if (config::is_condition(dep)) return holds(dep);
                         Service* d = find(dep);
                         return !d || d->satisfies_dependents();
                       }) &&
           std::all_of(s.spec().after_finished.begin(), s.spec().after_finished.end(), [&](const std::string& dep) {
             Service* d = find(dep);
             return !d || d->finished();
           });
  }

  bool has_live_dependent(const Service& s) {
    return std::any_of(services.begin(), services.end(), [&](auto& other) {
      const auto& after = other->spec().after;
      return other->has_process() && std::find(after.begin(), after.end(), s.name()) != after.end();
    });
  }

  // Runs after every change: starts what may start, or moves the shutdown on.
  void evaluate() {
    if (evaluating) {
      evaluate_again = true;
      return;
    }
    evaluating = true;
    do {
      evaluate_again = false;
      if (stopping) advance_shutdown();
      else if (started) start_ready_services();
    } while (evaluate_again);
    evaluating = false;
    if (hooks.on_change) hooks.on_change();
  }

  void start_ready_services() {
    for (auto& s : services) {
      if (s->phase() == Service::Phase::waiting && dependencies_met(*s)) s->on_event(Service::Event::go);
    }
  }

  void advance_shutdown() {
    bool all_down = true;
    for (auto it = services.rbegin(); it != services.rend(); ++it) {
      Service& s = **it;
      if (s.state() == State::stopping || (s.has_process() && s.state() != State::stopping && has_live_dependent(s))) {
        all_down = false;
        continue;
      }
      if (s.has_process() || s.state() == State::backoff || s.state() == State::waiting ||
          s.state() == State::external) {
        all_down = false;
        s.stop(nullptr);
      }
    }
    for (auto& r : retiring) {
      if (r.service->has_process()) all_down = false;
    }
    if (all_down && stop_done) {
      auto done = std::move(stop_done);
      stop_done = nullptr;
      done();
    }
  }

  // A service asking for an oom_score_adj below wsinit's own keeps wsinit's: only a process with
  // CAP_SYS_RESOURCE may lower it. Said once per service, in one line.
  std::set<std::string, std::less<>> oom_score_adj_said;
  void say_kept_oom_score_adj() {
    if (!ctx.own_oom_score_adj) return;
    int own = *ctx.own_oom_score_adj;
    std::string names;
    for (const auto& s : services) {
      std::optional<int> wanted = s->spec().wanted_oom_score_adj(own);
      if (!wanted || *wanted >= own || !oom_score_adj_said.insert(s->name()).second) continue;
      names += (names.empty() ? "" : ", ") + s->name() + " (" + std::to_string(*wanted) + ")";
    }
    if (!names.empty())
      spdlog::info("oom_score_adj: wsinit's own is {}, above what {} ask for; they keep {} (only a process with "
                   "CAP_SYS_RESOURCE may lower it)",
                   own, names, own);
  }

  void add(ServiceSpec spec, Service::Role role) {
    services.push_back(std::make_unique<Service>(ctx, std::move(spec), role));
  }

  std::unique_ptr<Service> take(const std::string& name) {
    auto it = std::find_if(services.begin(), services.end(), [&](auto& s) { return s->name() == name; });
    if (it == services.end()) return nullptr;
    auto taken = std::move(*it);
    services.erase(it);
    return taken;
  }

  // A service leaving the table (removed or replaced by reload): stopped, then freed from the
  // loop (never inside its own callback); `successor` may start once it is down.
  struct Retiring {
    std::unique_ptr<Service> service;
    Service* successor;
  };
  std::vector<Retiring> retiring;
  std::unique_ptr<Timer> sweeper;

  // A held successor retired in turn (two reloads while the old one stops) hands its place on:
  // the newest starts once the oldest is down, never beside it.
  void retire(std::unique_ptr<Service> service, Service* successor) {
    bool handed_on = false;
    for (auto& r : retiring) {
      if (r.successor == service.get()) {
        r.successor = successor;
        handed_on = true;
      }
    }
    Service* raw = service.get();
    retiring.push_back({std::move(service), handed_on ? nullptr : successor});
    raw->stop([this] { sweep_soon(); });
  }

  void sweep_soon() {
    if (!sweeper) sweeper = std::make_unique<Timer>(ctx.loop);
    sweeper->start(std::chrono::milliseconds(0), [this] {
      std::erase_if(retiring, [](Retiring& r) {
        if (r.service->has_process() || r.service->state() == State::stopping) return false;
        if (r.successor) r.successor->on_event(Service::Event::release);
        return true;
      });
      evaluate();
    });
  }
};

Supervisor::Supervisor(uv_loop_t* loop, const config::Config& config, std::vector<ServiceSpec> services,
                       std::vector<std::string> main_argv, std::vector<std::string> env, Hooks hooks,
                       std::optional<SignalState> main_signals)
    : impl_(std::make_unique<Impl>(loop, std::move(hooks))) {
  services = enabled_in_order(std::move(services));
  impl_->apply_settings(config, !services.empty());
  impl_->ctx.env = std::move(env);
  impl_->place_once_markers(config, services);
  impl_->ctx.own_oom_score_adj = current_oom_score_adj();
  impl_->ctx.main_signals = main_signals;
  impl_->ctx.changed = [this] { impl_->evaluate(); };
  impl_->ctx.last_process_gone = [this] { impl_->sweep_soon(); };
  impl_->ctx.oom_killed = [this]() -> std::optional<std::string> {
    return impl_->hooks.oom_killed ? impl_->hooks.oom_killed() : std::nullopt;
  };
  impl_->ctx.lines = [this](const std::string& service, std::string_view lines) { impl_->tell_followers(service, lines); };
  impl_->ctx.main_exited = [this](int status) {
    if (impl_->hooks.on_main_exit) impl_->hooks.on_main_exit(status);
  };
  if (!main_argv.empty()) {
    ServiceSpec main;
    main.name = config::kMainService;
    main.command = std::move(main_argv);
    main.restart = config::Restart::never;
    main.stop_timeout = config.shutdown.grace;
    impl_->add(std::move(main), Service::Role::main);
  }
  for (auto& spec : services) impl_->add(std::move(spec), Service::Role::service);
  impl_->say_kept_oom_score_adj();
}

Supervisor::~Supervisor() {
  // The services' relays may drain their last lines as they go, after `followers` (a later
  // member) is gone: nobody is told any more.
  impl_->ctx.lines = nullptr;
  impl_->followers.clear();
  impl_->out.flush(1000);
}

void Supervisor::start() {
  impl_->started = true;
  impl_->evaluate();
}

void Supervisor::set_environment(std::vector<std::string> env) { impl_->ctx.env = std::move(env); }

bool Supervisor::on_child_exit(pid_t pid, int wait_status) {
  for (auto& s : impl_->services) {
    if (s->owns(pid)) {
      s->on_exit(pid, wait_status);
      return true;
    }
  }
  for (auto& r : impl_->retiring) {
    if (r.service->owns(pid)) {
      r.service->on_exit(pid, wait_status);
      return true;
    }
  }
  return false;
}

void Supervisor::stop_all(std::function<void()> done) {
  impl_->stopping = true;
  impl_->stop_done = std::move(done);
  impl_->evaluate();
}

void Supervisor::set_condition(const std::string& name, bool holds) {
  auto [it, added] = impl_->conditions.emplace(name, holds);
  bool changed = added || it->second != holds;
  it->second = holds;
  if (changed) impl_->evaluate();
}

void Supervisor::forward_to_main(int signal) {
  if (Service* main = impl_->find(config::kMainService); main && main->has_process()) main->signal_group(signal);
}

void Supervisor::reload(const config::Config& config, std::vector<ServiceSpec> services) {
  Impl& im = *impl_;
  services = enabled_in_order(std::move(services));
  im.apply_settings(config, !services.empty());
  im.place_once_markers(config, services);
  std::vector<std::unique_ptr<Service>> next;
  if (auto main = im.take(config::kMainService)) next.push_back(std::move(main));
  for (auto& spec : services) {
    auto old = im.take(spec.name);
    if (!old) {
      spdlog::info("reload: adding {}", spec.name);
      next.push_back(std::make_unique<Service>(im.ctx, std::move(spec), Service::Role::service));
    } else if (same_definition(old->spec(), spec)) {
      next.push_back(std::move(old));
    } else if (old->phase() == Service::Phase::waiting && !old->has_process()) {
      spdlog::debug("reload: {} changed before it started", spec.name);  // nothing to stop: replaced as it is
      next.push_back(std::make_unique<Service>(im.ctx, std::move(spec), Service::Role::service));
    } else {
      spdlog::info("reload: {} changed; restarting it", spec.name);
      // held: starts once the old one is down
      auto fresh = std::make_unique<Service>(im.ctx, std::move(spec), Service::Role::service, Service::Phase::held);
      im.retire(std::move(old), fresh.get());
      next.push_back(std::move(fresh));
    }
  }
  while (!im.services.empty()) {
    spdlog::info("reload: removing {}", im.services.back()->name());
    auto gone = std::move(im.services.back());
    im.services.pop_back();
    im.retire(std::move(gone), nullptr);
  }
  im.services = std::move(next);
  im.say_kept_oom_score_adj();
  im.evaluate();
}

void Supervisor::control(Action action, const std::string& name, Reply reply) {
  Impl& im = *impl_;
  Service* s = im.find(name);
  if (!s) return reply(false, "no service named '" + name + "'");
  if (name == config::kMainService) return reply(false, "'main' is the main command; it follows wsinit's own lifetime");
  if (im.stopping) return reply(false, "wsinit is shutting down");
  if (s->phase() == Service::Phase::held && action != Action::stop)
    return reply(true, name + ": waiting for its previous definition to stop; it starts then");
  // A `stop` after a `restart` whose stop is still under way wins: the restart does not start it.
  std::uint64_t stops = action == Action::stop ? ++im.stops[name] : im.stops[name];
  switch (action) {
    case Action::stop:
      if (!s->has_process()) {
        s->stop(nullptr);
        return reply(true, name + ": " + state_name(s->state()));
      }
      return s->stop([reply, name] { reply(true, name + ": stopped"); });
    case Action::start:
      if (s->has_process()) return reply(true, name + ": already " + state_name(s->state()));
      s->on_event(Service::Event::rearm);
      im.evaluate();
      return reply(true, name + ": " + state_name(s->state()));
    case Action::restart: {
      Supervisor* self = this;
      return s->stop([self, s, name, reply, stops] {
        if (self->impl_->stops[name] != stops) return reply(true, name + ": stopped by a later stop");
        s->on_event(Service::Event::rearm);
        self->impl_->evaluate();
        reply(true, name + ": restarted, " + state_name(s->state()));
      });
    }
  }
}

Result<std::string> Supervisor::log_tail(const std::string& name, size_t lines) const {
  auto service = impl_->logged(name);
  if (!service) return service.error();
  std::string path = (*service)->log_path();
  if (path.empty()) return fail(name + " has no log file (the logs directory is not usable; see wsinit's log)");
  return last_lines(path, impl_->ctx.log_max_files, lines, kMaxTailBytes);
}

Result<std::uint64_t> Supervisor::follow(const std::string& name, LineSink sink) {
  if (auto service = impl_->logged(name); !service) return service.error();
  std::uint64_t id = impl_->next_follower++;
  impl_->followers.emplace(id, Impl::Follower{name, std::move(sink)});
  return id;
}

void Supervisor::unfollow(std::uint64_t id) { impl_->followers.erase(id); }

std::vector<ServiceStatus> Supervisor::status() const {
  std::vector<ServiceStatus> out;
  for (const auto& s : impl_->services) out.push_back(s->status());
  return out;
}

Overall Supervisor::overall() const {
  if (impl_->stopping) return Overall::stopping;
  bool all_ready = true;
  for (const auto& s : impl_->services) {
    const config::Service& def = s->spec();
    if (!def.required && !def.oneshot) continue;
    if (s->is_failing()) return Overall::degraded;
    if (def.required && !s->satisfies_dependents()) all_ready = false;
  }
  return all_ready ? Overall::ready : Overall::starting;
}

std::vector<std::string> Supervisor::not_ready() const {
  std::vector<std::string> names;
  for (const auto& s : impl_->services) {
    if (s->spec().required && !s->satisfies_dependents()) names.push_back(s->name());
  }
  return names;
}

bool Supervisor::required_never_ready() const {
  return std::any_of(impl_->services.begin(), impl_->services.end(),
                     [](auto& s) { return s->spec().required && !s->was_ever_ready(); });
}

std::uint64_t Supervisor::dropped_lines() const {
  std::uint64_t total = 0;
  for (const auto& s : impl_->services) total += s->dropped_lines();
  return total;
}

std::string status_table(const std::vector<ServiceStatus>& services) {
  std::string out = fmt::format("{:<20} {:<9} {:>7} {:<5} {:>8} {:>10}  {}\n", "NAME", "STATE", "PID", "READY",
                                "RESTARTS", "UPTIME", "LAST EXIT");
  for (const auto& s : services) {
    std::string pid = s.pid > 0 ? std::to_string(s.pid) : "-";
    std::string uptime = s.uptime_ms > 0 ? config::format_duration(config::Duration(s.uptime_ms / 1000 * 1000)) : "-";
    out += fmt::format("{:<20} {:<9} {:>7} {:<5} {:>8} {:>10}  {}\n", s.name, state_name(s.state), pid,
                       s.ready ? "yes" : "no", s.restarts, uptime, s.last_exit.empty() ? "-" : s.last_exit);
  }
  return out;
}

}  // namespace wsinit::supervisor

namespace wsinit::supervisor {

std::vector<ServiceSpec> in_start_order(std::vector<ServiceSpec> services) {
  std::vector<const config::Service*> defs;
  for (const auto& s : services) defs.push_back(&s);
  std::vector<ServiceSpec> ordered;
  for (size_t i : config::start_order(defs)) ordered.push_back(std::move(services[i]));
  return ordered;
}

std::vector<ServiceSpec> specs_of(const std::vector<config::Service>& services) {
  std::vector<ServiceSpec> specs;
  for (const auto& s : services) specs.push_back(ServiceSpec{s});
  return specs;
}

}  // namespace wsinit::supervisor
