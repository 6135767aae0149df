// Internal to init/: what the PID-1 core, `wsinit check` and the client commands share: the
// config as loaded and planned (config_load.cpp), and how wsinit's own lines are written (logging.cpp).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "init/init.h"
#include "sshd_setup/sshd_setup.h"
#include "supervisor/service_spec.h"
#include "supervisor/supervisor.h"
#include "user_ids/user_ids.h"
#include "workspace/workspace.h"

namespace wsinit::init {

std::vector<std::string> environment_list(char** envp);
user_ids::Identity establish_identity(const config::Config& config, char** envp, bool dry_run);

// The config as loaded, and the services to run: wsinit's own (sshd, the editor, postStart)
// in front of the user's.
struct Effective {
  config::Config config;
  sshd_setup::Setup sshd;
  workspace::Plan workspace;
  std::vector<supervisor::ServiceSpec> services;
};
// wsinit's own services in front of the configured ones.
std::vector<supervisor::ServiceSpec> all_services(const sshd_setup::Setup& sshd, const workspace::Plan& plan,
                                                  const config::Config& config);
std::optional<Effective> effective_config(config::Config config, const config::Environment& env,
                                          const user_ids::Identity& id, const std::vector<std::string>& session_env,
                                          bool dry_run, std::vector<std::string>* errors);
// The plan's notes, warnings and host keys in the log.
void log_sshd(const sshd_setup::Setup& sshd);
void log_workspace(const workspace::Plan& plan);

// Where the running config came from. waiting_for_clone: the file named lives in the project,
// which GitLab has not cloned yet, so the embedded profile runs until the clone is done;
// missing: the clone is done and the file is still not there (the embedded profile stays).
enum class ConfigState { embedded, loaded, waiting_for_clone, missing };
const char* config_state_name(ConfigState state);
bool file_missing(const std::string& path);

struct LoadedConfig {
  std::optional<config::Config> config;
  std::string file;  // the file named, empty when none
  ConfigState state = ConfigState::embedded;
};
// The effective config: the chosen file, or the embedded default of the mode's profile. A file
// that is missing while GitLab's clone is pending is the project's own config: the embedded
// profile runs until the clone is done (GitLab 18.x clones after PID 1 started).
LoadedConfig load_config(const Command& command, const config::Environment& env, std::vector<std::string>* errors);

// Where a `wsinit wait` stands: met (ok), failed for good or timed out (not ok), or still open.
struct WaitOutcome {
  enum class Kind { open, met, failed } kind = Kind::open;
  std::string message;  // met or failed: what to tell; open: what is still missing
};
// What `wsinit wait` asked, judged on the state now: the overall state, the services, and the
// listening ports (null: not watched). Pure, for the tests.
WaitOutcome judge_wait(const supervisor::ControlRequest& request, supervisor::Overall overall,
                       const std::vector<supervisor::ServiceStatus>& services, const std::set<std::uint16_t>* ports);

// Config errors and the like, printed before (or instead of) logging: through the same encoder.
void print_error(const std::string& error);
// log.format and log.level (WSINIT_LOG_LEVEL wins) for the rest of the run.
void apply_log_settings(const config::Config& config, const config::Environment& env, bool tini_mode);

}  // namespace wsinit::init
