// A libuv timer that owns its handle: the handle is closed and freed after the owner is gone,
// so an object holding a Timer can be destroyed at any time, even from the timer's callback.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>

namespace wsinit {

class Timer {
 public:
  explicit Timer(uv_loop_t* loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Runs `callback` once after `delay` (monotonic clock); replaces a pending one. False (and an
  // error logged) when libuv refused: the callback will not run.
  bool start(std::chrono::milliseconds delay, std::function<void()> callback);
  // Runs `callback` every `period`, the first time after one period. False as start().
  bool repeat(std::chrono::milliseconds period, std::function<void()> callback);
  void stop();
  bool pending() const;
  // Whether the handle could be set up; a timer without one starts nothing (start() is false).
  bool usable() const { return handle_ != nullptr; }

 private:
  static void on_fire(uv_timer_t* handle);
  bool arm(std::uint64_t delay_ms, std::uint64_t repeat_ms, std::function<void()> callback);
  uv_timer_t* handle_;  // null when uv_timer_init failed: never closed nor used then
  std::function<void()> callback_;
};

}  // namespace wsinit
