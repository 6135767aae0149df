// Process environments: the one type for variables by name, its "NAME=value" form (what a
// process is handed, in the order it was inherited), the default search path and the PATH search.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace wsinit {

// Variables by name. What wsinit reads from its own environment, and what config sets per service.
using Environment = std::map<std::string, std::string, std::less<>>;

// The search path when PATH is not set (execvp's default, less the current directory): the
// one place it is written.
inline constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

// An envp as variables by name; an entry without '=' is skipped, and the first of a name wins.
Environment environment_of(char** envp);

// The value of `name` in "NAME=value" entries (the first such entry), or nullopt.
std::optional<std::string> variable_of(const std::vector<std::string>& entries, std::string_view name);

// The "NAME=value" entries of `env`, in name order.
std::vector<std::string> to_envp(const Environment& env);

// `entries` with `overrides` merged in: the entries keep their order, less those `overrides`
// names, and the overrides follow in name order.
std::vector<std::string> merged(const std::vector<std::string>& entries, const Environment& overrides);

// The search path of an environment: its PATH (even empty), else kDefaultPath.
std::string search_path(const Environment& env);
std::string search_path(const std::vector<std::string>& entries);

// PATH search as execvp does it, done before fork: the path to run (`name` itself when it has a
// '/'), or an error whose code is ENOENT or EACCES ("NAME: reason").
Result<std::string> find_executable(const std::string& name, const std::string& path_variable);

}  // namespace wsinit
