// http:// and https:// URLs, as the readiness probes and the reporter take them.
#pragma once

#include <optional>
#include <string>

namespace wsinit {

struct Url {
  bool tls = false;  // https
  std::string host;  // without [] for IPv6
  int port = 80;     // 443 for https unless given
  std::string path = "/";
};

// SCHEME://HOST[:PORT][/PATH]; nullopt with the reason when it is not one.
std::optional<Url> parse_url(const std::string& text, std::string* error);

}  // namespace wsinit
