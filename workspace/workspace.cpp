// What the workspace adds to the config, and the environment every process starts from.
#include <algorithm>
#include <string_view>

#include <cerrno>

#include "common/fs.h"
#include "internal.h"

namespace wsinit::workspace {
namespace {

std::string name_of(const std::string& entry) { return entry.substr(0, entry.find('=')); }

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
  return plan;
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

}  // namespace wsinit::workspace
