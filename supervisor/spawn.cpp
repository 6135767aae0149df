#include "supervisor/spawn.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <string_view>

#include "common/environment.h"

namespace wsinit::supervisor {
namespace {

// What a child reports over the CLOEXEC pipe when it cannot exec.
struct ChildFailure {
  int stage;
  int error;
};
enum Stage { kStageSession, kStageStdio, kStageChdir, kStageSignals, kStageExec, kStageOomScoreAdj };
const char* stage_name(int stage) {
  switch (stage) {
    case kStageSession: return "session";
    case kStageStdio: return "stdio";
    case kStageChdir: return "chdir";
    case kStageSignals: return "signals";
    default: return "exec";
  }
}

// Said over the pipe; the child goes on (a record is under PIPE_BUF: written whole or not at all).
void child_report(int report_fd, int stage) {
  ChildFailure failure{stage, errno};
  ssize_t ignored = write(report_fd, &failure, sizeof failure);
  (void)ignored;
}

[[noreturn]] void child_fail(int report_fd, int stage) {
  child_report(report_fd, stage);
  _exit(127);
}

// "-1000" to "1000" and a newline into `out` (at least 13 bytes), without allocating: the child
// between fork and exec may only make async-signal-safe calls. Returns the length.
size_t format_adj(int value, char* out) {
  char digits[12];
  size_t n = 0;
  unsigned magnitude = value < 0 ? 0u - static_cast<unsigned>(value) : static_cast<unsigned>(value);
  do {
    digits[n++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0 && n < sizeof digits);
  size_t length = 0;
  if (value < 0) out[length++] = '-';
  while (n > 0) out[length++] = digits[--n];
  out[length++] = '\n';
  return length;
}

// False with errno set when the kernel refused it (a value below ours without CAP_SYS_RESOURCE,
// no /proc): the caller says so and execs anyway.
bool write_oom_score_adj(int value) {
  char text[16];
  size_t length = format_adj(value, text);
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t written = write(fd, text, length);
  int error = errno;
  close(fd);
  if (written == static_cast<ssize_t>(length)) return true;
  errno = written < 0 ? error : EIO;
  return false;
}

void set_cloexec_from_3() {
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  struct rlimit limit;
  int max_fd = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 65536 ? static_cast<int>(limit.rlim_cur) : 65536;
  for (int fd = 3; fd < max_fd; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

// Whether signal `s` has a disposition one may read and set: not KILL or STOP, nor one of those
// glibc keeps for itself between the standard signals and SIGRTMIN (32 and 33).
bool has_disposition(int s, int first_realtime) {
  return s != SIGKILL && s != SIGSTOP && (s <= SIGSYS || s >= first_realtime);
}

// The child's signals, worked out before fork so that the child only makes system calls.
struct ChildSignals {
  sigset_t blocked;
  sigset_t ignored;
  int first_realtime;  // SIGRTMIN
};
ChildSignals child_signals(const SpawnRequest& r) {
  ChildSignals c;
  if (r.signals) {
    c.blocked = r.signals->blocked;
    c.ignored = r.signals->ignored;
  } else {
    sigemptyset(&c.blocked);
    sigemptyset(&c.ignored);
  }
  c.first_realtime = SIGRTMIN;
  return c;
}

// Every disposition the default but the ignored ones, then the mask. Until then everything
// stays blocked, as it was across fork. False with errno set when a call fails.
bool set_signals(const ChildSignals& c) {
  struct sigaction action {};
  sigemptyset(&action.sa_mask);
  for (int s = 1; s < NSIG; ++s) {
    if (!has_disposition(s, c.first_realtime)) continue;
    action.sa_handler = sigismember(&c.ignored, s) == 1 ? SIG_IGN : SIG_DFL;
    if (sigaction(s, &action, nullptr) < 0) return false;
  }
  return sigprocmask(SIG_SETMASK, &c.blocked, nullptr) == 0;
}

// Runs in the child between fork and exec: only async-signal-safe calls.
[[noreturn]] void run_child(const SpawnRequest& r, const ChildSignals& signals, const char* path, char* const argv[],
                            char* const envp[], int report_fd) {
  if (r.grouping == SpawnRequest::Grouping::new_session) {
    if (setsid() < 0) child_fail(report_fd, kStageSession);
  } else {
    if (setpgid(0, 0) < 0) child_fail(report_fd, kStageSession);
    // Signals are still blocked here, so SIGTTOU cannot stop us while in the background.
    if (isatty(STDIN_FILENO)) tcsetpgrp(STDIN_FILENO, getpid());
  }
  const int targets[] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
  const int sources[] = {r.stdin_fd, r.stdout_fd, r.stderr_fd};
  for (int i = 0; i < 3; ++i) {
    if (sources[i] >= 0 && sources[i] != targets[i] && dup2(sources[i], targets[i]) < 0)
      child_fail(report_fd, kStageStdio);
  }
  if (!r.cwd.empty() && chdir(r.cwd.c_str()) < 0) child_fail(report_fd, kStageChdir);
  if (r.oom_score_adj && !write_oom_score_adj(*r.oom_score_adj)) child_report(report_fd, kStageOomScoreAdj);
  set_cloexec_from_3();
  if (!set_signals(signals)) child_fail(report_fd, kStageSignals);
  execve(path, argv, envp);
  child_fail(report_fd, kStageExec);
}

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::optional<SignalState> current_signal_state() {
  SignalState state;
  sigemptyset(&state.ignored);
  if (sigprocmask(SIG_BLOCK, nullptr, &state.blocked) < 0) return std::nullopt;
  const int first_realtime = SIGRTMIN;
  for (int s = 1; s < NSIG; ++s) {
    if (!has_disposition(s, first_realtime)) continue;
    struct sigaction action;
    if (sigaction(s, nullptr, &action) < 0) return std::nullopt;
    if (action.sa_handler == SIG_IGN) sigaddset(&state.ignored, s);
  }
  return state;
}

std::optional<int> current_oom_score_adj(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char text[16];
  ssize_t n = read(fd, text, sizeof text);
  close(fd);
  if (n <= 0) return std::nullopt;
  std::string_view value(text, static_cast<size_t>(n));
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
  int adj = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), adj);
  if (error != std::errc() || end != value.data() + value.size() || adj < -1000 || adj > 1000) return std::nullopt;
  return adj;
}

std::optional<int> oom_score_adj_to_write(std::optional<int> wanted, std::optional<int> inherited) {
  if (!wanted || (inherited && *wanted <= *inherited)) return std::nullopt;
  return wanted;
}

int exit_code_for_spawn_error(int error) { return error == ENOENT || error == ENOTDIR ? 127 : 126; }

int exit_status_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

SpawnResult spawn(const SpawnRequest& request) {
  if (request.argv.empty()) return {-1, EINVAL, "lookup"};
  auto found = find_executable(request.argv[0], search_path(request.env));
  if (!found) return {-1, found.error().code, "lookup"};

  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) return {-1, errno, "pipe"};
  auto argv = c_strings(request.argv);
  auto envp = c_strings(request.env);
  ChildSignals signals = child_signals(request);

  // Blocked across fork: the child must not run our handlers before it resets them.
  sigset_t all, previous;
  sigfillset(&all);
  if (sigprocmask(SIG_SETMASK, &all, &previous) < 0) {
    int error = errno;
    close(report[0]);
    close(report[1]);
    return {-1, error, "signals"};
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(report[0]);
    run_child(request, signals, found->c_str(), argv.data(), envp.data(), report[1]);
  }
  int fork_error = errno;
  sigprocmask(SIG_SETMASK, &previous, nullptr);
  close(report[1]);
  if (pid < 0) {
    close(report[0]);
    return {-1, fork_error, "fork"};
  }
  if (request.grouping == SpawnRequest::Grouping::foreground) setpgid(pid, pid);  // closes the race with kill(-pid)

  // What the child said before it exec'd (the pipe closes then) or gave up: a failed
  // oom_score_adj (it went on), then at most one failure.
  SpawnResult result{pid, 0, ""};
  for (;;) {
    ChildFailure failure{};
    ssize_t n = read(report[0], &failure, sizeof failure);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof failure)) break;
    if (failure.stage == kStageOomScoreAdj) {
      result.oom_score_adj_error = failure.error;
      continue;
    }
    result.error = failure.error;
    result.stage = stage_name(failure.stage);
    break;
  }
  close(report[0]);
  return result;
}

}  // namespace wsinit::supervisor
