#include "common/environment.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace wsinit {
namespace {

std::string_view name_of(std::string_view entry) { return entry.substr(0, entry.find('=')); }

}  // namespace

Environment environment_of(char** envp) {
  Environment env;
  for (char** e = envp; e && *e; ++e) {
    const char* eq = strchr(*e, '=');
    if (!eq) continue;
    env.emplace(std::string(*e, static_cast<size_t>(eq - *e)), std::string(eq + 1));
  }
  return env;
}

std::optional<std::string> variable_of(const std::vector<std::string>& entries, std::string_view name) {
  for (const auto& e : entries) {
    if (e.size() > name.size() && e[name.size()] == '=' && e.starts_with(name)) return e.substr(name.size() + 1);
  }
  return std::nullopt;
}

std::vector<std::string> to_envp(const Environment& env) {
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

std::vector<std::string> merged(const std::vector<std::string>& entries, const Environment& overrides) {
  if (overrides.empty()) return entries;
  std::vector<std::string> out;
  out.reserve(entries.size() + overrides.size());
  for (const auto& entry : entries) {
    if (!overrides.count(name_of(entry))) out.push_back(entry);
  }
  for (auto& entry : to_envp(overrides)) out.push_back(std::move(entry));
  return out;
}

std::string search_path(const Environment& env) {
  auto it = env.find("PATH");
  return it != env.end() ? it->second : kDefaultPath;
}

std::string search_path(const std::vector<std::string>& entries) {
  return variable_of(entries, "PATH").value_or(kDefaultPath);
}

Result<std::string> find_executable(const std::string& name, const std::string& path_variable) {
  auto not_found = [&name](int error) { return fail(name + ": " + strerror(error), error); };
  if (name.empty()) return not_found(ENOENT);
  if (name.find('/') != std::string::npos) return name;
  int error = ENOENT;
  size_t start = 0;
  while (start <= path_variable.size()) {
    size_t end = path_variable.find(':', start);
    if (end == std::string::npos) end = path_variable.size();
    std::string dir = path_variable.substr(start, end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
      error = EACCES;  // keep looking, as execvp does, but remember why this one failed
    }
    start = end + 1;
  }
  return not_found(error);
}

}  // namespace wsinit
