// What the replies say about paths: canonical paths (REALPATH, expand-path), `ls -l` lines
// (READDIR's longname) and SSH_FX_* status codes for errno values.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

#include "sftp_server/sftp_server.h"

namespace wsinit::sftp_server {

// SSH_FX_* codes.
enum Status : std::uint32_t {
  kOk = 0, kEof = 1, kNoSuchFile = 2, kPermissionDenied = 3, kFailure = 4, kBadMessage = 5,
  kOpUnsupported = 8,
};
// As OpenSSH maps them: missing paths, permissions, bad arguments; anything else a failure.
Status status_of_errno(int err);

// The absolute canonical path of `path` (relative ones against the cwd; "" is "."), symlinks
// resolved; the last component need not exist (as OpenSSH's REALPATH), every other must.
// nullopt with errno set when it cannot be had.
std::optional<std::string> canonical_path(const std::string& path);
// expand-path@openssh.com: "~" and "~/x" against options.home (else the cwd), "~user/x"
// against that user's home; then canonical_path(). nullopt with errno set.
std::optional<std::string> expand_path(const std::string& path, const Options& options);

// One `ls -l` line as OpenSSH's sftp-server writes it: mode, links, owner, group (names where
// known, else numbers), size, date ("%b %e %H:%M", or the year past six months), name.
std::string long_name(const std::string& name, const struct stat& st, const Options& options, std::time_t now);
std::string mode_string(std::uint32_t mode);  // "drwxr-xr-x", 10 characters

}  // namespace wsinit::sftp_server
