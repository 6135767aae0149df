// libFuzzer target: the sock_diag reply reader (telemetry/net.cpp), fed any bytes as any number of
// datagrams. Whatever comes: it never keeps more than kMaxSockets sockets; a failed dump holds no
// socket and says an errno; once done or failed, more bytes change nothing; every socket it keeps
// reads back the same when the kernel's message for it is made again. And the port filter the
// sampler hands the kernel: for any list of ports, every jump passes the kernel's audit and the
// filter accepts a socket exactly when its local or remote port is listed.
//
// Input: a byte n (the next datagram is n*8 bytes, or what is left), the datagram; repeated. The
// first 16 bytes also make a list of ports for the filter.
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "telemetry/net.h"

namespace {

using wsinit::telemetry::DiagReply;
using wsinit::telemetry::Socket;

// The kernel's message for `s`, as DiagReply reads it.
std::vector<std::uint8_t> message_of(const Socket& s, std::uint32_t seq) {
  inet_diag_msg m{};
  m.idiag_family = s.local.v4 ? AF_INET : AF_INET6;
  m.idiag_state = s.state;
  m.id.idiag_sport = htons(s.local_port);
  m.id.idiag_dport = htons(s.remote_port);
  m.idiag_inode = static_cast<std::uint32_t>(s.inode);
  if (s.local.v4) {
    std::memcpy(m.id.idiag_src, s.local.bytes.data() + 12, 4);
    std::memcpy(m.id.idiag_dst, s.remote.bytes.data() + 12, 4);
  } else {
    std::memcpy(m.id.idiag_src, s.local.bytes.data(), 16);
    std::memcpy(m.id.idiag_dst, s.remote.bytes.data(), 16);
  }
  std::size_t payload = NLMSG_ALIGN(sizeof m) + (s.bytes ? NLA_ALIGN(NLA_HDRLEN + sizeof(tcp_info)) : 0);
  std::vector<std::uint8_t> out(NLMSG_LENGTH(payload), 0);
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(out.size());
  h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  h.nlmsg_seq = seq;
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + NLMSG_HDRLEN, &m, sizeof m);
  if (s.bytes) {
    nlattr a{static_cast<std::uint16_t>(NLA_HDRLEN + sizeof(tcp_info)), INET_DIAG_INFO};
    std::uint8_t* at = out.data() + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof m);
    std::memcpy(at, &a, sizeof a);
    std::uint64_t acked = *s.bytes;
    std::memcpy(at + NLA_HDRLEN + offsetof(tcp_info, tcpi_bytes_acked), &acked, 8);
  }
  return out;
}

bool same(const Socket& a, const Socket& b) {
  return a.local == b.local && a.remote == b.remote && a.local.v4 == b.local.v4 && a.local_port == b.local_port &&
         a.remote_port == b.remote_port && a.state == b.state && a.inode == b.inode && a.bytes == b.bytes;
}

void check_reply(const std::uint8_t* data, std::size_t size) {
  const std::uint32_t seq = 1;
  DiagReply reply(seq);
  std::size_t at = 0;
  while (at < size) {
    std::size_t n = std::min<std::size_t>(data[at] * 8u, size - at - 1);
    ++at;
    auto before = reply.progress();
    std::size_t held = reply.sockets().size();
    auto progress = reply.feed(data + at, n);
    at += n;
    if (reply.sockets().size() > DiagReply::kMaxSockets) abort();
    if (progress == DiagReply::Progress::failed && (!reply.sockets().empty() || reply.error() <= 0)) abort();
    if (before != DiagReply::Progress::more && (progress != before || reply.sockets().size() > held)) abort();
  }
  for (const auto& s : reply.sockets()) {
    if (s.local.v4 != s.remote.v4) abort();
    auto again = message_of(s, seq);
    DiagReply check(seq);
    if (check.feed(again.data(), again.size()) != DiagReply::Progress::more || check.sockets().size() != 1 ||
        !same(check.sockets()[0], s))
      abort();
  }
}

// The kernel's audit (net/ipv4/inet_diag.c, inet_diag_bc_audit and valid_cc) and its run
// (inet_diag_bc_run), for the port comparisons and jumps the filter uses.
bool lands_on_yes_chain(const std::vector<std::uint8_t>& bc, int cc) {
  int len = static_cast<int>(bc.size());
  const std::uint8_t* at = bc.data();
  while (len >= 0) {
    if (cc > len) return false;
    if (cc == len) return true;
    inet_diag_bc_op op;
    std::memcpy(&op, at, sizeof op);
    if (op.yes < 4 || op.yes & 3) return false;
    len -= op.yes;
    at += op.yes;
  }
  return false;
}

void audit(const std::vector<std::uint8_t>& bc) {
  int len = static_cast<int>(bc.size());
  const std::uint8_t* at = bc.data();
  while (len > 0) {
    inet_diag_bc_op op;
    std::memcpy(&op, at, sizeof op);
    int min_len = sizeof op;
    if (op.code == INET_DIAG_BC_S_EQ || op.code == INET_DIAG_BC_D_EQ) {
      min_len += sizeof op;
      if (len < min_len) abort();
    } else if (op.code != INET_DIAG_BC_JMP) {
      abort();
    }
    if (op.no < min_len || op.no > len + 4 || op.no & 3) abort();
    if (op.no < len && !lands_on_yes_chain(bc, len - op.no)) abort();
    if (op.yes < min_len || op.yes > len + 4 || op.yes & 3) abort();
    at += op.yes;
    len -= op.yes;
  }
  if (len != 0) abort();
}

bool run(const std::vector<std::uint8_t>& bc, std::uint16_t sport, std::uint16_t dport) {
  int len = static_cast<int>(bc.size());
  const std::uint8_t* at = bc.data();
  while (len > 0) {
    inet_diag_bc_op op, port;
    std::memcpy(&op, at, sizeof op);
    bool yes = false;
    if (op.code != INET_DIAG_BC_JMP) {
      std::memcpy(&port, at + sizeof op, sizeof port);
      yes = op.code == INET_DIAG_BC_S_EQ ? sport == port.no : dport == port.no;
    }
    len -= yes ? op.yes : op.no;
    at += yes ? op.yes : op.no;
  }
  return len == 0;
}

void check_filter(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i + 1 < std::min<std::size_t>(size, 16); i += 2) ports.push_back(static_cast<std::uint16_t>(data[i] << 8 | data[i + 1]));
  auto bc = wsinit::telemetry::port_filter(ports);
  if (ports.empty()) {
    if (!bc.empty()) abort();
    return;
  }
  audit(bc);
  auto listed = [&](std::uint16_t p) { return std::find(ports.begin(), ports.end(), p) != ports.end(); };
  std::uint16_t probes[] = {ports.front(), ports.back(), static_cast<std::uint16_t>(ports.front() + 1), 0, 65535};
  for (std::uint16_t sport : probes) {
    for (std::uint16_t dport : probes) {
      if (run(bc, sport, dport) != (listed(sport) || listed(dport))) abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_reply(data, size);
  check_filter(data, size);
  return 0;
}
