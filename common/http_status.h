// The status line of an HTTP/1.x response, as the readiness probes and the reporter read it.
#pragma once

#include <string_view>

namespace wsinit {

// The status code of an HTTP response's first line, or -1 if it is not one.
int parse_status_line(std::string_view response);

}  // namespace wsinit
