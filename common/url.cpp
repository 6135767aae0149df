#include "common/url.h"

#include <arpa/inet.h>

#include <algorithm>

namespace wsinit {
namespace {

// The URL as an error message may show it: without its query string or fragment.
std::string shown(const std::string& text) {
  size_t cut = text.find_first_of("?#");
  return cut == std::string::npos ? text : text.substr(0, cut) + "?...";
}

// What an HTTP request line and Host header cannot carry: blanks and control bytes.
bool has_blank_or_control(const std::string& text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

std::string bracketed(const std::string& host) { return host.find(':') == std::string::npos ? host : "[" + host + "]"; }

}  // namespace

Result<Url> parse_url(const std::string& text) {
  Url url;
  std::string rest;
  if (text.rfind("https://", 0) == 0) {
    url.tls = true;
    url.port = 443;
    rest = text.substr(8);
  } else if (text.rfind("http://", 0) == 0) {
    rest = text.substr(7);
  } else {
    return fail("'" + shown(text) + "' is not an http:// or https:// URL");
  }
  size_t end = rest.find_first_of("/?#");  // http://host?q has the path "/?q"
  std::string authority = rest.substr(0, end), port;
  if (end != std::string::npos) url.path = (rest[end] == '/' ? "" : "/") + rest.substr(end);
  url.path = url.path.substr(0, url.path.find('#'));  // a fragment is the client's, never sent
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return fail("unterminated [IPv6] address in '" + shown(text) + "'");
    url.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') port = authority.substr(close + 2);
  } else {
    size_t colon = authority.rfind(':');
    url.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty() || url.host.find('@') != std::string::npos || has_blank_or_control(url.host))
    return fail("bad host in '" + shown(text) + "'");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 ||
        std::stoi(port) > 65535) {
      return fail("bad port '" + port + "'");
    }
    url.port = std::stoi(port);
  }
  if (has_blank_or_control(url.path)) return fail("the path holds a blank or a control character");
  return url;
}

Result<Url> parse_probe_url(const std::string& text) {
  auto url = parse_url(text);
  if (!url) return url;
  if (url->tls) return fail("expected an http:// URL (probes do not speak TLS)");
  if (url->host == "localhost") url->host = "127.0.0.1";
  if (!is_ip_literal(url->host))
    return fail("host '" + url->host +
                "' must be an IP address or localhost (probes do not resolve names; e.g. http://127.0.0.1:" +
                std::to_string(url->port) + "/)");
  return url;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string host_header(const Url& url) {
  bool default_port = url.port == (url.tls ? 443 : 80);
  return bracketed(url.host) + (default_port ? "" : ":" + std::to_string(url.port));
}

std::string loggable_url(const Url& url) {
  std::string path = url.path.substr(0, url.path.find_first_of("?#"));
  return std::string(url.tls ? "https://" : "http://") + bracketed(url.host) + ":" + std::to_string(url.port) + path;
}

}  // namespace wsinit
