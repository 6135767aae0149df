// `wsinit sftp-server`: the SFTP subsystem on stdin and stdout (sftp_server/).
#include <unistd.h>

#include <cstring>

#include "init/init.h"
#include "sftp_server/sftp_server.h"

namespace wsinit::init {

int sftp_server(char** envp) {
  const char* home = nullptr;
  for (char** e = envp; e != nullptr && *e != nullptr; ++e)
    if (std::strncmp(*e, "HOME=", 5) == 0) home = *e + 5;
  return sftp_server::serve(STDIN_FILENO, STDOUT_FILENO, sftp_server::system_options(home));
}

}  // namespace wsinit::init
