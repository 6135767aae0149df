// libFuzzer target: the /proc/net/tcp{,6} reader (telemetry/net.cpp), fed any bytes in any
// chunks. Its bounds hold after every chunk (at most kMaxLine bytes held, kMaxSockets kept); how
// the text was cut changes nothing (the same sockets and the same count of lines skipped as the
// text fed whole); every socket kept passes the filter; and each one, written again as the kernel
// writes its line, reads back the same.
//
// Input: a byte (bit 0: tcp6; the rest, k: chunks of k+1 bytes), then the table's text.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "telemetry/net.h"

namespace {

using wsinit::telemetry::ProcNetTcp;
using wsinit::telemetry::Socket;
using wsinit::telemetry::SocketFilter;

// The kernel's line for `s` (net/ipv4/tcp_ipv4.c get_tcp4_sock, net/ipv6/tcp_ipv6.c get_tcp6_sock).
std::string line_of(const Socket& s, bool v6) {
  auto endpoint = [&](const wsinit::telemetry::IpAddress& a, std::uint16_t port) {
    std::string out;
    char word[16];
    for (int i = v6 ? 0 : 3; i < 4; ++i) {
      std::uint32_t value;
      std::memcpy(&value, a.bytes.data() + i * 4, 4);
      std::snprintf(word, sizeof word, "%08X", value);
      out += word;
    }
    std::snprintf(word, sizeof word, ":%04X", port);
    return out + word;
  };
  char tail[160];
  std::snprintf(tail, sizeof tail, " %02X 00000000:00000000 00:00000000 00000000  1000        0 %llu 1 0000000000000000 100 0 0 10 0",
                s.state, static_cast<unsigned long long>(s.inode));
  return "   0: " + endpoint(s.local, s.local_port) + " " + endpoint(s.remote, s.remote_port) + tail;
}

bool same(const Socket& a, const Socket& b) {
  return a.local == b.local && a.remote == b.remote && a.local_port == b.local_port && a.remote_port == b.remote_port &&
         a.state == b.state && a.inode == b.inode;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  bool v6 = data[0] & 1;
  std::size_t step = (data[0] >> 1) + 1u;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  SocketFilter filter{true, {22, 0x1435, 60001}};
  ProcNetTcp chunked(v6, filter), whole(v6, filter);
  for (std::size_t at = 0; at < text.size(); at += step) {
    chunked.feed(text.substr(at, step));
    if (chunked.buffered() > ProcNetTcp::kMaxLine || chunked.sockets().size() > ProcNetTcp::kMaxSockets) abort();
  }
  chunked.finish();
  whole.feed(text);
  whole.finish();
  if (chunked.buffered() != 0 || chunked.malformed() != whole.malformed() || chunked.sockets().size() != whole.sockets().size())
    abort();
  for (std::size_t i = 0; i < whole.sockets().size(); ++i) {
    const Socket& s = whole.sockets()[i];
    if (!same(s, chunked.sockets()[i]) || !filter.wants(s) || s.bytes) abort();
    auto again = wsinit::telemetry::parse_proc_net_line(line_of(s, v6), v6);
    if (!again || !same(*again, s)) abort();
  }
  return 0;
}
