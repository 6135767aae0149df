// The TCP sockets of wsinit's network namespace: sock_diag requests and replies, the
// /proc/net/tcp table, and which process holds a socket.
#include "telemetry/net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>

#include "text.h"

namespace wsinit::telemetry {
namespace {

constexpr std::array<std::uint8_t, 12> kV4Mapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

template <typename T>
T load(const std::uint8_t* at) {
  T value;
  std::memcpy(&value, at, sizeof value);
  return value;
}

// The kernel's -errno as an errno (any int a message may hold, INT_MIN included).
int errno_of(int negative) {
  if (negative < 0 && negative != INT_MIN) return -negative;
  return negative > 0 ? negative : EBADMSG;
}

}  // namespace

// --- IpAddress ---

IpAddress IpAddress::from_v4(const std::uint8_t (&b)[4]) {
  IpAddress a;
  std::copy(kV4Mapped.begin(), kV4Mapped.end(), a.bytes.begin());
  std::copy(b, b + 4, a.bytes.begin() + 12);
  a.v4 = true;
  return a;
}

IpAddress IpAddress::from_v6(const std::uint8_t (&b)[16]) {
  IpAddress a;
  std::copy(b, b + 16, a.bytes.begin());
  return a;
}

bool IpAddress::loopback() const {
  bool mapped = std::equal(kV4Mapped.begin(), kV4Mapped.end(), bytes.begin());
  if (mapped) return bytes[12] == 127;
  return std::all_of(bytes.begin(), bytes.begin() + 15, [](std::uint8_t b) { return b == 0; }) && bytes[15] == 1;
}

bool IpAddress::wildcard() const {
  auto zero = [](std::uint8_t b) { return b == 0; };
  if (std::all_of(bytes.begin(), bytes.end(), zero)) return true;
  return v4 && std::all_of(bytes.begin() + 12, bytes.end(), zero);
}

std::string IpAddress::text() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  const void* at = v4 ? static_cast<const void*>(bytes.data() + 12) : static_cast<const void*>(bytes.data());
  if (!inet_ntop(v4 ? AF_INET : AF_INET6, at, buffer, sizeof buffer)) return "?";
  return buffer;
}

// --- sock_diag requests ---

std::vector<std::uint8_t> port_filter(const std::vector<std::uint16_t>& ports) {
  // Two conditions per port, each 8 bytes (the operation, then the port in a second one's `no`),
  // with a 4-byte jump between two conditions. A condition that holds goes on to the jump after
  // it, which goes to the end (accept; the last condition is followed by the end itself); one
  // that fails skips its jump to the next condition (the last one: 4 bytes past the end, reject).
  std::vector<inet_diag_bc_op> ops;
  std::size_t conditions = ports.size() * 2;
  if (conditions == 0) return {};
  std::size_t total = conditions * 8 + (conditions - 1) * 4;
  for (std::size_t i = 0; i < conditions; ++i) {
    std::uint16_t port = ports[i / 2];
    std::uint8_t code = i % 2 == 0 ? INET_DIAG_BC_S_EQ : INET_DIAG_BC_D_EQ;
    ops.push_back({code, 8, 12});
    ops.push_back({0, 0, port});
    if (i + 1 < conditions) {
      std::size_t at = ops.size() * sizeof(inet_diag_bc_op);
      ops.push_back({INET_DIAG_BC_JMP, 4, static_cast<std::uint16_t>(total - at)});
    }
  }
  std::vector<std::uint8_t> out(ops.size() * sizeof(inet_diag_bc_op));
  std::memcpy(out.data(), ops.data(), out.size());
  return out;
}

std::vector<std::uint8_t> diag_request(const DumpRequest& request) {
  std::vector<std::uint8_t> filter = port_filter(request.ports);
  std::size_t attribute = filter.empty() ? 0 : NLA_HDRLEN + filter.size();
  std::size_t length = NLMSG_LENGTH(sizeof(inet_diag_req_v2)) + NLA_ALIGN(attribute);
  std::vector<std::uint8_t> out(length, 0);
  nlmsghdr header{};
  header.nlmsg_len = static_cast<std::uint32_t>(length);
  header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  header.nlmsg_seq = request.seq;
  inet_diag_req_v2 body{};
  body.sdiag_family = static_cast<std::uint8_t>(request.family);
  body.sdiag_protocol = IPPROTO_TCP;
  body.idiag_states = request.states;
  if (request.info) body.idiag_ext = 1 << (INET_DIAG_INFO - 1);
  std::memcpy(out.data(), &header, sizeof header);
  std::memcpy(out.data() + NLMSG_HDRLEN, &body, sizeof body);
  if (attribute) {
    nlattr a{static_cast<std::uint16_t>(attribute), INET_DIAG_REQ_BYTECODE};
    std::uint8_t* at = out.data() + NLMSG_LENGTH(sizeof(inet_diag_req_v2));
    std::memcpy(at, &a, sizeof a);
    std::memcpy(at + NLA_HDRLEN, filter.data(), filter.size());
  }
  return out;
}

// --- sock_diag replies ---

DiagReply::Progress DiagReply::fail(int error) {
  error_ = error;
  sockets_.clear();
  return progress_ = Progress::failed;
}

DiagReply::Progress DiagReply::feed(const std::uint8_t* data, std::size_t size) {
  if (progress_ != Progress::more) return progress_;
  std::size_t at = 0;
  while (at < size) {
    if (size - at < sizeof(nlmsghdr)) return fail(EBADMSG);
    auto header = load<nlmsghdr>(data + at);
    if (header.nlmsg_len < NLMSG_HDRLEN || header.nlmsg_len > size - at) return fail(EBADMSG);
    const std::uint8_t* payload = data + at + NLMSG_HDRLEN;
    std::size_t payload_size = header.nlmsg_len - NLMSG_HDRLEN;
    at += std::min<std::size_t>(NLMSG_ALIGN(header.nlmsg_len), size - at);
    if (header.nlmsg_seq != seq_) continue;  // an earlier dump's
    // The socket tables changed while the kernel walked them: sockets may be missing or twice.
    if (header.nlmsg_flags & NLM_F_DUMP_INTR) return fail(EINTR);
    if (header.nlmsg_type == NLMSG_DONE) {
      if (payload_size >= sizeof(int) && load<int>(payload) < 0) return fail(errno_of(load<int>(payload)));
      return progress_ = Progress::done;
    }
    if (header.nlmsg_type == NLMSG_ERROR) {
      if (payload_size < sizeof(nlmsgerr)) return fail(EBADMSG);
      int error = load<nlmsgerr>(payload).error;
      if (error == 0) continue;  // an acknowledgement
      return fail(errno_of(error));
    }
    if (header.nlmsg_type == SOCK_DIAG_BY_FAMILY && !socket_message(payload, payload_size)) return fail(EBADMSG);
  }
  return progress_;
}

bool DiagReply::socket_message(const std::uint8_t* payload, std::size_t size) {
  if (size < sizeof(inet_diag_msg)) return false;
  auto msg = load<inet_diag_msg>(payload);
  Socket s;
  if (msg.idiag_family == AF_INET) {
    std::uint8_t src[4], dst[4];
    std::memcpy(src, msg.id.idiag_src, 4);
    std::memcpy(dst, msg.id.idiag_dst, 4);
    s.local = IpAddress::from_v4(src);
    s.remote = IpAddress::from_v4(dst);
  } else if (msg.idiag_family == AF_INET6) {
    std::uint8_t src[16], dst[16];
    std::memcpy(src, msg.id.idiag_src, 16);
    std::memcpy(dst, msg.id.idiag_dst, 16);
    s.local = IpAddress::from_v6(src);
    s.remote = IpAddress::from_v6(dst);
  } else {
    return true;  // not a TCP/IP socket: nothing to keep
  }
  s.local_port = ntohs(msg.id.idiag_sport);
  s.remote_port = ntohs(msg.id.idiag_dport);
  s.state = msg.idiag_state;
  s.inode = msg.idiag_inode;
  std::size_t at = NLMSG_ALIGN(sizeof(inet_diag_msg));
  while (at + sizeof(nlattr) <= size) {
    auto attribute = load<nlattr>(payload + at);
    if (attribute.nla_len < NLA_HDRLEN || attribute.nla_len > size - at) return false;
    std::size_t length = attribute.nla_len - NLA_HDRLEN;
    constexpr std::size_t kNeeded = offsetof(tcp_info, tcpi_bytes_received) + sizeof(std::uint64_t);
    if ((attribute.nla_type & NLA_TYPE_MASK) == INET_DIAG_INFO && length >= kNeeded) {
      const std::uint8_t* info = payload + at + NLA_HDRLEN;
      s.bytes = load<std::uint64_t>(info + offsetof(tcp_info, tcpi_bytes_acked)) +
                load<std::uint64_t>(info + offsetof(tcp_info, tcpi_bytes_received));
    }
    at += NLA_ALIGN(attribute.nla_len);
  }
  if (sockets_.size() < kMaxSockets) sockets_.push_back(s);
  else ++dropped_;
  return true;
}

// --- /proc/net/tcp{,6} ---

bool SocketFilter::wants(const Socket& s) const {
  if (s.state == kTcpListen) return listening;
  if (s.state != kTcpEstablished) return false;
  return std::find(ports.begin(), ports.end(), s.local_port) != ports.end() ||
         std::find(ports.begin(), ports.end(), s.remote_port) != ports.end();
}

namespace {

// "0100007F:0035": the address as the kernel keeps it (each 32-bit word printed in host order),
// then the port.
bool parse_endpoint(std::string_view text, bool v6, IpAddress& address, std::uint16_t& port) {
  std::size_t hex = v6 ? 32 : 8;
  if (text.size() != hex + 5 || text[hex] != ':') return false;
  std::uint8_t bytes[16];
  for (std::size_t word = 0; word < hex / 8; ++word) {
    std::uint32_t value = 0;
    if (!whole_number(text.substr(word * 8, 8), value, 16)) return false;
    std::memcpy(bytes + word * 4, &value, 4);
  }
  if (!whole_number(text.substr(hex + 1, 4), port, 16)) return false;
  if (v6) {
    address = IpAddress::from_v6(bytes);
  } else {
    std::uint8_t v4[4] = {bytes[0], bytes[1], bytes[2], bytes[3]};
    address = IpAddress::from_v4(v4);
  }
  return true;
}

}  // namespace

std::optional<Socket> parse_proc_net_line(std::string_view line, bool v6) {
  std::string_view rest = line;
  std::string_view fields[10];
  for (auto& field : fields) {
    field = next_field(rest);
    if (field.empty()) return std::nullopt;
  }
  std::size_t slot = 0;
  if (fields[0].size() < 2 || fields[0].back() != ':' || !whole_number(fields[0].substr(0, fields[0].size() - 1), slot, 10))
    return std::nullopt;
  Socket s;
  if (!parse_endpoint(fields[1], v6, s.local, s.local_port) || !parse_endpoint(fields[2], v6, s.remote, s.remote_port))
    return std::nullopt;
  if (fields[3].size() != 2 || !whole_number(fields[3], s.state, 16)) return std::nullopt;
  if (!whole_number(fields[9], s.inode, 10)) return std::nullopt;
  return s;
}

void ProcNetTcp::line(std::string_view text) {
  bool heading = first_;
  first_ = false;
  auto s = parse_proc_net_line(text, v6_);
  if (!s) {
    if (!heading) ++malformed_;
    return;
  }
  if (!filter_.wants(*s)) return;
  if (sockets_.size() < kMaxSockets) sockets_.push_back(*s);
  else ++dropped_;
}

void ProcNetTcp::feed(std::string_view chunk) {
  while (!chunk.empty()) {
    std::size_t newline = chunk.find('\n');
    std::string_view piece = chunk.substr(0, newline);
    chunk = newline == std::string_view::npos ? std::string_view{} : chunk.substr(newline + 1);
    if (!skipping_) {
      if (partial_.size() + piece.size() > kMaxLine) {
        partial_.clear();
        skipping_ = true;
        ++malformed_;
        first_ = false;
      } else {
        partial_.append(piece);
      }
    }
    if (newline == std::string_view::npos) return;
    if (!skipping_) line(partial_);
    partial_.clear();
    skipping_ = false;
  }
}

void ProcNetTcp::finish() {
  if (!skipping_ && !partial_.empty()) line(partial_);
  partial_.clear();
  skipping_ = false;
}

// --- Reading them ---

namespace {

// An errno from sock_diag that means it cannot be used here at all (no inet_diag in the kernel,
// a sandbox that refuses it), rather than this one dump failing.
bool unusable(int error) {
  return error == ENOENT || error == EOPNOTSUPP || error == EPROTONOSUPPORT || error == EAFNOSUPPORT ||
         error == EACCES || error == EPERM || error == EINVAL;
}

class Netlink {
 public:
  Netlink() : fd_(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) {}
  ~Netlink() {
    if (fd_ >= 0) close(fd_);
  }
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// One dump, request to NLMSG_DONE. The kernel makes each part of a dump while we take the last
// one, so the answer is always there; a second's timeout guards PID 1 against a kernel that
// would not answer.
Result<std::vector<Socket>> dump(int fd, const DumpRequest& request) {
  std::vector<std::uint8_t> message = diag_request(request);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = sendto(fd, message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return fail(std::string("sending the request: ") + std::strerror(errno), errno);
  DiagReply reply(request.seq);
  alignas(nlmsghdr) static std::uint8_t buffer[32 * 1024];  // PID 1 has one thread; a dump's parts are at most 32 KiB
  // Bounded: each part holds at least one socket, and the reply keeps at most kMaxSockets.
  for (std::size_t parts = 0; parts <= DiagReply::kMaxSockets + 1; ++parts) {
    ssize_t n = recv(fd, buffer, sizeof buffer, MSG_TRUNC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(std::string("reading the answer: ") + std::strerror(errno), errno);
    if (static_cast<std::size_t>(n) > sizeof buffer) return fail("reading the answer: a part larger than 32 KiB", EMSGSIZE);
    auto progress = reply.feed(buffer, static_cast<std::size_t>(n));
    if (progress == DiagReply::Progress::done) return reply.take();
    if (progress == DiagReply::Progress::failed) return fail(std::strerror(reply.error()), reply.error());
  }
  return fail("the answer does not end", EBADMSG);
}

}  // namespace

Result<SocketDump> SocketReader::read(const std::vector<std::uint16_t>& ports, bool connections) {
  if (sock_diag_) {
    auto got = read_sock_diag(ports, connections);
    // A dump that failed is this sample's; when sock_diag cannot be used at all, the files from now on.
    if (got || sock_diag_) return got;
  }
  return read_proc(ports, connections);
}

Result<SocketDump> SocketReader::read_sock_diag(const std::vector<std::uint16_t>& ports, bool connections) {
  Netlink netlink;
  if (netlink.fd() < 0) {
    int error = errno;
    problem_ = std::string("netlink sock_diag cannot be opened: ") + std::strerror(error);
    sock_diag_ = false;
    return fail(problem_, error);
  }
  timeval timeout{1, 0};
  if (setsockopt(netlink.fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0)
    return fail(std::string("netlink sock_diag: setting a timeout: ") + std::strerror(errno), errno);
  SocketDump out;
  for (int family : {AF_INET, AF_INET6}) {
    std::vector<DumpRequest> requests = {{family, 1u << kTcpListen, {}, false, ++seq_}};
    if (connections && !ports.empty()) requests.push_back({family, 1u << kTcpEstablished, ports, true, ++seq_});
    for (auto& request : requests) {
      auto got = dump(netlink.fd(), request);
      if (got.error().code == EINTR) {  // the tables changed under the walk: once more
        request.seq = ++seq_;
        got = dump(netlink.fd(), request);
      }
      if (!got) {
        if (unusable(got.error().code)) {
          problem_ = "netlink sock_diag refused the request: " + got.error().message;
          sock_diag_ = false;
        }
        return fail("netlink sock_diag: " + got.error().message, got.error().code);
      }
      auto& into = request.states == (1u << kTcpListen) ? out.listening : out.connections;
      into.insert(into.end(), got->begin(), got->end());
    }
  }
  return out;
}

Result<SocketDump> SocketReader::read_proc(const std::vector<std::uint16_t>& ports, bool connections) {
  SocketDump out;
  SocketFilter filter{true, connections ? ports : std::vector<std::uint16_t>{}};
  for (bool v6 : {false, true}) {
    std::string path = proc_ + (v6 ? "/net/tcp6" : "/net/tcp");
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (v6 && errno == ENOENT) continue;  // a kernel without IPv6
      return fail("cannot read " + path + ": " + std::strerror(errno), errno);
    }
    ProcNetTcp table(v6, filter);
    static char buffer[64 * 1024];
    ssize_t n;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) table.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
    }
    int error = errno;
    close(fd);
    if (n < 0) return fail("cannot read " + path + ": " + std::strerror(error), error);
    table.finish();
    for (auto& s : table.take()) (s.state == kTcpListen ? out.listening : out.connections).push_back(s);
  }
  return out;
}

// --- Who holds a socket ---

std::optional<std::uint64_t> socket_inode(std::string_view link) {
  constexpr std::string_view kPrefix = "socket:[";
  if (link.size() <= kPrefix.size() + 1 || link.substr(0, kPrefix.size()) != kPrefix || link.back() != ']')
    return std::nullopt;
  std::uint64_t inode = 0;
  if (!whole_number(link.substr(kPrefix.size(), link.size() - kPrefix.size() - 1), inode, 10)) return std::nullopt;
  return inode;
}

namespace {

// Calls `found` with each socket inode among the open files of `fd_dir`.
// At most `budget` descriptors are read; what was read is taken from it.
template <typename F>
void each_socket(const std::string& fd_dir, std::size_t& budget, F found) {
  DIR* dir = opendir(fd_dir.c_str());
  if (!dir) return;  // gone, or another user's
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    if (budget == 0) break;
    --budget;
    char link[64];
    ssize_t n = readlinkat(dirfd(dir), entry->d_name, link, sizeof link);
    if (n <= 0 || static_cast<std::size_t>(n) >= sizeof link) continue;
    if (auto inode = socket_inode(std::string_view(link, static_cast<std::size_t>(n)))) found(*inode);
  }
  closedir(dir);
}

}  // namespace

std::unordered_map<std::uint64_t, std::vector<pid_t>> socket_holders(const std::string& proc,
                                                                      const std::vector<Process>& processes,
                                                                      const std::unordered_set<std::uint64_t>& inodes) {
  std::unordered_map<std::uint64_t, std::vector<pid_t>> out;
  if (inodes.empty()) return out;
  // The newest processes first (a new socket is most often a new process's), and at most
  // kMaxFdsPerLookup descriptors in all: one lookup holds the loop for a bounded time.
  std::vector<const Process*> order;
  order.reserve(processes.size());
  for (const auto& p : processes) order.push_back(&p);
  std::sort(order.begin(), order.end(), [](const Process* a, const Process* b) { return a->start_ticks > b->start_ticks; });
  std::size_t budget = kMaxFdsPerLookup;
  for (const Process* process : order) {
    if (budget == 0) break;
    const Process& p = *process;
    each_socket(proc + "/" + std::to_string(p.pid) + "/fd", budget, [&](std::uint64_t inode) {
      if (!inodes.count(inode)) return;
      auto& holders = out[inode];
      if (holders.size() < kMaxHolders && std::find(holders.begin(), holders.end(), p.pid) == holders.end())
        holders.push_back(p.pid);
    });
  }
  return out;
}

pid_t topmost_holder(const std::vector<pid_t>& holders, const std::unordered_map<pid_t, pid_t>& parent_of) {
  if (holders.empty()) return 0;
  for (pid_t pid : holders) {
    auto parent = parent_of.find(pid);
    if (parent == parent_of.end() || std::find(holders.begin(), holders.end(), parent->second) == holders.end()) return pid;
  }
  return holders.front();  // a cycle: /proc read over time, pids reused
}

std::unordered_set<std::uint64_t> own_socket_inodes(const std::string& proc) {
  std::unordered_set<std::uint64_t> out;
  std::size_t budget = kMaxFdsPerLookup;
  each_socket(proc + "/self/fd", budget, [&](std::uint64_t inode) { out.insert(inode); });
  return out;
}

}  // namespace wsinit::telemetry
