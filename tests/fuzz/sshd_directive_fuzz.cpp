// libFuzzer target: the sshd_config directive encoder. Whatever keyword and arguments it is
// given, a line it makes is one line that sshd's tokenizer reads back as exactly that keyword
// and those arguments; an authorized_keys line is one line holding exactly the key. Anything
// else must be refused.
//
// read_back() follows what OpenSSH 9.2's sshd does with a line of sshd_config (servconf.c and
// misc.c; written anew here from their behaviour): the loader drops leading blanks and CRs;
// blanks, CR, LF and form feeds at the end go; the keyword ends at a blank, '=' or '"', and one
// '=' after it is skipped with the blanks around it; the rest is split into arguments on blanks
// and tabs, where "..." and '...' quote, \" \' \\ (and "\ " outside quotes) are escapes, any
// other backslash is kept, and '#' where an argument would start ends the line.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "sshd_setup/sshd_setup.h"

namespace {

struct Directive {
  std::string keyword;
  std::vector<std::string> args;
};

bool blank(char c) { return c == ' ' || c == '\t'; }
bool line_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// The arguments after the keyword; nullopt where sshd reports an unterminated quote.
std::optional<std::vector<std::string>> split_arguments(const std::string& s) {
  std::vector<std::string> args;
  size_t i = 0;
  while (i < s.size()) {
    if (blank(s[i])) {
      ++i;
      continue;
    }
    if (s[i] == '#') break;
    std::string arg;
    char quote = 0;
    for (; i < s.size(); ++i) {
      char c = s[i], next = i + 1 < s.size() ? s[i + 1] : '\0';
      if (c == '\\' && (next == '\'' || next == '"' || next == '\\' || (quote == 0 && next == ' '))) {
        arg += next;
        ++i;
      } else if (quote == 0 && blank(c)) {
        break;
      } else if (quote == 0 && (c == '"' || c == '\'')) {
        quote = c;
      } else if (quote != 0 && c == quote) {
        quote = 0;
      } else {
        arg += c;
      }
    }
    if (quote != 0) return std::nullopt;
    args.push_back(arg);
  }
  return args;
}

// What sshd makes of one line; nullopt for a line it skips or refuses.
std::optional<Directive> read_back(std::string line) {
  size_t start = line.find_first_not_of(" \t\r");
  if (start == std::string::npos) return std::nullopt;
  line.erase(0, start);
  while (line.size() > 1 && std::string(" \t\r\n\f").find(line.back()) != std::string::npos) line.pop_back();
  size_t end = line.find_first_of(" \t\r\n\"=");
  if (end == std::string::npos || line[end] == '"' || end == 0) return std::nullopt;  // wsinit never writes these
  Directive d{line.substr(0, end), {}};
  if (d.keyword[0] == '#') return std::nullopt;
  bool was_equals = line[end] == '=';
  size_t pos = end + 1;
  while (pos < line.size() && line_space(line[pos])) ++pos;
  if (!was_equals && pos < line.size() && line[pos] == '=') {
    ++pos;
    while (pos < line.size() && line_space(line[pos])) ++pos;
  }
  if (pos >= line.size()) return std::nullopt;  // "no argument after keyword"
  auto args = split_arguments(line.substr(pos));
  if (!args) return std::nullopt;
  d.args = *args;
  return d;
}

const char* kKeywords[] = {"ListenAddress", "HostKey", "PidFile", "AllowUsers", "AuthorizedKeysFile", "SetEnv",
                           "Subsystem", "UsePAM"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wsinit::sshd_setup;
  FuzzedDataProvider in(data, size);
  std::string keyword = in.ConsumeBool() ? kKeywords[in.ConsumeIntegralInRange<size_t>(0, 7)] : in.ConsumeRandomLengthString(16);
  std::vector<std::string> args(in.ConsumeIntegralInRange<size_t>(0, 4));
  for (auto& arg : args) arg = in.ConsumeRandomLengthString(64);
  if (auto line = directive(keyword, args)) {
    if (line->empty() || line->back() != '\n' || line->find('\n') != line->size() - 1) abort();
    auto back = read_back(line->substr(0, line->size() - 1));
    if (!back || back->keyword != keyword || back->args != args) abort();
  } else if (line.error().message.empty()) {
    abort();
  }
  std::string key = in.ConsumeRemainingBytesAsString();
  if (auto line = authorized_keys_line(key)) {
    if (*line != key + "\n" || line->find_first_of(std::string("\n\r\0", 3)) != line->size() - 1) abort();
  } else if (key.find_first_of(std::string("\n\r\0", 3)) == std::string::npos) {
    abort();
  }
  return 0;
}
