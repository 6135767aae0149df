// ssh_server/: wsinit's built-in SSH server (`wsinit ssh-server`), for images without OpenSSH.
// May use common and config; init/ dispatches the subcommand to it. libssh (OpenSSL) inside.
//
// A process of its own, started by the supervisor as the `sshd` service: never inside PID 1.
// It reads the sshd_config sshd_setup/ writes for OpenSSH (the same listen addresses, host keys,
// user, keys, limits and session environment) and serves the one workspace user: shell and exec
// sessions with or without a terminal, the sftp subsystem (`wsinit sftp-server`) and local port
// forwarding. One process per connection, as OpenSSH's sshd.
#pragma once

#include <string>
#include <vector>

namespace wsinit::ssh_server {

// `wsinit ssh-server [--home DIR] [--shell PATH] [-t] [-D] [-e] -f CONFIG`: -t checks the
// config and the host keys and exits; -D and -e are taken for OpenSSH's (always in the
// foreground, logging to stderr). `args` starts after "ssh-server". Returns the exit code.
int run(const std::vector<std::string>& args);

}  // namespace wsinit::ssh_server
