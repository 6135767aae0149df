// ${VAR} and ${VAR:-default} expansion; defaults may nest (${A:-${B:-60001}}).
#include <string>

#include "config/config.h"

namespace wsinit::config {
namespace {

bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

// Index of the '}' closing a "${" whose body starts at `pos`, or npos.
size_t closing_brace(std::string_view text, size_t pos) {
  int depth = 1;
  for (; pos < text.size(); ++pos) {
    if (text[pos] == '$' && pos + 1 < text.size() && text[pos + 1] == '{') {
      ++depth;
      ++pos;
    } else if (text[pos] == '}' && --depth == 0) {
      return pos;
    }
  }
  return std::string_view::npos;
}

}  // namespace

Result<std::string> expand(std::string_view text, const Environment& env) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size()) {
      out += text[i];
      continue;
    }
    if (text.substr(i, 3) == "$${") {  // escaped: a literal "${"
      out += "${";
      i += 2;
      continue;
    }
    if (text[i + 1] != '{') {
      out += text[i];
      continue;
    }
    size_t body = i + 2;
    size_t end = closing_brace(text, body);
    if (end == std::string_view::npos) return fail("unterminated ${ at offset " + std::to_string(i));
    size_t name_end = body;
    if (name_end < end && name_start(text[name_end])) {
      while (name_end < end && name_char(text[name_end])) ++name_end;
    }
    std::string_view name = text.substr(body, name_end - body);
    std::string_view rest = text.substr(name_end, end - name_end);
    if (name.empty() || (!rest.empty() && !rest.starts_with(":-")))
      return fail("malformed ${" + std::string(text.substr(body, end - body)) +
                  "} (expected ${NAME} or ${NAME:-default})");
    auto found = env.find(name);
    bool has_value = found != env.end() && !found->second.empty();
    if (has_value) {
      out += found->second;
    } else if (!rest.empty()) {
      auto fallback = expand(rest.substr(2), env);
      if (!fallback) return fallback;
      out += *fallback;
    }
    i = end;
  }
  return out;
}

}  // namespace wsinit::config
