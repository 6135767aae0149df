// The SFTP session core: packets in, replies out, file operations on the real file system.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "paths.h"
#include "sftp_server/sftp_server.h"
#include "wire.h"

namespace wsinit::sftp_server {

namespace {

enum Type : std::uint8_t {
  kInit = 1, kVersion = 2, kOpen = 3, kClose = 4, kRead = 5, kWrite = 6, kLstat = 7, kFstat = 8, kSetstat = 9,
  kFsetstat = 10, kOpendir = 11, kReaddir = 12, kRemove = 13, kMkdir = 14, kRmdir = 15, kRealpath = 16, kStat = 17,
  kRename = 18, kReadlink = 19, kSymlink = 20, kStatusReply = 101, kHandleReply = 102, kDataReply = 103,
  kNameReply = 104, kAttrsReply = 105, kExtended = 200, kExtendedReply = 201,
};

// SSH_FXF_* open flags.
constexpr std::uint32_t kFxfRead = 0x1, kFxfWrite = 0x2, kFxfAppend = 0x4, kFxfCreat = 0x8, kFxfTrunc = 0x10,
                        kFxfExcl = 0x20;

const char* status_message(std::uint32_t code) {
  switch (code) {
    case kOk: return "Success";
    case kEof: return "End of file";
    case kNoSuchFile: return "No such file";
    case kPermissionDenied: return "Permission denied";
    case kBadMessage: return "Bad message";
    case kOpUnsupported: return "Operation unsupported";
    default: return "Failure";
  }
}

// An open file or directory. A handle on the wire is 8 bytes: the slot and its generation, so
// a closed handle's bytes never name the slot's next occupant.
struct Handle {
  enum class Kind { free, file, dir } kind = Kind::free;
  int fd = -1;
  DIR* dir = nullptr;
  std::uint32_t generation = 0;
  bool at_end = false;  // a directory read to its end
};

int close_handle(Handle& h) {
  int rc = 0;
  if (h.kind == Handle::Kind::file) rc = close(h.fd);
  if (h.kind == Handle::Kind::dir) rc = closedir(h.dir);
  int err = rc == 0 ? 0 : errno;
  h = Handle{.generation = h.generation};
  return err == EINTR ? 0 : err;  // Linux closes the descriptor even when close() says EINTR
}

int fd_of(const Handle& h) { return h.kind == Handle::Kind::dir ? dirfd(h.dir) : h.fd; }

}  // namespace

struct Session::State {
  Options options;
  Buffer out;
  std::vector<Handle> handles;
  std::uint32_t next_generation = 1;
  std::size_t open = 0;
  bool initialized = false, failed = false;
  std::string error;

  void fail(std::string why) {
    failed = true;
    error = std::move(why);
  }
  std::size_t begin_reply(std::uint8_t type, std::uint32_t id) {
    std::size_t at = out.size();
    put_u32(out, 0);
    put_u8(out, type);
    put_u32(out, id);
    return at;
  }
  void end_reply(std::size_t at) { out.patch_u32(at, static_cast<std::uint32_t>(out.size() - at - 4)); }

  void status(std::uint32_t id, std::uint32_t code, std::string_view message = {}) {
    std::size_t at = begin_reply(kStatusReply, id);
    put_u32(out, code);
    put_string(out, message.empty() ? status_message(code) : message);
    put_string(out, "");  // language tag
    end_reply(at);
  }
  void status_errno(std::uint32_t id, int err) {
    if (err == 0) return status(id, kOk);
    status(id, status_of_errno(err), std::strerror(err));
  }
  void bad_message(std::uint32_t id) { status(id, kBadMessage, "Bad message: a field is cut short or holds a NUL"); }
  void bad_handle(std::uint32_t id) { status(id, kFailure, "Invalid handle"); }

  Handle* lookup(std::string_view wire, Handle::Kind kind);
  std::string add_handle(Handle h);

  void packet(const char* data, std::size_t size);
  void init(Reader& r);
  void request(std::uint8_t type, std::uint32_t id, Reader& r);
  void extended(std::uint32_t id, Reader& r);

  void open_file(std::uint32_t id, Reader& r);
  void close_request(std::uint32_t id, Reader& r);
  void read(std::uint32_t id, Reader& r);
  void write(std::uint32_t id, Reader& r);
  void stat_path(std::uint32_t id, Reader& r, bool follow);
  void fstat(std::uint32_t id, Reader& r);
  void setstat(std::uint32_t id, Reader& r, bool follow);
  void fsetstat(std::uint32_t id, Reader& r);
  void opendir(std::uint32_t id, Reader& r);
  void readdir(std::uint32_t id, Reader& r);
  void one_path(std::uint32_t id, Reader& r, std::uint8_t type);
  void two_paths(std::uint32_t id, Reader& r, std::string_view op);
  void mkdir(std::uint32_t id, Reader& r);
  void realpath(std::uint32_t id, Reader& r, bool expand);
  void readlink(std::uint32_t id, Reader& r);
  void one_name(std::uint32_t id, const std::string& name);
  void statvfs_reply(std::uint32_t id, const struct statvfs& st);
  void statvfs_request(std::uint32_t id, Reader& r, bool by_handle);
  void fsync(std::uint32_t id, Reader& r);
  void limits(std::uint32_t id);
};

Handle* Session::State::lookup(std::string_view wire, Handle::Kind kind) {
  if (wire.size() != 8) return nullptr;
  Reader r(wire.data(), wire.size());
  std::uint32_t slot = r.u32(), generation = r.u32();
  if (slot >= handles.size()) return nullptr;
  Handle& h = handles[slot];
  if (h.kind == Handle::Kind::free || h.generation != generation) return nullptr;
  if (kind != Handle::Kind::free && h.kind != kind) return nullptr;  // free: either kind
  return &h;
}

// The new handle's wire bytes; empty when kMaxHandles are open (h is then closed).
std::string Session::State::add_handle(Handle h) {
  std::size_t slot = 0;
  while (slot < handles.size() && handles[slot].kind != Handle::Kind::free) ++slot;
  if (slot == kMaxHandles) {
    close_handle(h);
    return {};
  }
  if (slot == handles.size()) handles.emplace_back();
  h.generation = next_generation++;
  if (next_generation == 0) next_generation = 1;
  handles[slot] = std::move(h);
  ++open;
  char wire[8];
  store_u32(wire, static_cast<std::uint32_t>(slot));
  store_u32(wire + 4, handles[slot].generation);
  return std::string(wire, 8);
}

void Session::State::packet(const char* data, std::size_t size) {
  Reader r(data, size);
  std::uint8_t type = r.u8();
  if (!initialized) {
    if (type != kInit) return fail("request of type " + std::to_string(type) + " before INIT");
    return init(r);
  }
  std::uint32_t id = r.u32();
  if (!r.ok) return fail("packet of type " + std::to_string(type) + " without a request id");
  if (type == kInit) return fail("a second INIT");
  request(type, id, r);
}

void Session::State::init(Reader& r) {
  r.u32();  // the client's version: v3 is all this server speaks, and every client takes it
  initialized = true;
  std::size_t at = out.size();
  put_u32(out, 0);
  put_u8(out, kVersion);
  put_u32(out, 3);
  for (auto [name, version] : {std::pair{"posix-rename@openssh.com", "1"}, {"statvfs@openssh.com", "2"},
                               {"fstatvfs@openssh.com", "2"}, {"hardlink@openssh.com", "1"},
                               {"fsync@openssh.com", "1"}, {"lsetstat@openssh.com", "1"},
                               {"limits@openssh.com", "1"}, {"expand-path@openssh.com", "1"}}) {
    put_string(out, name);
    put_string(out, version);
  }
  end_reply(at);
}

void Session::State::request(std::uint8_t type, std::uint32_t id, Reader& r) {
  switch (type) {
    case kOpen: return open_file(id, r);
    case kClose: return close_request(id, r);
    case kRead: return read(id, r);
    case kWrite: return write(id, r);
    case kLstat: return stat_path(id, r, false);
    case kStat: return stat_path(id, r, true);
    case kFstat: return fstat(id, r);
    case kSetstat: return setstat(id, r, true);
    case kFsetstat: return fsetstat(id, r);
    case kOpendir: return opendir(id, r);
    case kReaddir: return readdir(id, r);
    case kRemove:
    case kRmdir: return one_path(id, r, type);
    case kMkdir: return mkdir(id, r);
    case kRealpath: return realpath(id, r, false);
    case kRename: return two_paths(id, r, "rename");
    case kReadlink: return readlink(id, r);
    case kSymlink: return two_paths(id, r, "symlink");
    case kExtended: return extended(id, r);
    default: return status(id, kOpUnsupported, "Operation unsupported: unknown request type " + std::to_string(type));
  }
}

void Session::State::extended(std::uint32_t id, Reader& r) {
  std::string_view name = r.string();
  if (!r.ok) return bad_message(id);
  if (name == "posix-rename@openssh.com") return two_paths(id, r, "posix-rename");
  if (name == "hardlink@openssh.com") return two_paths(id, r, "hardlink");
  if (name == "statvfs@openssh.com") return statvfs_request(id, r, false);
  if (name == "fstatvfs@openssh.com") return statvfs_request(id, r, true);
  if (name == "fsync@openssh.com") return fsync(id, r);
  if (name == "lsetstat@openssh.com") return setstat(id, r, false);
  if (name == "limits@openssh.com") return limits(id);
  if (name == "expand-path@openssh.com") return realpath(id, r, true);
  status(id, kOpUnsupported, "Operation unsupported: unknown extension");
}

void Session::State::open_file(std::uint32_t id, Reader& r) {
  std::string path = r.cstring();
  std::uint32_t pflags = r.u32();
  Attrs a = read_attrs(r);
  if (!r.ok) return bad_message(id);
  if (open == kMaxHandles) return status(id, kFailure, "Failure: too many open handles");
  int flags = (pflags & kFxfRead) && (pflags & kFxfWrite) ? O_RDWR : (pflags & kFxfWrite) ? O_WRONLY : O_RDONLY;
  if (pflags & kFxfAppend) flags |= O_APPEND;
  if (pflags & kFxfCreat) flags |= O_CREAT;
  if (pflags & kFxfTrunc) flags |= O_TRUNC;
  if (pflags & kFxfExcl) flags |= O_EXCL;
  mode_t mode = (a.flags & kAttrPerm) ? (a.perm & 07777) : 0666;
  int fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NOCTTY, mode);
  if (fd < 0) return status_errno(id, errno);
  std::string wire = add_handle(Handle{.kind = Handle::Kind::file, .fd = fd});
  std::size_t at = begin_reply(kHandleReply, id);
  put_string(out, wire);
  end_reply(at);
}

void Session::State::close_request(std::uint32_t id, Reader& r) {
  std::string_view wire = r.string();
  if (!r.ok) return bad_message(id);
  Handle* h = lookup(wire, Handle::Kind::free);
  if (h == nullptr) return bad_handle(id);
  --open;
  status_errno(id, close_handle(*h));
}

// The data is pread straight into the reply: no copy, no zeroing.
void Session::State::read(std::uint32_t id, Reader& r) {
  std::string_view wire = r.string();
  std::uint64_t offset = r.u64();
  std::uint32_t length = std::min(r.u32(), kMaxReadLength);
  if (!r.ok) return bad_message(id);
  Handle* h = lookup(wire, Handle::Kind::file);
  if (h == nullptr) return bad_handle(id);
  if (offset > static_cast<std::uint64_t>(INT64_MAX)) return status_errno(id, EINVAL);
  char* q = out.reserve(13 + std::size_t{length});
  ssize_t n;
  do n = pread(h->fd, q + 13, length, static_cast<off_t>(offset));
  while (n < 0 && errno == EINTR);
  if (n < 0) return status_errno(id, errno);
  if (n == 0) return status(id, kEof);
  store_u32(q, static_cast<std::uint32_t>(9 + n));
  q[4] = static_cast<char>(kDataReply);
  store_u32(q + 5, id);
  store_u32(q + 9, static_cast<std::uint32_t>(n));
  out.commit(13 + static_cast<std::size_t>(n));
}

void Session::State::write(std::uint32_t id, Reader& r) {
  std::string_view wire = r.string();
  std::uint64_t offset = r.u64();
  std::string_view data = r.string();
  if (!r.ok) return bad_message(id);
  Handle* h = lookup(wire, Handle::Kind::file);
  if (h == nullptr) return bad_handle(id);
  if (offset > static_cast<std::uint64_t>(INT64_MAX - data.size())) return status_errno(id, EINVAL);
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(h->fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return status_errno(id, errno);
    if (n == 0) return status_errno(id, ENOSPC);
    done += static_cast<std::size_t>(n);
  }
  status(id, kOk);
}

void Session::State::stat_path(std::uint32_t id, Reader& r, bool follow) {
  std::string path = r.cstring();
  if (!r.ok) return bad_message(id);
  struct stat st;
  if ((follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) != 0) return status_errno(id, errno);
  std::size_t at = begin_reply(kAttrsReply, id);
  put_attrs(out, attrs_of(st));
  end_reply(at);
}

void Session::State::fstat(std::uint32_t id, Reader& r) {
  std::string_view wire = r.string();
  if (!r.ok) return bad_message(id);
  Handle* h = lookup(wire, Handle::Kind::free);
  if (h == nullptr) return bad_handle(id);
  struct stat st;
  if (::fstat(fd_of(*h), &st) != 0) return status_errno(id, errno);
  std::size_t at = begin_reply(kAttrsReply, id);
  put_attrs(out, attrs_of(st));
  end_reply(at);
}

namespace {

std::array<struct timespec, 2> times_of(const Attrs& a) {
  return {{{static_cast<time_t>(a.atime), 0}, {static_cast<time_t>(a.mtime), 0}}};
}

// Applies attributes in OpenSSH's order (size, mode, times, owner); the first error, or 0.
int apply_to_path(const std::string& path, const Attrs& a, bool follow) {
  int flag = follow ? 0 : AT_SYMLINK_NOFOLLOW;
  if ((a.flags & kAttrSize) && (!follow || a.size > static_cast<std::uint64_t>(INT64_MAX))) return EINVAL;
  if ((a.flags & kAttrSize) && truncate(path.c_str(), static_cast<off_t>(a.size)) != 0) return errno;
  if ((a.flags & kAttrPerm) && fchmodat(AT_FDCWD, path.c_str(), a.perm & 07777, flag) != 0) return errno;
  if ((a.flags & kAttrTime) && utimensat(AT_FDCWD, path.c_str(), times_of(a).data(), flag) != 0) return errno;
  if ((a.flags & kAttrUidGid) && fchownat(AT_FDCWD, path.c_str(), a.uid, a.gid, flag) != 0) return errno;
  return 0;
}

int apply_to_fd(int fd, const Attrs& a) {
  if ((a.flags & kAttrSize) && a.size > static_cast<std::uint64_t>(INT64_MAX)) return EINVAL;
  if ((a.flags & kAttrSize) && ftruncate(fd, static_cast<off_t>(a.size)) != 0) return errno;
  if ((a.flags & kAttrPerm) && fchmod(fd, a.perm & 07777) != 0) return errno;
  if ((a.flags & kAttrTime) && futimens(fd, times_of(a).data()) != 0) return errno;
  if ((a.flags & kAttrUidGid) && fchown(fd, a.uid, a.gid) != 0) return errno;
  return 0;
}

}  // namespace

void Session::State::setstat(std::uint32_t id, Reader& r, bool follow) {
  std::string path = r.cstring();
  Attrs a = read_attrs(r);
  if (!r.ok) return bad_message(id);
  status_errno(id, apply_to_path(path, a, follow));
}

void Session::State::fsetstat(std::uint32_t id, Reader& r) {
  std::string_view wire = r.string();
  Attrs a = read_attrs(r);
  if (!r.ok) return bad_message(id);
  Handle* h = lookup(wire, Handle::Kind::free);
  if (h == nullptr) return bad_handle(id);
  status_errno(id, apply_to_fd(fd_of(*h), a));
}

void Session::State::opendir(std::uint32_t id, Reader& r) {
  std::string path = r.cstring();
  if (!r.ok) return bad_message(id);
  if (open == kMaxHandles) return status(id, kFailure, "Failure: too many open handles");
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return status_errno(id, errno);
  std::string wire = add_handle(Handle{.kind = Handle::Kind::dir, .dir = dir});
  std::size_t at = begin_reply(kHandleReply, id);
  put_string(out, wire);
  end_reply(at);
}

void Session::State::readdir(std::uint32_t id, Reader& r) {
  std::string_view wire = r.string();
  if (!r.ok) return bad_message(id);
  Handle* h = lookup(wire, Handle::Kind::dir);
  if (h == nullptr) return bad_handle(id);
  std::size_t at = begin_reply(kNameReply, id);
  put_u32(out, 0);
  std::uint32_t count = 0;
  std::time_t now = std::time(nullptr);
  while (count < kMaxDirEntries && !h->at_end) {
    errno = 0;
    struct dirent* e = ::readdir(h->dir);
    if (e == nullptr) {
      if (errno != 0 && count == 0) return out.truncate(at), status_errno(id, errno);
      h->at_end = true;
      break;
    }
    struct stat st;
    if (fstatat(dirfd(h->dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
    put_string(out, e->d_name);
    put_string(out, long_name(e->d_name, st, options, now));
    put_attrs(out, attrs_of(st));
    ++count;
  }
  if (count == 0) return out.truncate(at), status(id, kEof);
  out.patch_u32(at + 9, count);
  end_reply(at);
}

void Session::State::one_path(std::uint32_t id, Reader& r, std::uint8_t type) {
  std::string path = r.cstring();
  if (!r.ok) return bad_message(id);
  int rc = type == kRemove ? unlink(path.c_str()) : rmdir(path.c_str());
  status_errno(id, rc == 0 ? 0 : errno);
}

namespace {

// v3 RENAME: never replaces (OpenSSH's refuses an existing target too); atomic where the file
// system has RENAME_NOREPLACE, else checked first.
int rename_no_replace(const std::string& from, const std::string& to) {
  if (renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
  struct stat st;
  if (lstat(to.c_str(), &st) == 0) return EEXIST;
  return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

}  // namespace

// SYMLINK takes the link's target first and the new link's path second, as OpenSSH's server
// (and so every client written against it) has it, the reverse of the draft.
void Session::State::two_paths(std::uint32_t id, Reader& r, std::string_view op) {
  std::string first = r.cstring();
  std::string second = r.cstring();
  if (!r.ok) return bad_message(id);
  int err = 0;
  if (op == "rename") err = rename_no_replace(first, second);
  else if (op == "posix-rename") err = ::rename(first.c_str(), second.c_str()) == 0 ? 0 : errno;
  else if (op == "hardlink") err = link(first.c_str(), second.c_str()) == 0 ? 0 : errno;
  else err = symlink(first.c_str(), second.c_str()) == 0 ? 0 : errno;
  status_errno(id, err);
}

void Session::State::mkdir(std::uint32_t id, Reader& r) {
  std::string path = r.cstring();
  Attrs a = read_attrs(r);
  if (!r.ok) return bad_message(id);
  mode_t mode = (a.flags & kAttrPerm) ? (a.perm & 07777) : 0777;
  status_errno(id, ::mkdir(path.c_str(), mode) == 0 ? 0 : errno);
}

void Session::State::one_name(std::uint32_t id, const std::string& name) {
  std::size_t at = begin_reply(kNameReply, id);
  put_u32(out, 1);
  put_string(out, name);
  put_string(out, name);
  put_attrs(out, Attrs{});
  end_reply(at);
}

void Session::State::realpath(std::uint32_t id, Reader& r, bool expand) {
  std::string path = r.cstring();
  if (!r.ok) return bad_message(id);
  auto resolved = expand ? expand_path(path, options) : canonical_path(path);
  if (!resolved) return status_errno(id, errno);
  one_name(id, *resolved);
}

void Session::State::readlink(std::uint32_t id, Reader& r) {
  std::string path = r.cstring();
  if (!r.ok) return bad_message(id);
  char target[PATH_MAX];
  ssize_t n = ::readlink(path.c_str(), target, sizeof target);
  if (n < 0) return status_errno(id, errno);
  if (static_cast<std::size_t>(n) == sizeof target) return status_errno(id, ENAMETOOLONG);
  one_name(id, std::string(target, static_cast<std::size_t>(n)));
}

void Session::State::statvfs_reply(std::uint32_t id, const struct statvfs& st) {
  std::size_t at = begin_reply(kExtendedReply, id);
  std::uint64_t flags = ((st.f_flag & ST_RDONLY) ? 1 : 0) | ((st.f_flag & ST_NOSUID) ? 2 : 0);
  for (std::uint64_t v : {std::uint64_t{st.f_bsize}, std::uint64_t{st.f_frsize}, std::uint64_t{st.f_blocks},
                          std::uint64_t{st.f_bfree}, std::uint64_t{st.f_bavail}, std::uint64_t{st.f_files},
                          std::uint64_t{st.f_ffree}, std::uint64_t{st.f_favail}, std::uint64_t{st.f_fsid}, flags,
                          std::uint64_t{st.f_namemax}})
    put_u64(out, v);
  end_reply(at);
}

void Session::State::statvfs_request(std::uint32_t id, Reader& r, bool by_handle) {
  struct statvfs st;
  if (by_handle) {
    std::string_view wire = r.string();
    if (!r.ok) return bad_message(id);
    Handle* h = lookup(wire, Handle::Kind::free);
    if (h == nullptr) return bad_handle(id);
    if (fstatvfs(fd_of(*h), &st) != 0) return status_errno(id, errno);
  } else {
    std::string path = r.cstring();
    if (!r.ok) return bad_message(id);
    if (::statvfs(path.c_str(), &st) != 0) return status_errno(id, errno);
  }
  statvfs_reply(id, st);
}

void Session::State::fsync(std::uint32_t id, Reader& r) {
  std::string_view wire = r.string();
  if (!r.ok) return bad_message(id);
  Handle* h = lookup(wire, Handle::Kind::free);
  if (h == nullptr) return bad_handle(id);
  if (h->kind != Handle::Kind::file) return status(id, kOpUnsupported);
  status_errno(id, ::fsync(h->fd) == 0 ? 0 : errno);
}

void Session::State::limits(std::uint32_t id) {
  std::size_t at = begin_reply(kExtendedReply, id);
  put_u64(out, kAdvertisedPacketLength);
  put_u64(out, kMaxReadLength);
  put_u64(out, kMaxReadLength);
  put_u64(out, kMaxHandles);
  end_reply(at);
}

Session::Session(Options options) : state_(std::make_unique<State>()) { state_->options = std::move(options); }

Session::~Session() {
  for (Handle& h : state_->handles) close_handle(h);
}

std::size_t Session::consume(const char* data, std::size_t size) {
  State& s = *state_;
  std::size_t taken = 0;
  while (!s.failed && s.out.size() < kMaxPendingOutput && size - taken >= 4) {
    Reader r(data + taken, 4);
    std::uint32_t length = r.u32();
    if (length == 0 || length > kMaxPacketLength) {
      s.fail("packet of " + std::to_string(length) + " bytes, the bound is " + std::to_string(kMaxPacketLength));
      break;
    }
    if (size - taken - 4 < length) break;
    s.packet(data + taken + 4, length);
    taken += 4 + std::size_t{length};
  }
  return taken;
}

bool Session::failed() const { return state_->failed; }
const std::string& Session::error() const { return state_->error; }
const char* Session::output_data() const { return state_->out.data(); }
std::size_t Session::output_size() const { return state_->out.size(); }
void Session::output_done(std::size_t n) { state_->out.drop_front(n); }
std::size_t Session::open_handles() const { return state_->open; }

}  // namespace wsinit::sftp_server
