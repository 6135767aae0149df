// The sshd_config text and the session environment line.
#include "sshd_setup/sshd_setup.h"

namespace wsinit::sshd_setup {

bool excluded_from_sessions(const std::string& name) {
  static const char* exact[] = {"HOSTNAME", "HOME", "PWD", "OLDPWD", "SHLVL", "_"};
  for (const char* e : exact) {
    if (name == e) return true;
  }
  return name.rfind("KUBERNETES_", 0) == 0 || name.rfind("WSINIT_", 0) == 0;
}

std::string setenv_line(const std::vector<std::string>& env, std::vector<std::string>* left_out) {
  std::string line;
  for (const auto& entry : env) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string name = entry.substr(0, eq), value = entry.substr(eq + 1);
    if (excluded_from_sessions(name)) continue;
    bool bad_name = name.find_first_of(" \t\"'\\#") != std::string::npos;
    if (bad_name || value.find_first_of("\n\r") != std::string::npos) {
      left_out->push_back(name);
      continue;
    }
    std::string quoted;
    for (char c : value) {
      if (c == '"' || c == '\\') quoted += '\\';  // sshd's argv_split takes \" and \\ as escapes
      quoted += c;
    }
    line += " " + name + "=\"" + quoted + "\"";
  }
  return line.empty() ? "" : "SetEnv" + line;
}

std::string render_config(const ConfigText& c) {
  std::string out = "# Written by wsinit at each start from its sshd settings; changes here are lost.\n";
  for (const auto& l : c.listen) out += "ListenAddress " + l + "\n";
  for (const auto& k : c.host_key_paths) out += "HostKey " + k + "\n";
  out += "PidFile " + c.runtime_dir + "/sshd.pid\n";
  // Unprivileged: no PAM (it needs root), no strict modes (a g=u home fails them).
  out += "UsePAM no\nStrictModes no\nPermitRootLogin no\n";
  if (c.allow_from.empty()) {
    out += "AllowUsers " + c.user + "\n";
  } else {
    out += "AllowUsers";  // USER@CIDR: logins only from these networks
    for (const auto& cidr : c.allow_from) out += " " + c.user + "@" + cidr;
    out += "\n";
  }
  out += "PubkeyAuthentication yes\n";
  out += "AuthorizedKeysFile .ssh/authorized_keys " + c.runtime_dir + "/authorized_keys\n";
  out += c.password_less ? "PasswordAuthentication yes\nPermitEmptyPasswords yes\n"
                         : "PasswordAuthentication no\nPermitEmptyPasswords no\n";
  out += "KbdInteractiveAuthentication no\n";
  out += "Subsystem sftp internal-sftp\n";
  out += "PrintMotd no\n";
  if (!c.setenv.empty()) out += c.setenv + "\n";
  return out;
}

}  // namespace wsinit::sshd_setup
