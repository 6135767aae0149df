// telemetry/net.h: the workspace's TCP sockets as the kernel lists them (netlink sock_diag, else
// /proc/net/tcp{,6}), and which process holds each. The readers of both formats are pure and
// bounded; SocketReader does the I/O. What the sockets say about the workspace (the ports it
// listens on, whether anyone is using it) is ports.h; the sampler that puts it together, watch.h.
// Uses common/ only.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/result.h"
#include "telemetry/processes.h"

namespace wsinit::telemetry {

// An IP address as the kernel gives it. IPv4 is held IPv4-mapped (::ffff:a.b.c.d), so an IPv4
// client and the IPv6 dual-stack socket that accepted it compare equal.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool v4 = false;  // an AF_INET socket's address (written a.b.c.d)

  static IpAddress from_v4(const std::uint8_t (&b)[4]);
  static IpAddress from_v6(const std::uint8_t (&b)[16]);
  bool loopback() const;  // 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104
  bool wildcard() const;  // 0.0.0.0, ::
  std::string text() const;  // "127.0.0.1", "::", "::1", "::ffff:127.0.0.1", "fe80::1"
  bool operator==(const IpAddress& o) const { return bytes == o.bytes; }
};

// The kernel's TCP states that matter here (include/net/tcp_states.h).
inline constexpr std::uint8_t kTcpEstablished = 1;
inline constexpr std::uint8_t kTcpListen = 10;

struct Socket {
  IpAddress local, remote;
  std::uint16_t local_port = 0, remote_port = 0;
  std::uint8_t state = 0;
  std::uint64_t inode = 0;  // 0: none (a connection not yet accepted has one; a time-wait has none)
  // tcp_info's tcpi_bytes_acked + tcpi_bytes_received (sock_diag with INET_DIAG_INFO, kernel 4.1+).
  std::optional<std::uint64_t> bytes;
};

// --- sock_diag (NETLINK_SOCK_DIAG) ---

// One dump request: the TCP sockets of `family` (AF_INET or AF_INET6) in `states` (a mask of
// 1 << state). With `ports`, only those whose local or remote port is one of them: the kernel
// runs the filter (INET_DIAG_REQ_BYTECODE), so unrelated connections are never copied out.
// `info`: with tcp_info (the byte counters).
struct DumpRequest {
  int family = 0;
  std::uint32_t states = 0;
  std::vector<std::uint16_t> ports;
  bool info = false;
  std::uint32_t seq = 1;
};
// The request datagram: nlmsghdr, inet_diag_req_v2, and the filter as one attribute.
std::vector<std::uint8_t> diag_request(const DumpRequest& request);
// The filter: "sport == P1 || dport == P1 || sport == P2 || ..." in inet_diag bytecode, which the
// kernel audits (every jump lands on an operation, forward only). Empty for no ports.
std::vector<std::uint8_t> port_filter(const std::vector<std::uint16_t>& ports);

// Reads one dump's replies, datagram by datagram, as recv() gives them. Bounds, whatever comes:
// at most kMaxSockets sockets are kept (the rest are counted in dropped()); a datagram is parsed
// in place and nothing of it is carried over; messages of another sequence number are skipped.
// Any message cut short, a header whose length does not fit, or an attribute running past its
// message ends the dump as failed (EBADMSG): a dump is used whole or not at all.
class DiagReply {
 public:
  static constexpr std::size_t kMaxSockets = 65536;
  enum class Progress { more, done, failed };

  explicit DiagReply(std::uint32_t seq) : seq_(seq) {}
  Progress feed(const std::uint8_t* data, std::size_t size);
  Progress progress() const { return progress_; }
  const std::vector<Socket>& sockets() const { return sockets_; }
  std::vector<Socket> take() { return std::move(sockets_); }
  std::size_t dropped() const { return dropped_; }
  int error() const { return error_; }  // an errno, once failed (NLMSG_ERROR's, or EBADMSG)

 private:
  Progress fail(int error);
  bool socket_message(const std::uint8_t* payload, std::size_t size);

  std::uint32_t seq_;
  Progress progress_ = Progress::more;
  std::vector<Socket> sockets_;
  std::size_t dropped_ = 0;
  int error_ = 0;
};

// --- /proc/net/tcp and /proc/net/tcp6 ---

// What to keep of the lines: listening sockets, and established connections whose local or
// remote port is in `ports`.
struct SocketFilter {
  bool listening = true;
  std::vector<std::uint16_t> ports;
  bool wants(const Socket& s) const;
};

// Reads the kernel's text table as it comes, chunk by chunk. Bounds: a line (without its newline)
// longer than kMaxLine bytes is skipped up to its newline, so at most kMaxLine bytes are held; at
// most kMaxSockets sockets are kept (the rest counted in dropped()). The heading line and lines
// that do not parse are skipped (counted in malformed()).
class ProcNetTcp {
 public:
  static constexpr std::size_t kMaxLine = 512;  // the kernel's lines are 150 (tcp) to 178 (tcp6) bytes
  static constexpr std::size_t kMaxSockets = DiagReply::kMaxSockets;

  ProcNetTcp(bool v6, SocketFilter filter) : v6_(v6), filter_(std::move(filter)) {}
  void feed(std::string_view chunk);
  void finish();  // the end of the file: a last line without its newline is read
  const std::vector<Socket>& sockets() const { return sockets_; }
  std::vector<Socket> take() { return std::move(sockets_); }
  std::size_t dropped() const { return dropped_; }
  std::size_t malformed() const { return malformed_; }
  std::size_t buffered() const { return partial_.size(); }

 private:
  void line(std::string_view text);

  bool v6_;
  SocketFilter filter_;
  std::string partial_;
  bool skipping_ = false;
  bool first_ = true;
  std::vector<Socket> sockets_;
  std::size_t dropped_ = 0, malformed_ = 0;
};
// One line of the table ("  0: 0100007F:0035 00000000:0000 0A ... inode ..."); nullopt for the
// heading or anything else.
std::optional<Socket> parse_proc_net_line(std::string_view line, bool v6);

// --- Reading them ---

struct SocketDump {
  std::vector<Socket> listening;
  std::vector<Socket> connections;  // established, to or from one of the ports asked for
};

// Reads the sockets of wsinit's network namespace: sock_diag when the kernel offers it, else
// /proc/net/tcp and tcp6 (no byte counters then). The first time sock_diag cannot be used the
// reader says why (problem()) and uses the files from then on.
class SocketReader {
 public:
  // `sock_diag` false: the files only.
  explicit SocketReader(std::string proc = "/proc", bool sock_diag = true) : proc_(std::move(proc)), sock_diag_(sock_diag) {}
  // The listening sockets, and (with `connections`) the established ones whose local or remote
  // port is in `ports`.
  Result<SocketDump> read(const std::vector<std::uint16_t>& ports, bool connections);
  bool using_sock_diag() const { return sock_diag_; }
  // Why sock_diag is not used, once it was found unusable (said once by the caller).
  const std::string& problem() const { return problem_; }

 private:
  Result<SocketDump> read_sock_diag(const std::vector<std::uint16_t>& ports, bool connections);
  Result<SocketDump> read_proc(const std::vector<std::uint16_t>& ports, bool connections);

  std::string proc_;
  bool sock_diag_;
  std::string problem_;
  std::uint32_t seq_ = 0;
};

// --- Who holds a socket ---

// "socket:[12345]" (the link /proc/PID/fd/N makes for a socket) -> 12345.
std::optional<std::uint64_t> socket_inode(std::string_view link);

// For each of `inodes`, the processes whose open files hold it (readlink /proc/PID/fd/*), at
// most kMaxHolders each. The processes of `processes` are looked at newest first (each holder is
// wanted, see topmost_holder), at most kMaxFdsPerLookup descriptors in all (about 250 ms): past
// that, in a container with more open files, a socket's holder may stay unknown.
inline constexpr std::size_t kMaxHolders = 8;
inline constexpr std::size_t kMaxFdsPerLookup = 50'000;
std::unordered_map<std::uint64_t, std::vector<pid_t>> socket_holders(const std::string& proc,
                                                                      const std::vector<Process>& processes,
                                                                      const std::unordered_set<std::uint64_t>& inodes);
// Of several holders of one socket (a server that forked its workers), the one the others descend
// from: the first whose parent holds none of it. `parent_of`: each process's parent.
pid_t topmost_holder(const std::vector<pid_t>& holders, const std::unordered_map<pid_t, pid_t>& parent_of);

// The sockets among this process's own open files (/proc/self/fd).
std::unordered_set<std::uint64_t> own_socket_inodes(const std::string& proc = "/proc");

}  // namespace wsinit::telemetry
