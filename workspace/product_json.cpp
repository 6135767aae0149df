// Dropping "commit" from the editor's product.json. A scanner that knows just enough JSON to
// find the top-level members, so the rest of the file is kept byte for byte (a sed on lines,
// GitLab's way, leaves a dangling comma when "commit" is the last member).
#include <algorithm>
#include <string>

#include "workspace/workspace.h"

namespace wsinit::workspace {
namespace {

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

  // A string; its raw text (quotes included) in `raw`.
  bool string(std::string_view* raw = nullptr) {
    size_t start = pos_;
    if (!take('"')) return false;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      if (static_cast<unsigned char>(text_[pos_]) < 0x20) return false;
      pos_ += text_[pos_] == '\\' ? 2 : 1;
    }
    if (pos_ >= text_.size()) return false;
    ++pos_;
    if (raw) *raw = text_.substr(start, pos_ - start);
    return true;
  }

  bool value(int depth = 0) {
    if (depth > 256 || !skip_space() || pos_ >= text_.size()) return false;
    char c = text_[pos_];
    if (c == '"') return string();
    if (c == '{' || c == '[') return container(depth);
    size_t start = pos_;
    while (pos_ < text_.size() && std::string_view("+-.0123456789Eaeflnrstu").find(text_[pos_]) != std::string_view::npos)
      ++pos_;
    return pos_ > start;
  }

 private:
  bool skip_space() {
    while (pos_ < text_.size() && std::string_view(" \t\r\n").find(text_[pos_]) != std::string_view::npos) ++pos_;
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

// The members of a top-level object, with where each starts and ends; nullopt with `error`.
struct Member {
  size_t key_start, value_end;
  bool is_commit;
};
std::optional<std::vector<Member>> top_level_members(std::string_view json, std::string* error) {
  Scanner scan(json);
  std::vector<Member> members;
  if (!scan.take('{')) {
    *error = "not a JSON object";
    return std::nullopt;
  }
  if (!scan.take('}')) {
    do {
      std::string_view key;
      scan.at('"');
      size_t key_start = scan.pos();
      if (!scan.string(&key) || !scan.take(':') || !scan.value()) {
        *error = "invalid JSON near byte " + std::to_string(scan.pos());
        return std::nullopt;
      }
      members.push_back({key_start, scan.pos(), key == "\"commit\""});
    } while (scan.take(','));
    if (!scan.take('}')) {
      *error = "invalid JSON near byte " + std::to_string(scan.pos());
      return std::nullopt;
    }
  }
  if (!scan.at_end()) {
    *error = "text after the JSON object at byte " + std::to_string(scan.pos());
    return std::nullopt;
  }
  return members;
}

}  // namespace

std::optional<std::string> without_commit_member(std::string_view json, std::string* error) {
  std::string out(json);
  // One member at a time, scanning again after each (a key may repeat). A member goes with
  // the comma before it, or, the first one, with the separator after it.
  for (;;) {
    auto members = top_level_members(out, error);
    if (!members) return std::nullopt;
    auto& m = *members;
    auto it = std::find_if(m.begin(), m.end(), [](const Member& x) { return x.is_commit; });
    if (it == m.end()) return out;
    size_t i = static_cast<size_t>(it - m.begin());
    size_t from = i > 0 ? m[i - 1].value_end : m[i].key_start;
    size_t to = i > 0 || m.size() == 1 ? m[i].value_end : m[i + 1].key_start;
    out.erase(from, to - from);
  }
}

}  // namespace wsinit::workspace
