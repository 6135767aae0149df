// The workspace's sockets: the sock_diag request and reply readers, the /proc/net/tcp reader, and
// who holds a socket; then the same against this machine's kernel.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "telemetry/net.h"

namespace wsinit::telemetry {
namespace {

IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  const std::uint8_t bytes[4] = {a, b, c, d};
  return IpAddress::from_v4(bytes);
}

IpAddress v6(const char* text) {
  std::uint8_t bytes[16];
  EXPECT_EQ(inet_pton(AF_INET6, text, bytes), 1) << text;
  return IpAddress::from_v6(bytes);
}

TEST(IpAddress, TextLoopbackAndWildcard) {
  EXPECT_EQ(v4(127, 0, 0, 1).text(), "127.0.0.1");
  EXPECT_TRUE(v4(127, 0, 0, 1).loopback());
  EXPECT_TRUE(v4(127, 1, 2, 3).loopback());
  EXPECT_FALSE(v4(10, 0, 0, 1).loopback());
  EXPECT_TRUE(v4(0, 0, 0, 0).wildcard());
  EXPECT_FALSE(v4(0, 0, 0, 0).loopback());
  EXPECT_EQ(v6("::").text(), "::");
  EXPECT_TRUE(v6("::").wildcard());
  EXPECT_TRUE(v6("::1").loopback());
  EXPECT_FALSE(v6("::2").loopback());
  EXPECT_FALSE(v6("fe80::1").loopback());
  EXPECT_EQ(v6("fe80::1").text(), "fe80::1");
  // An IPv4 client on a dual-stack socket: the same address either way, written as the socket has it.
  EXPECT_TRUE(v6("::ffff:127.0.0.1").loopback());
  EXPECT_EQ(v6("::ffff:127.0.0.1").text(), "::ffff:127.0.0.1");
  EXPECT_EQ(v6("::ffff:127.0.0.1"), v4(127, 0, 0, 1));
  EXPECT_FALSE(v6("::ffff:0.0.0.0").wildcard());  // only an AF_INET socket's 0.0.0.0 is
}

// --- /proc/net/tcp ---

constexpr const char* kTcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1594 1 0000000000000000 100 0 0 10 0\n"
    "   1: 0100007F:1435 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2222 1 0000000000000000 100 0 0 10 0\n"
    "   2: 0100007F:1435 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000  1000        0 3333 1 0000000000000000 20 4 30 10 -1\n"
    "   3: 0100007F:A1B2 0100007F:1435 01 00000000:00000000 00:00000000 00000000  1000        0 4444 1 0000000000000000 20 4 30 10 -1\n"
    "   4: 0100007F:C000 0100007F:0050 01 00000000:00000000 00:00000000 00000000  1000        0 5555 1 0000000000000000 20 4 30 10 -1\n"
    "   5: 0100007F:D000 0100007F:1435 06 00000000:00000000 03:00000F2A 00000000     0        0 0 3 0000000000000000\n";

constexpr const char* kTcp6 =
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 7777 1 0000000000000000 100 0 0 10 0\n"
    "   1: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 7778 1 0000000000000000 100 0 0 10 0\n"
    "   2: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:B000 01 00000000:00000000 00:00000000 00000000  1000        0 7779 1 0000000000000000 20 4 30 10 -1\n";

TEST(ProcNetTcp, ReadsListeningSocketsAndWatchedConnections) {
  ProcNetTcp table(false, SocketFilter{true, {0x1435}});
  table.feed(kTcp);
  table.finish();
  const auto& s = table.sockets();
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].local.text(), "0.0.0.0");
  EXPECT_EQ(s[0].local_port, 2024);
  EXPECT_EQ(s[0].state, kTcpListen);
  EXPECT_EQ(s[0].inode, 1594u);
  EXPECT_FALSE(s[0].bytes);
  EXPECT_EQ(s[1].local.text(), "127.0.0.1");
  EXPECT_EQ(s[1].local_port, 5173);
  // Both ends of the connection to the watched port; the one to port 80 and the time-wait are not kept.
  EXPECT_EQ(s[2].state, kTcpEstablished);
  EXPECT_EQ(s[2].remote_port, 0xA1B2);
  EXPECT_EQ(s[2].inode, 3333u);
  EXPECT_EQ(s[3].local_port, 0xA1B2);
  EXPECT_EQ(s[3].remote_port, 5173);
  EXPECT_EQ(table.malformed(), 0u);  // the heading is not counted
}

TEST(ProcNetTcp, ReadsIpv6AndMappedAddresses) {
  ProcNetTcp table(true, SocketFilter{true, {8080}});
  table.feed(kTcp6);
  table.finish();
  const auto& s = table.sockets();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].local.text(), "::");
  EXPECT_EQ(s[0].local_port, 8080);
  EXPECT_EQ(s[1].local.text(), "::1");
  EXPECT_TRUE(s[1].local.loopback());
  EXPECT_EQ(s[2].local.text(), "::ffff:127.0.0.1");
  EXPECT_EQ(s[2].remote, v4(127, 0, 0, 1));
}

TEST(ProcNetTcp, AnySplitOfTheInputReadsTheSame) {
  ProcNetTcp whole(false, SocketFilter{true, {5173}});
  whole.feed(kTcp);
  whole.finish();
  ProcNetTcp bytes(false, SocketFilter{true, {5173}});
  std::string text = kTcp;
  for (char c : text) bytes.feed(std::string_view(&c, 1));
  bytes.finish();
  ASSERT_EQ(bytes.sockets().size(), whole.sockets().size());
  for (size_t i = 0; i < whole.sockets().size(); ++i) EXPECT_EQ(bytes.sockets()[i].inode, whole.sockets()[i].inode);
}

TEST(ProcNetTcp, LinesThatDoNotParseAreSkippedAndCounted) {
  ProcNetTcp table(false, SocketFilter{true, {}});
  table.feed("heading\n"
             "   0: 0100007F:1435 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0\n"  // cut short
             "   1: 0100007G:1435 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 9 1\n"  // not hex
             "   2: 0100007F:14351 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 9 1\n"  // port too long
             "   3: 0100007F:1435 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 x 1\n"  // inode
             "x: 0100007F:1435 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 9 1\n"     // slot
             "   5: 0100007F:1435 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 9 1");  // no newline: finish()
  table.finish();
  EXPECT_EQ(table.malformed(), 5u);
  ASSERT_EQ(table.sockets().size(), 1u);
  EXPECT_EQ(table.sockets()[0].inode, 9u);
}

// Bound: a line longer than kMaxLine is never held whole, whatever comes.
TEST(ProcNetTcp, ALongLineIsSkippedWithoutBeingHeld) {
  ProcNetTcp table(false, SocketFilter{true, {}});
  table.feed("heading\n");
  std::string chunk(1000, 'x');
  for (int i = 0; i < 100; ++i) {
    table.feed(chunk);
    EXPECT_LE(table.buffered(), ProcNetTcp::kMaxLine);
  }
  table.feed("\n   0: 0100007F:1435 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 9 1\n");
  EXPECT_EQ(table.malformed(), 1u);
  EXPECT_EQ(table.sockets().size(), 1u);
}

TEST(ProcNetTcp, KeepsAtMostMaxSockets) {
  ProcNetTcp table(false, SocketFilter{true, {}});
  std::string line = "   0: 0100007F:1435 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 9 1\n";
  std::string block;
  for (int i = 0; i < 1000; ++i) block += line;
  for (int i = 0; i < 66; ++i) table.feed(block);
  EXPECT_EQ(table.sockets().size(), ProcNetTcp::kMaxSockets);
  EXPECT_EQ(table.dropped(), 66000u - 65536);
}

// --- sock_diag ---

// Builds reply datagrams as the kernel makes them.
struct Reply {
  std::vector<std::uint8_t> bytes;

  Reply& message(std::uint16_t type, std::uint32_t seq, const std::vector<std::uint8_t>& payload, std::uint16_t flags = NLM_F_MULTI) {
    nlmsghdr h{};
    h.nlmsg_len = static_cast<std::uint32_t>(NLMSG_LENGTH(payload.size()));
    h.nlmsg_type = type;
    h.nlmsg_flags = flags;
    h.nlmsg_seq = seq;
    std::size_t at = bytes.size();
    bytes.resize(at + NLMSG_ALIGN(h.nlmsg_len), 0);
    std::memcpy(bytes.data() + at, &h, sizeof h);
    std::memcpy(bytes.data() + at + NLMSG_HDRLEN, payload.data(), payload.size());
    return *this;
  }
};

std::vector<std::uint8_t> socket_payload(int family, std::uint8_t state, std::uint16_t sport, std::uint16_t dport,
                                         std::uint32_t inode, std::optional<std::size_t> info_size = std::nullopt,
                                         std::uint64_t acked = 0, std::uint64_t received = 0) {
  inet_diag_msg m{};
  m.idiag_family = static_cast<std::uint8_t>(family);
  m.idiag_state = state;
  m.id.idiag_sport = htons(sport);
  m.id.idiag_dport = htons(dport);
  m.idiag_inode = inode;
  if (family == AF_INET) {
    m.id.idiag_src[0] = htonl(0x7f000001);
    m.id.idiag_dst[0] = htonl(0x7f000001);
  } else {
    m.id.idiag_src[3] = htonl(1);  // ::1
  }
  std::vector<std::uint8_t> out(NLMSG_ALIGN(sizeof m), 0);
  std::memcpy(out.data(), &m, sizeof m);
  nlattr shutdown{NLA_HDRLEN + 1, INET_DIAG_SHUTDOWN};  // an attribute before the one wanted
  std::size_t at = out.size();
  out.resize(at + NLA_ALIGN(shutdown.nla_len), 0);
  std::memcpy(out.data() + at, &shutdown, sizeof shutdown);
  if (info_size) {
    std::vector<std::uint8_t> info(*info_size, 0);
    if (*info_size >= offsetof(tcp_info, tcpi_bytes_received) + 8) {
      std::memcpy(info.data() + offsetof(tcp_info, tcpi_bytes_acked), &acked, 8);
      std::memcpy(info.data() + offsetof(tcp_info, tcpi_bytes_received), &received, 8);
    }
    nlattr a{static_cast<std::uint16_t>(NLA_HDRLEN + info.size()), INET_DIAG_INFO};
    at = out.size();
    out.resize(at + NLA_ALIGN(a.nla_len), 0);
    std::memcpy(out.data() + at, &a, sizeof a);
    std::memcpy(out.data() + at + NLA_HDRLEN, info.data(), info.size());
  }
  return out;
}

std::vector<std::uint8_t> int_payload(int value) {
  std::vector<std::uint8_t> out(sizeof value);
  std::memcpy(out.data(), &value, sizeof value);
  return out;
}

std::vector<std::uint8_t> error_payload(int error) {
  nlmsgerr e{};
  e.error = error;
  std::vector<std::uint8_t> out(sizeof e);
  std::memcpy(out.data(), &e, sizeof e);
  return out;
}

DiagReply::Progress feed(DiagReply& reply, const Reply& r) { return reply.feed(r.bytes.data(), r.bytes.size()); }

TEST(DiagReply, AMultiPartDumpEndsAtDone) {
  DiagReply reply(7);
  Reply first, second;
  first.message(SOCK_DIAG_BY_FAMILY, 7, socket_payload(AF_INET, kTcpListen, 5173, 0, 11))
      .message(SOCK_DIAG_BY_FAMILY, 7, socket_payload(AF_INET6, kTcpListen, 8080, 0, 12));
  second.message(SOCK_DIAG_BY_FAMILY, 7, socket_payload(AF_INET, kTcpEstablished, 22, 40000, 13, sizeof(tcp_info), 100, 23))
      .message(NLMSG_DONE, 7, int_payload(0));
  EXPECT_EQ(feed(reply, first), DiagReply::Progress::more);
  EXPECT_EQ(feed(reply, second), DiagReply::Progress::done);
  ASSERT_EQ(reply.sockets().size(), 3u);
  EXPECT_EQ(reply.sockets()[0].local.text(), "127.0.0.1");
  EXPECT_EQ(reply.sockets()[0].local_port, 5173);
  EXPECT_EQ(reply.sockets()[0].inode, 11u);
  EXPECT_FALSE(reply.sockets()[0].bytes);
  EXPECT_EQ(reply.sockets()[1].local.text(), "::1");
  EXPECT_EQ(reply.sockets()[2].remote_port, 40000);
  EXPECT_EQ(reply.sockets()[2].bytes, 123u);
  // Done is done: more bytes change nothing.
  EXPECT_EQ(feed(reply, first), DiagReply::Progress::done);
  EXPECT_EQ(reply.sockets().size(), 3u);
}

TEST(DiagReply, AnErrorMessageFailsTheDumpWithItsErrno) {
  DiagReply reply(3);
  Reply r;
  r.message(SOCK_DIAG_BY_FAMILY, 3, socket_payload(AF_INET, kTcpListen, 1, 0, 1)).message(NLMSG_ERROR, 3, error_payload(-ENOENT), 0);
  EXPECT_EQ(feed(reply, r), DiagReply::Progress::failed);
  EXPECT_EQ(reply.error(), ENOENT);
  EXPECT_TRUE(reply.sockets().empty());  // a dump is used whole or not at all
  DiagReply done_with_error(3);
  Reply d;
  d.message(NLMSG_DONE, 3, int_payload(-EINTR));
  EXPECT_EQ(feed(done_with_error, d), DiagReply::Progress::failed);
  EXPECT_EQ(done_with_error.error(), EINTR);
}

TEST(DiagReply, AnInterruptedDumpFails) {
  DiagReply reply(3);
  Reply r;
  r.message(SOCK_DIAG_BY_FAMILY, 3, socket_payload(AF_INET, kTcpListen, 1, 0, 1), NLM_F_MULTI | NLM_F_DUMP_INTR);
  EXPECT_EQ(feed(reply, r), DiagReply::Progress::failed);
  EXPECT_EQ(reply.error(), EINTR);
}

TEST(DiagReply, MessagesOfAnotherDumpAreSkipped) {
  DiagReply reply(9);
  Reply r;
  r.message(SOCK_DIAG_BY_FAMILY, 8, socket_payload(AF_INET, kTcpListen, 1, 0, 1))
      .message(NLMSG_DONE, 8, int_payload(0))
      .message(SOCK_DIAG_BY_FAMILY, 9, socket_payload(AF_INET, kTcpListen, 2, 0, 2));
  EXPECT_EQ(feed(reply, r), DiagReply::Progress::more);
  ASSERT_EQ(reply.sockets().size(), 1u);
  EXPECT_EQ(reply.sockets()[0].local_port, 2);
}

TEST(DiagReply, TruncatedMessagesAndAttributesFail) {
  Reply r;
  r.message(SOCK_DIAG_BY_FAMILY, 1, socket_payload(AF_INET, kTcpListen, 1, 0, 1, sizeof(tcp_info)));
  for (std::size_t cut = 1; cut < r.bytes.size(); ++cut) {  // every cut of a message
    DiagReply reply(1);
    EXPECT_EQ(reply.feed(r.bytes.data(), cut), DiagReply::Progress::failed) << cut;
    EXPECT_EQ(reply.error(), EBADMSG);
  }
  // A header claiming less than a header, and a payload shorter than inet_diag_msg.
  Reply tiny;
  tiny.message(SOCK_DIAG_BY_FAMILY, 1, std::vector<std::uint8_t>(8, 0));
  DiagReply short_payload(1);
  EXPECT_EQ(feed(short_payload, tiny), DiagReply::Progress::failed);
  std::vector<std::uint8_t> bad = tiny.bytes;
  std::uint32_t len = 4;
  std::memcpy(bad.data(), &len, 4);
  DiagReply short_header(1);
  EXPECT_EQ(short_header.feed(bad.data(), bad.size()), DiagReply::Progress::failed);
  // An attribute whose length runs past its message.
  auto payload = socket_payload(AF_INET, kTcpListen, 1, 0, 1);
  nlattr a{200, INET_DIAG_INFO};
  std::size_t at = NLMSG_ALIGN(sizeof(inet_diag_msg));
  std::memcpy(payload.data() + at, &a, sizeof a);
  Reply over;
  over.message(SOCK_DIAG_BY_FAMILY, 1, payload);
  DiagReply attribute(1);
  EXPECT_EQ(feed(attribute, over), DiagReply::Progress::failed);
  EXPECT_EQ(attribute.error(), EBADMSG);
}

// A kernel whose tcp_info ends before the byte counters (before 4.1): no counters, no failure.
TEST(DiagReply, AShortTcpInfoHasNoCounters) {
  DiagReply reply(1);
  Reply r;
  r.message(SOCK_DIAG_BY_FAMILY, 1, socket_payload(AF_INET, kTcpEstablished, 1, 2, 1, offsetof(tcp_info, tcpi_bytes_acked)));
  EXPECT_EQ(feed(reply, r), DiagReply::Progress::more);
  ASSERT_EQ(reply.sockets().size(), 1u);
  EXPECT_FALSE(reply.sockets()[0].bytes);
}

TEST(DiagReply, KeepsAtMostMaxSockets) {
  DiagReply reply(1);
  Reply r;
  for (int i = 0; i < 100; ++i) r.message(SOCK_DIAG_BY_FAMILY, 1, socket_payload(AF_INET, kTcpListen, 1, 0, i));
  for (int i = 0; i < 656; ++i) feed(reply, r);
  EXPECT_EQ(reply.sockets().size(), DiagReply::kMaxSockets);
  EXPECT_EQ(reply.dropped(), 65600u - 65536);
}

TEST(DiagRequest, AsTheKernelReadsIt) {
  auto bytes = diag_request({AF_INET6, 1u << kTcpEstablished, {22}, true, 42});
  auto h = *reinterpret_cast<const nlmsghdr*>(bytes.data());
  EXPECT_EQ(h.nlmsg_len, bytes.size());
  EXPECT_EQ(h.nlmsg_type, SOCK_DIAG_BY_FAMILY);
  EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  EXPECT_EQ(h.nlmsg_seq, 42u);
  auto req = *reinterpret_cast<const inet_diag_req_v2*>(bytes.data() + NLMSG_HDRLEN);
  EXPECT_EQ(req.sdiag_family, AF_INET6);
  EXPECT_EQ(req.sdiag_protocol, IPPROTO_TCP);
  EXPECT_EQ(req.idiag_states, 1u << kTcpEstablished);
  EXPECT_EQ(req.idiag_ext, 1 << (INET_DIAG_INFO - 1));
  auto a = *reinterpret_cast<const nlattr*>(bytes.data() + NLMSG_LENGTH(sizeof req));
  EXPECT_EQ(a.nla_type, INET_DIAG_REQ_BYTECODE);
  EXPECT_EQ(a.nla_len, NLA_HDRLEN + port_filter({22}).size());
  EXPECT_EQ(diag_request({AF_INET, 1u << kTcpListen, {}, false, 1}).size(), NLMSG_LENGTH(sizeof req));
}

// Runs the filter as the kernel does (net/ipv4/inet_diag.c, inet_diag_bc_run): accepted when the
// walk ends exactly at the end. Also checks what the kernel's audit checks of every jump.
bool run_filter(const std::vector<std::uint8_t>& bc, std::uint16_t sport, std::uint16_t dport) {
  int len = static_cast<int>(bc.size());
  const std::uint8_t* at = bc.data();
  while (len > 0) {
    inet_diag_bc_op op;
    std::memcpy(&op, at, sizeof op);
    EXPECT_EQ(op.yes % 4, 0);
    EXPECT_EQ(op.no % 4, 0);
    EXPECT_LE(op.yes, len + 4);
    bool yes = true;
    if (op.code == INET_DIAG_BC_JMP) {
      yes = false;
    } else {
      inet_diag_bc_op port;
      std::memcpy(&port, at + 4, sizeof port);
      yes = op.code == INET_DIAG_BC_S_EQ ? sport == port.no : dport == port.no;
    }
    int step = yes ? op.yes : op.no;
    len -= step;
    at += step;
  }
  return len == 0;
}

TEST(DiagRequest, ThePortFilterAcceptsEitherEndOnAWatchedPort) {
  EXPECT_TRUE(port_filter({}).empty());
  auto bc = port_filter({22, 60001, 8080});
  EXPECT_EQ(bc.size(), 6u * 8 + 5 * 4);
  for (std::uint16_t watched : {22, 60001, 8080}) {
    EXPECT_TRUE(run_filter(bc, watched, 40000)) << watched;
    EXPECT_TRUE(run_filter(bc, 40000, watched)) << watched;
  }
  EXPECT_FALSE(run_filter(bc, 40000, 40001));
  EXPECT_FALSE(run_filter(bc, 23, 60000));
}

// --- Against this machine's kernel ---

struct Listening {
  int fd = -1;
  std::uint16_t port = 0;
  std::uint64_t inode = 0;
  explicit Listening(const char* address) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, address, &a.sin_addr);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd, 8), 0);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    char link[64] = {};
    readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), link, sizeof link - 1);
    inode = socket_inode(link).value_or(0);
  }
  ~Listening() { close(fd); }
};

int connect_to(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

const Socket* find_socket(const std::vector<Socket>& sockets, std::uint64_t inode) {
  auto it = std::find_if(sockets.begin(), sockets.end(), [&](const Socket& s) { return s.inode == inode; });
  return it == sockets.end() ? nullptr : &*it;
}

TEST(SocketReader, SockDiagAndTheFilesSeeTheSameListeningSocket) {
  Listening server("127.0.0.1");
  ASSERT_NE(server.inode, 0u);
  for (bool sock_diag : {true, false}) {
    SocketReader reader("/proc", sock_diag);
    auto dump = reader.read({}, false);
    ASSERT_TRUE(dump) << dump.error().message;
    EXPECT_EQ(reader.using_sock_diag(), sock_diag) << reader.problem();
    const Socket* s = find_socket(dump->listening, server.inode);
    ASSERT_TRUE(s) << sock_diag;
    EXPECT_EQ(s->local.text(), "127.0.0.1");
    EXPECT_EQ(s->local_port, server.port);
    EXPECT_TRUE(dump->connections.empty());
  }
}

// The kernel runs the filter: connections on other ports never come out; the watched one comes
// with its byte counters.
TEST(SocketReader, OnlyConnectionsOnWatchedPortsComeOutWithTheirCounters) {
  Listening watched("127.0.0.1"), other("127.0.0.1");
  int client = connect_to(watched.port), unrelated = connect_to(other.port);
  int server = accept4(watched.fd, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(server, 0);
  ASSERT_EQ(write(client, "hello", 5), 5);
  char buffer[5];
  ASSERT_EQ(read(server, buffer, 5), 5);
  SocketReader reader;
  auto dump = reader.read({watched.port}, true);
  ASSERT_TRUE(dump) << dump.error().message;
  ASSERT_TRUE(reader.using_sock_diag()) << reader.problem();
  for (const auto& s : dump->connections)
    EXPECT_TRUE(s.local_port == watched.port || s.remote_port == watched.port) << s.local_port << " " << s.remote_port;
  auto server_end = std::find_if(dump->connections.begin(), dump->connections.end(),
                                 [&](const Socket& s) { return s.local_port == watched.port; });
  ASSERT_NE(server_end, dump->connections.end());
  EXPECT_EQ(server_end->bytes, 5u);  // received 5, sent none
  // The kernel audits the filter: the most ports a sampler asks for are accepted too.
  std::vector<std::uint16_t> many;
  for (std::uint16_t p = 1; p <= 64; ++p) many.push_back(p);
  auto big = reader.read(many, true);
  EXPECT_TRUE(big) << big.error().message;
  EXPECT_TRUE(reader.using_sock_diag()) << reader.problem();
  close(client);
  close(unrelated);
  close(server);
}

TEST(SocketOwners, TheHolderOfASocketAndOurOwnSockets) {
  Listening server("127.0.0.1");
  EXPECT_EQ(socket_inode("socket:[12345]"), 12345u);
  for (auto bad : {"socket:[]", "socket:[12x]", "pipe:[1]", "socket:[1", "/dev/null", ""}) EXPECT_FALSE(socket_inode(bad)) << bad;
  auto holders = socket_holders("/proc", read_processes(), {server.inode});
  ASSERT_EQ(holders.count(server.inode), 1u);
  EXPECT_EQ(holders[server.inode], std::vector<pid_t>{getpid()});
  EXPECT_TRUE(own_socket_inodes().count(server.inode));
}

TEST(SocketOwners, TheTopmostHolderIsTheOneTheOthersDescendFrom) {
  std::unordered_map<pid_t, pid_t> parent_of = {{10, 1}, {11, 10}, {12, 10}, {20, 1}};
  EXPECT_EQ(topmost_holder({12, 11, 10}, parent_of), 10);
  EXPECT_EQ(topmost_holder({20}, parent_of), 20);
  EXPECT_EQ(topmost_holder({99}, parent_of), 99);  // gone since
  EXPECT_EQ(topmost_holder({}, parent_of), 0);
}

}  // namespace
}  // namespace wsinit::telemetry
