#include "common/json.h"

#include <cmath>
#include <cstdio>

namespace wsinit::json {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0.
size_t utf8_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  if (n == 3 && c == 0xE0 && byte(i + 1) < 0xA0) return 0;  // overlong
  if (n == 3 && c == 0xED && byte(i + 1) >= 0xA0) return 0;  // surrogates
  if (n == 4 && c == 0xF0 && byte(i + 1) < 0x90) return 0;   // overlong
  if (n == 4 && c == 0xF4 && byte(i + 1) >= 0x90) return 0;  // above U+10FFFF
  return n;
}

// Appends the valid UTF-8 sequence at text[i] (i at a byte >= 0x80), or U+FFFD for its first
// byte when there is none; returns the index of its last byte.
size_t append_sequence(std::string& out, std::string_view text, size_t i) {
  size_t n = utf8_length(text, i);
  if (n == 0) {
    out += "\xEF\xBF\xBD";
    return i;
  }
  out.append(text.substr(i, n));
  return i + n - 1;
}

}  // namespace

void append_string(std::string& out, std::string_view text) {
  out += '"';
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      i = append_sequence(out, text, i);
    }
  }
  out += '"';
}

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (static_cast<unsigned char>(text[i]) < 0x80) out += text[i];
    else i = append_sequence(out, text, i);
  }
  return out;
}

std::string quote(std::string_view text) {
  std::string out;
  append_string(out, text);
  return out;
}

void Writer::separate() {
  if (need_comma_) out_ += ',';
  need_comma_ = true;
}

Writer& Writer::begin_object() {
  separate();
  out_ += '{';
  need_comma_ = false;
  return *this;
}
Writer& Writer::end_object() {
  out_ += '}';
  need_comma_ = true;
  return *this;
}
Writer& Writer::begin_array() {
  separate();
  out_ += '[';
  need_comma_ = false;
  return *this;
}
Writer& Writer::end_array() {
  out_ += ']';
  need_comma_ = true;
  return *this;
}
Writer& Writer::key(std::string_view name) {
  separate();
  append_string(out_, name);
  out_ += ':';
  need_comma_ = false;
  return *this;
}
Writer& Writer::value(std::string_view text) {
  separate();
  append_string(out_, text);
  return *this;
}
Writer& Writer::value(std::int64_t number) {
  separate();
  out_ += std::to_string(number);
  return *this;
}
Writer& Writer::value(std::uint64_t number) {
  separate();
  out_ += std::to_string(number);
  return *this;
}
Writer& Writer::value(double number) {
  separate();
  if (!std::isfinite(number)) {
    out_ += "null";
    return *this;
  }
  char buf[32];
  snprintf(buf, sizeof buf, "%.3f", number);
  out_ += buf;
  return *this;
}
Writer& Writer::value(bool flag) {
  separate();
  out_ += flag ? "true" : "false";
  return *this;
}
Writer& Writer::null() {
  separate();
  out_ += "null";
  return *this;
}

}  // namespace wsinit::json
