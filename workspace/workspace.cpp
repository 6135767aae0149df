// What the workspace adds to the config, and the environment every process starts from.
#include <algorithm>
#include <string_view>

#include <cerrno>

#include "common/fs.h"
#include "internal.h"

namespace wsinit::workspace {
namespace {

std::string name_of(const std::string& entry) { return entry.substr(0, entry.find('=')); }

// A value from outside as a message may show it: at most 100 bytes.
std::string shown(std::string_view value) {
  return value.size() <= 100 ? std::string(value) : std::string(value.substr(0, 100)) + "...";
}

// Why `host` is not a sane DNS host name, or nothing.
std::optional<std::string> host_name_problem(std::string_view host) {
  if (host.empty() || host.size() > 253) return "it is not 1 to 253 bytes long";
  size_t labels = 0;
  std::string_view last;
  for (size_t start = 0; start <= host.size(); ++labels) {
    size_t end = std::min(host.find('.', start), host.size());
    std::string_view label = host.substr(start, end - start);
    if (label.empty() || label.size() > 63) return "a label of it is not 1 to 63 bytes long";
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return "it holds a byte other than letters, digits, '-' and '.'";
    }
    if (label.front() == '-' || label.back() == '-') return "a label of it starts or ends with '-'";
    last = label;
    start = end + 1;
  }
  if (labels < 2) return "it is a single label, not a domain";
  if (last.find_first_not_of("0123456789") == std::string_view::npos) return "it ends in a number (an IP address is not a workspace domain)";
  return std::nullopt;
}

// Left out of what services inherit: a shell's leftovers (wrong in another directory or at
// another depth) and systemd's socket-activation variables (meant for wsinit alone).
bool meaningless_to_a_child(const std::string& name) {
  static const char* names[] = {"PWD", "OLDPWD", "SHLVL", "_", "NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"};
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

}  // namespace

const char* poststart_mode_name(Plan::PostStartMode mode) {
  switch (mode) {
    case Plan::PostStartMode::off: return "off";
    case Plan::PostStartMode::run: return "run";
    case Plan::PostStartMode::observe: return "observe";
  }
  return "?";
}

Plan prepare(const config::Config& config, const config::Environment& env, bool dry_run) {
  Plan plan;
  add_editor(config, env, dry_run, plan);
  add_post_start(config, env, plan);
  add_endpoints(config, env, plan);
  return plan;
}

Result<std::string> endpoint_url(std::string_view domain_template, int port) {
  constexpr std::string_view kPort = "${PORT}";
  size_t at = domain_template.find(kPort);
  if (at == std::string_view::npos || domain_template.find(kPort, at + 1) != std::string_view::npos)
    return fail("'" + shown(domain_template) + "' does not hold ${PORT} exactly once");
  std::string host = std::string(domain_template.substr(0, at)) + std::to_string(port) +
                     std::string(domain_template.substr(at + kPort.size()));
  if (auto problem = host_name_problem(host))
    return fail("'" + shown(domain_template) + "' makes '" + shown(host) + "' for port " + std::to_string(port) +
                ", which is not a host name: " + *problem);
  return "https://" + host + "/";
}

// The identity's variables replace inherited ones, but an inherited SHELL stays, and its
// LD_PRELOAD (nss_wrapper) is put in front of an inherited one, not in its place.
std::vector<std::string> service_environment(const std::vector<std::string>& inherited, const user_ids::Identity& identity) {
  std::vector<std::string> env;
  env.reserve(inherited.size() + identity.env.size());
  for (const auto& entry : inherited) {
    if (!meaningless_to_a_child(name_of(entry))) env.push_back(entry);
  }
  for (const auto& entry : identity.env) {
    std::string name = name_of(entry);
    auto it = std::find_if(env.begin(), env.end(), [&](const std::string& e) { return name_of(e) == name; });
    if (it == env.end()) env.push_back(entry);
    else if (name == "LD_PRELOAD") *it = entry + ":" + it->substr(11);
    else if (name != "SHELL") *it = entry;
  }
  return env;
}

// GitLab 18.x runs the main component's postStart commands itself (its runner script in
// paths.scripts); wsinit then follows that runner's log rather than run them a second time.
Plan::PostStartMode poststart_mode(const config::Config& config) {
  using P = config::Config::Workspace::PostStart;
  switch (config.workspace.poststart) {
    case P::run: return Plan::PostStartMode::run;
    case P::observe: return Plan::PostStartMode::observe;
    case P::automatic: break;
  }
  return gitlab_runner_present(config.paths.scripts) ? Plan::PostStartMode::observe : Plan::PostStartMode::run;
}

void add_post_start(const config::Config& config, const config::Environment& env, Plan& plan) {
  plan.poststart_mode = poststart_mode(config);
  if (plan.poststart_mode == Plan::PostStartMode::observe) {
    plan.notes.push_back("GitLab's runner in " + config.paths.scripts +
                         " runs the devfile's postStart commands; wsinit follows its log (workspace.poststart: run "
                         "would run them here instead)");
    return;
  }
  const std::string& devfile = config.workspace.devfile;
  if (devfile.empty()) {
    plan.poststart_mode = Plan::PostStartMode::off;
    return;
  }
  auto text = fs::read_file(devfile, 4 << 20);  // a devfile is a few KiB
  if (!text && text.error().code == ENOENT &&
      clone_state(config::projects_root(env), config.paths.scripts) == Clone::pending) {
    plan.devfile_pending = true;
    plan.notes.push_back("workspace.devfile " + devfile + " is not there yet; its postStart commands are read once " +
                         "the project is cloned");
    return;
  }
  if (!text) {
    plan.errors.push_back("workspace.devfile: " + text.error().message);
    return;
  }
  PostStart post_start = post_start_services(*text, devfile, env);
  plan.errors.insert(plan.errors.end(), post_start.errors.begin(), post_start.errors.end());
  plan.notes.insert(plan.notes.end(), post_start.notes.begin(), post_start.notes.end());
  for (auto& s : post_start.services) plan.services.push_back(std::move(s));
}

// The devfile's endpoints, read in every postStart mode (GitLab's runner may run the postStart
// commands, but the ports are this container's), with their URLs from GL_WORKSPACE_DOMAIN_TEMPLATE.
void add_endpoints(const config::Config& config, const config::Environment& env, Plan& plan) {
  const std::string& devfile = config.workspace.devfile;
  if (devfile.empty()) return;
  auto text = fs::read_file(devfile, 4 << 20);  // a devfile is a few KiB
  if (!text) {
    if (text.error().code == ENOENT && clone_state(config::projects_root(env), config.paths.scripts) == Clone::pending) {
      if (!plan.devfile_pending)
        plan.notes.push_back("workspace.devfile " + devfile + " is not there yet; its endpoints are read once the project is cloned");
      plan.devfile_pending = true;
    } else if (plan.poststart_mode == Plan::PostStartMode::observe) {  // else add_post_start said it
      plan.warnings.push_back("workspace.devfile: " + text.error().message + "; its endpoints are not known");
    }
    return;
  }
  Endpoints found = devfile_endpoints(*text, devfile);
  plan.warnings.insert(plan.warnings.end(), found.warnings.begin(), found.warnings.end());
  auto domain = env.find("GL_WORKSPACE_DOMAIN_TEMPLATE");
  bool said = false;
  for (auto& endpoint : found.endpoints) {
    if (endpoint.web && domain != env.end() && !domain->second.empty()) {
      auto url = endpoint_url(domain->second, endpoint.port);
      if (url) {
        endpoint.url = *url;
      } else if (!said) {
        said = true;
        plan.warnings.push_back("GL_WORKSPACE_DOMAIN_TEMPLATE: " + url.error().message + "; endpoints are listed without a URL");
      }
    }
    plan.endpoints.push_back(std::move(endpoint));
  }
}

}  // namespace wsinit::workspace
