// user_ids/: a passwd and group entry and a usable HOME for the uid wsinit runs as, which in a
// workspace is often an arbitrary uid (GID 0) that the image does not know. Reads the files
// itself (a static binary cannot use NSS); appends in place, once, under flock.
// Uses common/, inside only; no other module.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace wsinit::user_ids {

struct PasswdEntry {
  std::string name, password;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string gecos, home, shell;
};

struct GroupEntry {
  std::string name, password;
  gid_t gid = 0;
  std::string members;
};

// Well-formed entries only: comments, blank, short or malformed lines are skipped.
std::vector<PasswdEntry> parse_passwd(std::string_view text);
std::vector<GroupEntry> parse_group(std::string_view text);

// The one way a line is made for /etc/passwd or /etc/group (and nss_wrapper's copies): the
// entry as one line, "\n" included, that parses back to exactly this entry. Refused (the error
// names the field) when a field holds ':', a newline or NUL, the name is empty or would be read
// as something else (a leading '#', '+', '-' or blank), or an id is (uid_t)-1.
Result<std::string> passwd_line(const PasswdEntry& entry);
Result<std::string> group_line(const GroupEntry& entry);

// user.persist: one entry's outcome (DESIGN.md, "Persistent home").
enum class PersistState { linked, moved, image_kept, created, refused, skipped };
const char* persist_state_name(PersistState state);  // "image-kept" ...
struct Persisted {
  std::string path;  // as configured: ".config/", ".bash_history"
  PersistState state = PersistState::skipped;
  std::string detail;
};

// How the running uid got its entry.
enum class Source { existing, appended, nss_wrapper, none };
const char* source_name(Source source);

struct Options {
  std::string name = "gitlab-workspaces";
  std::string home = "/home/gitlab-workspaces";
  std::string shell = "/bin/bash";
  std::string gecos = "workspace user";
  bool empty_password = true;  // sshd.password_less: the proxy logs in with an empty password
  std::string passwd_file = "/etc/passwd";
  std::string group_file = "/etc/group";
  std::string runtime_dir;  // private passwd/group copies for nss_wrapper go here
  std::string data_dir;     // <data>/home is the first fallback HOME
  std::vector<std::string> nss_wrapper_paths = {"/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
                                                "/usr/lib64/libnss_wrapper.so", "/usr/lib/libnss_wrapper.so"};
};

struct Identity {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home, shell;
  std::string password;  // the entry's password field ("" empty, "x" in /etc/shadow, ...)
  Source source = Source::none;
  std::vector<std::string> env;       // NAME=value for every service: HOME, USER, LOGNAME, SHELL, nss_wrapper's
  std::vector<std::string> warnings;  // for the log and the status
  std::vector<Persisted> persist;     // user.persist, in its order
};

// Works out the identity and, unless `dry_run`, makes it real: appends the passwd and group
// lines, or writes nss_wrapper copies, and creates HOME. `inherited_env` supplies the HOME
// the environment already has (kept when it is a usable directory).
Identity establish(const Options& options, uid_t uid, gid_t gid, const std::vector<gid_t>& groups,
                   const std::vector<std::string>& inherited_env, bool dry_run);

// ---- user.persist: HOME's entries kept under <data>/home, HOME holding a symlink to each.

// What lstat finds at a path, for the planner.
enum class Found { missing, file, directory, symlink, other };
struct Seen {
  Found found = Found::missing;
  std::string points_to;  // a symlink's target, as readlink gives it
};
// Everything the plan of one entry depends on.
struct PersistFacts {
  bool directory = false;    // the entry ends in '/'
  std::string target;        // <data>/home/P
  Seen link;                 // HOME/P
  Seen at_target;            // <data>/home/P
  std::string bad_parent;    // a parent of either that is a symlink or no directory, said as a reason
};
// What to do for one entry, in this order: keep HOME's copy aside as .image, move it into the
// target, make the target (a directory) or its parent (a file), link. `state` is what it comes to.
struct PersistPlan {
  PersistState state = PersistState::refused;
  bool keep_image = false, move = false, make_target = false, link = false;
  std::string detail;  // the reason when refused; else what is done, in words
};
PersistPlan plan_persist(const PersistFacts& facts);

struct PersistOptions {
  std::vector<std::string> paths;  // user.persist, validated by config/
  std::string home;                // HOME as established
  std::string data_dir;            // paths.data
};
// Each entry planned and, unless `dry_run`, done; what a person should act on (a kept image,
// a refusal, a data directory that persists nothing) is added to `warnings`.
std::vector<Persisted> persist_home(const PersistOptions& options, bool dry_run, std::vector<std::string>& warnings);

// Copies the tree at `from` (a file, symlink or directory; symlinks copied as symlinks, never
// followed; modes without setuid and setgid) to `to`, which must not exist, then flushes the
// file system of `to` with one syncfs(). `from` is walked first and refused, before anything is
// copied, when it holds more than kMaxCopyBytes in files or kMaxCopyEntries entries; at most
// kMaxCopyDepth levels. On failure nothing is left at `to`.
inline constexpr size_t kMaxCopyEntries = 20'000;
inline constexpr unsigned long long kMaxCopyBytes = 64ull << 20;
inline constexpr int kMaxCopyDepth = 64;
Status copy_tree(const std::string& from, const std::string& to);

// HOME's copy `link` moved to `target` on another file system: copied beside `target` under a
// temporary name, flushed, renamed into place, then `link` renamed aside (link.wsinit-moving-PID,
// in the same directory) and that name returned: the caller links `link` to `target`, then
// removes the aside copy. On failure HOME's copy is where it was and nothing is at `target`.
Result<std::string> move_by_copy(const std::string& link, const std::string& target);

// Appends the line `make_line(current contents)` returns to `path`, in place, under an
// exclusive flock, unless it returns nullopt (already there). One write(); on any failure the
// file is truncated back to its old size. True when a line was appended, false when none was
// needed.
template <typename F>
Result<bool> append_once(const std::string& path, F make_line);
Result<bool> append_once_impl(const std::string& path,
                              std::optional<std::string> (*make_line)(std::string_view, const void*), const void* ctx);
template <typename F>
Result<bool> append_once(const std::string& path, F make_line) {
  return append_once_impl(
      path, [](std::string_view text, const void* c) { return (*static_cast<const F*>(c))(text); }, &make_line);
}

}  // namespace wsinit::user_ids
