// Small file-system helpers more than one module needs.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace wsinit::fs {

// A directory no one else can write to. Missing: created 0700 (missing parents 0755). Existing:
// used as it is, never chmodded, when it is a directory of ours that other users cannot write
// to (group write only for a group we are in); else refused with the reason.
std::optional<std::string> prepare_private_dir(const std::string& dir);

// Creates `dir` and its missing parents with `mode`; nullopt on success, else the reason.
std::optional<std::string> make_dirs(const std::string& dir, mode_t mode);

// Creates `dir` (one level, `mode`) when its parent exists, and checks it is a writable
// directory; nullopt when usable, else the reason. Never creates parents: wsinit must not
// invent /projects on a machine that has none.
std::optional<std::string> usable_dir_in_existing_parent(const std::string& dir, mode_t mode);

// Writes `content` to a temporary file in the same directory, fsyncs it and renames it over
// `path`, so readers see the old or the new file, never half of one.
std::optional<std::string> write_atomically(const std::string& path, const std::string& content, mode_t mode);

// The whole file, or nullopt (errno set).
std::optional<std::string> read_file(const std::string& path);

}  // namespace wsinit::fs
