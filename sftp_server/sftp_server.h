// sftp_server/: an SFTP server (protocol version 3, draft-ietf-secsh-filexfer-02, with OpenSSH's
// extensions) that serves one session over a pair of file descriptors, with the caller's own
// privileges and paths relative to the process's cwd. `wsinit sftp-server` runs it on stdin and
// stdout for an SSH server's `sftp` subsystem, as OpenSSH's sshd runs its sftp-server.
// Uses user_ids/ inside only (owner names in listings); no other module.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace wsinit::sftp_server {

// The hidden subcommand that serves a session on stdin and stdout: `wsinit sftp-server`.
inline constexpr std::string_view kCommand = "sftp-server";

// Bounds. A packet's length field (type byte and body) above kMaxPacketLength ends the session:
// OpenSSH's client sends at most 256 KiB; the headroom covers a WRITE's header and handle.
inline constexpr std::uint32_t kMaxPacketLength = 256 * 1024 + 1024;
inline constexpr std::uint32_t kAdvertisedPacketLength = 256 * 1024;  // limits@openssh.com
// Data bytes in one READ reply (a longer request is served short, as the protocol allows) and
// the WRITE length advertised.
inline constexpr std::uint32_t kMaxReadLength = 255 * 1024;
inline constexpr std::size_t kMaxHandles = 512;         // open files and directories at once
inline constexpr std::size_t kMaxDirEntries = 100;      // names in one READDIR reply
// The core takes no further packet while this much reply is waiting to be written, so the I/O
// loop stops reading its input: output is bounded by this plus one reply (at most a READ's).
inline constexpr std::size_t kMaxPendingOutput = 2 * 1024 * 1024;
inline constexpr std::size_t kReadChunk = 1024 * 1024;  // one read() of the input, at most
// Input held at most: one chunk on top of an incomplete packet.
inline constexpr std::size_t kMaxPendingInput = kReadChunk + kMaxPacketLength + 4;

// What the session knows of the system besides the file system: names for `ls -l` style
// listings, and homes for expand-path@openssh.com ("~" and "~user").
struct Options {
  std::unordered_map<std::uint32_t, std::string> user_names, group_names;
  std::unordered_map<std::string, std::string> homes;  // user name -> home directory
  std::string home;                                    // "~"; empty: the cwd
};

// One session as a pure transformation of request bytes into reply bytes; the file operations
// go to the real file system (relative paths against the process's cwd).
class Session {
 public:
  explicit Session(Options options = {});
  ~Session();  // closes every handle still open
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Handles the whole packets at the front of `data`, as long as less than kMaxPendingOutput
  // is waiting; returns the bytes taken (the rest: an incomplete packet, or not yet handled).
  // After a protocol error (a packet over the bound, a request before INIT) failed() is true
  // and nothing more is taken.
  std::size_t consume(const char* data, std::size_t size);
  bool failed() const;
  const std::string& error() const;  // what ended the session, one short line

  // Reply bytes waiting to be written, in order; output_done() drops the first n of them.
  const char* output_data() const;
  std::size_t output_size() const;
  void output_done(std::size_t n);

  std::size_t open_handles() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Options for this process: /etc/passwd and /etc/group read (bounded), HOME from `home_env`.
Options system_options(const char* home_env);

// Serves one session on `in` and `out` until `in` ends; errors go to stderr as short lines.
// Returns 0 at the end of input, 1 after an error.
int serve(int in, int out, Options options);

}  // namespace wsinit::sftp_server
