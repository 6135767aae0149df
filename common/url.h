// http:// and https:// URLs, as the readiness probes and the reporter take them.
#pragma once

#include <string>

#include "common/result.h"

namespace wsinit {

struct Url {
  bool tls = false;  // https
  std::string host;  // without [] for IPv6
  int port = 80;     // 443 for https unless given
  std::string path = "/";
};

// SCHEME://HOST[:PORT][/PATH], or the reason it is not one. The reason never shows the query
// string (tokens live there).
Result<Url> parse_url(const std::string& text);

// What a readiness probe can reach: http://HOST[:PORT][/PATH] with HOST an IPv4 or [IPv6]
// literal, or localhost (taken as 127.0.0.1). Probes check services in this container and do
// not resolve names; the reason otherwise.
Result<Url> parse_probe_url(const std::string& text);

// True when `host` is an IPv4 or IPv6 address (IPv6 without []).
bool is_ip_literal(const std::string& host);

// The Host header's value: the host ([...] for IPv6), and ":PORT" unless it is the scheme's.
std::string host_header(const Url& url);

// SCHEME://HOST:PORT/PATH, without the query or fragment: what may be logged.
std::string loggable_url(const Url& url);

}  // namespace wsinit
