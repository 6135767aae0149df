// Everything sshd needs, written before it starts.
#include "sshd_setup/sshd_setup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/environment.h"
#include "common/fs.h"
#include "keys.h"

namespace wsinit::sshd_setup {
namespace {

using Listen = config::ListenAddress;
constexpr size_t kMaxKeyFile = 64 << 10;      // an RSA 3072 key file is under 3 KiB
constexpr size_t kMaxKeysFile = 1 << 20;      // a file named in sshd.authorized_keys

// paths.data when it is (or can be made) writable, else $HOME/.wsinit.
std::string data_dir(const config::Config& config, const user_ids::Identity& id, bool dry_run, Setup& s) {
  const std::string& wanted = config.paths.data;
  if (dry_run) return wanted;
  // Created only inside an existing parent: wsinit does not invent the projects volume where there is none.
  auto usable = fs::usable_dir_in_existing_parent(wanted, 0700);
  if (usable) return wanted;
  std::string fallback = id.home + "/.wsinit";
  s.warnings.push_back("paths.data: " + usable.error().message + "; host keys are kept in " + fallback +
                       ", which may not survive a restart of the workspace");
  return fallback;
}

// The whole of the open file `fd` when it is a regular file of a key's size.
Result<std::string> read_key_file(int fd, const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  auto text = fs::read_fd(fd, kMaxKeyFile);
  if (!text && text.error().code == EFBIG) return fail("larger than " + std::to_string(kMaxKeyFile) + " bytes", EFBIG);
  return text;
}

// The key in the open file `fd`, made 0600 through that same fd (sshd refuses group- or
// world-readable keys); fails saying why when it is not a usable key file.
Status reuse_key(int fd, bool dry_run, HostKey& key) {
  struct stat st;
  if (fstat(fd, &st) != 0) return fail(std::string("cannot stat: ") + strerror(errno), errno);
  auto text = read_key_file(fd, st);
  if (!text) return text.error();
  auto blob = public_blob_of(*text);
  if (!blob) return blob.error();
  if (!dry_run && (st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0)
    return fail(std::string("cannot make it 0600: ") + strerror(errno), errno);
  key.fingerprint = fingerprint(*blob);
  return {};
}

// An existing usable key is reused. Anything else there (a damaged or unreadable file, a
// symlink, which is never followed, a directory) is moved aside, never deleted, and replaced.
std::optional<HostKey> host_key(KeyType type, const std::string& dir, bool dry_run, Setup& s) {
  HostKey key;
  key.type = key_type_name(type);
  key.path = dir + "/ssh_host_" + key.type + "_key";
  std::string why;
  int fd = open(key.path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0) {
    auto reused = reuse_key(fd, dry_run, key);
    close(fd);
    if (reused) return key;
    why = reused.error().message;
  } else if (errno != ENOENT) {
    why = errno == ELOOP ? "a symlink, which is never followed" : std::string("cannot open: ") + strerror(errno);
  }
  if (!why.empty()) {
    std::string aside = key.path + ".broken-" + std::to_string(time(nullptr));
    s.warnings.push_back(key.path + " is unusable (" + why + "); kept as " + aside + ", a new key replaces it");
    if (!dry_run && rename(key.path.c_str(), aside.c_str()) != 0) {
      s.errors.push_back("cannot move " + key.path + " aside: " + strerror(errno));
      return std::nullopt;
    }
  }
  if (dry_run) return key;
  auto files = generate_key(type, "wsinit-host-key");
  if (!files) {
    s.errors.push_back("cannot generate the " + key.type + " host key: " + files.error().message);
    return std::nullopt;
  }
  for (const auto& done : {fs::write_atomically(key.path, files->private_text, 0600),
                           fs::write_atomically(key.path + ".pub", files->public_line, 0644)}) {
    if (!done) {
      s.errors.push_back(done.error().message);
      return std::nullopt;
    }
  }
  key.fingerprint = fingerprint(files->public_blob);
  key.generated = true;
  return key;
}

// sshd.authorized_keys: key lines as they are (one line each), anything else is a file to
// read keys from.
std::string authorized_keys(const config::Config::Sshd& c, Setup& s) {
  std::string out;
  for (const auto& entry : c.authorized_keys) {
    bool is_key = entry.rfind("ssh-", 0) == 0 || entry.rfind("ecdsa-", 0) == 0 || entry.rfind("sk-", 0) == 0;
    if (is_key) {
      if (auto line = authorized_keys_line(entry)) out += *line;
      else s.errors.push_back("sshd.authorized_keys: " + line.error().message);
    } else if (auto text = fs::read_file(entry, kMaxKeysFile)) {
      out += *text;
      if (!out.empty() && out.back() != '\n') out += '\n';
    } else {
      s.warnings.push_back("sshd.authorized_keys: " + text.error().message);
    }
  }
  return out;
}

void check_password_less(const config::Config::Sshd& c, const user_ids::Identity& id, Setup& s) {
  if (!c.password_less || id.password.empty()) return;
  if (id.password == "x" && access("/etc/shadow", R_OK) == 0) return;  // the shadow entry may be empty
  if (id.password == "x") {
    s.warnings.push_back("sshd.password_less cannot work: the passwd entry of " + id.name +
                         " has 'x' as its password and /etc/shadow is not readable, so the empty-password login "
                         "the GitLab proxy uses fails (use key logins, or an image whose entry has an empty password field)");
  } else {
    s.warnings.push_back("sshd.password_less: the passwd entry of " + id.name +
                         " has a password, so the empty-password login the GitLab proxy uses fails");
  }
}

// The check, then the server: OpenSSH's sshd, or wsinit's own (`wsinit ssh-server`, which
// takes the same sshd_config and the user's home and shell, which it cannot ask NSS for).
std::vector<supervisor::ServiceSpec> sshd_services(const Setup& s, const user_ids::Identity& id, const Listen& probe) {
  std::vector<std::string> prefix = {s.binary};
  if (s.server == "builtin") prefix = {s.binary, "ssh-server", "--home", id.home, "--shell", id.shell};
  supervisor::ServiceSpec check;
  check.name = "sshd-config";
  check.command = prefix;
  check.command.insert(check.command.end(), {"-t", "-f", s.config_path});
  check.oneshot = true;
  check.restart = config::Restart::never;
  check.origin = "(wsinit's sshd)";
  check.log_name = "start-sshd";  // where GitLab's own script writes sshd's output
  check.oom_score_adj = std::nullopt;  // wsinit's own: keeps wsinit's value, behind the user's services
  supervisor::ServiceSpec sshd;
  sshd.name = "sshd";
  sshd.command = prefix;
  sshd.command.insert(sshd.command.end(), {"-D", "-e", "-f", s.config_path});
  sshd.after = {"sshd-config"};
  sshd.required = true;
  sshd.restart = config::Restart::always;
  sshd.ready.kind = config::Readiness::Kind::tcp;
  sshd.ready.tcp_port = probe.port;
  sshd.probe_host = probe.host == "0.0.0.0" || probe.host == "::" ? "127.0.0.1" : probe.host;
  sshd.ready.tcp_expect = "SSH-2.0-";
  sshd.ready.interval = std::chrono::milliseconds(100);
  sshd.ready.timeout = std::chrono::seconds(30);
  sshd.external_port = probe.port;
  sshd.origin = "(wsinit's sshd)";
  sshd.log_name = "start-sshd";
  sshd.oom_score_adj = std::nullopt;  // the user's way in: the OOM killer takes user services first
  return {check, sshd};
}

// wsinit's own binary, for the built-in server's command: the path it runs from, or
// /proc/self/exe (which a forked supervisor child still resolves to wsinit) when that is unknown.
std::string own_binary() {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof path - 1) return "/proc/self/exe";
  std::string p(path, static_cast<size_t>(n));
  // A binary replaced while running reads "PATH (deleted)": only /proc/self/exe still reaches it.
  if (p.size() > 10 && p.compare(p.size() - 10, 10, " (deleted)") == 0) return "/proc/self/exe";
  return p;
}

// OpenSSH's sshd made absolute (sshd re-execs itself by path), or the reason it is not there.
Result<std::string> find_openssh(const config::Config::Sshd& c, const std::vector<std::string>& session_env) {
  std::string binary = c.binary == "auto" ? "sshd" : c.binary;
  auto found = find_executable(binary, search_path(session_env));
  if (!found && c.binary == "auto" && access("/usr/sbin/sshd", X_OK) == 0) found = std::string("/usr/sbin/sshd");
  if (!found) return fail(binary + ": " + strerror(found.error().code), found.error().code);
  if (access(found->c_str(), X_OK) != 0) return fail(*found + ": " + strerror(errno), errno);  // a path is taken as given
  std::string path = *found;
  if (!path.empty() && path[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd)) path = std::string(cwd) + "/" + path;
  }
  return path;
}

// Which server runs, and its binary; false when SSH is off (why_off says why). `builtin` is
// wsinit's own server, there whatever the image holds; `auto` takes OpenSSH where it is found.
bool choose_server(const config::Config::Sshd& c, const std::vector<std::string>& session_env, Setup& s) {
  using Server = config::Config::Sshd::Server;
  if (c.enabled == config::Switch::off) {
    s.why_off = "sshd.enabled is false";
    return false;
  }
  s.enabled = true;
  if (c.server != Server::builtin) {
    auto openssh = find_openssh(c, session_env);
    if (openssh || c.server == Server::openssh) {
      if (!openssh && c.enabled == config::Switch::automatic) {
        s.enabled = false;
        s.why_off = "sshd.enabled is auto, sshd.server is openssh and no sshd was found (" + openssh.error().message + ")";
        return false;
      }
      s.server = "openssh";
      // A missing binary under `enabled: true` fails visibly as the sshd service.
      s.binary = openssh ? *openssh : (c.binary == "auto" ? std::string("sshd") : c.binary);
      return true;
    }
  }
  if (c.server == Server::automatic && c.binary != "auto")
    s.warnings.push_back("sshd.binary " + c.binary + " is not there, so wsinit's built-in SSH server runs instead");
  s.server = "builtin";
  s.binary = own_binary();
  return true;
}

// sshd.listen, checked by config/, parsed again for the host and port.
std::vector<Listen> listen_addresses(const config::Config::Sshd& c, Setup& s) {
  std::vector<Listen> listens;
  for (const auto& l : c.listen) {
    if (auto parsed = config::parse_listen(l)) listens.push_back(*parsed);
    else s.errors.push_back("sshd.listen: '" + l + "' is not IP:PORT");
  }
  if (c.listen.empty()) s.errors.push_back("sshd.listen: at least one IP:PORT is needed");
  return listens;
}

// The host keys, in <data>/ssh, reused or made; their paths go into `text`. False when the
// folder cannot be made.
bool host_keys(const config::Config& config, const user_ids::Identity& identity, bool dry_run, Setup& s,
               ConfigText& text) {
  std::string ssh_dir = data_dir(config, identity, dry_run, s) + "/ssh";
  if (!dry_run) {
    if (auto done = fs::prepare_private_dir(ssh_dir); !done) {
      s.errors.push_back("host keys: " + done.error().message);
      return false;
    }
  }
  for (const auto& name : config.sshd.host_key_types) {
    if (auto key = host_key(*key_type_from_name(name), ssh_dir, dry_run, s)) {
      text.host_key_paths.push_back(key->path);
      s.host_keys.push_back(*key);
    }
  }
  return true;
}

// The rest of sshd_config's values: the session environment, the addresses, the user.
void fill_config_text(const config::Config& config, const user_ids::Identity& identity,
                      const std::vector<std::string>& session_env, const std::vector<Listen>& listens, Setup& s,
                      ConfigText& text) {
  std::vector<std::string> left_out;
  text.setenv = session_variables(session_env, &left_out);
  for (const auto& name : left_out) {
    s.warnings.push_back("SSH sessions will not see " + name +
                         ": its value holds a newline or CR, or its name is not [A-Za-z_][A-Za-z0-9_]*");
  }
  for (const auto& l : listens) text.listen.push_back(l.text());
  text.runtime_dir = config.paths.runtime;
  text.user = identity.name;
  text.password_less = config.sshd.password_less;
  text.allow_from = config.sshd.allow_from;
}

// sshd_config and authorized_keys into paths.runtime (and /run/sshd, which sshd wants as root).
void write_files(const config::Config& config, const std::string& rendered, Setup& s) {
  // As root sshd separates privileges and wants its empty directory (Debian's service makes it).
  if (getuid() == 0 && mkdir("/run/sshd", 0755) < 0 && errno != EEXIST)
    s.warnings.push_back("cannot create /run/sshd, which sshd needs when run as root: " + std::string(strerror(errno)));
  if (auto done = fs::prepare_private_dir(config.paths.runtime); !done) s.errors.push_back(done.error().message);
  for (auto [path, content] : {std::pair{s.config_path, rendered},
                               std::pair{config.paths.runtime + "/authorized_keys", authorized_keys(config.sshd, s)}}) {
    if (!s.errors.empty()) break;
    if (auto done = fs::write_atomically(path, content, 0600); !done) s.errors.push_back(done.error().message);
  }
}

}  // namespace

Setup prepare(const config::Config& config, const user_ids::Identity& identity,
              const std::vector<std::string>& session_env, bool dry_run) {
  Setup s;
  if (!choose_server(config.sshd, session_env, s)) return s;
  std::vector<Listen> listens = listen_addresses(config.sshd, s);
  if (!s.errors.empty()) return s;
  ConfigText text;
  if (!host_keys(config, identity, dry_run, s, text)) return s;
  // The built-in server decides the empty-password login itself: the passwd field plays no part.
  if (s.server == "openssh") check_password_less(config.sshd, identity, s);
  fill_config_text(config, identity, session_env, listens, s, text);
  s.config_path = config.paths.runtime + "/sshd_config";
  auto rendered = render_config(text);
  if (!rendered) s.errors.push_back(rendered.error().message);
  if (!dry_run && s.errors.empty()) write_files(config, *rendered, s);
  if (s.errors.empty()) {
    s.services = sshd_services(s, identity, listens.front());
    // sshd reads its sshd_config: a changed one is a changed service, which a reload restarts.
    s.services.back().inputs = fingerprint(*rendered);
  }
  return s;
}

}  // namespace wsinit::sshd_setup
