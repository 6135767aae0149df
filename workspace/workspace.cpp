// What the workspace adds to the config, and the environment every process starts from.
#include <algorithm>
#include <string_view>

#include "workspace/internal.h"

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

}  // namespace wsinit::workspace
