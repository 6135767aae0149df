#include "common/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace wsinit::fs {

std::vector<gid_t> supplementary_groups() {
  std::vector<gid_t> groups(static_cast<size_t>(std::max(getgroups(0, nullptr), 0)));
  int n = getgroups(static_cast<int>(groups.size()), groups.data());
  groups.resize(static_cast<size_t>(std::max(n, 0)));
  return groups;
}

namespace {

bool in_group(gid_t gid) {
  if (gid == getgid()) return true;
  auto groups = supplementary_groups();
  return std::find(groups.begin(), groups.end(), gid) != groups.end();
}

// An existing directory is used as it is, never chmodded: it must be ours, and writable by no
// one else. Group write is let be when we are in the group: Kubernetes' fsGroup makes every
// directory of a volume g+rwx, with a group the pod's processes are in, at each start.
Status usable_as_it_is(const std::string& dir) {
  struct stat st;
  if (lstat(dir.c_str(), &st) < 0) return fail("cannot use " + dir + ": " + strerror(errno));
  if (!S_ISDIR(st.st_mode)) return fail(dir + " is not a directory");
  if (st.st_uid != getuid())
    return fail(dir + " belongs to uid " + std::to_string(st.st_uid) + ", not to us (uid " + std::to_string(getuid()) +
                ")");
  if ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && !in_group(st.st_gid))) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    return fail(dir + " can be written by other users (mode " + mode + ", group " + std::to_string(st.st_gid) +
                "); wsinit does not change the mode of a directory it did not create: name a directory only uid " +
                std::to_string(getuid()) + " can write to, or one that does not exist yet");
  }
  return {};
}

}  // namespace

Status prepare_private_dir(const std::string& dir) {
  size_t slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (auto made = make_dirs(dir.substr(0, slash), 0755); !made) return made;
  }
  if (mkdir(dir.c_str(), 0700) == 0) {
    // Ours, just made: 0700 whatever the umask took from it.
    if (chmod(dir.c_str(), 0700) < 0) return fail("cannot make " + dir + " private (0700): " + strerror(errno));
    return {};
  }
  if (errno != EEXIST) return fail("cannot create " + dir + ": " + strerror(errno));
  return usable_as_it_is(dir);
}

Status make_dirs(const std::string& dir, mode_t mode) {
  if (dir.empty() || dir[0] != '/') return fail("'" + dir + "' is not an absolute path");
  for (size_t slash = 1;; ++slash) {
    slash = dir.find('/', slash);
    std::string part = dir.substr(0, slash);
    if (mkdir(part.c_str(), mode) < 0 && errno != EEXIST) return fail("cannot create " + part + ": " + strerror(errno));
    if (slash == std::string::npos) break;
  }
  struct stat st;
  if (stat(dir.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) return fail(dir + " is not a directory");
  return {};
}

Status usable_dir_in_existing_parent(const std::string& dir, mode_t mode) {
  if (dir.empty()) return fail("no directory given");
  if (mkdir(dir.c_str(), mode) < 0 && errno != EEXIST) return fail("cannot create " + dir + ": " + strerror(errno));
  struct stat st;
  if (stat(dir.c_str(), &st) < 0 || !S_ISDIR(st.st_mode) || access(dir.c_str(), W_OK | X_OK) < 0)
    return fail(dir + " is not a writable directory");
  return {};
}

namespace {

// Writes all of `data` to `fd`: 0, or the errno of the write that failed.
int write_all(int fd, const char* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

// The temporary file next to `path` filled by `fill` (0 or an errno), fsynced and renamed over
// `path`; on any failure the temporary is removed and `path` is as it was.
template <typename Fill>
Status replace_file(const std::string& path, mode_t mode, Sync sync, Fill fill) {
  // A unique name: two writers (two containers sharing a volume, both PID 1) never share one.
  std::string temp = path + ".tmp-XXXXXX";
  int fd = mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return fail("cannot create a temporary file next to " + path + ": " + strerror(errno));
  int error = fill(fd);
  if (error == 0 && (fchmod(fd, mode) != 0 || (sync == Sync::yes && fsync(fd) != 0))) error = errno;
  close(fd);
  if (error == 0 && rename(temp.c_str(), path.c_str()) < 0) error = errno;
  if (error != 0) {
    unlink(temp.c_str());
    return fail("cannot write " + path + ": " + strerror(error), error);
  }
  if (sync == Sync::no) return {};
  // The rename itself survives a crash only once the directory is on disk too.
  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/') + 1);
  if (int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return {};
}

}  // namespace

Status write_atomically(const std::string& path, const std::string& content, mode_t mode, Sync sync) {
  return replace_file(path, mode, sync, [&content](int fd) { return write_all(fd, content.data(), content.size()); });
}

Result<std::uint64_t> copy_atomically(int from, const std::string& from_name, const std::string& path, mode_t mode) {
  std::uint64_t copied = 0;
  int read_error = 0;
  Status done = replace_file(path, mode, Sync::yes, [&](int fd) {
    std::vector<char> buf(1 << 20);  // the memory it takes, whatever the size of the file
    for (;;) {
      ssize_t n = read(from, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return read_error = errno;
      if (n == 0) return 0;
      if (int error = write_all(fd, buf.data(), static_cast<size_t>(n)); error != 0) return error;
      copied += static_cast<std::uint64_t>(n);
    }
  });
  if (read_error != 0) return fail("cannot read " + from_name + ": " + strerror(read_error), read_error);
  if (!done) return done.error();
  return copied;
}

Result<std::string> read_fd(int fd, size_t max_bytes) {
  std::string text;
  char buf[16384];
  for (;;) {
    // One byte past the bound tells "exactly max_bytes" from "more".
    size_t want = std::min(sizeof buf, max_bytes + 1 - text.size());
    ssize_t n = read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(std::string("cannot read: ") + strerror(errno), errno);
    if (n == 0) return text;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > max_bytes) return fail(std::string("cannot read: ") + strerror(EFBIG), EFBIG);
  }
}

Result<std::string> read_file(const std::string& path, size_t max_bytes) {
  auto failed = [&path](int code) { return fail("cannot read " + path + ": " + strerror(code), code); };
  // O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer (PID 1 must not
  // wait); it changes nothing for a regular file.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return failed(errno);
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int saved = st.st_mode != 0 && !S_ISREG(st.st_mode) ? EINVAL : errno;
    close(fd);
    return failed(saved);
  }
  auto text = read_fd(fd, max_bytes);
  close(fd);
  if (!text) return failed(text.error().code);
  return text;
}

}  // namespace wsinit::fs
