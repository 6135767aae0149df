#include "common/timer.h"

namespace wsinit {

Timer::Timer(uv_loop_t* loop) : handle_(new uv_timer_t) {
  uv_timer_init(loop, handle_);
  handle_->data = this;
}

Timer::~Timer() {
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void Timer::start(std::chrono::milliseconds delay, std::function<void()> callback) {
  callback_ = std::move(callback);
  uv_timer_start(handle_, on_fire, static_cast<uint64_t>(std::max<long>(delay.count(), 0)), 0);
}

void Timer::repeat(std::chrono::milliseconds period, std::function<void()> callback) {
  callback_ = std::move(callback);
  auto ms = static_cast<uint64_t>(std::max<long>(period.count(), 1));
  uv_timer_start(handle_, on_fire, ms, ms);
}

void Timer::stop() { uv_timer_stop(handle_); }

bool Timer::pending() const { return uv_is_active(reinterpret_cast<const uv_handle_t*>(handle_)) != 0; }

void Timer::on_fire(uv_timer_t* handle) {
  auto* self = static_cast<Timer*>(handle->data);
  if (!self) return;
  // A copy: the callback may restart this timer or destroy its owner.
  auto callback = self->callback_;
  callback();
}

}  // namespace wsinit
