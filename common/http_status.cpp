#include "common/http_status.h"

namespace wsinit {

int parse_status_line(std::string_view response) {
  // "HTTP/1.1 200 OK"
  if (!response.starts_with("HTTP/1.") || response.size() < 12 || response[8] != ' ') return -1;
  int code = 0;
  for (int i = 9; i < 12; ++i) {
    if (response[i] < '0' || response[i] > '9') return -1;
    code = code * 10 + (response[i] - '0');
  }
  return code;
}

}  // namespace wsinit
