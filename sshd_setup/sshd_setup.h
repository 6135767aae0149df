// sshd_setup/: OpenSSH's sshd, unprivileged and per workspace: host keys made in-process and
// kept in paths.data, an sshd_config written at each start, the workspace environment handed to
// SSH sessions, and the services that check the config and run sshd.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "user_ids/user_ids.h"

namespace wsinit::sshd_setup {

struct HostKey {
  std::string type;         // ed25519 | ecdsa | rsa
  std::string path;         // the private key; the public one is path + ".pub"
  std::string fingerprint;  // SHA256:... as ssh-keygen -l prints it
  bool generated = false;   // made at this start (else reused)
};

struct Setup {
  bool enabled = false;
  std::string why_off;  // when !enabled
  std::string binary;   // absolute path of sshd
  std::string config_path;
  std::vector<HostKey> host_keys;
  std::vector<config::Service> services;  // "sshd-config" (sshd -t) then "sshd"
  std::vector<std::string> warnings;      // for the log and the status
  std::vector<std::string> errors;        // settings that must be fixed: sshd is not started
};

// Works out and (unless `dry_run`) writes everything sshd needs. `session_env` is what
// services get; SSH sessions get it too, less the names DESIGN.md excludes.
Setup prepare(const config::Config& config, const user_ids::Identity& identity,
              const std::vector<std::string>& session_env, bool dry_run);

// Pieces of prepare(), exposed for tests.
struct ConfigText {
  std::vector<std::string> listen;
  std::vector<std::string> host_key_paths;
  std::string runtime_dir;
  std::string user;
  bool password_less = true;
  std::vector<std::string> allow_from;
  std::string setenv;  // the SetEnv line, or empty
};
std::string render_config(const ConfigText& c);

// One `SetEnv` line with every variable sessions should see; values are quoted, with `"` and
// `\` escaped. Names not passed on are listed in `left_out` (never their values).
std::string setenv_line(const std::vector<std::string>& env, std::vector<std::string>* left_out);
bool excluded_from_sessions(const std::string& name);

}  // namespace wsinit::sshd_setup
