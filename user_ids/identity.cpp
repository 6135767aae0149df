// Working out and making real the identity of the running uid: passwd and group entries
// (existing, appended, or private copies for nss_wrapper) and a usable HOME.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/fs.h"
#include "user_ids/user_ids.h"

namespace wsinit::user_ids {
namespace {

// /etc/passwd and /etc/group as read here: far above any real one, below what would hurt.
constexpr size_t kMaxIdFile = 16 << 20;

bool is_executable_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

bool is_writable_dir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && access(path.c_str(), W_OK | X_OK) == 0;
}

// A shell that refuses interactive logins (what CRI-O writes for arbitrary uids, for one).
bool refuses_logins(const std::string& shell) {
  std::string base = shell.substr(shell.rfind('/') + 1);
  return base == "nologin" || base == "false" || !is_executable_file(shell);
}

// `wanted` unless another uid has it; then wanted-<uid>, cut to 32 characters.
std::string free_name(const std::string& wanted, const std::vector<PasswdEntry>& entries, uid_t uid) {
  auto taken = [&](const std::string& n) {
    return std::any_of(entries.begin(), entries.end(), [&](auto& e) { return e.name == n && e.uid != uid; });
  };
  if (!taken(wanted)) return wanted;
  char suffix[16];
  int length = snprintf(suffix, sizeof suffix, "-%u", static_cast<unsigned>(uid));
  return wanted.substr(0, 32 - static_cast<size_t>(length)).append(suffix);
}

const PasswdEntry* entry_for(const std::vector<PasswdEntry>& entries, uid_t uid) {
  auto it = std::find_if(entries.begin(), entries.end(), [&](auto& e) { return e.uid == uid; });
  return it == entries.end() ? nullptr : &*it;
}

// Group lines for the gids that have none: the user's name for its own gid when free, else gid<N>.
// A line the encoder refuses is left out and said in `warnings`.
std::string missing_group_lines(std::string_view group_text, const std::string& user, gid_t gid,
                                const std::vector<gid_t>& groups, std::vector<std::string>& warnings) {
  auto existing = parse_group(group_text);
  auto has_gid = [&](gid_t g) { return std::any_of(existing.begin(), existing.end(), [&](auto& e) { return e.gid == g; }); };
  auto has_name = [&](const std::string& n) {
    return std::any_of(existing.begin(), existing.end(), [&](auto& e) { return e.name == n; });
  };
  std::vector<gid_t> all = {gid};
  for (gid_t g : groups) {
    if (std::find(all.begin(), all.end(), g) == all.end()) all.push_back(g);
  }
  std::string lines;
  for (gid_t g : all) {
    if (has_gid(g)) continue;
    GroupEntry entry{g == 0 ? "root" : (g == gid && !has_name(user)) ? user : "gid" + std::to_string(g), "x", g, ""};
    if (auto line = group_line(entry)) lines += *line;
    else warnings.push_back(line.error().message);
    existing.push_back(entry);
  }
  return lines;
}

std::optional<std::string> nss_wrapper_library(const Options& options) {
  for (const auto& path : options.nss_wrapper_paths) {
    if (access(path.c_str(), R_OK) == 0) return path;
  }
  return std::nullopt;
}

// Private passwd and group files for nss_wrapper: the system's, with `replace_uid`'s line
// replaced (or added) by `line`, and the missing groups added.
bool write_nss_wrapper_files(const Options& options, Identity& id, const std::string& library,
                             const std::string& passwd_text, const std::string& line, const std::string& group_text,
                             const std::vector<gid_t>& groups) {
  if (auto done = fs::prepare_private_dir(options.runtime_dir); !done) {
    id.warnings.push_back("nss_wrapper: " + done.error().message);
    return false;
  }
  std::string passwd;
  for (const auto& e : parse_passwd(passwd_text)) {
    if (e.uid == id.uid) continue;
    if (auto other = passwd_line(e)) passwd += *other;  // a line no reader would take is left out
  }
  passwd += line;
  std::string group = group_text;
  if (!group.empty() && group.back() != '\n') group += '\n';
  group += missing_group_lines(group_text, id.name, id.gid, groups, id.warnings);
  std::string passwd_path = options.runtime_dir + "/passwd", group_path = options.runtime_dir + "/group";
  for (auto [path, content] : {std::pair{passwd_path, passwd}, std::pair{group_path, group}}) {
    if (auto done = fs::write_atomically(path, content, 0644); !done) {
      id.warnings.push_back("nss_wrapper: " + done.error().message);
      return false;
    }
  }
  id.env.push_back("LD_PRELOAD=" + library);
  id.env.push_back("NSS_WRAPPER_PASSWD=" + passwd_path);
  id.env.push_back("NSS_WRAPPER_GROUP=" + group_path);
  id.source = Source::nss_wrapper;
  return true;
}

// What establish() works from, read once.
struct Context {
  std::string passwd_text, group_text;
  std::optional<std::string> library;  // nss_wrapper, when installed
  std::vector<gid_t> groups;
  bool dry_run = false;
  std::string env_home;
  bool keep_env_home = false;  // the environment's HOME is a usable directory: services keep it
};

std::string inherited(const std::vector<std::string>& env, const std::string& name) {
  for (const auto& e : env) {
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=') return e.substr(name.size() + 1);
  }
  return "";
}

// The first usable of: the entry's home (created when missing), <data>/home, /tmp/home-<uid>.
std::string usable_home(const std::string& wanted, const Options& options, uid_t uid, bool dry_run, Identity& id) {
  std::vector<std::string> candidates = {wanted};
  // <data>/home only where data's parent exists: wsinit does not invent the projects volume.
  std::string data_parent = options.data_dir.substr(0, options.data_dir.rfind('/'));
  if (!options.data_dir.empty() && (is_writable_dir(options.data_dir) || is_writable_dir(data_parent.empty() ? "/" : data_parent)))
    candidates.push_back(options.data_dir + "/home");
  candidates.push_back("/tmp/home-" + std::to_string(uid));
  for (const auto& dir : candidates) {
    if (dir.empty() || dir[0] != '/') continue;
    if (!is_writable_dir(dir)) {
      if (dry_run) {
        struct stat st;
        if (stat(dir.c_str(), &st) != 0) return dir;  // would be created
        continue;
      }
      if (!fs::make_dirs(dir, dir.rfind("/tmp/", 0) == 0 ? 0700 : 0755) || !is_writable_dir(dir)) continue;
    }
    if (dir != wanted) id.warnings.push_back("HOME " + wanted + " is not usable; using " + dir);
    return dir;
  }
  return wanted;
}

void append_entry(const Options& options, const std::string& line, Identity& id, const Context& c);

}  // namespace

const char* source_name(Source source) {
  switch (source) {
    case Source::existing: return "existing";
    case Source::appended: return "appended";
    case Source::nss_wrapper: return "nss_wrapper";
    case Source::none: return "none";
  }
  return "?";
}

namespace {

// The uid has a line: use it; a shell that refuses logins or an unusable home is reported,
// and fixed in private copies when nss_wrapper is there.
void adopt_existing(const Options& options, const PasswdEntry& existing, Identity& id, const Context& c) {
  id.name = existing.name;
  id.shell = existing.shell;
  id.password = existing.password;
  id.source = Source::existing;
  id.home = c.keep_env_home ? c.env_home : usable_home(existing.home, options, id.uid, c.dry_run, id);
  PasswdEntry fixed = existing;
  fixed.home = id.home;
  if (refuses_logins(existing.shell)) {
    id.warnings.push_back("the passwd entry of " + id.name + " has shell '" + existing.shell + "', which refuses logins");
    fixed.shell = is_executable_file(options.shell) ? options.shell : "/bin/sh";
  }
  bool needs_fix = fixed.shell != existing.shell || (!c.keep_env_home && fixed.home != existing.home);
  if (!needs_fix || c.dry_run || !c.library) return;
  auto line = passwd_line(fixed);
  if (!line) {
    id.warnings.push_back(line.error().message + "; not fixed through nss_wrapper");
    return;
  }
  if (write_nss_wrapper_files(options, id, *c.library, c.passwd_text, *line, c.group_text, c.groups)) {
    id.shell = fixed.shell;
    id.warnings.push_back("fixed for services and SSH sessions through nss_wrapper (shell " + fixed.shell + ", home " +
                          fixed.home + ")");
  }
}

// No line for the uid: append one (in place, once), else private copies for nss_wrapper. The
// values were checked by config/; the line encoder refuses whatever would still break the file.
void create_entry(const Options& options, const std::vector<PasswdEntry>& entries, Identity& id, const Context& c) {
  id.home = c.keep_env_home ? options.home : usable_home(options.home, options, id.uid, c.dry_run, id);
  PasswdEntry wanted{free_name(options.name, entries, id.uid), options.empty_password ? "" : "x", id.uid, id.gid,
                     options.gecos, id.home, is_executable_file(options.shell) ? options.shell : "/bin/sh"};
  id.name = wanted.name;
  id.shell = wanted.shell;
  id.password = wanted.password;
  auto line = passwd_line(wanted);
  if (!line) id.warnings.push_back(line.error().message + "; no passwd entry written");
  bool writable = access(options.passwd_file.c_str(), W_OK) == 0;
  if (line && c.dry_run) {
    id.source = writable ? Source::appended : c.library ? Source::nss_wrapper : Source::none;
  } else if (line && writable) {
    append_entry(options, *line, id, c);
  }
  if (line && !c.dry_run && id.source == Source::none && c.library) {
    write_nss_wrapper_files(options, id, *c.library, c.passwd_text, *line, c.group_text, c.groups);
  }
  if (id.source == Source::none) {
    id.warnings.push_back("uid " + std::to_string(id.uid) + " has no passwd entry, " + options.passwd_file +
                          " is not writable and nss_wrapper (Debian: libnss-wrapper) is not installed: whoami, ssh and "
                          "SSH logins will fail");
  }
}

void append_entry(const Options& options, const std::string& line, Identity& id, const Context& c) {
  auto appended = append_once(options.passwd_file, [&](std::string_view text) -> std::optional<std::string> {
    if (const PasswdEntry* raced = entry_for(parse_passwd(text), id.uid)) {
      id.name = raced->name;  // another process added it meanwhile: use that one
      id.shell = raced->shell;
      id.password = raced->password;
      return std::nullopt;
    }
    return line;
  });
  if (!appended) {
    id.warnings.push_back(appended.error().message);
    return;
  }
  id.source = *appended ? Source::appended : Source::existing;
  auto groups_appended = append_once(options.group_file, [&](std::string_view text) -> std::optional<std::string> {
    std::string lines = missing_group_lines(text, id.name, id.gid, c.groups, id.warnings);
    if (lines.empty()) return std::nullopt;
    return lines;
  });
  if (!groups_appended) id.warnings.push_back(groups_appended.error().message);
}

}  // namespace

Identity establish(const Options& options, uid_t uid, gid_t gid, const std::vector<gid_t>& groups,
                   const std::vector<std::string>& inherited_env, bool dry_run) {
  Identity id;
  id.uid = uid;
  id.gid = gid;
  Context c;
  c.passwd_text = fs::read_file(options.passwd_file, kMaxIdFile).value_or("");
  c.group_text = fs::read_file(options.group_file, kMaxIdFile).value_or("");
  c.library = nss_wrapper_library(options);
  c.groups = groups;
  c.dry_run = dry_run;
  c.env_home = inherited(inherited_env, "HOME");
  c.keep_env_home = !c.env_home.empty() && c.env_home != "/" && is_writable_dir(c.env_home);
  auto entries = parse_passwd(c.passwd_text);
  if (const PasswdEntry* existing = entry_for(entries, uid)) adopt_existing(options, *existing, id, c);
  else create_entry(options, entries, id, c);
  if (c.keep_env_home) id.home = c.env_home;
  id.env.insert(id.env.begin(), {"HOME=" + id.home, "USER=" + id.name, "LOGNAME=" + id.name, "SHELL=" + id.shell});
  return id;
}

}  // namespace wsinit::user_ids
