// The login shell run once on the loop (login_probe.h).
#include "login_probe.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <spdlog/spdlog.h>

#include "supervisor/spawn.h"
#include "workspace/login_env.h"

namespace wsinit::init {
namespace {

// The read end non-blocking (the loop reads it), the write end as the child gets it: blocking.
bool open_pipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) < 0) return false;
  int flags = fcntl(fds[0], F_GETFL);
  if (flags < 0 || fcntl(fds[0], F_SETFL, flags | O_NONBLOCK) < 0) {
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  return true;
}

// A poll handle on `fd` calling `callback` with `owner` as its data; nullptr when libuv refuses.
uv_poll_t* watch(uv_loop_t* loop, int fd, void* owner, uv_poll_cb callback) {
  auto* poll = new uv_poll_t;
  poll->data = owner;
  if (uv_poll_init(loop, poll, fd) != 0) {
    delete poll;
    return nullptr;
  }
  if (uv_poll_start(poll, UV_READABLE, callback) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    return nullptr;
  }
  return poll;
}

// Closes the handle (freed once libuv lets it go) and the descriptor; both left unset.
void unwatch(uv_poll_t*& poll, int& fd) {
  if (poll) uv_close(reinterpret_cast<uv_handle_t*>(poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  poll = nullptr;
  if (fd >= 0) close(fd);
  fd = -1;
}

// Reads what the non-blocking `fd` holds now into `buffer`, handing each piece to `take` (which
// returns false to stop). True when the writers are gone (end of file, or an error).
template <size_t N, typename Take>
bool drain(int fd, char (&buffer)[N], Take take) {
  for (;;) {
    ssize_t n = read(fd, buffer, N);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return false;
    if (n <= 0) return true;
    if (!take(static_cast<size_t>(n))) return false;
  }
}

}  // namespace

LoginProbe::~LoginProbe() {
  kill_group();
  close_pipe();
  close_stderr();
}

bool LoginProbe::start(const std::vector<std::string>& argv, const std::vector<std::string>& env, const std::string& cwd,
                       const std::string& stderr_path, std::chrono::milliseconds timeout, Done done, std::string* why) {
  int fds[2];
  if (!open_pipe(fds)) {
    *why = std::string("cannot make a pipe: ") + strerror(errno);
    return false;
  }
  int errs[2];
  if (!open_pipe(errs)) {
    *why = std::string("cannot make a pipe: ") + strerror(errno);
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int file = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (file < 0)
    spdlog::warn("login environment: cannot write {}: {}; the login shell's errors are not kept", stderr_path,
                 strerror(errno));
  supervisor::SpawnRequest request;
  request.argv = argv;
  request.env = env;
  request.cwd = cwd;
  request.stdin_fd = in;
  request.stdout_fd = fds[1];
  request.stderr_fd = errs[1];
  supervisor::SpawnResult spawned = supervisor::spawn(request);
  for (int fd : {in, fds[1], errs[1]}) {
    if (fd >= 0) close(fd);
  }
  if (spawned.pid <= 0) {
    close(fds[0]);
    close(errs[0]);
    if (file >= 0) close(file);
    *why = "cannot start " + argv[0] + ": " + spawned.stage + ": " + strerror(spawned.error);
    return false;
  }
  pid_ = spawned.pid;
  out_fd_ = fds[0];
  output_.clear();
  timed_out_ = false;
  group_ended_ = false;
  failure_ = spawned.ok() ? "" : "cannot start " + argv[0] + ": " + spawned.stage + ": " + strerror(spawned.error);
  done_ = std::move(done);
  err_fd_ = errs[0];
  err_file_ = file;
  err_kept_ = 0;
  err_cut_ = false;
  poll_ = watch(loop_, out_fd_, this, on_readable);
  err_poll_ = watch(loop_, err_fd_, this, on_stderr_readable);
  if (!poll_ || !err_poll_) fail("cannot watch its output");
  if (!timer_.start(timeout, [this] {
        timed_out_ = true;
        kill_group();
      }))
    fail("cannot start its timer");
  return true;
}

void LoginProbe::on_readable(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<LoginProbe*>(handle->data);
  if (status < 0) return self->fail(std::string("reading its output: ") + uv_strerror(status));
  self->read_available();
}

// Everything the pipe holds now; the end of the output closes it. More than the bound fails.
void LoginProbe::read_available() {
  if (out_fd_ < 0) return;
  char buffer[65536];
  bool too_much = false;
  bool ended = drain(out_fd_, buffer, [&](size_t n) {
    if (output_.size() + n > workspace::kMaxLoginEnvOutput) return !(too_much = true);
    output_.append(buffer, n);
    end_group_once_dumped();
    return true;
  });
  if (too_much) return fail("it printed more than " + std::to_string(workspace::kMaxLoginEnvOutput >> 20) + " MiB");
  if (ended) close_pipe();
}

// The dump is complete: what the profile started in the probe's process group (its pgid still
// pinned by the unreaped leader) is killed. A daemon that left the group (setsid) stays.
void LoginProbe::end_group_once_dumped() {
  if (group_ended_ || pid_ <= 0 || !std::string_view(output_).ends_with(workspace::kLoginEnvEnd)) return;
  group_ended_ = true;
  kill_group();
}

void LoginProbe::close_pipe() { unwatch(poll_, out_fd_); }

// Its stderr is read on the loop so that a profile writing without end fills no disk: the first
// kMaxLoginStderr bytes go to the file, the rest is read and dropped (said at the end of the file).

void LoginProbe::on_stderr_readable(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<LoginProbe*>(handle->data);
  if (status < 0) return self->close_stderr();
  self->read_stderr();
}

void LoginProbe::read_stderr() {
  if (err_fd_ < 0) return;
  char buffer[16384];
  if (drain(err_fd_, buffer, [&](size_t n) {
        keep_stderr(buffer, n);
        return true;
      })) close_stderr();
}

void LoginProbe::keep_stderr(const char* data, size_t size) {
  size_t room = kMaxLoginStderr - err_kept_;
  if (size > room) err_cut_ = true;
  size_t take = std::min(size, room);
  if (take == 0 || err_file_ < 0) return;
  if (write(err_file_, data, take) != static_cast<ssize_t>(take)) {
    close(err_file_);  // a full disk: the rest is dropped
    err_file_ = -1;
  }
  err_kept_ += take;
}

void LoginProbe::close_stderr() {
  unwatch(err_poll_, err_fd_);
  if (err_file_ >= 0) {
    if (err_cut_) {
      std::string note = "\n[wsinit: the login shell wrote more; only its first " + std::to_string(kMaxLoginStderr >> 10) +
                         " KiB are kept]\n";
      [[maybe_unused]] ssize_t written = write(err_file_, note.data(), note.size());  // for people only
    }
    close(err_file_);
  }
  err_file_ = -1;
}

// Killed for a reason of ours; the reaper still ends it.
void LoginProbe::fail(std::string why) {
  if (failure_.empty()) failure_ = std::move(why);
  close_pipe();
  kill_group();
}

void LoginProbe::kill_group() {
  if (pid_ > 0 && kill(-pid_, SIGKILL) < 0 && errno != ESRCH)
    spdlog::warn("login environment: cannot kill process group {}: {}", pid_, strerror(errno));
}

// From the reaper, in the same call as the waitpid that reaped the leader. What the shell wrote
// is all in the pipe by now; reading it may end the group once the dump is complete (the exit
// can be reaped before the loop has read the pipe). Its group may still be signalled here and
// never later: the kernel keeps a pid number taken while any process has it as its process
// group, and an empty group's number comes round again only after the whole pid space.
void LoginProbe::on_exit(pid_t pid, int wait_status) {
  if (!owns(pid)) return;
  read_available();
  pid_ = -1;  // from here on nothing signals its group
  close_pipe();
  read_stderr();  // what it wrote before it ended; a daemon it left behind writes to no one
  close_stderr();
  timer_.stop();
  Result result;
  if (timed_out_) {
    result.kind = Result::Kind::timed_out;
  } else if (!failure_.empty()) {
    result.why = std::move(failure_);
  } else {
    result.kind = Result::Kind::exited;
    result.output = std::move(output_);
    result.wait_status = wait_status;
  }
  failure_.clear();
  output_.clear();
  Done done = std::move(done_);
  done_ = nullptr;
  if (done) done(std::move(result));
}

}  // namespace wsinit::init
