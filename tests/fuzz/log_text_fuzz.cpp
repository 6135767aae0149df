// libFuzzer target: the text log's encoder. Whatever bytes a message holds, the escaped text is
// one line of valid UTF-8 with no control character (C0, DEL, C1) and no line or paragraph
// separator, and unescaping it gives the message back exactly.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/log_text.h"

namespace {

// True when `s` is valid UTF-8 with nothing that acts on a terminal or a line.
bool printable_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (n == 0 || c > 0xf4 || i + n > s.size()) return false;
    char32_t cp = c & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
    for (size_t k = 1; k < n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    bool shortest = (n == 2 && cp >= 0x80) || (n == 3 && cp >= 0x800) || (n == 4 && cp >= 0x10000);
    if (!shortest || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return false;
    if ((cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029) return false;
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string message(reinterpret_cast<const char*>(data), size);
  std::string line = wsinit::log_text::escape(message);
  if (!printable_utf8(line)) abort();
  if (wsinit::log_text::unescape(line) != message) abort();
  return 0;
}
