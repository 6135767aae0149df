#include "common/url.h"

namespace wsinit {

std::optional<Url> parse_url(const std::string& text, std::string* error) {
  Url url;
  std::string rest;
  if (text.rfind("https://", 0) == 0) {
    url.tls = true;
    url.port = 443;
    rest = text.substr(8);
  } else if (text.rfind("http://", 0) == 0) {
    rest = text.substr(7);
  } else {
    *error = "'" + text + "' is not an http:// or https:// URL";
    return std::nullopt;
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash), port;
  if (slash != std::string::npos) url.path = rest.substr(slash);
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) {
      *error = "unterminated [IPv6] address in '" + text + "'";
      return std::nullopt;
    }
    url.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') port = authority.substr(close + 2);
  } else {
    size_t colon = authority.rfind(':');
    url.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty() || url.host.find_first_of(" @\r\n\t") != std::string::npos) {
    *error = "bad host in '" + text + "'";
    return std::nullopt;
  }
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 ||
        std::stoi(port) > 65535) {
      *error = "bad port '" + port + "'";
      return std::nullopt;
    }
    url.port = std::stoi(port);
  }
  if (url.path.find_first_of(" \r\n") != std::string::npos) {
    *error = "the path holds a space or a line break";
    return std::nullopt;
  }
  return url;
}

}  // namespace wsinit
