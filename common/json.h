// common/: the few helpers more than one module needs; it uses no other module (libuv only).
// Here: writing JSON text (wsinit writes JSON documents and log lines; it never needs to parse them).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wsinit::json {

// Appends `text` as a JSON string literal, quotes included. Invalid UTF-8 bytes become U+FFFD
// so the output is always valid JSON.
void append_string(std::string& out, std::string_view text);
std::string quote(std::string_view text);
// `text` with every byte that is not part of valid UTF-8 replaced by U+FFFD (for formats that
// require UTF-8 but have no escape for it, such as Prometheus label values).
std::string valid_utf8(std::string_view text);

// Builds one JSON value with commas placed for you:
//   Writer w; w.begin_object(); w.key("a"); w.value(1); w.end_object(); w.str()
class Writer {
 public:
  Writer& begin_object();
  Writer& end_object();
  Writer& begin_array();
  Writer& end_array();
  Writer& key(std::string_view name);
  Writer& value(std::string_view text);
  Writer& value(const char* text) { return value(std::string_view(text)); }
  Writer& value(const std::string& text) { return value(std::string_view(text)); }
  Writer& value(std::int64_t number);
  Writer& value(int number) { return value(static_cast<std::int64_t>(number)); }
  Writer& value(std::uint64_t number);
  Writer& value(double number);
  Writer& value(bool flag);
  Writer& null();
  const std::string& str() const { return out_; }

 private:
  void separate();
  std::string out_;
  bool need_comma_ = false;
};

}  // namespace wsinit::json
