// `wsinit status|start|stop|restart`: a request to the running instance over its control socket.
#include "config/config.h"
#include "init/init.h"
#include "supervisor/supervisor.h"

namespace wsinit::init {

int client(const Command& command, char** envp) {
  config::Environment env = config::environment_of(envp);
  config::Config config = config::profile_defaults(config::Profile::gitlab, env);
  if (auto file = config::choose_file(std::nullopt, env)) {
    if (auto loaded = config::load_file(*file, env, config::Profile::gitlab); loaded.config) config = *loaded.config;
  }
  std::string request = command.kind == Command::Kind::status ? (command.json ? "status --json" : "status")
                                                                : command.action + " " + command.target;
  return supervisor::control_request(supervisor::control_socket_path(env, config), request);
}

}  // namespace wsinit::init
