// The control protocol's request line, parsed apart from the socket so it can be fuzzed.
#include "supervisor/supervisor.h"

#include <optional>
#include <vector>

namespace wsinit::supervisor {
namespace {

constexpr const char* kExpected =
    "status, status --json, start|stop|restart NAME, logs NAME LINES [follow], wait ready TIMEOUT_MS, "
    "wait service NAME TIMEOUT_MS, wait port PORT TIMEOUT_MS";

// What may be echoed back: printable ASCII, anything else as '?', at most 100 bytes.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 100)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

// The words of the line, split at single spaces (an empty word where two meet); at most 6,
// the rest left in the last, which no request accepts.
std::vector<std::string_view> words_of(std::string_view line) {
  std::vector<std::string_view> words;
  while (words.size() < 5) {
    size_t space = line.find(' ');
    if (space == std::string_view::npos) break;
    words.push_back(line.substr(0, space));
    line.remove_prefix(space + 1);
  }
  words.push_back(line);
  return words;
}


ControlRequest refuse(std::string error) {
  ControlRequest r;
  r.kind = ControlRequest::Kind::invalid;
  r.error = std::move(error);
  return r;
}

ControlRequest named(ControlRequest::Kind kind, std::string_view name) {
  if (!config::valid_service_name(name)) return refuse("'" + printable(name) + "' is not a service name");
  ControlRequest r;
  r.kind = kind;
  r.service = std::string(name);
  return r;
}

// start|stop|restart NAME
ControlRequest parse_action(std::string_view line) {
  size_t space = line.find(' ');
  std::string_view action = line.substr(0, space), name = space == std::string_view::npos ? "" : line.substr(space + 1);
  ControlRequest::Kind kind = action == "start" ? ControlRequest::Kind::start
                              : action == "stop" ? ControlRequest::Kind::stop
                              : action == "restart" ? ControlRequest::Kind::restart
                                                    : ControlRequest::Kind::invalid;
  if (kind == ControlRequest::Kind::invalid) return refuse("unknown request '" + printable(line) + "' (expected: " + kExpected + ")");
  return named(kind, name);
}

// logs NAME LINES [follow]
ControlRequest parse_logs(const std::vector<std::string_view>& w) {
  if (w.size() < 3 || w.size() > 4 || (w.size() == 4 && w[3] != "follow"))
    return refuse("logs takes NAME LINES [follow]");
  auto lines = parse_count(w[2], kMaxLogLines);
  if (!lines) return refuse("logs: '" + printable(w[2]) + "' is not a number of lines (0 to " + std::to_string(kMaxLogLines) + ")");
  ControlRequest r = named(ControlRequest::Kind::logs, w[1]);
  if (r.kind == ControlRequest::Kind::invalid) return r;
  r.lines = static_cast<std::uint32_t>(*lines);
  r.follow = w.size() == 4;
  return r;
}

// wait ready TIMEOUT_MS | wait service NAME TIMEOUT_MS | wait port PORT TIMEOUT_MS
ControlRequest parse_wait(const std::vector<std::string_view>& w) {
  size_t arity = w.size() >= 2 && w[1] == "ready" ? 3 : 4;
  if (w.size() != arity || (w[1] != "ready" && w[1] != "service" && w[1] != "port"))
    return refuse("wait takes ready TIMEOUT_MS, service NAME TIMEOUT_MS or port PORT TIMEOUT_MS");
  auto timeout = parse_count(w.back(), kMaxWaitTimeoutMs);
  if (!timeout)
    return refuse("wait: '" + printable(w.back()) + "' is not a timeout in milliseconds (0 to " +
                  std::to_string(kMaxWaitTimeoutMs) + ")");
  ControlRequest r;
  if (w[1] == "ready") {
    r.kind = ControlRequest::Kind::wait_ready;
  } else if (w[1] == "service") {
    r = named(ControlRequest::Kind::wait_service, w[2]);
    if (r.kind == ControlRequest::Kind::invalid) return r;
  } else if (auto port = parse_count(w[2], 65535); port && *port > 0) {
    r.kind = ControlRequest::Kind::wait_port;
    r.port = static_cast<std::uint16_t>(*port);
  } else {
    return refuse("wait: '" + printable(w[2]) + "' is not a port (1 to 65535)");
  }
  r.timeout_ms = *timeout;
  return r;
}

}  // namespace

std::optional<std::int64_t> parse_count(std::string_view text, std::int64_t max) {
  if (text.empty() || text.size() > 18 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  std::int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value > max) return std::nullopt;
  return value;
}

ControlRequest parse_control_request(std::string_view received, bool at_end) {
  ControlRequest r;
  size_t newline = received.find('\n');
  if (newline == std::string_view::npos && received.size() > kMaxControlRequest)
    return refuse("request longer than " + std::to_string(kMaxControlRequest) + " bytes");
  if (newline == std::string_view::npos && !at_end) return r;  // incomplete
  std::string_view line = received.substr(0, newline);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line == "status") {
    r.kind = ControlRequest::Kind::status;
    return r;
  }
  if (line == "status --json") {
    r.kind = ControlRequest::Kind::status_json;
    return r;
  }
  std::vector<std::string_view> words = words_of(line);
  if (words[0] == "logs") return parse_logs(words);
  if (words[0] == "wait") return parse_wait(words);
  return parse_action(line);
}

std::string data_frame(std::string_view lines) {
  std::string size = std::to_string(lines.size());
  std::string frame;
  frame.reserve(6 + size.size() + lines.size());
  frame.append("data ").append(size).append("\n").append(lines);
  return frame;
}

LogFrame next_log_frame(std::string_view received) {
  LogFrame f;
  size_t newline = received.find('\n');
  if (newline == std::string_view::npos) {
    if (received.size() > kMaxControlRequest) f.kind = LogFrame::Kind::bad;
    return f;
  }
  std::string_view head = received.substr(0, newline);
  if (head.starts_with("data ")) {
    auto size = parse_count(head.substr(5), kMaxFrameData);
    if (!size) {
      f.kind = LogFrame::Kind::bad;
      return f;
    }
    if (received.size() - newline - 1 < static_cast<size_t>(*size)) return f;  // incomplete
    f.kind = LogFrame::Kind::data;
    f.text = std::string(received.substr(newline + 1, static_cast<size_t>(*size)));
    f.size = newline + 1 + static_cast<size_t>(*size);
    return f;
  }
  f.kind = head.starts_with("note ") ? LogFrame::Kind::note : head.starts_with("end ") ? LogFrame::Kind::end : LogFrame::Kind::bad;
  if (f.kind != LogFrame::Kind::bad) f.text = printable(head.substr(head.find(' ') + 1));
  f.size = newline + 1;
  return f;
}

}  // namespace wsinit::supervisor
