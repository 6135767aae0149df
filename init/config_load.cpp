// The config as loaded and planned: the chosen file or the embedded profile, the identity wsinit
// runs as, and wsinit's own services (sshd, the editor, postStart) put in front of the user's.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "internal.h"

namespace wsinit::init {
namespace {

user_ids::Options user_options(const config::Config& config) {
  user_ids::Options o;
  o.name = config.user.name;
  o.home = config.user.home;
  o.shell = config.user.shell;
  o.empty_password = config.sshd.password_less;
  o.runtime_dir = config.paths.runtime;
  o.data_dir = config.paths.data;
  return o;
}

}  // namespace

std::vector<std::string> environment_list(char** envp) {
  std::vector<std::string> env;
  for (char** e = envp; e && *e; ++e) env.emplace_back(*e);
  return env;
}

// The identity, then user.persist's links in its HOME (before any service starts).
user_ids::Identity establish_identity(const config::Config& config, char** envp, bool dry_run) {
  user_ids::Identity id = user_ids::establish(user_options(config), getuid(), getgid(), fs::supplementary_groups(),
                                              environment_list(envp), dry_run);
  id.persist = user_ids::persist_home({config.user.persist, id.home, config.paths.data}, dry_run, id.warnings);
  return id;
}

std::optional<Effective> effective_config(config::Config config, const config::Environment& env,
                                          const user_ids::Identity& id, const std::vector<std::string>& session_env,
                                          bool dry_run, std::vector<std::string>* errors) {
  sshd_setup::Setup sshd = sshd_setup::prepare(config, id, session_env, dry_run);
  workspace::Plan plan = workspace::prepare(config, env, dry_run);
  errors->assign(sshd.errors.begin(), sshd.errors.end());
  errors->insert(errors->end(), plan.errors.begin(), plan.errors.end());
  if (!errors->empty()) return std::nullopt;
  std::vector<supervisor::ServiceSpec> services = all_services(sshd, plan, config);
  return Effective{std::move(config), std::move(sshd), std::move(plan), std::move(services)};
}

std::vector<supervisor::ServiceSpec> all_services(const sshd_setup::Setup& sshd, const workspace::Plan& plan,
                                                  const config::Config& config) {
  std::vector<supervisor::ServiceSpec> services = sshd.services;
  services.insert(services.end(), plan.services.begin(), plan.services.end());
  for (auto& s : supervisor::specs_of(config.services)) services.push_back(std::move(s));
  return services;
}

void log_sshd(const sshd_setup::Setup& sshd) {
  if (!sshd.enabled) {
    spdlog::debug("sshd off: {}", sshd.why_off);
    return;
  }
  spdlog::info("sshd server: {} ({})", sshd.server, sshd.binary);
  for (const auto& key : sshd.host_keys) {
    spdlog::info("sshd host key {} {} ({})", key.type, key.fingerprint, key.generated ? "generated" : "reused");
  }
  for (const auto& warning : sshd.warnings) spdlog::warn("sshd: {}", warning);
}

void log_workspace(const workspace::Plan& plan) {
  if (plan.editor_url.empty()) spdlog::debug("editor off: {}", plan.editor_why_off);
  else spdlog::info("editor at {}", plan.editor_url);
  for (const auto& note : plan.notes) spdlog::info("{}", note);
  for (const auto& warning : plan.warnings) spdlog::warn("{}", warning);
}

const char* config_state_name(ConfigState state) {
  switch (state) {
    case ConfigState::embedded: return "embedded";
    case ConfigState::loaded: return "loaded";
    case ConfigState::waiting_for_clone: return "waiting-for-clone";
    case ConfigState::missing: return "missing";
  }
  return "?";
}

bool file_missing(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) != 0 && errno == ENOENT;
}

LoadedConfig load_config(const Command& command, const config::Environment& env, std::vector<std::string>* errors) {
  config::Profile fallback = command.argv.empty() ? config::Profile::gitlab : config::Profile::plain;
  LoadedConfig out;
  if (auto file = config::choose_file(command.config_file, env)) {
    out.file = *file;
    config::Config defaults = config::profile_defaults(fallback, env);
    bool pending = workspace::clone_state(config::projects_root(env), defaults.paths.scripts) == workspace::Clone::pending;
    if (!file_missing(*file) || !pending) {
      config::LoadResult loaded = config::load_file(*file, env, fallback);
      *errors = loaded.errors;
      out.config = std::move(loaded.config);
      out.state = ConfigState::loaded;
      return out;
    }
    out.state = ConfigState::waiting_for_clone;
  }
  config::Config config = config::profile_defaults(fallback, env, errors);
  config.source = out.state == ConfigState::waiting_for_clone ? "(embedded default until the project is cloned)"
                                                               : "(embedded default)";
  if (errors->empty()) out.config = std::move(config);
  return out;
}

}  // namespace wsinit::init
