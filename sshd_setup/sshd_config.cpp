// The sshd_config text and the session environment line.
#include <arpa/inet.h>

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

std::optional<std::string> invalid_cidr(const std::string& text) {
  size_t slash = text.find('/');
  std::string address = text.substr(0, slash);
  unsigned char buf[16];
  bool v4 = inet_pton(AF_INET, address.c_str(), buf) == 1, v6 = !v4 && inet_pton(AF_INET6, address.c_str(), buf) == 1;
  if (!v4 && !v6) return "'" + text + "' is not an address or CIDR (expected e.g. 10.0.0.0/8)";
  if (slash == std::string::npos) return std::nullopt;
  std::string bits = text.substr(slash + 1);
  int max = v4 ? 32 : 128;
  if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos || std::stoi(bits) > max)
    return "'" + text + "' has a bad prefix length (expected 0 to " + std::to_string(max) + ")";
  return std::nullopt;
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
