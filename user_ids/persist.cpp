// user.persist: entries of HOME kept under <data>/home (the projects volume, the one thing a
// workspace keeps across a stop and start), HOME holding a symlink to each. A pure planner
// decides from what lstat finds; the applier moves, links and keeps images aside, never
// deleting what a user made and never following a symlink.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <functional>

#include "user_ids/user_ids.h"

namespace wsinit::user_ids {
namespace {

constexpr int kMaxImageNames = 100;  // P.image, P.image.2 ... P.image.100

std::string errno_text(int error) { return strerror(error); }

PersistPlan refuse(std::string why) {
  PersistPlan p;
  p.state = PersistState::refused;
  p.detail = std::move(why);
  return p;
}

const char* found_name(Found found) {
  switch (found) {
    case Found::missing: return "missing";
    case Found::file: return "a file";
    case Found::directory: return "a directory";
    case Found::symlink: return "a symlink";
    case Found::other: return "neither a file nor a directory (a socket, FIFO or device)";
  }
  return "?";
}

}  // namespace

const char* persist_state_name(PersistState state) {
  switch (state) {
    case PersistState::linked: return "linked";
    case PersistState::moved: return "moved";
    case PersistState::image_kept: return "image-kept";
    case PersistState::created: return "created";
    case PersistState::refused: return "refused";
    case PersistState::skipped: return "skipped";
  }
  return "?";
}

PersistPlan plan_persist(const PersistFacts& f) {
  Found wanted = f.directory ? Found::directory : Found::file;
  const char* kind = f.directory ? "a directory" : "a file";
  if (!f.bad_parent.empty()) return refuse(f.bad_parent);
  if (f.at_target.found != Found::missing && f.at_target.found != wanted)
    return refuse("the persistent copy " + f.target + " is " + found_name(f.at_target.found) + ", persisted as " + kind);
  bool ours = f.link.found == Found::symlink && f.link.points_to == f.target;
  if (!ours && f.link.found != Found::missing && f.link.found != Found::symlink && f.link.found != wanted)
    return refuse("HOME's copy is " + std::string(found_name(f.link.found)) + ", persisted as " + kind);
  PersistPlan p;
  bool target_missing = f.at_target.found == Found::missing;
  p.make_target = target_missing;
  if (ours) {
    bool remade = target_missing && f.directory;
    p.state = remade ? PersistState::created : PersistState::linked;
    p.detail = remade ? "already linked; the missing directory made again" : "already linked";
    return p;
  }
  p.link = true;
  if (f.link.found == Found::missing) {
    p.state = target_missing ? PersistState::created : PersistState::linked;
    p.detail = target_missing ? (f.directory ? "a new empty directory, linked" : "linked; the file is made when first written")
                              : "the persistent copy linked";
  } else if (f.link.found == Found::symlink) {
    p.keep_image = true;
    p.state = PersistState::image_kept;
    p.detail = "HOME's symlink (to " + f.link.points_to + ") kept aside";
  } else if (target_missing) {
    p.move = true;
    p.make_target = false;
    p.state = PersistState::moved;
    p.detail = "the image's copy moved into the persistent copy, linked";
  } else {
    p.keep_image = true;
    p.state = PersistState::image_kept;
    p.detail = "the persistent copy linked; the image's copy kept aside";
  }
  return p;
}

namespace {

Seen look(const std::string& path) {
  Seen s;
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return s;  // missing (or unreadable: the steps say why)
  if (S_ISREG(st.st_mode)) s.found = Found::file;
  else if (S_ISDIR(st.st_mode)) s.found = Found::directory;
  else if (S_ISLNK(st.st_mode)) s.found = Found::symlink;
  else s.found = Found::other;
  if (s.found == Found::symlink) {
    char buffer[PATH_MAX];
    ssize_t n = readlink(path.c_str(), buffer, sizeof buffer);
    if (n > 0 && static_cast<size_t>(n) < sizeof buffer) s.points_to.assign(buffer, static_cast<size_t>(n));
  }
  return s;
}

// Every existing parent of `root`/`entry` below `root` (and `root` itself when `check_root`)
// must be a real directory; "" when so, else the reason.
std::string parent_problem(const std::string& root, const std::string& entry, bool check_root) {
  std::string path = root;
  if (check_root) {
    Seen r = look(root);
    if (r.found != Found::missing && r.found != Found::directory) return root + " is " + found_name(r.found);
  }
  size_t start = 0;
  for (size_t slash; (slash = entry.find('/', start)) != std::string::npos && slash + 1 < entry.size(); start = slash + 1) {
    path.append(1, '/').append(entry, start, slash - start);
    Seen s = look(path);
    if (s.found == Found::missing) return "";
    if (s.found != Found::directory) return path + " is " + found_name(s.found) + ", not a directory";
  }
  return "";
}

std::string without_slash(const std::string& entry) {
  return !entry.empty() && entry.back() == '/' ? entry.substr(0, entry.size() - 1) : entry;
}

std::string parent_of(const std::string& path) { return path.substr(0, path.rfind('/')); }
std::string base_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }

Status sync_dir(const std::string& dir);

// Missing directories below `root` down to `dir` (which lies under root), each 0700, its parent
// fsynced; an existing one must be a directory, never a symlink. `root` itself is neither made
// nor checked.
Status make_dirs_below(const std::string& root, const std::string& dir) {
  if (dir.size() <= root.size()) return {};
  for (size_t at = dir.find('/', root.size() + 1);; at = dir.find('/', at + 1)) {
    std::string part = dir.substr(0, at);
    bool made = mkdir(part.c_str(), 0700) == 0;
    if (!made && errno != EEXIST) return fail("cannot create " + part + ": " + errno_text(errno), errno);
    if (look(part).found != Found::directory) return fail(part + " is not a directory");
    if (made) {
      if (auto synced = sync_dir(parent_of(part)); !synced) return synced;
    }
    if (at == std::string::npos) return {};
  }
}

// rename() that never replaces what is at `to` (EEXIST then).
int rename_noreplace(const std::string& from, const std::string& to) {
  if (renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
  if (look(to).found != Found::missing) return EEXIST;  // a file system without RENAME_NOREPLACE
  return rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

Status sync_dir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail("cannot open " + dir + ": " + errno_text(errno), errno);
  int rc = fsync(fd);
  int error = errno;
  close(fd);
  if (rc != 0) return fail("cannot fsync " + dir + ": " + errno_text(error), error);
  return {};
}


// The names in directory `path` but . and .., sorted (a copy made in a known order).
Result<std::vector<std::string>> names_in(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (!dir) return fail("cannot open " + path + ": " + errno_text(errno), errno);
  std::vector<std::string> names;
  while (dirent* e = readdir(dir)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

// Removes the tree at `path` (symlinks removed, never followed), at most kMaxCopyDepth deep. A
// directory without rwx for its owner (a copy of a read-only one) gets it first, so that a
// non-root user can empty it.
Status remove_tree(const std::string& path, int depth = 0) {
  struct stat st;
  if (lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    if (depth > kMaxCopyDepth) return fail(path + ": more than " + std::to_string(kMaxCopyDepth) + " levels deep");
    if ((st.st_mode & S_IRWXU) != S_IRWXU && chmod(path.c_str(), (st.st_mode & 07777) | S_IRWXU) != 0)
      return fail("cannot make " + path + " writable to remove it: " + errno_text(errno), errno);
    auto names = names_in(path);
    if (!names) return names.error();
    for (const auto& name : *names) {
      if (auto removed = remove_tree(path + "/" + name, depth + 1); !removed) return removed;
    }
    if (rmdir(path.c_str()) != 0) return fail("cannot remove " + path + ": " + errno_text(errno), errno);
    return {};
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return fail("cannot remove " + path + ": " + errno_text(errno), errno);
  return {};
}

// What a tree holds, walked without following symlinks (lstat only); the walk stops once over
// the bound on entries, so the bytes are exact unless the entries are too many as well.
struct TreeSize {
  size_t entries = 0;
  unsigned long long bytes = 0;
  bool over() const { return entries > kMaxCopyEntries; }
};

Status measure(const std::string& path, int depth, TreeSize& size) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return fail("cannot stat " + path + ": " + errno_text(errno), errno);
  ++size.entries;
  if (S_ISREG(st.st_mode)) size.bytes += static_cast<unsigned long long>(st.st_size);
  if (!S_ISDIR(st.st_mode) || size.over()) return {};
  if (depth > kMaxCopyDepth) return fail(path + ": more than " + std::to_string(kMaxCopyDepth) + " levels deep");
  auto names = names_in(path);
  if (!names) return names.error();
  for (const auto& name : *names) {
    if (auto measured = measure(path + "/" + name, depth + 1, size); !measured || size.over()) return measured;
  }
  return {};
}

std::string mib(unsigned long long bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

// "" when the tree at `path` is within the bounds copy_tree copies, else why not.
Result<std::string> too_big(const std::string& path) {
  TreeSize size;
  if (auto measured = measure(path, 0, size); !measured) return measured.error();
  if (size.bytes > kMaxCopyBytes)
    return path + " holds " + (size.entries > kMaxCopyEntries ? "more than " : "") + mib(size.bytes) + " (more than the " +
           mib(kMaxCopyBytes) + " wsinit copies at start)";
  if (size.entries > kMaxCopyEntries)
    return path + " holds more than " + std::to_string(kMaxCopyEntries) + " entries (the most wsinit copies at start)";
  return std::string();
}

// The file system holding `path` flushed (one syncfs, not an fsync per file and directory).
Status sync_fs(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail("cannot open " + path + ": " + errno_text(errno), errno);
  int rc = syncfs(fd);
  int error = errno;
  close(fd);
  if (rc != 0) return fail("cannot sync the file system of " + path + ": " + errno_text(error), error);
  return {};
}

// One regular file's bytes, mode (without setuid and setgid) and times. Opened without
// blocking and checked on the descriptor: anything swapped in that is no regular file (a FIFO
// would block) is refused.
Status copy_file(const std::string& from, const std::string& to, const struct stat& st) {
  int in = open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (in < 0) return fail("cannot open " + from + ": " + errno_text(errno), errno);
  struct stat opened;
  if (fstat(in, &opened) != 0 || !S_ISREG(opened.st_mode)) {
    close(in);
    return fail(from + " changed while being copied (no longer a regular file): not copied");
  }
  int out = open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    int error = errno;
    close(in);
    return fail("cannot create " + to + ": " + errno_text(error), error);
  }
  char buffer[65536];
  std::string problem;
  for (;;) {
    ssize_t n = read(in, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) problem = "cannot read " + from + ": " + errno_text(errno);
    if (n <= 0) break;
    for (ssize_t done = 0; done < n && problem.empty();) {
      ssize_t w = write(out, buffer + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) problem = "cannot write " + to + ": " + errno_text(errno);
      else done += w;
    }
    if (!problem.empty()) break;
  }
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (problem.empty() && (fchmod(out, st.st_mode & 01777) != 0 || futimens(out, times) != 0))
    problem = "cannot finish " + to + ": " + errno_text(errno);
  close(in);
  if (close(out) != 0 && problem.empty()) problem = "cannot write " + to + ": " + errno_text(errno);
  if (!problem.empty()) return fail(problem);
  return {};
}

struct CopyCount {
  size_t entries = 0;
};

Status copy_entry(const std::string& from, const std::string& to, int depth, CopyCount& count);

Status copy_directory(const std::string& from, const std::string& to, const struct stat& st, int depth, CopyCount& count) {
  if (depth > kMaxCopyDepth) return fail(from + ": more than " + std::to_string(kMaxCopyDepth) + " levels deep");
  if (mkdir(to.c_str(), 0700) != 0) return fail("cannot create " + to + ": " + errno_text(errno), errno);
  auto names = names_in(from);
  if (!names) return names.error();
  for (const auto& name : *names) {
    if (auto copied = copy_entry(from + "/" + name, to + "/" + name, depth + 1, count); !copied) return copied;
  }
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (chmod(to.c_str(), st.st_mode & 01777) != 0 || utimensat(AT_FDCWD, to.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
    return fail("cannot finish " + to + ": " + errno_text(errno), errno);
  return {};
}

Status copy_entry(const std::string& from, const std::string& to, int depth, CopyCount& count) {
  if (++count.entries > kMaxCopyEntries) return fail(from + ": more than " + std::to_string(kMaxCopyEntries) + " entries to copy");
  struct stat st;
  if (lstat(from.c_str(), &st) != 0) return fail("cannot stat " + from + ": " + errno_text(errno), errno);
  if (S_ISDIR(st.st_mode)) return copy_directory(from, to, st, depth, count);
  if (S_ISREG(st.st_mode)) return copy_file(from, to, st);
  if (S_ISLNK(st.st_mode)) {
    Seen link = look(from);
    if (link.points_to.empty()) return fail("cannot read the symlink " + from);
    if (symlink(link.points_to.c_str(), to.c_str()) != 0) return fail("cannot create " + to + ": " + errno_text(errno), errno);
    return {};
  }
  return fail(from + " is neither a file, a directory nor a symlink (a socket, FIFO or device): not copied");
}

}  // namespace

Status copy_tree(const std::string& from, const std::string& to) {
  if (look(to).found != Found::missing) return fail("cannot copy to " + to + ": it exists", EEXIST);
  auto big = too_big(from);
  if (!big) return big.error();
  if (!big->empty()) return fail(*big);
  CopyCount count;
  Status copied = copy_entry(from, to, 0, count);
  if (copied) copied = sync_fs(parent_of(to));
  if (!copied) {
    if (auto removed = remove_tree(to); !removed) return fail(copied.error().message + "; " + removed.error().message);
  }
  return copied;
}

Result<std::string> move_by_copy(const std::string& link, const std::string& target) {
  std::string temporary = parent_of(target) + "/." + base_of(target) + ".wsinit-copy";
  std::string kept = "; HOME's copy left as it was";
  if (auto stale = remove_tree(temporary); !stale) return fail(stale.error().message + kept);  // an earlier start's
  if (auto copied = copy_tree(link, temporary); !copied) {
    bool big = copied.error().message.find(" wsinit copies at start") != std::string::npos;
    return fail(copied.error().message + (big ? "; move it to " + target + " yourself" : kept));
  }
  if (int error = rename_noreplace(temporary, target); error != 0) {
    (void)remove_tree(temporary);
    return fail("cannot rename " + temporary + " to " + target + ": " + errno_text(error) + kept, error);
  }
  std::string aside = link + ".wsinit-moving-" + std::to_string(getpid());
  if (int error = rename_noreplace(link, aside); error != 0) {
    Status removed = remove_tree(target);
    return fail("cannot set " + link + " aside as " + aside + ": " + errno_text(error) + kept + "; " +
                    (removed ? "the copy at " + target + " removed" : removed.error().message),
                error);
  }
  if (auto synced = sync_dir(parent_of(link)); !synced) return synced.error();
  return aside;
}

namespace {

// HOME/P moved to T: renamed when both lie on one file system (returning ""), else copied
// (move_by_copy, returning where HOME's copy was set aside, to be removed once linked).
Result<std::string> move_into(const std::string& link, const std::string& target) {
  int error = rename_noreplace(link, target);
  if (error == 0) {
    if (auto synced = sync_dir(parent_of(target)); !synced) return synced.error();
    return std::string();
  }
  if (error != EXDEV) return fail("cannot move " + link + " to " + target + ": " + errno_text(error) + "; HOME's copy left as it was", error);
  return move_by_copy(link, target);
}

// HOME/P renamed to P.image, P.image.2 ...: never over anything. The name used, or the error.
Result<std::string> keep_image(const std::string& link) {
  for (int n = 1; n <= kMaxImageNames; ++n) {
    std::string name = link + ".image";
    if (n > 1) name.append(1, '.').append(std::to_string(n));
    int error = rename_noreplace(link, name);
    if (error == 0) return name;
    if (error != EEXIST && error != ENOTEMPTY) return fail("cannot rename " + link + " to " + name + ": " + errno_text(error), error);
  }
  return fail("cannot keep " + link + " aside: " + link + ".image up to .image." + std::to_string(kMaxImageNames) + " are taken");
}

// The symlink HOME/P -> T, made under a temporary name and renamed into place (never over a file).
Status make_link(const std::string& link, const std::string& target) {
  std::string temporary = parent_of(link) + "/." + base_of(link) + ".wsinit-link";
  if (look(temporary).found == Found::symlink && unlink(temporary.c_str()) != 0)
    return fail("cannot remove " + temporary + ": " + errno_text(errno), errno);
  if (symlink(target.c_str(), temporary.c_str()) != 0)
    return fail("cannot create " + temporary + ": " + errno_text(errno), errno);
  bool ours = look(link).found == Found::symlink && look(link).points_to == target;
  int error = ours ? 0 : rename_noreplace(temporary, link);
  if (ours || error != 0) unlink(temporary.c_str());
  if (error != 0) return fail("cannot link " + link + ": " + errno_text(error), error);
  return {};
}

struct Entry {
  std::string path, link, target, store, home;
  bool directory = false;
};

PersistFacts facts_of(const Entry& e) {
  PersistFacts f;
  f.directory = e.directory;
  f.target = e.target;
  f.link = look(e.link);
  f.at_target = look(e.target);
  f.bad_parent = parent_problem(e.home, e.path, false);
  if (f.bad_parent.empty()) f.bad_parent = parent_problem(e.store, e.path, true);
  return f;
}

// Carries out `plan` for `e`; the outcome's state and detail say what was done.
Persisted apply(const Entry& e, PersistPlan plan, std::vector<std::string>& warnings) {
  Persisted out{e.path, plan.state, plan.detail};
  auto refused = [&](const std::string& why) { return Persisted{e.path, PersistState::refused, why}; };
  if (plan.state == PersistState::refused) return out;
  if (plan.keep_image) {
    auto kept = keep_image(e.link);
    if (!kept) return refused(kept.error().message);
    out.detail += " as " + *kept;
  }
  if (plan.make_target || plan.move) {
    if (mkdir(e.store.c_str(), 0700) == 0) {
      if (auto synced = sync_dir(parent_of(e.store)); !synced) return refused(synced.error().message);
    } else if (errno != EEXIST) {
      return refused("cannot create " + e.store + ": " + errno_text(errno));
    }
    if (auto made = make_dirs_below(e.store, parent_of(e.target)); !made) return refused(made.error().message);
  }
  if (plan.make_target && e.directory) {
    if (mkdir(e.target.c_str(), 0700) == 0) {
      if (auto synced = sync_dir(parent_of(e.target)); !synced) return refused(synced.error().message);
    } else if (errno != EEXIST) {
      return refused("cannot create " + e.target + ": " + errno_text(errno));
    }
  }
  std::string aside;  // HOME's copy, set aside after being copied across file systems
  if (plan.move) {
    auto moved = move_into(e.link, e.target);
    if (!moved) return refused(moved.error().message);
    aside = *moved;
  }
  if (plan.link) {
    Status linked = make_dirs_below(e.home, parent_of(e.link));
    if (linked) linked = make_link(e.link, e.target);
    if (!linked && !aside.empty() && rename_noreplace(aside, e.link) == 0) aside.clear();  // HOME keeps its copy
    if (!linked) return refused(linked.error().message + (aside.empty() ? "" : "; HOME's copy is at " + aside));
  }
  if (!aside.empty()) {
    if (auto removed = remove_tree(aside); !removed)
      warnings.push_back("user.persist " + e.path + ": moved, but HOME's old copy " + aside +
                         " cannot be removed (" + removed.error().message + "); remove it yourself");
  }
  return out;
}

bool lies_under(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

std::string real(const std::string& path) {
  char buffer[PATH_MAX];
  return realpath(path.c_str(), buffer) ? std::string(buffer) : path;
}

// Why nothing is linked at all, or "" when each entry is to be planned.
std::string why_skipped(const PersistOptions& o, bool dry_run) {
  if (lies_under(o.home, o.data_dir) || lies_under(real(o.home), real(o.data_dir)))
    return "HOME " + o.home + " lies under paths.data " + o.data_dir + ": all of it persists, nothing is linked";
  struct stat st;
  bool usable = stat(o.data_dir.c_str(), &st) == 0 ? S_ISDIR(st.st_mode) && access(o.data_dir.c_str(), W_OK | X_OK) == 0
                                                   : access(parent_of(o.data_dir).c_str(), W_OK | X_OK) == 0;
  if (!usable || (!dry_run && mkdir(o.data_dir.c_str(), 0700) != 0 && errno != EEXIST))
    return "paths.data " + o.data_dir + " is not a writable directory (nor can it be made in an existing parent): " +
           "HOME's entries would not survive a restart, so nothing is linked";
  return "";
}

// A move that would be a copy (HOME/P and the nearest existing directory above <data>/home/P on
// different file systems) of a tree over copy_tree's bounds: why, else "".
std::string too_big_to_move(const Entry& e) {
  struct stat from, to;
  std::string dir = parent_of(e.target);
  while (stat(dir.c_str(), &to) != 0 && dir.find('/') != std::string::npos) dir = parent_of(dir);
  if (lstat(e.link.c_str(), &from) != 0 || dir.empty() || from.st_dev == to.st_dev) return "";
  auto big = too_big(e.link);
  return big && !big->empty() ? *big + "; move it to " + e.target + " yourself" : "";
}

std::string would(const PersistPlan& plan) {
  bool acts = plan.keep_image || plan.move || plan.make_target || plan.link;
  if (plan.state == PersistState::refused || !acts) return plan.detail;
  return "would be " + std::string(persist_state_name(plan.state)) + ": " + plan.detail;
}

}  // namespace

std::vector<Persisted> persist_home(const PersistOptions& o, bool dry_run, std::vector<std::string>& warnings) {
  std::vector<Persisted> out;
  if (o.paths.empty()) return out;
  if (std::string why = why_skipped(o, dry_run); !why.empty()) {
    if (why.rfind("paths.data", 0) == 0) warnings.push_back("user.persist: " + why);
    for (const auto& p : o.paths) out.push_back({p, PersistState::skipped, why});
    return out;
  }
  std::string store = o.data_dir + "/home";
  for (const auto& p : o.paths) {
    std::string name = without_slash(p);
    Entry e{name, o.home + "/" + name, store + "/" + name, store, o.home, p.back() == '/'};
    PersistPlan plan = plan_persist(facts_of(e));
    if (dry_run && plan.move) {
      if (std::string why = too_big_to_move(e); !why.empty()) plan = refuse(why);
    }
    Persisted done = dry_run ? Persisted{p, plan.state, would(plan)} : apply(e, plan, warnings);
    done.path = p;
    if (done.state == PersistState::refused) warnings.push_back("user.persist " + p + ": refused: " + done.detail);
    if (done.state == PersistState::image_kept && !dry_run)
      warnings.push_back("user.persist " + p + ": " + done.detail + " (not deleted; compare and remove it when done)");
    out.push_back(std::move(done));
  }
  return out;
}

}  // namespace wsinit::user_ids
