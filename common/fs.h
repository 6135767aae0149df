// Small file-system helpers more than one module needs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace wsinit::fs {

// The process's supplementary groups, however many (getgroups sized by itself).
std::vector<gid_t> supplementary_groups();

// A directory no one else can write to. Missing: created 0700 (missing parents 0755). Existing:
// used as it is, never chmodded, when it is a directory of ours that other users cannot write
// to (group write only for a group we are in); else refused with the reason.
Status prepare_private_dir(const std::string& dir);

// Creates `dir` and its missing parents with `mode`.
Status make_dirs(const std::string& dir, mode_t mode);

// Creates `dir` (one level, `mode`) when its parent exists, and checks it is a writable
// directory. Never creates parents: wsinit must not invent the projects volume on a machine
// that has none.
Status usable_dir_in_existing_parent(const std::string& dir, mode_t mode);

// Writes `content` to a temporary file in the same directory, fsyncs it and renames it over
// `path`, so readers see the old or the new file, never half of one. Sync::no leaves out the
// fsyncs, which can wait seconds on a busy disk: for a file rewritten from the loop on every
// change and at every start (the status file), whole but not durable.
enum class Sync { yes, no };
Status write_atomically(const std::string& path, const std::string& content, mode_t mode, Sync sync = Sync::yes);
// The same with what is left to read from the open file `from`, copied in pieces (a file of
// any size in bounded memory); the bytes copied. A read error is "cannot read FROM_NAME: why".
Result<std::uint64_t> copy_atomically(int from, const std::string& from_name, const std::string& path, mode_t mode);

// The whole file, when it holds at most `max_bytes`; else the error, "cannot read PATH: why",
// with the errno as its code (EFBIG when it holds more: a device such as /dev/zero, or a file
// grown past its purpose, is refused rather than read without end). Every caller states its
// bound. Only a regular file is read: anything else (a FIFO, whose open would wait for a
// writer; a device; a socket) is refused with EINVAL without waiting, since the files read may
// lie in folders the workspace user writes to.
Result<std::string> read_file(const std::string& path, size_t max_bytes);
// The same for what is left to read from an open file (the message: "cannot read: why").
Result<std::string> read_fd(int fd, size_t max_bytes);

}  // namespace wsinit::fs
