// libFuzzer target: the control socket's request parser, fed what a client may send; the
// error it echoes back is printable, a service it names is a valid name, its numbers are in
// bounds; and the follow's frame reader.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "supervisor/supervisor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wsinit::supervisor;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (bool at_end : {false, true}) {
    ControlRequest r = parse_control_request(in, at_end);
    if (at_end && r.kind == ControlRequest::Kind::incomplete) abort();
    if (r.kind == ControlRequest::Kind::invalid) {
      if (r.error.empty() || r.error.size() > 300) abort();
      for (char c : r.error) {
        if (c < 0x20 || c == 0x7f) abort();
      }
    }
    bool names_service = r.kind == ControlRequest::Kind::start || r.kind == ControlRequest::Kind::stop ||
                         r.kind == ControlRequest::Kind::restart || r.kind == ControlRequest::Kind::logs ||
                         r.kind == ControlRequest::Kind::wait_service;
    if (r.lines > kMaxLogLines || r.timeout_ms < 0 || r.timeout_ms > kMaxWaitTimeoutMs) abort();
    if ((r.kind == ControlRequest::Kind::wait_port) != (r.port != 0)) abort();
    if (r.follow && r.kind != ControlRequest::Kind::logs) abort();
    // The log frames a follow's client reads: never past what was given, data bounded.
    LogFrame f = next_log_frame(in);
    if (f.size > in.size() || f.text.size() > kMaxFrameData) abort();
    if (f.kind == LogFrame::Kind::incomplete && f.size != 0) abort();
    if (names_service != !r.service.empty()) abort();
    if (names_service && !wsinit::config::valid_service_name(r.service)) abort();
  }
  return 0;
}
