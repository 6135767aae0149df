// GitLab's postStart runner, observed: its log is read as it grows, and only the lines the
// runner itself writes around each step are understood. The parser is pure.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "workspace/workspace.h"

namespace wsinit::workspace {
namespace {

constexpr std::string_view kRunning = ": Running /workspace-scripts/";
constexpr std::string_view kFinished = ": Finished running /workspace-scripts/";
constexpr std::string_view kMainHook = ": Running internal blocking poststart commands script...";

// The number in s[pos, pos + n), when those are all digits.
std::optional<int> number(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int value = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    value = value * 10 + (s[i] - '0');
  }
  return value;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// The UTC offset at the end of a date, in seconds east: Z, +HH:MM, +HHMM or +HH.
std::optional<int> utc_offset(std::string_view s) {
  if (s == "Z") return 0;
  if (s.size() < 3 || (s[0] != '+' && s[0] != '-')) return std::nullopt;
  auto hours = number(s, 1, 2);
  std::optional<int> minutes = 0;
  if (s.size() == 6 && s[3] == ':') minutes = number(s, 4, 2);
  else if (s.size() == 5) minutes = number(s, 3, 2);
  else if (s.size() != 3) return std::nullopt;
  if (!hours || !minutes || *hours > 23 || *minutes > 59) return std::nullopt;
  int seconds = *hours * 3600 + *minutes * 60;
  return s[0] == '-' ? -seconds : seconds;
}

// `date -Iseconds` output (2026-11-30T19:50:14+00:00; also a fraction, ',' or '.', as -Ins
// prints) in unix milliseconds.
std::optional<std::int64_t> parse_date(std::string_view s) {
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return std::nullopt;
  auto year = number(s, 0, 4), month = number(s, 5, 2), day = number(s, 8, 2);
  auto hour = number(s, 11, 2), minute = number(s, 14, 2), second = number(s, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (*month < 1 || *month > 12 || *day < 1) return std::nullopt;
  if (*day > kDays[*month - 1] + (*month == 2 && leap(*year))) return std::nullopt;
  if (*hour > 23 || *minute > 59 || *second > 60) return std::nullopt;  // 60: a leap second
  size_t pos = 19;
  std::int64_t millis = 0;
  if (s[pos] == '.' || s[pos] == ',') {
    size_t digits = 0;
    for (++pos; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++digits) {
      if (digits < 3) millis = millis * 10 + (s[pos] - '0');
    }
    if (digits == 0 || digits > 9) return std::nullopt;
    for (; digits < 3; ++digits) millis *= 10;
  }
  auto offset = utc_offset(s.substr(pos));
  if (!offset) return std::nullopt;
  std::int64_t days = days_from_civil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
  std::int64_t seconds = days * 86400 + *hour * 3600 + *minute * 60 + *second - *offset;
  return seconds * 1000 + millis;
}

// A script's file name: what may follow /workspace-scripts/ in a step's line.
bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > PostStartLog::kMaxId || id == "." || id == "..") return false;
  return std::none_of(id.begin(), id.end(), [](char c) {
    auto b = static_cast<unsigned char>(c);
    return c == '/' || b < 0x20 || b == 0x7f;
  });
}

bool blank_or_control(char c) {
  auto b = static_cast<unsigned char>(c);
  return b <= 0x20 || b == 0x7f;
}

}  // namespace

void PostStartLog::feed(std::string_view chunk, std::string_view component, std::int64_t now_unix_ms) {
  auto found = std::find_if(components_.begin(), components_.end(), [&](const auto& c) { return c.first == component; });
  if (found == components_.end()) {
    if (components_.size() >= kMaxComponents) return;
    components_.emplace_back(std::string(component), Component{});
    found = components_.end() - 1;
  }
  const std::string& name = found->first;
  Component& state = found->second;
  while (!chunk.empty()) {
    size_t newline = chunk.find('\n');
    bool ended = newline != std::string_view::npos;
    std::string_view piece = chunk.substr(0, newline);
    chunk.remove_prefix(ended ? newline + 1 : chunk.size());
    if (state.skipping) {
      state.skipping = !ended;
      continue;
    }
    if (state.partial.size() + piece.size() > kMaxLine) {  // too long to be one of the runner's
      state.partial.clear();
      state.skipping = !ended;
      continue;
    }
    if (!ended) {
      state.partial.append(piece);
    } else if (state.partial.empty()) {
      line(piece, name, state, now_unix_ms);
    } else {
      state.partial.append(piece);
      line(state.partial, name, state, now_unix_ms);
      state.partial.clear();
    }
  }
}

void PostStartLog::line(std::string_view text, const std::string& component, Component& state, std::int64_t now_unix_ms) {
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  size_t colon = text.find(": ");
  if (colon == std::string_view::npos || colon > kMaxDate) return;
  std::string_view date = text.substr(0, colon), rest = text.substr(colon);
  if (std::any_of(date.begin(), date.end(), blank_or_control)) return;
  std::int64_t at = parse_date(date).value_or(now_unix_ms);
  if (rest == kMainHook) {
    if (!component.empty() && state.main_mark == 0) {
      state.main_mark = ++main_marks_;
      ++changes_;
    }
  } else if (rest.size() >= kRunning.size() + 3 && rest.substr(0, kRunning.size()) == kRunning &&
             rest.substr(rest.size() - 3) == "...") {
    std::string_view id = rest.substr(kRunning.size(), rest.size() - kRunning.size() - 3);
    if (valid_id(id)) started(id, component, at);
  } else if (rest.size() >= kFinished.size() + 1 && rest.substr(0, kFinished.size()) == kFinished &&
             rest.back() == '.') {
    std::string_view id = rest.substr(kFinished.size(), rest.size() - kFinished.size() - 1);
    if (valid_id(id)) finished(id, component, at);
  }
}

void PostStartLog::started(std::string_view id, const std::string& component, std::int64_t at) {
  auto last = std::find_if(steps_.rbegin(), steps_.rend(), [&](const auto& s) { return s.id == id && s.component == component; });
  if (last != steps_.rend() && !last->finished_unix_ms) return;  // already running: the first start counts
  if (steps_.size() >= kMaxSteps) {
    ++dropped_steps_;
    return;
  }
  steps_.push_back(PostStartStep{std::string(id), component, at, std::nullopt});
  ++changes_;
}

void PostStartLog::finished(std::string_view id, const std::string& component, std::int64_t at) {
  auto last = std::find_if(steps_.rbegin(), steps_.rend(), [&](const auto& s) { return s.id == id && s.component == component; });
  if (last == steps_.rend() || last->finished_unix_ms) return;  // not running (or a start that was dropped)
  last->finished_unix_ms = at;
  ++changes_;
}

void PostStartLog::restart(std::string_view component) {
  auto found = std::find_if(components_.begin(), components_.end(), [&](const auto& c) { return c.first == component; });
  if (found != components_.end()) {
    if (found->second.main_mark != 0) ++changes_;
    components_.erase(found);
  }
  auto gone = std::remove_if(steps_.begin(), steps_.end(), [&](const auto& s) { return s.component == component; });
  if (gone != steps_.end()) {
    steps_.erase(gone, steps_.end());
    ++changes_;
  }
}

std::vector<PostStartStep> PostStartLog::steps() const {
  std::vector<PostStartStep> sorted = steps_;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.started_unix_ms < b.started_unix_ms; });
  return sorted;
}

std::optional<std::string> PostStartLog::main_component() const {
  const std::pair<std::string, Component>* first = nullptr;
  for (const auto& c : components_) {
    if (c.second.main_mark != 0 && (!first || c.second.main_mark < first->second.main_mark)) first = &c;
  }
  if (!first) return std::nullopt;
  return first->first;
}

std::size_t PostStartLog::buffered_bytes() const {
  std::size_t total = 0;
  for (const auto& c : components_) total += c.second.partial.size();
  return total;
}

bool gitlab_runner_present(const std::string& scripts_dir) {
  DIR* d = opendir(scripts_dir.c_str());
  if (!d) return false;
  bool found = false;
  while (dirent* e = readdir(d)) {
    std::string_view name = e->d_name;
    if (name.empty() || name[0] == '.') continue;  // ., .., and a config map's ..data machinery
    if (name.find("gl-run-") == std::string_view::npos || name.find("poststart") == std::string_view::npos) continue;
    struct stat st {};  // a config map's names are links into ..data
    if (stat((scripts_dir + "/" + std::string(name)).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      found = true;
      break;
    }
  }
  closedir(d);
  return found;
}

}  // namespace wsinit::workspace
