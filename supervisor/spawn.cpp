#include "supervisor/spawn.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "common/environment.h"

namespace wsinit::supervisor {
namespace {

// What a child reports over the CLOEXEC pipe when it cannot exec.
struct ChildFailure {
  int stage;
  int error;
};
enum Stage { kStageSession, kStageStdio, kStageChdir, kStageSignals, kStageExec };
const char* stage_name(int stage) {
  switch (stage) {
    case kStageSession: return "session";
    case kStageStdio: return "stdio";
    case kStageChdir: return "chdir";
    case kStageSignals: return "signals";
    default: return "exec";
  }
}

[[noreturn]] void child_fail(int report_fd, int stage) {
  ChildFailure failure{stage, errno};
  ssize_t ignored = write(report_fd, &failure, sizeof failure);
  (void)ignored;
  _exit(127);
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

  ChildFailure failure{};
  ssize_t n;
  do {
    n = read(report[0], &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof failure)) return {pid, failure.error, stage_name(failure.stage)};
  return {pid, 0, ""};
}

}  // namespace wsinit::supervisor
