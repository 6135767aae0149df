// wsinit: init and supervisor for cloud development workspaces. See README.md and DESIGN.md.
#include <cstdio>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "init/init.h"
#include "ssh_server/ssh_server.h"

extern char** environ;

namespace {

void set_up_logging() {
  auto logger = spdlog::stderr_logger_st("wsinit");
  logger->set_formatter(wsinit::init::text_log_formatter());
  spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
  set_up_logging();
  using wsinit::init::Command;
  Command command = wsinit::init::parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
  switch (command.kind) {
    case Command::Kind::usage_error:
      fprintf(stderr, "wsinit: %s\n\n%s", command.error.c_str(), wsinit::init::usage_text(command.topic).c_str());
      return 2;
    case Command::Kind::help:
      fputs(wsinit::init::usage_text(command.topic).c_str(), stdout);
      return 0;
    case Command::Kind::version:
      printf("wsinit %s\n", WSINIT_VERSION);
      return 0;
    case Command::Kind::run:
      return wsinit::init::run(command, environ);
    case Command::Kind::check:
      return wsinit::init::check(command, environ);
    case Command::Kind::status:
    case Command::Kind::control:
    case Command::Kind::logs:
    case Command::Kind::wait:
      return wsinit::init::client(command, environ);
    case Command::Kind::install:
      return wsinit::init::install(command);
    case Command::Kind::login_env_dump:
      return wsinit::init::login_env_dump(environ);
    case Command::Kind::ssh_server:
      return wsinit::ssh_server::run(command.argv);
    case Command::Kind::sftp_server:
      return wsinit::init::sftp_server(environ);
  }
  return 2;
}
