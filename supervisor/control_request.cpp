// The control protocol's request line, parsed apart from the socket so it can be fuzzed.
#include "supervisor/supervisor.h"

namespace wsinit::supervisor {
namespace {

// What may be echoed back: printable ASCII, anything else as '?', at most 100 bytes.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 100)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace

ControlRequest parse_control_request(std::string_view received, bool at_end) {
  ControlRequest r;
  size_t newline = received.find('\n');
  if (newline == std::string_view::npos && received.size() > kMaxControlRequest) {
    r.kind = ControlRequest::Kind::invalid;
    r.error = "request longer than " + std::to_string(kMaxControlRequest) + " bytes";
    return r;
  }
  if (newline == std::string_view::npos && !at_end) return r;  // incomplete
  std::string_view line = received.substr(0, newline);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  r.kind = ControlRequest::Kind::invalid;
  if (line == "status") {
    r.kind = ControlRequest::Kind::status;
  } else if (line == "status --json") {
    r.kind = ControlRequest::Kind::status_json;
  } else {
    size_t space = line.find(' ');
    std::string_view action = line.substr(0, space), name = space == std::string_view::npos ? "" : line.substr(space + 1);
    ControlRequest::Kind kind = action == "start" ? ControlRequest::Kind::start
                                : action == "stop" ? ControlRequest::Kind::stop
                                : action == "restart" ? ControlRequest::Kind::restart
                                                      : ControlRequest::Kind::invalid;
    if (kind != ControlRequest::Kind::invalid && config::valid_service_name(name)) {
      r.kind = kind;
      r.service = std::string(name);
    } else if (kind != ControlRequest::Kind::invalid) {
      r.error = "'" + printable(name) + "' is not a service name";
    }
  }
  if (r.kind == ControlRequest::Kind::invalid && r.error.empty())
    r.error = "unknown request '" + printable(line) + "' (expected: status, status --json, start|stop|restart NAME)";
  return r;
}

}  // namespace wsinit::supervisor
