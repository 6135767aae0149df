// The project clone, followed: GitLab 18.x clones the project in the main container's postStart
// hook, after PID 1 started, and creates <PROJECTS_ROOT>/.gl_project_cloning_successful when
// the clone succeeded. The projects directory is watched with libuv fs events; a file created
// in it wakes us, and the marker is looked for then (and every few seconds while the directory
// is missing or cannot be watched).
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "common/timer.h"
#include "workspace/workspace.h"

namespace wsinit::workspace {
namespace {

constexpr auto kLookAgain = std::chrono::seconds(2);

bool exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

std::string clone_marker(const std::string& projects_root) { return projects_root + "/" + kCloneMarker; }

Clone clone_state(const std::string& projects_root, const std::string& scripts_dir) {
  if (exists(clone_marker(projects_root))) return Clone::done;
  if (exists(scripts_dir + "/" + kCloneScript)) return Clone::pending;
  return Clone::none;
}

struct ProjectClone::Impl {
  Impl(uv_loop_t* l, std::string root, std::string scripts, std::function<void()> cb)
      : loop(l), projects_root(std::move(root)), scripts_dir(std::move(scripts)), on_cloned(std::move(cb)),
        look_again(l) {}

  uv_loop_t* loop;
  std::string projects_root, scripts_dir;
  std::function<void()> on_cloned;
  Timer look_again;
  uv_fs_event_t* watch = nullptr;
  Clone state = Clone::none;
  std::chrono::steady_clock::time_point since{};
  std::optional<double> waited_s;

  static void on_event(uv_fs_event_t* handle, const char*, int, int status) {
    auto* self = static_cast<Impl*>(handle->data);
    if (status < 0) {
      spdlog::warn("project clone: watching {} failed: {}; looking every {}s instead", self->projects_root,
                   uv_strerror(status), kLookAgain.count());
      self->stop_watching();
      self->look_again.repeat(kLookAgain, [self] { self->look(); });
    }
    self->look();
    // The projects directory itself went away (a volume remounted, a directory replaced): its
    // watch is dead, so wait for it again and watch the new one.
    if (self->state == Clone::pending && self->watch && !exists(self->projects_root)) {
      self->stop_watching();
      self->watch_or_wait();
    }
  }

  void start() {
    state = clone_state(projects_root, scripts_dir);
    since = std::chrono::steady_clock::now();
    if (state != Clone::pending) return;
    spdlog::info("project clone: waiting for GitLab's clone ({} appears in {})", kCloneMarker, projects_root);
    watch_or_wait();
  }

  // Watches the projects directory when it is there, else looks again in a while (the volume
  // may be mounted late); then looks once, for a marker made before the watch began.
  void watch_or_wait() {
    if (!exists(projects_root)) {
      look_again.start(kLookAgain, [this] { watch_or_wait(); });
      return;
    }
    auto* handle = new uv_fs_event_t;
    handle->data = this;
    int rc = uv_fs_event_init(loop, handle);
    if (rc < 0) {
      delete handle;  // never initialised: nothing for the loop to close
    } else {
      watch = handle;
      rc = uv_fs_event_start(watch, on_event, projects_root.c_str(), 0);
    }
    if (rc < 0) {
      spdlog::warn("project clone: cannot watch {}: {}; looking every {}s instead", projects_root, uv_strerror(rc),
                   kLookAgain.count());
      stop_watching();
      look_again.repeat(kLookAgain, [this] { look(); });
    }
    look();
  }

  void look() {
    if (state != Clone::pending || !exists(clone_marker(projects_root))) return;
    state = Clone::done;
    waited_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
    spdlog::info("project clone: done after {:.1f}s", *waited_s);
    stop_watching();
    look_again.stop();
    on_cloned();
  }

  void stop_watching() {
    if (!watch) return;
    uv_close(reinterpret_cast<uv_handle_t*>(watch), [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); });
    watch = nullptr;
  }
};

ProjectClone::ProjectClone(uv_loop_t* loop, std::string projects_root, std::string scripts_dir,
                           std::function<void()> on_cloned)
    : impl_(std::make_unique<Impl>(loop, std::move(projects_root), std::move(scripts_dir), std::move(on_cloned))) {}

ProjectClone::~ProjectClone() { impl_->stop_watching(); }

void ProjectClone::start() { impl_->start(); }
Clone ProjectClone::state() const { return impl_->state; }
std::optional<double> ProjectClone::waited_s() const { return impl_->waited_s; }

}  // namespace wsinit::workspace
