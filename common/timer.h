// A libuv timer that owns its handle: the handle is closed and freed after the owner is gone,
// so an object holding a Timer can be destroyed at any time, even from the timer's callback.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>

namespace wsinit {

class Timer {
 public:
  explicit Timer(uv_loop_t* loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Runs `callback` once after `delay` (monotonic clock); replaces a pending one.
  void start(std::chrono::milliseconds delay, std::function<void()> callback);
  // Runs `callback` every `period`, the first time after one period.
  void repeat(std::chrono::milliseconds period, std::function<void()> callback);
  void stop();
  bool pending() const;

 private:
  static void on_fire(uv_timer_t* handle);
  uv_timer_t* handle_;
  std::function<void()> callback_;
};

}  // namespace wsinit
