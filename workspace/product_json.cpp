// Editing the editor's product.json: dropping "commit", putting "extensionsGallery" first. A
// scanner that knows just enough JSON to find the top-level members (and to refuse what is not
// JSON), so the rest of the file is kept byte for byte (a sed on lines, GitLab's way, leaves a
// dangling comma when "commit" is the last member, and loses a member that shares line 1).
#include <string>

#include "common/json.h"
#include "workspace/workspace.h"

namespace wsinit::workspace {
namespace {

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// RFC 8259's grammar, strictly: literals, numbers, strings and their escapes as the RFC has them.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  size_t pos() const { return pos_; }
  bool at(char c) { return skip_space() && pos_ < text_.size() && text_[pos_] == c; }
  bool take(char c) {
    if (!at(c)) return false;
    ++pos_;
    return true;
  }
  bool at_end() { return skip_space() && pos_ == text_.size(); }
  bool skip_space() {
    while (pos_ < text_.size() && std::string_view(" \t\r\n").find(text_[pos_]) != std::string_view::npos) ++pos_;
    return true;
  }

  // A string; what it says (escapes undone) in `decoded`.
  bool string(std::string* decoded = nullptr) {
    if (!take('"')) return false;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_++];
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        if (decoded) *decoded += c;
        continue;
      }
      if (pos_ >= text_.size()) return false;
      c = text_[pos_++];
      if (c == 'u') {
        unsigned cp = 0;
        if (!hex4(&cp)) return false;
        // A surrogate pair is one code point; a lone surrogate stays as it is written.
        if (cp >= 0xD800 && cp < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
          size_t saved = pos_;
          pos_ += 2;
          unsigned low = 0;
          if (!hex4(&low)) return false;
          if (low >= 0xDC00 && low < 0xE000) cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          else pos_ = saved;
        }
        if (decoded) append_utf8(*decoded, cp);
        continue;
      }
      static constexpr std::string_view kEscapes = "\"\\/bfnrt", kMeans = "\"\\/\b\f\n\r\t";
      size_t k = kEscapes.find(c);
      if (k == std::string_view::npos) return false;
      if (decoded) *decoded += kMeans[k];
    }
    if (pos_ >= text_.size()) return false;
    ++pos_;
    return true;
  }

  bool value(int depth = 0) {
    if (depth > 256 || !skip_space() || pos_ >= text_.size()) return false;
    char c = text_[pos_];
    if (c == '"') return string();
    if (c == '{' || c == '[') return container(depth);
    if (c == 't') return word("true");
    if (c == 'f') return word("false");
    if (c == 'n') return word("null");
    return number();
  }

 private:
  bool hex4(unsigned* cp) {
    for (int i = 0; i < 4; ++i, ++pos_) {
      if (pos_ >= text_.size()) return false;
      char h = text_[pos_];
      unsigned digit = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 16;
      if (digit == 16) return false;
      *cp = *cp * 16 + digit;
    }
    return true;
  }

  bool word(std::string_view w) {
    if (text_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }

  size_t digits() {
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    return pos_ - start;
  }

  // -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
  bool number() {
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0') ++pos_;
    else if (digits() == 0) return false;
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) return false;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (digits() == 0) return false;
    }
    return true;
  }

  bool container(int depth) {
    char close = text_[pos_] == '{' ? '}' : ']';
    ++pos_;
    if (take(close)) return true;
    do {
      if (close == '}' && !(string() && take(':'))) return false;
      if (!value(depth + 1)) return false;
    } while (take(','));
    return take(close);
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// A top-level member: `ws_start` is where the whitespace before it starts (right after the
// `{` or the comma before it); the key runs from `key_start` to `key_end`, the value from
// `value_start` to `value_end`.
struct Member {
  size_t ws_start, key_start, key_end, value_start, value_end;
  std::string key;  // escapes undone
};
struct Object {
  size_t open;  // where the `{` is
  std::vector<Member> members;
};

Result<Object> parse_object(std::string_view json) {
  Scanner scan(json);
  Object object{};
  if (!scan.at('{')) return fail("not a JSON object");
  object.open = scan.pos();
  scan.take('{');
  auto invalid = [&] { return fail("invalid JSON near byte " + std::to_string(scan.pos())); };
  if (!scan.take('}')) {
    do {
      Member m{};
      m.ws_start = object.members.empty() ? object.open + 1 : scan.pos();  // take('}') skipped it
      scan.skip_space();
      m.key_start = scan.pos();
      if (!scan.string(&m.key)) return invalid();
      m.key_end = scan.pos();
      if (!scan.take(':')) return invalid();
      scan.skip_space();
      m.value_start = scan.pos();
      if (!scan.value()) return invalid();
      m.value_end = scan.pos();
      object.members.push_back(std::move(m));
    } while (scan.take(','));
    if (!scan.take('}')) return invalid();
  }
  if (!scan.at_end()) return fail("text after the JSON object at byte " + std::to_string(scan.pos()));
  return object;
}

}  // namespace

Result<std::vector<JsonMember>> json_object_members(std::string_view json) {
  auto object = parse_object(json);
  if (!object) return object.error();
  std::vector<JsonMember> members;
  for (const auto& m : object->members) {
    members.push_back({json.substr(m.key_start, m.key_end - m.key_start), json.substr(m.value_start, m.value_end - m.value_start)});
  }
  return members;
}

// A member goes with the whitespace before it and the comma between it and its neighbour:
// the comma before it, or, when it is the first one left, the comma after it (the whitespace
// before the next member stays, so what follows keeps its indentation). The pieces kept:
// everything up to the `{`, each kept member with what precedes it back to the end of the
// member before it, and everything after the last member.
Result<std::string> without_members(std::string_view json, std::string_view key) {
  auto object = parse_object(json);
  if (!object) return object.error();
  const auto& m = object->members;
  std::string out(json.substr(0, object->open + 1));
  bool first = true;
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i].key == key) continue;
    size_t from = first ? m[i].ws_start : m[i - 1].value_end;
    out.append(json.substr(from, m[i].value_end - from));
    first = false;
  }
  out.append(m.empty() ? json.substr(object->open + 1) : json.substr(m.back().value_end));
  return out;
}

// `{` alone on line 1, then the member, then the rest as it was (on a new line when it did
// not start with one). Whitespace before the `{` is dropped: GitLab's script rewrites line 1.
Result<std::string> with_first_member(std::string_view text, std::string_view key, std::string_view value) {
  auto object = parse_object(text);
  if (!object) return object.error();
  std::string_view rest = text.substr(object->open + 1);
  std::string out = "{\n\t";
  json::append_string(out, key);
  out += ": ";
  out.append(value);
  if (!object->members.empty()) out += ',';
  if (rest.empty() || (rest[0] != '\n' && rest[0] != '\r')) out += '\n';
  out.append(rest);
  return out;
}

}  // namespace wsinit::workspace
