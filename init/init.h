// init/: wsinit as PID 1 (signals, the one reaper, subreaper, shutdown phases) and its commands (check, client).
// May use every other module: common, config, user_ids, sshd_setup, supervisor, health, workspace.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace spdlog {
class formatter;
}

namespace wsinit::init {

struct Command {
  enum class Kind { run, check, status, control, install, version, help, usage_error, login_env_dump, sftp_server, logs,
                    wait, ssh_server } kind = Kind::run;
  std::optional<std::string> config_file;  // --config
  std::vector<std::string> argv;           // run: CMD and its args (empty: workspace mode); ssh_server: its args
  bool json = false;                       // status --json
  std::string action;                      // control: start | stop | restart
  std::string target;                      // control: the service; install: the directory
  std::string error;                       // usage_error: what was wrong
  std::string topic;                       // help, usage_error: the subcommand asked about (empty: all)
  std::uint32_t lines = 10;                // logs -n
  bool follow = false;                     // logs -f
  std::uint16_t port = 0;                  // wait port N
  std::int64_t timeout_ms = 60'000;        // wait --timeout (0: no end)
};

Command parse_command_line(const std::vector<std::string>& args);  // args without argv[0]
// The usage of `topic` ("logs", "wait"), or of everything when empty.
std::string usage_text(const std::string& topic = "");

// How wsinit's own lines look as text: "TIME wsinit LEVEL: MESSAGE", the message through
// log_text::escape(), so nothing a message carries can end the line or act on a terminal.
std::unique_ptr<spdlog::formatter> text_log_formatter();

// Runs wsinit as init/supervisor; returns the process exit status.
int run(const Command& command, char** envp);
// `wsinit check`: validates the config and prints the plan; 0 when fine, 1 otherwise.
int check(const Command& command, char** envp);
// The hidden subcommand the login shell execs (workspace/login_env.h): prints the dump of
// `envp` to stdout; 0 when all of it was written.
int login_env_dump(char** envp);
// The hidden subcommand an SSH server execs for the `sftp` subsystem (sftp_server/sftp_server.h):
// serves SFTP on stdin and stdout until the input ends, HOME from `envp` for "~".
int sftp_server(char** envp);
// `wsinit install DIR`: copies the running binary to DIR/wsinit (atomic, mode 0755).
int install(const Command& command);
// `wsinit status|start|stop|restart|logs|wait`: asks the running instance over the control socket.
int client(const Command& command, char** envp);

}  // namespace wsinit::init
