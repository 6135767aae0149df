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
};

// Works out the identity and, unless `dry_run`, makes it real: appends the passwd and group
// lines, or writes nss_wrapper copies, and creates HOME. `inherited_env` supplies the HOME
// the environment already has (kept when it is a usable directory).
Identity establish(const Options& options, uid_t uid, gid_t gid, const std::vector<gid_t>& groups,
                   const std::vector<std::string>& inherited_env, bool dry_run);

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
