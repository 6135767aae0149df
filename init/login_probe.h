// Internal to init/: the login shell run once on the loop (user.login_env). It is spawned through
// supervisor::spawn in its own session (no terminal), stdin /dev/null, stdout a pipe read on the
// loop (at most workspace::kMaxLoginEnvOutput bytes: more is a failed probe), stderr a pipe read
// on the loop too, its first kMaxLoginStderr bytes kept in a file (the rest read and dropped). Its
// exit comes from the one reaper (Init::reap_children), which asks owns() first. A timeout, a
// failure or kill_group() kills its whole process group.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/timer.h"

namespace wsinit::init {

class LoginProbe {
 public:
  struct Result {
    enum class Kind { exited, timed_out, failed } kind = Kind::failed;
    std::string output;   // its stdout (exited)
    int wait_status = 0;  // exited
    std::string why;      // failed: what went wrong
  };
  using Done = std::function<void(Result)>;

  explicit LoginProbe(uv_loop_t* loop) : loop_(loop), timer_(loop) {}
  ~LoginProbe();
  LoginProbe(const LoginProbe&) = delete;
  LoginProbe& operator=(const LoginProbe&) = delete;

  // Starts `argv` with `env` in `cwd`, its stderr appended to `stderr_path` (truncated first);
  // `done` runs once, from the reaper or the loop, when it is over. False and `why` when
  // nothing could be started (`done` then never runs).
  bool start(const std::vector<std::string>& argv, const std::vector<std::string>& env, const std::string& cwd,
             const std::string& stderr_path, std::chrono::milliseconds timeout, Done done, std::string* why);
  bool running() const { return pid_ > 0; }
  bool owns(pid_t pid) const { return pid_ > 0 && pid == pid_; }
  void on_exit(pid_t pid, int wait_status);
  // SIGKILL to its process group (shutdown); its exit still comes through the reaper.
  void kill_group();

 private:
  static constexpr size_t kMaxLoginStderr = 64 * 1024;  // of its stderr kept in the file

  static void on_readable(uv_poll_t* handle, int status, int events);
  static void on_stderr_readable(uv_poll_t* handle, int status, int events);
  void read_stderr();
  void keep_stderr(const char* data, size_t size);
  void close_stderr();
  void read_available();
  void end_group_once_dumped();
  void close_pipe();
  void fail(std::string why);

  uv_loop_t* loop_;
  Timer timer_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  int err_fd_ = -1;               // the read end of its stderr
  uv_poll_t* err_poll_ = nullptr;
  int err_file_ = -1;             // where the first kMaxLoginStderr bytes go; -1: dropped
  size_t err_kept_ = 0;
  bool err_cut_ = false;
  std::string output_;
  bool timed_out_ = false;
  bool group_ended_ = false;  // killed once the dump was complete
  std::string failure_;  // set when it was killed for a reason of ours
  Done done_;
};

}  // namespace wsinit::init
