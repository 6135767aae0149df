// libFuzzer target: the reader of the login shell's environment dump, and the merge. Any bytes
// are a probe's stdout (a profile may print anything before the dump). Invariants: a dump read
// holds at most kMaxLoginEnvVariables entries, each with a name free of '=' and NUL; a refusal
// says why; the merge adds or changes at most kMaxLoginEnvChanges names, none of them taken,
// each once, each override NAME=value with the dump's first value of that name (PATH merged with the base's); and the merged
// environment reads back every override. The bytes, as a dump, read back exactly.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "workspace/login_env.h"

namespace {

using namespace wsinit::workspace;

void check_merge(const LoginVariables& vars) {
  std::vector<std::string> base{"PATH=/usr/bin:/bin", "HOME=/home/u", "A=1"};
  auto m = merge_login_env(base, vars);
  if (m.overrides.size() > kMaxLoginEnvChanges) abort();
  if (m.overrides.size() != m.added.size() + m.changed.size()) abort();
  std::set<std::string> names;
  for (const auto& o : m.overrides) {
    std::string name = o.substr(0, o.find('='));
    if (name.size() == o.size() || login_env_name_taken(name) || !names.insert(name).second) abort();
    for (const auto& [n, v] : vars) {
      if (n == name) {
        std::string want = name == "PATH" ? merge_paths(v, "/usr/bin:/bin") : v;
        if (o != n + "=" + want) abort();
        break;
      }
    }
  }
  auto env = with_overrides(base, m.overrides);
  for (const auto& o : m.overrides) {
    std::string prefix = o.substr(0, o.find('=') + 1);
    for (const auto& e : env) {
      if (e.starts_with(prefix)) {
        if (e != o) abort();
        break;
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto vars = parse_login_env_dump(bytes, &why);
  if (!vars) {
    if (why.empty()) abort();
  } else {
    if (vars->size() > kMaxLoginEnvVariables) abort();
    for (const auto& [name, value] : *vars) {
      if (name.find('=') != std::string::npos || name.find('\0') != std::string::npos) abort();
      if (value.find('\0') != std::string::npos) abort();
    }
    check_merge(*vars);
  }
  // The bytes' NUL-free pieces as an environment: the dump of it reads back exactly.
  std::vector<std::string> entries;
  std::string piece;
  for (char c : bytes) {
    if (c == '\0') {
      if (piece.find('=') != std::string::npos && piece.find('\x01') == std::string::npos) entries.push_back(piece);
      piece.clear();
    } else {
      piece += c;
    }
  }
  if (entries.size() > kMaxLoginEnvVariables) return 0;
  std::vector<char*> envp;
  for (auto& e : entries) envp.push_back(e.data());
  envp.push_back(nullptr);
  auto back = parse_login_env_dump(login_env_dump(envp.data()), &why);
  if (!back || back->size() != entries.size()) abort();
  for (size_t i = 0; i < entries.size(); ++i) {
    if ((*back)[i].first + "=" + (*back)[i].second != entries[i]) abort();
  }
  return 0;
}
