#include "common/timer.h"

#include <spdlog/spdlog.h>

namespace wsinit {

Timer::Timer(uv_loop_t* loop) : handle_(new uv_timer_t) {
  if (int rc = uv_timer_init(loop, handle_); rc != 0) {
    spdlog::error("cannot set up a timer: {}", uv_strerror(rc));
    delete handle_;  // libuv never saw it: nothing to close
    handle_ = nullptr;
    return;
  }
  handle_->data = this;
}

Timer::~Timer() {
  if (!handle_) return;
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

bool Timer::start(std::chrono::milliseconds delay, std::function<void()> callback) {
  return arm(static_cast<uint64_t>(std::max<long>(delay.count(), 0)), 0, std::move(callback));
}

bool Timer::repeat(std::chrono::milliseconds period, std::function<void()> callback) {
  auto ms = static_cast<uint64_t>(std::max<long>(period.count(), 1));
  return arm(ms, ms, std::move(callback));
}

bool Timer::arm(std::uint64_t delay_ms, std::uint64_t repeat_ms, std::function<void()> callback) {
  if (!handle_) return false;  // said when the handle could not be set up
  callback_ = std::move(callback);
  if (int rc = uv_timer_start(handle_, on_fire, delay_ms, repeat_ms); rc != 0) {
    spdlog::error("cannot start a timer: {}", uv_strerror(rc));
    return false;
  }
  return true;
}

void Timer::stop() {
  if (handle_) uv_timer_stop(handle_);  // always 0: stopping an inactive timer is fine
}

bool Timer::pending() const { return handle_ && uv_is_active(reinterpret_cast<const uv_handle_t*>(handle_)) != 0; }

void Timer::on_fire(uv_timer_t* handle) {
  auto* self = static_cast<Timer*>(handle->data);
  if (!self) return;
  // A copy: the callback may restart this timer or destroy its owner.
  auto callback = self->callback_;
  callback();
}

}  // namespace wsinit
