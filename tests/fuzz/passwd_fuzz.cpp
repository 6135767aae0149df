// libFuzzer target: the /etc/passwd and /etc/group readers take any bytes (a damaged file, a
// hostile image) without crashing, and never return a field holding a separator.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "user_ids/user_ids.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wsinit::user_ids;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto bad = [](std::string_view field) { return field.find_first_of(":\n") != std::string_view::npos; };
  for (const PasswdEntry& e : parse_passwd(text)) {
    if (bad(e.name) || bad(e.password) || bad(e.gecos) || bad(e.home) || bad(e.shell)) abort();
  }
  for (const GroupEntry& g : parse_group(text)) {
    if (bad(g.name) || bad(g.password) || bad(g.members)) abort();
  }
  return 0;
}
