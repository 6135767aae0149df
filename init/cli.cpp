// The command line of DESIGN.md. Subcommands are only recognised as the first word, so any
// program can still be run as CMD after "--".
#include "config/config.h"
#include "init/init.h"
#include "sftp_server/sftp_server.h"
#include "workspace/login_env.h"
#include "supervisor/supervisor.h"

namespace wsinit::init {
namespace {

Command usage_error(std::string what, std::string topic = "") {
  Command c;
  c.kind = Command::Kind::usage_error;
  c.error = std::move(what);
  c.topic = std::move(topic);
  return c;
}

Command help_on(std::string topic) {
  Command c;
  c.kind = Command::Kind::help;
  c.topic = std::move(topic);
  return c;
}

// Takes OPTION's value at args[i]: "-n 5", "-n5", "--lines 5", "--lines=5"; nullopt when
// args[i] is not that option, "" (with `missing` set) when the value is missing.
std::optional<std::string> option_value(const std::vector<std::string>& args, size_t& i, const std::string& shorter,
                                        const std::string& longer, bool& missing) {
  const std::string& a = args[i];
  if ((!shorter.empty() && a == shorter) || a == longer) {
    if (i + 1 >= args.size()) {
      missing = true;
      return "";
    }
    return args[++i];
  }
  if (!shorter.empty() && a.size() > shorter.size() && a.starts_with(shorter) && shorter.size() == 2) return a.substr(2);
  if (a.starts_with(longer + "=")) return a.substr(longer.size() + 1);
  return std::nullopt;
}

// wsinit logs [-f] [-n N] NAME
Command parse_logs(const std::vector<std::string>& args) {
  Command c;
  c.kind = Command::Kind::logs;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool missing = false;
    if (a == "-h" || a == "--help") return help_on("logs");
    if (a == "-f" || a == "--follow") {
      c.follow = true;
    } else if (auto n = option_value(args, i, "-n", "--lines", missing)) {
      auto lines = supervisor::parse_count(*n, supervisor::kMaxLogLines);
      if (missing || !lines)
        return usage_error("logs: -n needs a number of lines from 0 to " + std::to_string(supervisor::kMaxLogLines) + ", not '" + *n + "'", "logs");
      c.lines = static_cast<std::uint32_t>(*lines);
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("logs: unknown option '" + a + "'", "logs");
    } else if (!c.target.empty()) {
      return usage_error("logs: takes one SERVICE, got '" + c.target + "' and '" + a + "'", "logs");
    } else if (!config::valid_service_name(a)) {
      return usage_error("logs: '" + a + "' is not a service name", "logs");
    } else {
      c.target = a;
    }
  }
  if (c.target.empty()) return usage_error("logs: which SERVICE?", "logs");
  return c;
}

// The target of a wait at args[i]: ready, port N, or a service's name.
bool take_wait_target(const std::vector<std::string>& args, size_t& i, Command& c) {
  const std::string& a = args[i];
  if (!c.action.empty()) {
    c = usage_error("wait: takes one of ready, SERVICE or port N; '" + a + "' is one too many", "wait");
    return false;
  }
  if (a == "port") {
    auto port = i + 1 < args.size() ? supervisor::parse_count(args[i + 1], 65535) : std::nullopt;
    if (!port || *port == 0) {
      c = usage_error("wait port: needs a port number from 1 to 65535", "wait");
      return false;
    }
    ++i;
    c.action = "port";
    c.port = static_cast<std::uint16_t>(*port);
  } else if (a == "ready") {
    c.action = "ready";
  } else if (config::valid_service_name(a)) {
    c.action = "service";
    c.target = a;
  } else {
    c = usage_error("wait: '" + a + "' is neither ready, port N nor a service name", "wait");
    return false;
  }
  return true;
}

// wsinit wait ready | SERVICE | port N [--timeout D]
Command parse_wait(const std::vector<std::string>& args) {
  Command c;
  c.kind = Command::Kind::wait;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool missing = false;
    if (a == "-h" || a == "--help") return help_on("wait");
    if (auto t = option_value(args, i, "", "--timeout", missing)) {
      auto d = config::parse_duration(*t);
      if (missing || !d || d->count() < 0 || d->count() > supervisor::kMaxWaitTimeoutMs)
        return usage_error("wait: --timeout needs a duration like 30s, 2m or 0 (no end), at most 7 days, not '" + *t + "'", "wait");
      c.timeout_ms = d->count();
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("wait: unknown option '" + a + "'", "wait");
    } else if (!take_wait_target(args, i, c)) {
      return c;
    }
  }
  if (c.action.empty()) return usage_error("wait: for what? ready, SERVICE or port N", "wait");
  return c;
}

// Consumes "--config FILE" / "--config=FILE" at args[i]; false when args[i] is not that option.
bool take_config(const std::vector<std::string>& args, size_t& i, Command& c) {
  const std::string& a = args[i];
  if (a.starts_with("--config=")) {
    c.config_file = a.substr(9);
  } else if (a == "--config" || a == "-c") {
    if (i + 1 >= args.size()) {
      c = usage_error(a + " needs a FILE");
      return true;
    }
    c.config_file = args[++i];
  } else {
    return false;
  }
  if (c.config_file && c.config_file->empty()) c = usage_error("--config needs a non-empty FILE");
  return true;
}

Command parse_check(const std::vector<std::string>& args) {
  Command c;
  c.kind = Command::Kind::check;
  for (size_t i = 1; i < args.size(); ++i) {
    if (take_config(args, i, c)) {
      if (c.kind == Command::Kind::usage_error) return c;
      continue;
    }
    return usage_error("check: unexpected argument '" + args[i] + "'");
  }
  return c;
}

Command parse_status(const std::vector<std::string>& args) {
  Command c;
  c.kind = Command::Kind::status;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--json") c.json = true;
    else return usage_error("status: unexpected argument '" + args[i] + "'");
  }
  return c;
}

Command parse_one_argument(const std::vector<std::string>& args, Command::Kind kind, const char* what) {
  if (args.size() != 2 || args[1].empty() || args[1][0] == '-')
    return usage_error(args[0] + " takes exactly one " + what);
  Command c;
  c.kind = kind;
  c.action = args[0];
  c.target = args[1];
  return c;
}

}  // namespace

Command parse_command_line(const std::vector<std::string>& args) {
  if (!args.empty()) {
    const std::string& first = args[0];
    if (first == "check") return parse_check(args);
    if (first == "status") return parse_status(args);
    if (first == "start" || first == "stop" || first == "restart")
      return parse_one_argument(args, Command::Kind::control, "SERVICE");
    if (first == workspace::kLoginEnvCommand && args.size() == 1) {  // not in the usage: wsinit runs it itself
      Command c;
      c.kind = Command::Kind::login_env_dump;
      return c;
    }
    if (first == "ssh-server") {  // not in the usage: the sshd service wsinit starts itself (sshd.server)
      Command c;
      c.kind = Command::Kind::ssh_server;
      c.argv.assign(args.begin() + 1, args.end());
      return c;
    }
    if (first == sftp_server::kCommand && args.size() == 1) {  // not in the usage: an SSH server runs it
      Command c;
      c.kind = Command::Kind::sftp_server;
      return c;
    }
    if (first == "install") return parse_one_argument(args, Command::Kind::install, "DIR");
    if (first == "logs") return parse_logs(args);
    if (first == "wait") return parse_wait(args);
    if (first == "version" || first == "--version" || first == "-V") {
      if (args.size() != 1) return usage_error("version takes no arguments");
      Command c;
      c.kind = Command::Kind::version;
      return c;
    }
  }
  Command c;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "-h" || a == "--help") {
      c.kind = Command::Kind::help;
      return c;
    }
    if (take_config(args, i, c)) {
      if (c.kind == Command::Kind::usage_error) return c;
      continue;
    }
    if (!a.empty() && a[0] == '-') return usage_error("unknown option '" + a + "'");
    break;  // the first word that is not an option starts CMD
  }
  c.argv.assign(args.begin() + static_cast<long>(i), args.end());
  return c;
}

std::string usage_text(const std::string& topic) {
  if (topic == "logs")
    return R"(Usage: wsinit logs [-f] [-n N] SERVICE

Prints the last N lines (default 10, at most 100000 and 2 MiB) of SERVICE's log file, the rotated
files (.1, .2, ...) included, as the file has them (time stamp, then the line).
  -n, --lines N   how many lines (0: none, with -f only the new ones)
  -f, --follow    then print each new line as the service writes it, until Ctrl-C; lines a slow
                  terminal cannot take are left out and said ([wsinit: N lines dropped])

Exit status: 0 done (with -f: wsinit shut down, and said so), 1 no such service or no log file,
2 usage, 3 no running wsinit.
)";
  if (topic == "wait")
    return R"(Usage: wsinit wait ready | SERVICE | port N [--timeout D]

Returns once the workspace is ready (as /readyz), SERVICE is ready (a oneshot: finished
successfully), or something listens on port N (as status.ports shows it).
  --timeout D     give up after D (30s, 2m, 1h; default 60s; 0 waits without end)

Exit status: 0 it holds, 1 timed out, or it cannot come to hold (a required service or the
service failed, was stopped or exited; no such service; wsinit is shutting down), with the reason,
2 usage, 3 no running wsinit.
)";
  return R"(Usage:
  wsinit [--config FILE] [--] [CMD [ARG...]]  run as init and supervisor
  wsinit check [--config FILE]                validate config and environment, print the plan
  wsinit status [--json]                      state of the running instance
  wsinit start|stop|restart SERVICE           control a service of the running instance
  wsinit logs [-f] [-n N] SERVICE             the last lines of a service's output; -f follows it
  wsinit wait ready|SERVICE|port N [--timeout D]  until the workspace, a service or a port is ready
  wsinit install DIR                          copy this binary to DIR/wsinit
  wsinit version                              print the version

With CMD (tini mode), wsinit reaps zombies, forwards signals to CMD's process group, and exits
with CMD's status (128+N if it died of signal N; 127 not found, 126 not executable).
Without CMD (workspace mode), it runs the configured services until SIGTERM or SIGINT.

Config: --config FILE, else $WSINIT_CONFIG, else /etc/wsinit/wsinit.yaml if it exists, else
the embedded default (profile gitlab in workspace mode, plain in tini mode).
Environment: WSINIT_LOG_LEVEL (trace, debug, info, warn, error) overrides log.level;
WSINIT_SOCKET overrides the control socket path.
`wsinit logs --help` and `wsinit wait --help` say more.
)";
}

}  // namespace wsinit::init
