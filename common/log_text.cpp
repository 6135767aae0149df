// The text log's encoder and its inverse.
#include "common/log_text.h"

namespace wsinit::log_text {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_hex(std::string& out, const char* prefix, unsigned value, int digits) {
  out += prefix;
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += kHex[(value >> shift) & 0xf];
}

bool continuation(unsigned char c) { return (c & 0xc0) == 0x80; }

// The length of the well-formed UTF-8 sequence at `i` (2 to 4) and its code point; 0 when the
// bytes there are not one (overlong forms, surrogates and values past U+10FFFF are not).
size_t utf8_sequence(std::string_view s, size_t i, char32_t* code_point) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char lead = byte(0);
  size_t length = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
  if (length == 0 || i + length > s.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if (!continuation(byte(k))) return 0;
  }
  unsigned char second = byte(1);
  if ((lead == 0xe0 && second < 0xa0) || (lead == 0xed && second > 0x9f) || (lead == 0xf0 && second < 0x90) ||
      (lead == 0xf4 && second > 0x8f))
    return 0;
  char32_t cp = length == 2 ? lead & 0x1f : length == 3 ? lead & 0x0f : lead & 0x07;
  for (size_t k = 1; k < length; ++k) cp = (cp << 6) | (byte(k) & 0x3f);
  *code_point = cp;
  return length;
}

// Code points that act on a terminal or a line: C1 controls, LINE and PARAGRAPH SEPARATOR.
bool acts_as_control(char32_t cp) { return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029; }

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

std::optional<unsigned> hex_value(std::string_view digits) {
  unsigned value = 0;
  for (char c : digits) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    value = value * 16 + static_cast<unsigned>(d);
  }
  return value;
}

}  // namespace

void append_escaped(std::string& out, std::string_view message) {
  for (size_t i = 0; i < message.size();) {
    auto c = static_cast<unsigned char>(message[i]);
    if (c >= 0x80) {
      char32_t cp = 0;
      size_t length = utf8_sequence(message, i, &cp);
      if (length == 0) append_hex(out, "\\x", c, 2);
      else if (acts_as_control(cp)) append_hex(out, "\\u", static_cast<unsigned>(cp), 4);
      else out.append(message.substr(i, length));
      i += length == 0 ? 1 : length;
      continue;
    }
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) append_hex(out, "\\x", c, 2);
    else out += static_cast<char>(c);
    ++i;
  }
}

std::string escape(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  append_escaped(out, message);
  return out;
}

std::optional<std::string> unescape(std::string_view line) {
  std::string out;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '\\') {
      out += line[i];
      continue;
    }
    if (++i >= line.size()) return std::nullopt;
    char kind = line[i];
    if (kind == '\\' || kind == 'n' || kind == 'r' || kind == 't') {
      out += kind == 'n' ? '\n' : kind == 'r' ? '\r' : kind == 't' ? '\t' : '\\';
      continue;
    }
    size_t digits = kind == 'x' ? 2 : kind == 'u' ? 4 : 0;
    if (digits == 0 || line.size() - (i + 1) < digits) return std::nullopt;
    auto value = hex_value(line.substr(i + 1, digits));
    if (!value) return std::nullopt;
    if (kind == 'x') out += static_cast<char>(*value);
    else append_utf8(out, *value);
    i += digits;
  }
  return out;
}

}  // namespace wsinit::log_text
