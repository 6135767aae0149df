// libFuzzer target: a pty-req's terminal modes, as a client sends them, applied to a termios.
// Whatever the bytes, it returns (no read past the end), changes only the fields the modes name,
// and never sets a control character index outside c_cc.
#include <termios.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "ssh_server/internal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  termios t{};
  termios before = t;
  auto r = wsinit::ssh_server::apply_terminal_modes(t, std::string_view(reinterpret_cast<const char*>(data), size));
  (void)r;
  // Speeds are not modes the server applies: they stay as they were.
  if (std::memcmp(&t.c_ispeed, &before.c_ispeed, sizeof t.c_ispeed) != 0) std::abort();
  if (std::memcmp(&t.c_ospeed, &before.c_ospeed, sizeof t.c_ospeed) != 0) std::abort();
  if (t.c_line != before.c_line) std::abort();
  return 0;
}
