// The file-variables mount, watched: a Kubernetes secret volume updates by writing a new
// timestamped directory and swapping the `..data` symlink, so any event in the directory means
// "read it all again". Only names and a hash of each value are kept; values are never logged.
#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/timer.h"
#include "workspace/workspace.h"

namespace wsinit::workspace {
namespace {

constexpr auto kSettle = std::chrono::milliseconds(50);     // events come in bursts
constexpr auto kLookAgain = std::chrono::seconds(2);        // while the directory is missing
constexpr size_t kMaxValue = 1 << 20;                       // a bigger file is hashed by size only

// The values in the directory: name -> hash of the content (FNV-1a; change detection only).
std::map<std::string, std::uint64_t> read_values(const std::string& dir, std::optional<std::string>* state) {
  std::map<std::string, std::uint64_t> values;
  *state = std::nullopt;
  DIR* d = opendir(dir.c_str());
  if (!d) return values;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;  // ., .., and Kubernetes' ..data machinery
    std::string path = dir + "/" + name;
    struct stat st {};
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    std::uint64_t hash = 14695981039346656037ull ^ static_cast<std::uint64_t>(st.st_size);
    if (static_cast<size_t>(st.st_size) <= kMaxValue) {
      if (auto text = fs::read_file(path, kMaxValue)) {
        for (unsigned char c : *text) hash = (hash ^ c) * 1099511628211ull;
        if (name == kReconciledStateFile) {
          size_t first = text->find_first_not_of(" \t\r\n"), last = text->find_last_not_of(" \t\r\n");
          *state = first == std::string::npos ? "" : text->substr(first, last - first + 1);
        }
      } else {
        hash = 0;  // unreadable: counts as a value that changes when it becomes readable
      }
    }
    values[name] = hash;
  }
  closedir(d);
  return values;
}

}  // namespace

struct Variables::Impl {
  Impl(uv_loop_t* l, std::string d, std::function<void(bool)> cb)
      : loop(l), dir(std::move(d)), on_running(std::move(cb)), settle(l), look_again(l) {}

  uv_loop_t* loop;
  std::string dir;
  std::function<void(bool)> on_running;
  Timer settle, look_again;
  uv_fs_event_t* watch = nullptr;
  bool scanned = false;
  std::map<std::string, std::uint64_t> values;
  std::optional<std::string> state;

  static void on_event(uv_fs_event_t* handle, const char*, int, int status) {
    auto* self = static_cast<Impl*>(handle->data);
    if (status < 0) {
      spdlog::warn("variables: watching {} failed: {}; looking again in {}s", self->dir, uv_strerror(status),
                   std::chrono::duration_cast<std::chrono::seconds>(kLookAgain).count());
      self->stop_watching();
      self->look_again.start(kLookAgain, [self] { self->watch_or_wait(); });
      return;
    }
    self->settle.start(kSettle, [self] { self->rescan(); });
  }

  // Watches the directory when it is there, else looks again in a while (the mount may come late).
  void watch_or_wait() {
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      look_again.start(kLookAgain, [this] { watch_or_wait(); });
      return;
    }
    watch = new uv_fs_event_t;
    watch->data = this;
    int rc = uv_fs_event_init(loop, watch);
    if (rc < 0) {
      delete watch;  // never initialised: nothing for the loop to close
      watch = nullptr;
    } else {
      rc = uv_fs_event_start(watch, on_event, dir.c_str(), 0);
    }
    if (rc < 0) {
      spdlog::warn("variables: cannot watch {}: {}; reading it every {}s instead", dir, uv_strerror(rc),
                   std::chrono::duration_cast<std::chrono::seconds>(kLookAgain).count());
      stop_watching();
      look_again.repeat(kLookAgain, [this] { rescan(); });
    }
    rescan();
  }

  void stop_watching() {
    if (!watch) return;
    uv_close(reinterpret_cast<uv_handle_t*>(watch), [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); });
    watch = nullptr;
  }

  void rescan() {
    std::optional<std::string> new_state;
    auto now = read_values(dir, &new_state);
    if (!scanned) {
      spdlog::info("variables: {} file variables in {}", now.size(), dir);
    } else {
      for (const auto& [name, hash] : now) {
        auto old = values.find(name);
        if (old == values.end()) spdlog::info("variables: {} added", name);
        else if (old->second != hash) spdlog::info("variables: {} changed", name);
      }
      for (const auto& [name, hash] : values) {
        if (!now.count(name)) spdlog::info("variables: {} removed", name);
      }
    }
    bool was_running = state == "Running";
    if (new_state != state) spdlog::info("workspace reconciled state: {}", new_state.value_or("(none)"));
    values = std::move(now);
    state = std::move(new_state);
    bool running = state == "Running";
    if (!scanned || running != was_running) on_running(running);
    scanned = true;
  }
};

Variables::Variables(uv_loop_t* loop, std::string dir, std::function<void(bool)> on_running)
    : impl_(std::make_unique<Impl>(loop, std::move(dir), std::move(on_running))) {}

Variables::~Variables() { impl_->stop_watching(); }

void Variables::start() { impl_->watch_or_wait(); }
const std::string& Variables::dir() const { return impl_->dir; }
std::optional<std::string> Variables::reconciled_state() const { return impl_->state; }
std::size_t Variables::file_count() const { return impl_->values.size(); }

}  // namespace wsinit::workspace
