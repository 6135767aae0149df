// sshd_setup/: OpenSSH's sshd per workspace: host keys, sshd_config, SSH sessions' environment, its services.
// May use common, config, user_ids, and supervisor's spec (supervisor/service_spec.h); init/ and health/ use it.
//
// Unprivileged: host keys made in-process and kept in paths.data, an sshd_config written at
// each start, and the services that check the config and run sshd.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "supervisor/service_spec.h"
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
  std::string server;   // "openssh" or "builtin" (wsinit's own, `wsinit ssh-server`)
  std::string binary;   // absolute path of sshd, or of wsinit for the built-in server
  std::string config_path;
  std::vector<HostKey> host_keys;
  std::vector<supervisor::ServiceSpec> services;  // "sshd-config" (sshd -t) then "sshd"
  std::vector<std::string> warnings;      // for the log and the status
  std::vector<std::string> errors;        // settings that must be fixed: sshd is not started
};

// Works out and (unless `dry_run`) writes everything sshd needs. `session_env` is what
// services get; SSH sessions get it too, less the names DESIGN.md excludes.
Setup prepare(const config::Config& config, const user_ids::Identity& identity,
              const std::vector<std::string>& session_env, bool dry_run);

// Pieces of prepare(), exposed for tests.
struct ConfigText {
  std::vector<std::string> listen;  // IP:PORT, as config::ListenAddress::text() makes them
  std::vector<std::string> host_key_paths;
  std::string runtime_dir;
  std::string user;
  bool password_less = true;
  std::vector<std::string> allow_from;
  std::vector<std::string> setenv;  // NAME=value for the SetEnv directive; none: no directive
};
// The whole sshd_config, every line made by directive(); the first refusal when a value
// cannot be written (config/ refuses such values first: this is the last guard).
Result<std::string> render_config(const ConfigText& c);

// The one way a line is made for sshd_config: the keyword, then each argument, double-quoted
// (with \" and \\) when it holds a blank, a quote, a backslash or '#', starts with '=' or is
// empty, as sshd's own tokenizer reads them back. Refused, saying why, when an
// argument holds a newline, CR or NUL, which no quoting carries, when there is no argument,
// or the keyword is not letters only.
Result<std::string> directive(std::string_view keyword, const std::vector<std::string>& args);

// The one way a line is made for authorized_keys: one key, one line. Refused when it holds a
// newline, CR or NUL (it would become several entries, or a cut one).
Result<std::string> authorized_keys_line(std::string_view key);

// NAME=value for each variable sessions should see, for the SetEnv directive. The names
// excluded_from_sessions() are left out silently; names not [A-Za-z_][A-Za-z0-9_]* and values
// with a newline, CR or NUL are left out and named in `left_out` (never with their values).
std::vector<std::string> session_variables(const std::vector<std::string>& env, std::vector<std::string>* left_out);
bool excluded_from_sessions(const std::string& name);

}  // namespace wsinit::sshd_setup
