// Internal to supervisor/: the markers of `once: true` steps. A step runs once per workspace: a
// successful run leaves <data>/once/<key>, the key a SHA-256 of its command, cwd and own env, so
// it runs again only when its definition changes (or the marker is deleted).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/environment.h"
#include "common/result.h"

namespace wsinit::supervisor {

inline constexpr size_t kMaxOnceMarker = 4096;  // what is read of a marker file (it holds ~100 bytes)

// What is hashed: a version tag, then the command's arguments, the cwd and the env sorted by name,
// each field as its length, ':' and its bytes, so no two definitions share an encoding.
std::string once_encoding(const std::vector<std::string>& command, const std::string& cwd, const Environment& env);
// The lowercase hex SHA-256 of once_encoding(): the marker's file name.
std::string once_key(const std::vector<std::string>& command, const std::string& cwd, const Environment& env);

// The marker's text: "ran_at <utc timestamp>\nname <service>\n".
std::string once_marker_text(const std::string& ran_at, const std::string& name);
// The timestamp of a marker's text, or "" when it is not a marker wsinit wrote.
std::string once_marker_ran_at(std::string_view text);

// What a marker file says: absent (run the step), ran (skip it), unreadable (run it, warn).
struct OnceLookup {
  enum class Kind { absent, ran, unreadable };
  Kind kind = Kind::absent;
  std::string ran_at;   // ran: when
  std::string problem;  // unreadable: why
};
OnceLookup read_once_marker(const std::string& dir, const std::string& key);
// Writes dir/key atomically (temp + rename), creating dir (0700) when missing.
Status write_once_marker(const std::string& dir, const std::string& key, const std::string& name, const std::string& ran_at);

// Where markers are kept: <data>/once when the data directory is (or can be made, inside an
// existing parent) writable, else <home>/.wsinit/once: the rule host keys follow.
std::string once_dir(const std::string& data, const std::string& home);

}  // namespace wsinit::supervisor
