// common/: the text log's one encoder. Every message wsinit writes as a text line goes through
// escape() (the spdlog formatter init/ sets up calls it), so no value a message carries (a
// variable's name, a file's name, a config value) can end the line, forge another one, or
// reach a terminal as a control sequence.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace wsinit::log_text {

// The message as one line of printable UTF-8: a backslash is doubled; \n, \r and \t become
// those two-character escapes, other control bytes (ESC too) \xHH; C1 controls and the Unicode
// line and paragraph separators \uHHHH; bytes that are not UTF-8 \xHH. Anything else is kept.
std::string escape(std::string_view message);
void append_escaped(std::string& out, std::string_view message);

// The inverse of escape(), so the encoding is shown to lose nothing; nullopt on a malformed
// escape. (wsinit never reads its logs back; tests and the fuzzer do.)
std::optional<std::string> unescape(std::string_view line);

}  // namespace wsinit::log_text
