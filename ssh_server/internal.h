// ssh_server/'s internal pieces. The pure ones (config, keys, addresses, environment) are
// unit-tested and fuzzed; the rest runs libssh.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <termios.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace wsinit::ssh_server {

// Bounds on what a client can make this server hold.
constexpr size_t kMaxEnvRequests = 64;      // accepted env requests per session channel
constexpr size_t kMaxEnvValue = 4096;       // bytes of one accepted value
constexpr size_t kMaxChannels = 64;         // open channels per connection
constexpr size_t kMaxPending = 256 << 10;   // bytes taken ahead for a descriptor that is not taking them
constexpr size_t kMaxUnread = 4 << 20;      // libssh's unread bytes of a channel past which the client
                                            // ignored its window (libssh gives 1.28 MB at a time)
constexpr size_t kReadChunk = 64 << 10;     // bytes read from a descriptor at a time
constexpr size_t kMaxConfigFile = 1 << 20;  // the sshd_config read
constexpr size_t kMaxKeysFile = 1 << 20;    // an authorized_keys file read

// An address block of allow_from: IPv4 or IPv6, prefix length.
struct Cidr {
  int family = AF_INET;
  unsigned char addr[16] = {};
  int bits = 0;
};
Result<Cidr> parse_cidr(std::string_view text);
// Whether `peer` (a sockaddr_in or sockaddr_in6) is inside. An IPv4-mapped IPv6 peer is an IPv4
// one: only IPv4 blocks can hold it.
bool cidr_contains(const Cidr& c, const sockaddr_storage& peer);

// What the server takes from the sshd_config sshd_setup/ wrote (DESIGN.md, "Built-in SSH server").
struct Options {
  std::vector<std::string> listen;  // IP:PORT
  std::vector<std::string> host_keys;
  std::string user;                 // the one user allowed (AllowUsers)
  std::vector<Cidr> allow_from;     // from USER@CIDR entries; empty: any address
  std::vector<std::string> authorized_keys_files;  // absolute, or relative to home
  bool password_authentication = false;
  bool permit_empty_passwords = false;
  std::vector<std::string> setenv;      // NAME=value, override everything else
  std::vector<std::string> accept_env;  // patterns with a trailing '*' at most
  int login_grace_seconds = 120;
  int max_auth_tries = 6;
  int startups_begin = 10, startups_rate = 30, startups_full = 100;  // MaxStartups start:rate:full
  // From the command line.
  std::string config_path, home = "/", shell = "/bin/sh";
  bool test_only = false;
};

// One sshd_config line split as sshd's tokenizer splits it (blanks separate; "..." quotes with
// \" and \\ as escapes): the inverse of sshd_setup's directive(). Empty for a blank or comment
// line; an error for an unterminated quote.
Result<std::vector<std::string>> split_line(std::string_view line);
// The whole file; every problem as "FILE:LINE: what", all at once.
Result<Options> parse_config(std::string_view text, const std::string& file);
// The command line after "ssh-server".
Result<Options> parse_args(const std::vector<std::string>& args);

// An authorized_keys line's key: type and base64 blob. A line with options (from=, command=,
// ...) is refused, saying so: the built-in server does not enforce them, and accepting such a key
// without its restrictions would grant more than the line says.
struct AuthorizedKey {
  std::string type, base64;
};
struct KeyLines {
  std::vector<AuthorizedKey> keys;
  std::vector<std::string> refused;  // "LINE: why"
};
KeyLines parse_authorized_keys(std::string_view text);

// Whether a variable a client sent (env request) is taken: a valid name matching an AcceptEnv
// pattern, a value of at most kMaxEnvValue bytes.
bool accepted_env(const std::vector<std::string>& patterns, std::string_view name, std::string_view value);

// The environment of a session's process, as OpenSSH's sshd builds it: the client's accepted
// variables; over them USER, LOGNAME, HOME, PATH, MAIL, SHELL, SSH_CLIENT and SSH_CONNECTION,
// with a terminal TERM and SSH_TTY; then SetEnv, which overrides all of these.
struct SessionFacts {
  std::string user, home, shell, term, tty;
  std::string peer_ip, local_ip;
  int peer_port = 0, local_port = 0;
  std::vector<std::pair<std::string, std::string>> client_env;
};
std::vector<std::string> session_environment(const Options& o, const SessionFacts& f);

// A pty-req's encoded terminal modes (RFC 4254 section 8) applied to `t`: the control characters,
// input, local, output and control flags Linux has; unknown opcodes are skipped, an opcode from 160
// or TTY_OP_END ends them. Refused when a value is cut short (what came before is kept).
Status apply_terminal_modes(termios& t, std::string_view encoded);

// The number of a signal name as SSH carries them ("TERM", "INT", ...); 0 when unknown.
int signal_number(std::string_view name);
// The SSH name of a signal: RFC 4254's ("TERM"), else OpenSSH's ("BUS@openssh.com"); "" for none.
std::string signal_name(int sig);

// Host and port of "IP:PORT" / "[IPv6]:PORT" into a sockaddr; an error names the text.
Result<sockaddr_storage> parse_address(std::string_view text, socklen_t* len);
// The numeric IP and port of a socket address.
std::string address_ip(const sockaddr_storage& a);
int address_port(const sockaddr_storage& a);

// MaxStartups: whether a new connection is refused with `unauthenticated` already open
// (random early drop between begin and full, as OpenSSH's sshd); `random_percent` is 0..99.
bool drop_startup(const Options& o, int unauthenticated, int random_percent);

}  // namespace wsinit::ssh_server
