// A small strict HTTP/1.x request parser: request line, headers, nothing else. No bodies are
// accepted (the endpoints are GET and HEAD), so framing stays simple and safe.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "config/config.h"
#include "conversation.h"
#include "health/health.h"

namespace wsinit::health {
namespace {

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether an Accept value lists text/html with a weight above 0 ("text/html,*/*;q=0.8"). Only
// text/html itself counts: "*/*" (curl's default) is not a browser asking for a page.
bool lists_html(std::string_view accept) {
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string_view range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    size_t semicolon = range.find(';');
    if (!iequals(trim(range.substr(0, semicolon)), "text/html")) continue;
    bool refused = false;  // ";q=0", ";q=0.0", ...
    for (std::string_view params = semicolon == std::string_view::npos ? std::string_view() : range.substr(semicolon + 1);
         !params.empty();) {
      size_t next = params.find(';');
      std::string_view param = trim(params.substr(0, next));
      params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
      if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=')
        refused = param.find_first_not_of("0.", 2) == std::string_view::npos;
    }
    if (!refused) return true;
  }
  return false;
}

bool parse_request_line(std::string_view line, Request* r) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return false;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return false;
  std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                   version = line.substr(sp2 + 1);
  if (!std::all_of(method.begin(), method.end(), is_token_char)) return false;
  if (target.empty() || target[0] != '/' || target.size() > 2048) return false;
  if (std::any_of(target.begin(), target.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
    return false;
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || (version[7] != '0' && version[7] != '1')) return false;
  r->method = std::string(method);
  r->target = std::string(target);
  size_t q = target.find('?');
  r->path = std::string(target.substr(0, q));
  r->query = q == std::string_view::npos ? "" : std::string(target.substr(q + 1));
  r->minor_version = version[7] - '0';
  r->keep_alive = r->minor_version == 1;
  return true;
}

}  // namespace

Parse parse_request(std::string_view buffer, Request* r, size_t* consumed, int* status) {
  size_t end = buffer.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (buffer.size() > kMaxHeaderBytes) {
      *status = 431;
      return Parse::bad;
    }
    // A bare LF line ending, or a request line no client would send, need not wait for more.
    if (buffer.find('\n') != std::string_view::npos && buffer.find("\r\n") != buffer.find('\n') - 1) {
      *status = 400;
      return Parse::bad;
    }
    return Parse::incomplete;
  }
  if (end + 4 > kMaxHeaderBytes) {
    *status = 431;
    return Parse::bad;
  }
  *r = Request();
  std::string_view head = buffer.substr(0, end);
  size_t line_end = head.find("\r\n");
  std::string_view request_line = head.substr(0, line_end);
  if (!parse_request_line(request_line, r)) {
    *status = request_line.find(" HTTP/") != std::string_view::npos && request_line.find(" HTTP/1.") == std::string_view::npos ? 505 : 400;
    return Parse::bad;
  }
  std::string_view rest = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
  bool saw_host = false;
  while (!rest.empty()) {
    size_t eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 ||
        !std::all_of(line.begin(), line.begin() + static_cast<long>(colon), is_token_char) ||
        line.find('\n') != std::string_view::npos || line.find('\r') != std::string_view::npos) {
      *status = 400;
      return Parse::bad;
    }
    std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
    if (iequals(name, "Host")) saw_host = true;
    if (iequals(name, "Connection")) {
      if (iequals(value, "close")) r->keep_alive = false;
      if (iequals(value, "keep-alive")) r->keep_alive = true;
    }
    if (iequals(name, "Accept") && lists_html(value)) r->accepts_html = true;  // several Accept lines add up
    if (iequals(name, "Transfer-Encoding") || (iequals(name, "Content-Length") && value != "0")) r->has_body = true;
  }
  if (r->minor_version == 1 && !saw_host) {  // RFC 9112: a 1.1 request without Host is bad
    *status = 400;
    return Parse::bad;
  }
  *consumed = end + 4;
  return Parse::done;
}

std::optional<std::string> query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) return std::string(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

namespace {

constexpr Millis kDefaultWait{30'000};
constexpr Millis kMaxWait{5 * 60'000};

// A parameter's value as a 400 answer shows it: quoted, and cut when long.
std::string shown(std::string_view value) { return "'" + std::string(value.substr(0, 64)) + "'"; }

Result<Millis> wait_timeout(std::string_view query) {
  auto t = query_value(query, "timeout");
  if (!t) return kDefaultWait;
  auto parsed = config::parse_duration(*t);
  if (!parsed) return fail("timeout: " + shown(*t) + " is not a duration (e.g. 30s)");
  return std::min(std::chrono::duration_cast<Millis>(*parsed), kMaxWait);
}

}  // namespace

Result<std::optional<Held>> status_wait(std::string_view query, bool ready, std::uint64_t version) {
  auto wait = query_value(query, "wait");
  if (wait == "ready") {
    if (ready) return std::optional<Held>();
    auto timeout = wait_timeout(query);
    if (!timeout) return timeout.error();
    return std::optional<Held>(Held{Hold{Hold::Until::ready, 0}, *timeout});
  }
  if (wait != "change") return std::optional<Held>();  // no wait, or one this server does not know: answered now
  auto given = query_value(query, "version");
  if (!given) return fail("version: missing (wait=change waits for the status document's \"version\" to move from this one)");
  std::uint64_t have = 0;
  auto [end, error] = std::from_chars(given->data(), given->data() + given->size(), have);
  if (given->empty() || error != std::errc() || end != given->data() + given->size())
    return fail("version: " + shown(*given) + " is not a version (expected the status document's \"version\", a whole number)");
  if (have != version) return std::optional<Held>();
  auto timeout = wait_timeout(query);
  if (!timeout) return timeout.error();
  return std::optional<Held>(Held{Hold{Hold::Until::change, have}, *timeout});
}

}  // namespace wsinit::health
