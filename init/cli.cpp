// The command line of DESIGN.md. Subcommands are only recognised as the first word, so any
// program can still be run as CMD after "--".
#include "init/init.h"
#include "workspace/login_env.h"

namespace wsinit::init {
namespace {

Command usage_error(std::string what) {
  Command c;
  c.kind = Command::Kind::usage_error;
  c.error = std::move(what);
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
    if (first == "install") return parse_one_argument(args, Command::Kind::install, "DIR");
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

std::string usage_text() {
  return R"(Usage:
  wsinit [--config FILE] [--] [CMD [ARG...]]  run as init and supervisor
  wsinit check [--config FILE]                validate config and environment, print the plan
  wsinit status [--json]                      state of the running instance
  wsinit start|stop|restart SERVICE           control a service of the running instance
  wsinit install DIR                          copy this binary to DIR/wsinit
  wsinit version                              print the version

With CMD (tini mode), wsinit reaps zombies, forwards signals to CMD's process group, and exits
with CMD's status (128+N if it died of signal N; 127 not found, 126 not executable).
Without CMD (workspace mode), it runs the configured services until SIGTERM or SIGINT.

Config: --config FILE, else $WSINIT_CONFIG, else /etc/wsinit/wsinit.yaml if it exists, else
the embedded default (profile gitlab in workspace mode, plain in tini mode).
Environment: WSINIT_LOG_LEVEL (trace, debug, info, warn, error) overrides log.level;
WSINIT_SOCKET overrides the control socket path.
)";
}

}  // namespace wsinit::init
