// Loads the YAML config into config::Config. Every error names file:line:column and what was
// expected; all errors of a file are collected so a user fixes them in one pass.
#include "config/config.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <set>

#include "common/fs.h"
#include "common/url.h"

namespace wsinit::config {
namespace {

using Keys = std::initializer_list<std::string_view>;

std::string runtime_default() { return "${XDG_RUNTIME_DIR:-/tmp/wsinit-" + std::to_string(getuid()) + "}"; }

// Walks one YAML document, reporting problems into `errors`.
class Reader {
 public:
  Reader(std::string source, const Environment& env, std::vector<std::string>& errors)
      : source_(std::move(source)), env_(env), errors_(errors) {}

  std::string where(const YAML::Node& node) const {
    YAML::Mark m = node.Mark();
    if (m.line < 0) return source_;
    return source_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  }

  void fail(const YAML::Node& node, const std::string& what) { errors_.push_back(where(node) + ": " + what); }

  // Reports keys of `map` not in `known`; false when `map` is not a mapping.
  bool expect_map(const YAML::Node& map, std::string_view path, Keys known) {
    if (!map.IsMap()) {
      fail(map, std::string(path) + ": expected a mapping");
      return false;
    }
    for (const auto& kv : map) {
      std::string key = kv.first.Scalar();
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      fail(kv.first, "unknown key '" + key + "' in " + std::string(path) + " (expected one of: " + list + ")");
    }
    return true;
  }

  std::optional<std::string> text(const YAML::Node& node, std::string_view path) {
    if (!node.IsScalar()) {
      fail(node, std::string(path) + ": expected a string");
      return std::nullopt;
    }
    auto value = expand(node.Scalar(), env_);
    if (!value) {
      fail(node, std::string(path) + ": " + value.error().message);
      return std::nullopt;
    }
    return *value;
  }

  template <typename T>
  std::optional<T> parsed(const YAML::Node& node, std::string_view path, std::string_view expected,
                          const std::function<std::optional<T>(std::string_view)>& parse) {
    auto raw = text(node, path);
    if (!raw) return std::nullopt;
    auto value = parse(*raw);
    if (!value) fail(node, std::string(path) + ": '" + *raw + "' is not " + std::string(expected));
    return value;
  }

  void set(const YAML::Node& node, std::string_view path, std::string& out) {
    if (auto v = text(node, path)) out = *v;
  }
  void set(const YAML::Node& node, std::string_view path, bool& out) {
    auto v = parsed<bool>(node, path, "a boolean (expected true or false)", [](std::string_view s) -> std::optional<bool> {
      if (s == "true") return true;
      if (s == "false") return false;
      return std::nullopt;
    });
    if (v) out = *v;
  }
  void set(const YAML::Node& node, std::string_view path, Switch& out) {
    auto v = parsed<Switch>(node, path, "a switch (expected true, false or auto)", [](std::string_view s) -> std::optional<Switch> {
      if (s == "true") return Switch::on;
      if (s == "false") return Switch::off;
      if (s == "auto") return Switch::automatic;
      return std::nullopt;
    });
    if (v) out = *v;
  }
  void set(const YAML::Node& node, std::string_view path, Duration& out) {
    if (auto v = parsed<Duration>(node, path, "a duration (expected e.g. 250ms, 10s, 2m)", parse_duration)) out = *v;
  }
  void set_port(const YAML::Node& node, std::string_view path, int& out) {
    if (auto v = parsed<int>(node, path, "a port (expected 1 to 65535)", parse_port)) out = *v;
  }
  void set(const YAML::Node& node, std::string_view path, std::vector<std::string>& out) {
    if (!node.IsSequence()) {
      fail(node, std::string(path) + ": expected a list of strings");
      return;
    }
    out.clear();
    for (const auto& item : node) {
      if (auto v = text(item, path)) out.push_back(*v);
    }
  }
  // A list each item of which must pass `check`; a refusal names that item's position.
  void set_each(const YAML::Node& node, std::string_view path, std::vector<std::string>& out,
                const std::function<Status(const std::string&)>& check) {
    if (!node.IsSequence()) {
      fail(node, std::string(path) + ": expected a list of strings");
      return;
    }
    out.clear();
    for (const auto& item : node) {
      auto v = text(item, path);
      if (!v) continue;
      if (auto checked = check(*v); !checked) fail(item, std::string(path) + ": " + checked.error().message);
      out.push_back(*v);
    }
  }
  // A string that must pass `check`.
  void set_checked(const YAML::Node& node, std::string_view path, std::string& out,
                   const std::function<Status(const std::string&)>& check) {
    auto v = text(node, path);
    if (!v) return;
    if (auto checked = check(*v); !checked) fail(node, std::string(path) + ": " + checked.error().message);
    out = *v;
  }
  void set(const YAML::Node& node, std::string_view path, Environment& out) {
    if (!node.IsMap()) {
      fail(node, std::string(path) + ": expected a mapping of names to strings");
      return;
    }
    for (const auto& kv : node) {
      std::string name = kv.first.Scalar();
      if (name.empty() || name.find_first_of("=\n") != std::string::npos || name.find('\0') != std::string::npos) {
        fail(kv.first, std::string(path) + ": '" + name + "' is not a valid variable name");
        continue;
      }
      if (auto v = text(kv.second, std::string(path) + "." + name)) out[name] = *v;
    }
  }

  void read_config(const YAML::Node& root, Config& c);

 private:
  void read_user(const YAML::Node& n, Config::User& u);
  void read_persist(const YAML::Node& n, std::vector<std::string>& out);
  void read_paths(const YAML::Node& n, Config::Paths& p);
  void read_sshd(const YAML::Node& n, Config::Sshd& s);
  void read_editor(const YAML::Node& n, Config::Editor& e);
  void read_workspace(const YAML::Node& n, Config::Workspace& w);
  void read_health(const YAML::Node& n, Config::Health& h);
  void read_log(const YAML::Node& n, Config::Log& l);
  void read_activity(const YAML::Node& n, Config::Activity& a);
  void read_service(const YAML::Node& n, Service& s);
  void read_step_keys(const YAML::Node& n, const std::string& path, Service& s);
  void read_readiness(const YAML::Node& n, std::string_view path, Readiness& r);

  std::string source_;
  const Environment& env_;
  std::vector<std::string>& errors_;
};

Status passwd_path(const std::string& path) { return check_path(path, true); }
Status plain_path(const std::string& path) { return check_path(path, false); }
Status check_listen(const std::string& text) {
  if (parse_listen(text)) return {};
  return fail("'" + text + "' is not IP:PORT (expected a numeric IPv4 address or a bracketed IPv6 one, and a port " +
              "from 1 to 65535: 0.0.0.0:60022, [::]:60022)");
}

// Every user.* value goes into the passwd line, user.name into sshd_config too.
void Reader::read_user(const YAML::Node& n, Config::User& u) {
  if (!expect_map(n, "user", {"name", "home", "shell", "persist", "login_env", "login_env_timeout"})) return;
  if (n["name"]) set_checked(n["name"], "user.name", u.name, [](const std::string& v) { return check_user_name(v); });
  if (n["home"]) set_checked(n["home"], "user.home", u.home, passwd_path);
  if (n["shell"]) set_checked(n["shell"], "user.shell", u.shell, passwd_path);
  if (n["persist"]) read_persist(n["persist"], u.persist);
  if (n["login_env"]) set(n["login_env"], "user.login_env", u.login_env);
  if (n["login_env_timeout"]) {
    auto v = parsed<Duration>(n["login_env_timeout"], "user.login_env_timeout", "a duration from 1s to 5m (expected e.g. 10s)",
                              [](std::string_view text) -> std::optional<Duration> {
                                auto d = parse_duration(text);
                                if (!d || *d < kMinLoginEnvTimeout || *d > kMaxLoginEnvTimeout) return std::nullopt;
                                return d;
                              });
    if (v) u.login_env_timeout = *v;
  }
}

// user.persist: each entry checked, and none inside another (the link of the outer one would
// hide the inner one's).
void Reader::read_persist(const YAML::Node& n, std::vector<std::string>& out) {
  if (n.IsSequence() && n.size() > kMaxPersistEntries) {
    fail(n, "user.persist: " + std::to_string(n.size()) + " entries (expected at most " +
                std::to_string(kMaxPersistEntries) + ")");
    return;
  }
  set_each(n, "user.persist", out, [](const std::string& v) { return check_persist_path(v); });
  if (!n.IsSequence() || out.size() != n.size()) return;
  auto bare = [](const std::string& p) { return p.back() == '/' ? p.substr(0, p.size() - 1) : p; };
  for (size_t i = 0; i < out.size(); ++i) {
    if (!check_persist_path(out[i])) continue;  // said already
    for (size_t j = 0; j < i; ++j) {
      if (!check_persist_path(out[j])) continue;
      std::string a = bare(out[j]), b = bare(out[i]);
      bool overlap = a == b || b.rfind(a + "/", 0) == 0 || a.rfind(b + "/", 0) == 0;
      if (overlap)
        fail(n[i], "user.persist: '" + out[i] + "' and '" + out[j] + "' (at " + where(n[j]) +
                       ") overlap (expected no entry inside another)");
    }
  }
}

// paths.data may become a passwd field (<data>/home is a fallback HOME).
void Reader::read_paths(const YAML::Node& n, Config::Paths& p) {
  if (!expect_map(n, "paths", {"data", "logs", "variables", "runtime", "scripts"})) return;
  if (n["data"]) set_checked(n["data"], "paths.data", p.data, passwd_path);
  if (n["logs"]) set_checked(n["logs"], "paths.logs", p.logs, plain_path);
  if (n["variables"]) set_checked(n["variables"], "paths.variables", p.variables, plain_path);
  if (n["runtime"]) set_checked(n["runtime"], "paths.runtime", p.runtime, plain_path);
  if (n["scripts"]) set_checked(n["scripts"], "paths.scripts", p.scripts, plain_path);
}

void Reader::read_workspace(const YAML::Node& n, Config::Workspace& w) {
  if (!expect_map(n, "workspace", {"devfile", "poststart", "poststart_slow_after"})) return;
  if (n["devfile"]) set(n["devfile"], "workspace.devfile", w.devfile);
  if (n["poststart"]) {
    using P = Config::Workspace::PostStart;
    auto v = parsed<P>(n["poststart"], "workspace.poststart", "a postStart mode (expected auto, run or observe)",
                       [](std::string_view s) -> std::optional<P> {
                         if (s == "auto") return P::automatic;
                         if (s == "run") return P::run;
                         if (s == "observe") return P::observe;
                         return std::nullopt;
                       });
    if (v) w.poststart = *v;
  }
  if (n["poststart_slow_after"]) set(n["poststart_slow_after"], "workspace.poststart_slow_after", w.poststart_slow_after);
}

void Reader::read_sshd(const YAML::Node& n, Config::Sshd& s) {
  if (!expect_map(n, "sshd", {"enabled", "server", "binary", "listen", "host_key_types", "password_less", "allow_from",
                              "authorized_keys"}))
    return;
  if (n["enabled"]) set(n["enabled"], "sshd.enabled", s.enabled);
  if (n["server"]) {
    using S = Config::Sshd::Server;
    auto v = parsed<S>(n["server"], "sshd.server", "an SSH server (expected auto, openssh or builtin)",
                       [](std::string_view t) -> std::optional<S> {
                         if (t == "auto") return S::automatic;
                         if (t == "openssh") return S::openssh;
                         if (t == "builtin") return S::builtin;
                         return std::nullopt;
                       });
    if (v) s.server = *v;
  }
  if (n["binary"]) set(n["binary"], "sshd.binary", s.binary);
  if (n["listen"]) set_each(n["listen"], "sshd.listen", s.listen, check_listen);
  if (n["host_key_types"]) {
    set(n["host_key_types"], "sshd.host_key_types", s.host_key_types);
    for (const auto& t : s.host_key_types) {
      if (t != "ed25519" && t != "ecdsa" && t != "rsa")
        fail(n["host_key_types"], "sshd.host_key_types: '" + t + "' is not a key type (expected ed25519, ecdsa or rsa)");
    }
  }
  if (n["password_less"]) set(n["password_less"], "sshd.password_less", s.password_less);
  if (n["allow_from"])
    set_each(n["allow_from"], "sshd.allow_from", s.allow_from, [](const std::string& v) { return check_cidr(v); });
  if (n["authorized_keys"])
    set_each(n["authorized_keys"], "sshd.authorized_keys", s.authorized_keys,
             [](const std::string& v) { return check_key_line(v); });
}

void Reader::read_editor(const YAML::Node& n, Config::Editor& e) {
  if (!expect_map(n, "editor", {"enabled", "kind", "command", "port"})) return;
  if (n["enabled"]) set(n["enabled"], "editor.enabled", e.enabled);
  if (n["kind"]) {
    set(n["kind"], "editor.kind", e.kind);
    if (e.kind != "gitlab" && e.kind != "code-server" && e.kind != "custom")
      fail(n["kind"], "editor.kind: '" + e.kind + "' is not an editor kind (expected gitlab, code-server or custom)");
  }
  if (n["command"]) set(n["command"], "editor.command", e.command);
  if (n["port"]) set_port(n["port"], "editor.port", e.port);
  if (e.kind == "custom" && e.command.empty()) fail(n, "editor: kind custom needs a command");
}

void Reader::read_health(const YAML::Node& n, Config::Health& h) {
  if (!expect_map(n, "health", {"listen", "report"})) return;
  if (n["listen"])
    set_checked(n["listen"], "health.listen", h.listen, [](const std::string& v) {
      return v.empty() ? Status{} : check_listen(v);  // "" turns the endpoints off
    });
  const YAML::Node r = n["report"];
  if (!r || !expect_map(r, "health.report", {"url", "interval", "secret_file", "ca_file"})) return;
  if (r["url"]) {
    // Host names are fine here: the reporter resolves them.
    if (auto url = text(r["url"], "health.report.url")) {
      h.report_url = *url;
      if (auto parsed = url->empty() ? Result<Url>(Url{}) : parse_url(*url); !parsed)
        fail(r["url"], "health.report.url: " + parsed.error().message);
    }
  }
  if (r["interval"]) set(r["interval"], "health.report.interval", h.report_interval);
  if (r["secret_file"]) set(r["secret_file"], "health.report.secret_file", h.report_secret_file);
  if (r["ca_file"]) set(r["ca_file"], "health.report.ca_file", h.report_ca_file);
}

void Reader::read_log(const YAML::Node& n, Config::Log& l) {
  if (!expect_map(n, "log", {"format", "level", "max_size", "max_files"})) return;
  if (n["format"]) {
    auto v = parsed<LogFormat>(n["format"], "log.format", "a log format (expected text or json)",
                               [](std::string_view s) -> std::optional<LogFormat> {
                                 if (s == "text") return LogFormat::text;
                                 if (s == "json") return LogFormat::json;
                                 return std::nullopt;
                               });
    if (v) l.format = *v;
  }
  if (n["level"]) {
    auto v = parsed<std::string>(n["level"], "log.level", "a log level (expected trace, debug, info, warn, error or off)",
                                 [](std::string_view s) -> std::optional<std::string> {
                                   for (auto lvl : {"trace", "debug", "info", "warn", "error", "critical", "off"})
                                     if (s == lvl) return std::string(s);
                                   return std::nullopt;
                                 });
    if (v) l.level = *v;
  }
  if (n["max_size"]) {
    auto v = parsed<std::uint64_t>(n["max_size"], "log.max_size", "a size of at least 4KiB (expected e.g. 10MiB)",
                                   [](std::string_view s) -> std::optional<std::uint64_t> {
                                     auto size = parse_size(s);
                                     if (size && *size < 4096) return std::nullopt;
                                     return size;
                                   });
    if (v) l.max_size = *v;
  }
  if (n["max_files"]) {
    auto v = parsed<int>(n["max_files"], "log.max_files", "a count (expected 1 to 100)",
                         [](std::string_view s) -> std::optional<int> {
                           auto count = parse_size(s);
                           if (!count || s.find_first_not_of("0123456789") != std::string_view::npos || *count < 1 || *count > 100)
                             return std::nullopt;
                           return static_cast<int>(*count);
                         });
    if (v) l.max_files = *v;
  }
}

void Reader::read_activity(const YAML::Node& n, Config::Activity& a) {
  if (!expect_map(n, "activity", {"ports", "idle_after"})) return;
  if (const YAML::Node ports = n["ports"]) {
    if (!ports.IsSequence()) {
      fail(ports, "activity.ports: expected a list of ports");
    } else if (ports.size() > kMaxActivityPorts) {
      fail(ports, "activity.ports: " + std::to_string(ports.size()) + " ports (expected at most " +
                      std::to_string(kMaxActivityPorts) + ")");
    } else {
      for (const auto& item : ports) {
        if (auto port = parsed<int>(item, "activity.ports", "a port (expected 1 to 65535)", parse_port)) a.ports.push_back(*port);
      }
    }
  }
  if (n["idle_after"]) {
    auto after = parsed<Duration>(n["idle_after"], "activity.idle_after", "a duration above zero (expected e.g. 30m)",
                                  [](std::string_view text) -> std::optional<Duration> {
                                    auto d = parse_duration(text);
                                    if (d && d->count() > 0) return d;
                                    return std::nullopt;
                                  });
    if (after) a.idle_after = *after;
  }
}

void Reader::read_readiness(const YAML::Node& n, std::string_view path, Readiness& r) {
  if (!expect_map(n, path, {"tcp", "http", "exec", "timeout", "interval"})) return;
  int kinds = (n["tcp"] ? 1 : 0) + (n["http"] ? 1 : 0) + (n["exec"] ? 1 : 0);
  if (kinds != 1) {
    fail(n, std::string(path) + ": expected exactly one of tcp, http or exec");
    return;
  }
  if (n["tcp"]) {
    r.kind = Readiness::Kind::tcp;
    set_port(n["tcp"], std::string(path) + ".tcp", r.tcp_port);
  } else if (n["http"]) {
    r.kind = Readiness::Kind::http;
    if (auto url = text(n["http"], std::string(path) + ".http")) {
      r.http_url = *url;
      if (auto parsed = parse_probe_url(*url); !parsed)
        fail(n["http"], std::string(path) + ".http: " + parsed.error().message);
    }
  } else {
    r.kind = Readiness::Kind::exec;
    set(n["exec"], std::string(path) + ".exec", r.exec);
    if (n["exec"].IsSequence() && r.exec.empty()) fail(n["exec"], std::string(path) + ".exec: expected a non-empty command list");
  }
  if (n["timeout"]) set(n["timeout"], std::string(path) + ".timeout", r.timeout);
  if (n["interval"]) set(n["interval"], std::string(path) + ".interval", r.interval);
}

void Reader::read_service(const YAML::Node& n, Service& s) {
  s.origin = where(n);
  if (!expect_map(n, "services[]", {"name", "enabled", "command", "shell", "cwd", "env", "restart", "backoff",
                                    "ready", "after", "oneshot", "required", "stop_signal", "stop_timeout",
                                    "oom_score_adj", "timeout", "once"}))
    return;
  if (!n["name"]) fail(n, "services[]: missing 'name'");
  else set(n["name"], "services[].name", s.name);
  std::string path = "services." + (s.name.empty() ? std::string("?") : s.name);
  if (n["enabled"]) set(n["enabled"], path + ".enabled", s.enabled);
  if (n["command"] && n["shell"]) fail(n, path + ": give either 'command' or 'shell', not both");
  if (n["command"]) {
    set(n["command"], path + ".command", s.command);
    if (n["command"].IsSequence() && s.command.empty()) fail(n["command"], path + ".command: expected a non-empty list");
  } else if (n["shell"]) {
    std::string line;
    set(n["shell"], path + ".shell", line);
    s.command = {"/bin/sh", "-c", line};
  } else {
    fail(n, path + ": missing 'command' or 'shell'");
  }
  if (n["cwd"]) set(n["cwd"], path + ".cwd", s.cwd);
  if (n["env"]) set(n["env"], path + ".env", s.env);
  if (n["restart"]) {
    auto v = parsed<Restart>(n["restart"], path + ".restart", "a restart policy (expected always, on-failure or never)",
                             [](std::string_view word) -> std::optional<Restart> {
                               if (word == "always") return Restart::always;
                               if (word == "on-failure") return Restart::on_failure;
                               if (word == "never") return Restart::never;
                               return std::nullopt;
                             });
    if (v) s.restart = *v;
  }
  if (const YAML::Node b = n["backoff"]; b && expect_map(b, path + ".backoff", {"initial", "max"})) {
    if (b["initial"]) set(b["initial"], path + ".backoff.initial", s.backoff_initial);
    if (b["max"]) set(b["max"], path + ".backoff.max", s.backoff_max);
    if (s.backoff_max < s.backoff_initial) fail(b, path + ".backoff: max is below initial");
  }
  if (n["ready"]) read_readiness(n["ready"], path + ".ready", s.ready);
  if (n["after"]) set(n["after"], path + ".after", s.after);
  if (n["oneshot"]) set(n["oneshot"], path + ".oneshot", s.oneshot);
  if (n["required"]) set(n["required"], path + ".required", s.required);
  if (n["stop_signal"]) {
    auto v = parsed<int>(n["stop_signal"], path + ".stop_signal", "a signal (expected e.g. TERM, INT, HUP)", parse_signal);
    if (v) s.stop_signal = *v;
  }
  if (n["stop_timeout"]) set(n["stop_timeout"], path + ".stop_timeout", s.stop_timeout);
  if (n["oom_score_adj"]) {
    auto v = parsed<int>(n["oom_score_adj"], path + ".oom_score_adj", "an oom_score_adj (expected an integer from -1000 to 1000)",
                         parse_oom_score_adj);
    if (v) s.oom_score_adj = *v;
    s.oom_score_adj_given = true;
  }
  if (s.oneshot && s.restart == Restart::always) fail(n, path + ": a oneshot cannot have restart: always");
  read_step_keys(n, path, s);
}

// timeout and once: what a step may take, and whether it runs once per workspace.
void Reader::read_step_keys(const YAML::Node& n, const std::string& path, Service& s) {
  if (n["timeout"]) {
    auto v = parsed<Duration>(n["timeout"], path + ".timeout", "a duration above zero (expected e.g. 30s, 10m)",
                              [](std::string_view text) -> std::optional<Duration> {
                                auto d = parse_duration(text);
                                if (d && d->count() > 0) return d;
                                return std::nullopt;
                              });
    if (v) s.timeout = *v;
    if (!s.oneshot && !n["ready"])
      fail(n["timeout"], path + ".timeout: a service without 'ready' is ready at once, so it would never apply "
                                "(expected oneshot: true, or a ready probe)");
    else if (!s.oneshot && v && *v >= s.ready.timeout)
      fail(n["timeout"], path + ".timeout: " + format_duration(*v) + " is not below ready.timeout (" +
                             format_duration(s.ready.timeout) +
                             "), which gives up first and starts both clocks again (expected a shorter timeout, or "
                             "a longer ready.timeout)");
  }
  if (n["once"]) {
    set(n["once"], path + ".once", s.once);
    if (s.once && !s.oneshot) fail(n["once"], path + ".once: only a oneshot can run once (expected oneshot: true)");
  }
}

void Reader::read_config(const YAML::Node& root, Config& c) {
  if (!expect_map(root, "the top level", {"version", "profile", "user", "paths", "sshd", "editor", "workspace",
                                          "services", "health", "log", "shutdown", "activity"}))
    return;
  if (!root["version"]) {
    fail(root, "missing 'version' (expected version: 1)");
  } else if (!root["version"].IsScalar() || root["version"].Scalar() != "1") {
    fail(root["version"], "version: expected 1");
  }
  if (root["user"]) read_user(root["user"], c.user);
  if (root["paths"]) read_paths(root["paths"], c.paths);
  if (root["sshd"]) read_sshd(root["sshd"], c.sshd);
  if (root["editor"]) read_editor(root["editor"], c.editor);
  if (root["workspace"]) read_workspace(root["workspace"], c.workspace);
  if (const YAML::Node s = root["services"]) {
    if (!s.IsSequence()) {
      fail(s, "services: expected a list");
    } else {
      for (const auto& item : s) read_service(item, c.services.emplace_back());
    }
  }
  if (root["health"]) read_health(root["health"], c.health);
  if (root["log"]) read_log(root["log"], c.log);
  if (const YAML::Node sd = root["shutdown"]; sd && expect_map(sd, "shutdown", {"grace"})) {
    if (sd["grace"]) set(sd["grace"], "shutdown.grace", c.shutdown.grace);
  }
  if (root["activity"]) read_activity(root["activity"], c.activity);
}

// The profile named in the text, before anything else is read (it picks the defaults).
std::optional<Profile> profile_of(const YAML::Node& root, Reader& reader, Profile fallback) {
  if (!root.IsMap() || !root["profile"]) return fallback;
  const YAML::Node p = root["profile"];
  if (p.IsScalar() && p.Scalar() == "gitlab") return Profile::gitlab;
  if (p.IsScalar() && p.Scalar() == "plain") return Profile::plain;
  reader.fail(p, "profile: '" + (p.IsScalar() ? p.Scalar() : std::string("?")) + "' is not a profile (expected gitlab or plain)");
  return std::nullopt;
}

std::string must_expand(const std::string& text, const Environment& env) { return expand(text, env).value_or(text); }

// A default that comes from the environment, checked where it is read: an "environment:" error.
void check_from_environment(std::vector<std::string>* errors, std::string_view what, std::string_view variables,
                            const Status& checked) {
  if (!checked && errors)
    errors->push_back("environment: " + std::string(what) + " (from " + std::string(variables) +
                      "): " + checked.error().message);
}

}  // namespace

Config profile_defaults(Profile profile, const Environment& env, std::vector<std::string>* errors) {
  Config c;
  c.profile = profile;
  std::string root = projects_root(env);
  check_from_environment(errors, "the projects volume", "PROJECTS_ROOT", passwd_path(root));
  c.paths.data = root + "/.wsinit";
  auto logs = env.find("GL_WORKSPACE_LOGS_DIR");
  c.paths.logs = logs != env.end() && !logs->second.empty() ? logs->second : root + "/workspace-logs";
  check_from_environment(errors, "paths.logs", "GL_WORKSPACE_LOGS_DIR", plain_path(c.paths.logs));
  c.paths.scripts = "/workspace-scripts";
  c.paths.runtime = must_expand(runtime_default(), env);
  check_from_environment(errors, "paths.runtime", "XDG_RUNTIME_DIR", plain_path(c.paths.runtime));
  if (profile == Profile::gitlab) {
    c.user.login_env = true;
    c.sshd.enabled = Switch::automatic;
    c.sshd.listen = {must_expand("0.0.0.0:${GL_SSH_PORT:-60022}", env)};
    check_from_environment(errors, "sshd.listen", "GL_SSH_PORT", check_listen(c.sshd.listen.front()));
    c.editor.enabled = Switch::automatic;
    std::string port = must_expand("${GL_VSCODE_PORT:-${GL_EDITOR_PORT:-60001}}", env);
    if (auto parsed = parse_port(port)) c.editor.port = *parsed;
    else if (errors) errors->push_back("environment: the editor port '" + port + "' (from GL_VSCODE_PORT or GL_EDITOR_PORT) is not a port (expected 1 to 65535)");
    c.health.listen = "0.0.0.0:60080";
    c.user.persist = default_persist();
  }
  return c;
}

LoadResult load_text(std::string_view text, const std::string& source, const Environment& env, Profile fallback) {
  LoadResult result;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    result.errors.push_back(source + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                            ": invalid YAML: " + e.msg);
    return result;
  }
  Reader reader(source, env, result.errors);
  if (!root.IsMap()) {
    reader.fail(root, "expected a mapping at the top level (version: 1 ...)");
    return result;
  }
  auto profile = profile_of(root, reader, fallback);
  Config config = profile_defaults(profile.value_or(fallback), env, &result.errors);
  config.source = source;
  reader.read_config(root, config);
  if (result.errors.empty()) {
    auto problems = validate(config);
    result.errors.insert(result.errors.end(), problems.begin(), problems.end());
  }
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

LoadResult load_file(const std::string& path, const Environment& env, Profile fallback) {
  auto text = fs::read_file(path, 4 << 20);  // a config is a few KiB
  if (!text) return {std::nullopt, {path + ": cannot read config file: " + std::strerror(text.error().code)}};
  return load_text(*text, path, env, fallback);
}

std::vector<std::string> default_persist() {
  return {".bash_history", ".python_history", ".node_repl_history", ".psql_history",
          ".gitconfig", ".config/", ".local/share/fish/", ".ssh/known_hosts"};
}

Status check_persist_path(std::string_view path) {
  if (path.empty()) return fail("the path is empty (expected a path relative to HOME, e.g. .bash_history or .config/)");
  if (path.size() > kMaxPersistBytes)
    return fail("the path is " + std::to_string(path.size()) + " bytes long (expected at most " +
                std::to_string(kMaxPersistBytes) + ")");
  if (path.find_first_of(std::string_view("\0\r\n", 3)) != std::string_view::npos)
    return fail("the path holds a NUL, CR or newline");
  if (path[0] == '/') return fail("'" + std::string(path) + "' is absolute (expected a path relative to HOME)");
  std::string_view rest = path.back() == '/' ? path.substr(0, path.size() - 1) : path;
  for (size_t start = 0; start <= rest.size();) {
    size_t end = std::min(rest.find('/', start), rest.size());
    std::string_view segment = rest.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..")
      return fail("'" + std::string(path) + "' has an empty, '.' or '..' segment (expected a plain path under HOME)");
    if (segment.size() > 255) return fail("'" + std::string(path) + "' has a segment over 255 bytes");
    start = end + 1;
  }
  return {};
}

std::string projects_root(const Environment& env) {
  auto it = env.find("PROJECTS_ROOT");
  return it != env.end() && !it->second.empty() ? it->second : "/projects";
}

std::string project_source(const Environment& env) {
  auto it = env.find("PROJECT_SOURCE");
  return it != env.end() && !it->second.empty() ? it->second : projects_root(env);
}

std::optional<std::string> choose_file(const std::optional<std::string>& flag, const Environment& env) {
  if (flag) return flag;
  if (auto it = env.find("WSINIT_CONFIG"); it != env.end() && !it->second.empty()) return it->second;
  if (access("/etc/wsinit/wsinit.yaml", F_OK) == 0) return std::string("/etc/wsinit/wsinit.yaml");
  return std::nullopt;
}

std::vector<std::string> validate(const Config& config) {
  std::vector<std::string> errors;
  std::map<std::string, const Service*, std::less<>> by_name;
  for (const auto& s : config.services) {
    if (!valid_service_name(s.name)) {
      errors.push_back(s.origin + ": service name '" + s.name + "' is invalid (expected [a-z0-9][a-z0-9_-]{0,62})");
    } else if (s.name == kMainService) {
      errors.push_back(s.origin + ": service name 'main' is taken by the main command in tini mode");
    } else if (is_condition(s.name) || s.name.rfind(kPostStartPrefix, 0) == 0 ||
               std::find(std::begin(kBuiltinServices), std::end(kBuiltinServices), s.name) != std::end(kBuiltinServices)) {
      errors.push_back(s.origin + ": service name '" + s.name + "' is reserved for wsinit's own service");
    } else if (!by_name.emplace(s.name, &s).second) {
      errors.push_back(s.origin + ": duplicate service name '" + s.name + "' (first defined at " +
                       by_name[s.name]->origin + ")");
    }
  }
  for (const auto& s : config.services) {
    for (const auto& dep : s.after) {
      if (dep == s.name) errors.push_back(s.origin + ": service '" + s.name + "' cannot come after itself");
      else if (!is_condition(dep) && !by_name.count(dep) &&
               std::find(std::begin(kBuiltinServices), std::end(kBuiltinServices), dep) == std::end(kBuiltinServices))
        errors.push_back(s.origin + ": service '" + s.name + "' comes after unknown service '" + dep + "'");
    }
  }
  if (!errors.empty()) return errors;
  // Depth-first search for a cycle; reports the first one as a -> b -> a.
  std::map<std::string, int, std::less<>> color;  // 0 new, 1 on the path, 2 done
  std::vector<std::string> path;
  std::function<bool(const Service&)> visit = [&](const Service& s) {
    color[s.name] = 1;
    path.push_back(s.name);
    for (const auto& dep : s.after) {
      auto it = by_name.find(dep);
      if (it == by_name.end()) continue;
      if (color[dep] == 1) {
        std::string cycle;
        auto from = std::find(path.begin(), path.end(), dep);
        for (; from != path.end(); ++from) cycle += *from + " -> ";
        errors.push_back(s.origin + ": services depend on each other in a cycle: " + cycle + dep);
        return true;
      }
      if (color[dep] == 0 && visit(*it->second)) return true;
    }
    path.pop_back();
    color[s.name] = 2;
    return false;
  };
  for (const auto& s : config.services) {
    if (color[s.name] == 0 && visit(s)) break;
  }
  return errors;
}

std::vector<size_t> start_order(const std::vector<const Service*>& services) {
  std::vector<size_t> order;
  std::set<std::string> placed;
  std::set<std::string_view> names;
  for (const Service* s : services) names.insert(s->name);
  auto known = [&](const std::string& name) { return names.count(name) > 0; };
  // Repeated passes keep the given order among services that are free to start.
  while (order.size() < services.size()) {
    bool progress = false;
    for (size_t i = 0; i < services.size(); ++i) {
      const Service& s = *services[i];
      if (placed.count(s.name)) continue;
      bool ready = std::all_of(s.after.begin(), s.after.end(),
                               [&](const std::string& d) { return placed.count(d) || is_condition(d) || !known(d); });
      if (!ready) continue;
      order.push_back(i);
      placed.insert(s.name);
      progress = true;
    }
    if (!progress) break;  // a cycle; validate() reports it
  }
  return order;
}

std::vector<const Service*> start_order(const Config& config) {
  std::vector<const Service*> all;
  for (const auto& s : config.services) all.push_back(&s);
  std::vector<const Service*> order;
  for (size_t i : start_order(all)) order.push_back(all[i]);
  return order;
}

}  // namespace wsinit::config
