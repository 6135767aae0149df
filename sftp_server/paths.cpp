#include "paths.h"

#include <limits.h>
#include <stdlib.h>

#include <cerrno>
#include <cstdio>

namespace wsinit::sftp_server {

Status status_of_errno(int err) {
  switch (err) {
    case 0: return kOk;
    case ENOENT: case ENOTDIR: case EBADF: case ELOOP: return kNoSuchFile;
    case EPERM: case EACCES: case EFAULT: return kPermissionDenied;
    case ENAMETOOLONG: case EINVAL: return kBadMessage;
    case ENOSYS: return kOpUnsupported;
    default: return kFailure;
  }
}

namespace {

std::optional<std::string> real(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) return std::nullopt;
  return std::string(resolved);
}

}  // namespace

std::optional<std::string> canonical_path(const std::string& given) {
  std::string path = given.empty() ? "." : given;
  if (auto r = real(path)) return r;
  if (errno != ENOENT) return std::nullopt;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::size_t slash = path.rfind('/');
  std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  std::string last = slash == std::string::npos ? path : path.substr(slash + 1);
  if (last.empty() || last == "." || last == "..") return errno = ENOENT, std::nullopt;
  auto dir = real(parent);
  if (!dir) return std::nullopt;
  std::string joined = *dir == "/" ? "/" + last : *dir + "/" + last;
  if (joined.size() >= PATH_MAX) return errno = ENAMETOOLONG, std::nullopt;
  return joined;
}

std::optional<std::string> expand_path(const std::string& path, const Options& options) {
  if (path.empty() || path[0] != '~') return canonical_path(path);
  std::size_t slash = path.find('/');
  std::string user = path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
  std::string rest = slash == std::string::npos ? "" : path.substr(slash + 1);
  std::string home;
  if (user.empty()) {
    home = options.home.empty() ? "." : options.home;
  } else {
    auto it = options.homes.find(user);
    if (it == options.homes.end()) return errno = ENOENT, std::nullopt;
    home = it->second;
  }
  return canonical_path(rest.empty() ? home : home + "/" + rest);
}

std::string mode_string(std::uint32_t mode) {
  std::string s = "?rwxrwxrwx";
  switch (mode & S_IFMT) {
    case S_IFREG: s[0] = '-'; break;
    case S_IFDIR: s[0] = 'd'; break;
    case S_IFLNK: s[0] = 'l'; break;
    case S_IFCHR: s[0] = 'c'; break;
    case S_IFBLK: s[0] = 'b'; break;
    case S_IFIFO: s[0] = 'p'; break;
    case S_IFSOCK: s[0] = 's'; break;
  }
  for (int i = 0; i < 9; ++i)
    if (!(mode & (0400u >> i))) s[1 + i] = '-';
  auto special = [&](std::size_t at, std::uint32_t bit, char set, char unset) {
    if (mode & bit) s[at] = s[at] == '-' ? unset : set;
  };
  special(3, S_ISUID, 's', 'S');
  special(6, S_ISGID, 's', 'S');
  special(9, S_ISVTX, 't', 'T');
  return s;
}

namespace {

std::string name_or_number(const std::unordered_map<std::uint32_t, std::string>& names, std::uint32_t id) {
  auto it = names.find(id);
  return it != names.end() ? it->second : std::to_string(id);
}

}  // namespace

std::string long_name(const std::string& name, const struct stat& st, const Options& options, std::time_t now) {
  std::string user = name_or_number(options.user_names, st.st_uid);
  std::string group = name_or_number(options.group_names, st.st_gid);
  constexpr std::time_t kHalfYear = 365 * 24 * 60 * 60 / 2;
  std::time_t t = st.st_mtime;
  struct tm tm {};
  char date[64] = "?";
  if (localtime_r(&t, &tm) != nullptr) {
    bool recent = t <= now && t > now - kHalfYear;
    if (strftime(date, sizeof date, recent ? "%b %e %H:%M" : "%b %e  %Y", &tm) == 0) date[0] = '?', date[1] = 0;
  }
  char head[512];
  int n = snprintf(head, sizeof head, "%s  %3u %-8.200s %-8.200s %8llu %s ", mode_string(st.st_mode).c_str(),
                   static_cast<unsigned>(st.st_nlink), user.c_str(), group.c_str(),
                   static_cast<unsigned long long>(st.st_size), date);
  return std::string(head, n > 0 ? std::min<std::size_t>(n, sizeof head - 1) : 0) + name;
}

}  // namespace wsinit::sftp_server
