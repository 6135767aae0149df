// GitLab's postStart runner, observed: its log is read as it grows, and only the lines the
// runner itself writes around each step are understood. The parser is pure; the observer is the
// libuv part that finds the log files and feeds the parser what was appended to them.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <spdlog/spdlog.h>

#include "common/timer.h"
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

namespace {

constexpr auto kSettle = std::chrono::milliseconds(50);   // events come in bursts; at most one read per 50 ms
constexpr auto kLookAgain = std::chrono::seconds(2);      // while the folder is missing or not watched
constexpr auto kTick = std::chrono::seconds(1);           // while a step runs
// Between two slices of a long log: not 0, which libuv (before 1.47) runs again in the same
// turn of the loop, so a log that never ends (a sparse file, one still being written) would
// keep the loop from everything else.
constexpr auto kNextSlice = std::chrono::milliseconds(5);
constexpr size_t kHead = 64;  // bytes of a file's beginning kept: a file written anew begins otherwise

// A devfile component name, as GitLab names the per-component folders.
bool component_dir_name(std::string_view name) {
  if (name.empty() || name.size() > 63 || name[0] == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

std::int64_t unix_ms_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// One watched folder.
struct Watch {
  uv_fs_event_t* handle = nullptr;
  dev_t dev = 0;
  ino_t ino = 0;
  bool failed = false;  // could not be watched: read every 2 s instead
  std::string path, name;  // name: the last part of the path (events about the folder itself carry it)
};

// Where reading a log file stopped, and what it began with.
struct FileState {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t offset = 0;
  std::string head;  // its first kHead bytes (fewer while it is shorter)
};

}  // namespace

struct PostStartObserver::Impl {
  Impl(uv_loop_t* l, std::string d, std::function<void()> cb)
      : loop(l), dir(std::move(d)), on_change(std::move(cb)), turn(l), look_again(l), tick(l) {}

  uv_loop_t* loop;
  std::string dir;
  std::function<void()> on_change;
  Timer turn, look_again, tick;
  Watch top;
  std::map<std::string, Watch> components;  // by folder name
  std::map<std::string, FileState> files;   // by component ("" for the flat log)
  std::set<std::string> warned;             // what was said about which path
  PostStartLog log;
  std::uint64_t told_changes = 0;
  bool found = false;  // the folder was seen (said once)
  std::string buffer = std::string(kReadSlice, '\0');

  template <typename... Args>
  void warn_once(const std::string& path, std::string_view what, spdlog::format_string_t<Args...> fmt, Args&&... args) {
    if (warned.insert(std::string(what) + ":" + path).second) spdlog::warn(fmt, std::forward<Args>(args)...);
  }

  static void on_event(uv_fs_event_t* handle, const char* filename, int, int status) {
    auto* self = static_cast<Impl*>(handle->data);
    bool is_top = handle == self->top.handle;
    Watch* w = is_top ? &self->top : nullptr;
    for (auto& [name, c] : self->components) {
      if (c.handle == handle) w = &c;
    }
    if (!w) return;
    if (status < 0) {
      self->warn_once(w->path, "watch", "poststart log: watching {} failed: {}; reading it every {}s instead", w->path,
                      uv_strerror(status), kLookAgain.count());
      close_watch(*w);
      w->failed = true;
    } else if (filename) {
      std::string_view name = filename;  // the flat log, a component folder, or the folder itself
      if (name != kPostStartLogName && name != w->name && !(is_top && component_dir_name(name))) return;
    }
    if (!self->turn.pending()) self->turn.start(kSettle, [self] { self->pass(); });
  }

  static void close_watch(Watch& w) {
    if (!w.handle) return;
    uv_close(reinterpret_cast<uv_handle_t*>(w.handle), [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); });
    w.handle = nullptr;
  }

  // Closes every watch; the folders are watched anew by the next pass that finds them.
  void close_watches() {
    close_watch(top);
    top = Watch{};
    for (auto& [name, c] : components) {
      close_watch(c);
      c = Watch{};
    }
  }

  // Watches the folder `st` describes at `path`, unless already watched (or failing) there.
  // False when it is not watched.
  bool watch(Watch& w, const std::string& path, const struct stat& st) {
    if (w.dev == st.st_dev && w.ino == st.st_ino && w.path == path && (w.handle || w.failed)) return w.handle != nullptr;
    close_watch(w);
    w = Watch{nullptr, st.st_dev, st.st_ino, false, path, path.substr(path.rfind('/') + 1)};
    auto* handle = new uv_fs_event_t;
    int rc = uv_fs_event_init(loop, handle);
    if (rc < 0) {
      delete handle;
    } else {
      handle->data = this;
      rc = uv_fs_event_start(handle, on_event, path.c_str(), 0);
      if (rc == 0) {
        w.handle = handle;
        return true;
      }
      w.handle = handle;
      close_watch(w);
    }
    w.failed = true;
    warn_once(path, "watch", "poststart log: cannot watch {}: {}; reading it every {}s instead", path, uv_strerror(rc),
              kLookAgain.count());
    return false;
  }

  // Follows the component folders there are now; false when one of them is not watched.
  bool follow_components() {
    DIR* d = opendir(dir.c_str());
    if (!d) {
      warn_once(dir, "list", "poststart log: cannot list {}: {}", dir, std::strerror(errno));
      return false;
    }
    std::vector<std::string> names;
    errno = 0;
    while (dirent* e = readdir(d)) {
      if (component_dir_name(e->d_name)) names.emplace_back(e->d_name);
    }
    if (errno != 0) warn_once(dir, "list", "poststart log: cannot list {}: {}", dir, std::strerror(errno));
    if (closedir(d) != 0) warn_once(dir, "close", "poststart log: closing {} failed: {}", dir, std::strerror(errno));
    std::sort(names.begin(), names.end());
    std::map<std::string, struct stat> present;
    for (const auto& name : names) {
      struct stat st {};
      if (stat((dir + "/" + name).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      if (present.size() == kMaxComponentDirs) {
        warn_once(dir, "many", "poststart log: more than {} component folders in {}; following the first {} by name",
                  kMaxComponentDirs, dir, kMaxComponentDirs);
        break;
      }
      present.emplace(name, st);
    }
    for (auto it = components.begin(); it != components.end();) {
      if (present.count(it->first)) {
        ++it;
        continue;
      }
      close_watch(it->second);  // the folder is gone, and its steps with it
      forget(it->first);
      it = components.erase(it);
    }
    bool all = true;
    for (const auto& [name, st] : present) all = watch(components[name], dir + "/" + name, st) && all;
    return all;
  }

  void forget(const std::string& component) {
    if (files.erase(component)) log.restart(component);
  }

  // Feeds the parser what was appended to the component's log since the last read, at most
  // kReadSlice bytes; true when there may be more.
  bool read(const std::string& component, const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) forget(component);  // deleted: nothing to show for it
      else warn_once(path, "open", "poststart log: cannot open {}: {}", path, std::strerror(errno));
      return false;
    }
    ssize_t n = read_from(fd, component, path);
    if (close(fd) != 0) warn_once(path, "close", "poststart log: closing {} failed: {}", path, std::strerror(errno));
    return n == static_cast<ssize_t>(kReadSlice);
  }

  ssize_t read_from(int fd, const std::string& component, const std::string& path) {
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      warn_once(path, "read", "poststart log: cannot read {}: {}", path, std::strerror(errno));
      return -1;
    }
    if (!S_ISREG(st.st_mode)) {  // a FIFO or a device would never end
      warn_once(path, "type", "poststart log: {} is not a regular file; not read", path);
      return -1;
    }
    auto known = files.find(component);
    if (known == files.end() || known->second.dev != st.st_dev || known->second.ino != st.st_ino ||
        st.st_size < known->second.offset || !begins_with(fd, known->second.head)) {
      log.restart(component);  // GitLab writes the file anew at each start
      known = files.insert_or_assign(component, FileState{st.st_dev, st.st_ino, 0, ""}).first;
    }
    FileState& file = known->second;
    ssize_t n;
    do {
      n = pread(fd, buffer.data(), kReadSlice, file.offset);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      warn_once(path, "read", "poststart log: cannot read {}: {}", path, std::strerror(errno));
      return -1;
    }
    auto got = static_cast<size_t>(n);
    if (file.head.size() < kHead && static_cast<size_t>(file.offset) == file.head.size()) {
      file.head.append(buffer.data(), std::min(got, kHead - file.head.size()));
    }
    file.offset += n;
    log.feed(std::string_view(buffer.data(), got), component, unix_ms_now());
    return n;
  }

  static bool begins_with(int fd, const std::string& head) {
    if (head.empty()) return true;
    char now[kHead];
    ssize_t n;
    do {
      n = pread(fd, now, head.size(), 0);
    } while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(head.size()) && std::memcmp(now, head.data(), head.size()) == 0;
  }

  // One look at everything: the folder, its component folders, and what their logs gained.
  void pass() {
    struct stat st {};
    int rc = stat(dir.c_str(), &st);
    if (rc != 0 || !S_ISDIR(st.st_mode)) {
      if (rc == 0) warn_once(dir, "type", "poststart log: {} is not a directory; looking again every {}s", dir, kLookAgain.count());
      else if (errno != ENOENT && errno != ENOTDIR)
        warn_once(dir, "stat", "poststart log: cannot look at {}: {}; looking again every {}s", dir, std::strerror(errno), kLookAgain.count());
      close_watches();  // what was read stays; it is checked again when the folder is back
      look_again.start(kLookAgain, [this] { pass(); });  // GitLab's hook makes it, maybe later
      return;
    }
    if (!found) spdlog::info("poststart log: following {}/{} and its component folders", dir, kPostStartLogName);
    found = true;
    bool watched = watch(top, dir, st);
    watched = follow_components() && watched;
    bool more = read("", dir + "/" + kPostStartLogName);
    for (const auto& [name, w] : components) more = read(name, dir + "/" + name + "/" + kPostStartLogName) || more;
    if (more) turn.start(kNextSlice, [this] { pass(); });
    if (watched) look_again.stop();
    else if (!look_again.pending()) look_again.repeat(kLookAgain, [this] { pass(); });
    tell();
  }

  // Calls on_change when the steps changed; keeps the 1 s tick while one runs. Last thing done:
  // on_change may destroy the observer.
  void tell() {
    if (log.changes() == told_changes) return;
    told_changes = log.changes();
    auto steps = log.steps();
    if (std::any_of(steps.begin(), steps.end(), [](const auto& s) { return !s.finished_unix_ms; })) {
      if (!tick.pending()) tick.repeat(kTick, [this] { on_change(); });
    } else {
      tick.stop();
    }
    on_change();
  }
};

PostStartObserver::PostStartObserver(uv_loop_t* loop, std::string logs_dir, std::function<void()> on_change)
    : impl_(std::make_unique<Impl>(loop, std::move(logs_dir), std::move(on_change))) {}

PostStartObserver::~PostStartObserver() { impl_->close_watches(); }

void PostStartObserver::start() { impl_->pass(); }
const std::string& PostStartObserver::logs_dir() const { return impl_->dir; }
std::vector<PostStartStep> PostStartObserver::steps() const { return impl_->log.steps(); }
std::optional<std::string> PostStartObserver::main_component() const { return impl_->log.main_component(); }
std::size_t PostStartObserver::dropped_steps() const { return impl_->log.dropped_steps(); }

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
