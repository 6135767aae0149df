#include <fcntl.h>
#include <gtest/gtest.h>

#include "tests/unit/test_util.h"
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <string>

#include "common/environment.h"
#include "supervisor/spawn.h"

using namespace wsinit;
using namespace wsinit::supervisor;
using wsinit::testing::slurp;
using wsinit::testing::TempDir;

namespace {

int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

sigset_t set_of(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  return set;
}

// The SigBlk / SigIgn field /proc/PID/status shows for these signals.
std::string proc_field(std::initializer_list<int> signals) {
  unsigned long long bits = 0;
  for (int s : signals) bits |= 1ULL << (s - 1);
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", bits);
  return hex;
}

// The "mask X ignored Y" the child-state helper reports when spawned with `signals`, while this
// process has SIGUSR1 blocked and SIGUSR2 ignored (neither may reach the child).
std::string signals_of_child(std::optional<SignalState> signals) {
  TempDir dir;
  std::string out = dir.path + "/out";
  int fd = open(out.c_str(), O_WRONLY | O_CREAT, 0644);
  sigset_t own = set_of({SIGUSR1});
  sigprocmask(SIG_BLOCK, &own, nullptr);
  signal(SIGUSR2, SIG_IGN);
  auto r = spawn({.argv = {CHILD_STATE}, .env = {}, .stdout_fd = fd, .signals = signals});
  sigprocmask(SIG_UNBLOCK, &own, nullptr);
  signal(SIGUSR2, SIG_DFL);
  close(fd);
  EXPECT_TRUE(r.ok()) << r.stage << " " << r.error;
  if (r.pid > 0) {
    EXPECT_EQ(WEXITSTATUS(wait_for(r.pid)), 0);
  }
  std::string report = slurp(out);
  return report.substr(0, report.find(" fds"));
}

}  // namespace

TEST(FindExecutable, SearchesPathAndRemembersPermissionProblems) {
  TempDir dir;
  std::string plain = dir.path + "/tool";
  std::ofstream(plain) << "#!/bin/sh\n";
  chmod(plain.c_str(), 0644);
  EXPECT_EQ(find_executable("tool", dir.path).error().code, EACCES);
  EXPECT_EQ(find_executable("no-such-tool", dir.path).error().code, ENOENT);
  EXPECT_EQ(find_executable("sh", "/nonexistent:/bin").value_or(""), "/bin/sh");
  chmod(plain.c_str(), 0755);
  EXPECT_EQ(find_executable("tool", "/nonexistent:" + dir.path).value_or(""), plain);
  EXPECT_EQ(find_executable("./relative", "").value_or(""), "./relative");
}

TEST(ExitCodes, NotFoundAndNotExecutable) {
  EXPECT_EQ(exit_code_for_spawn_error(ENOENT), 127);
  EXPECT_EQ(exit_code_for_spawn_error(EACCES), 126);
  EXPECT_EQ(exit_code_for_spawn_error(ENOEXEC), 126);
}

TEST(Spawn, ReportsLookupFailureWithoutForking) {
  auto r = spawn({.argv = {"no-such-program-anywhere"}, .env = {"PATH=/bin"}});
  EXPECT_EQ(r.pid, -1);
  EXPECT_EQ(r.error, ENOENT);
  EXPECT_EQ(r.stage, "lookup");
}

TEST(Spawn, ReportsExecFailureFromTheChild) {
  TempDir dir;
  std::string junk = dir.path + "/junk";
  std::ofstream(junk) << "\x7f" "ELF garbage";
  chmod(junk.c_str(), 0755);
  auto r = spawn({.argv = {junk}, .env = {}});
  ASSERT_GT(r.pid, 0);
  EXPECT_EQ(r.error, ENOEXEC);
  EXPECT_EQ(r.stage, "exec");
  wait_for(r.pid);
}

TEST(Spawn, ReportsChdirFailure) {
  auto r = spawn({.argv = {"/bin/true"}, .env = {}, .cwd = "/nonexistent-dir"});
  ASSERT_GT(r.pid, 0);
  EXPECT_EQ(r.error, ENOENT);
  EXPECT_EQ(r.stage, "chdir");
  wait_for(r.pid);
}

TEST(Spawn, ChildStartsCleanInItsOwnSession) {
  TempDir dir;
  std::string out = dir.path + "/out";
  int fd = open(out.c_str(), O_WRONLY | O_CREAT, 0644);
  int leak = open("/dev/null", O_RDONLY);  // must not reach the child
  ASSERT_GE(leak, 3);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigprocmask(SIG_BLOCK, &block, nullptr);
  signal(SIGUSR2, SIG_IGN);
  auto r = spawn({.argv = {"/bin/sh", "-c", "echo \"$VAR\"; pwd; exec " CHILD_STATE},
                  .env = {"PATH=/bin:/usr/bin", "VAR=value"},
                  .cwd = dir.path,
                  .stdout_fd = fd});
  sigprocmask(SIG_UNBLOCK, &block, nullptr);
  signal(SIGUSR2, SIG_DFL);
  close(fd);
  close(leak);
  ASSERT_TRUE(r.ok()) << r.stage << " " << r.error;
  EXPECT_EQ(WEXITSTATUS(wait_for(r.pid)), 0);
  std::string pid = std::to_string(r.pid);
  // Session and group leader; no terminal (tcgetpgrp fails: -1).
  EXPECT_EQ(slurp(out), "value\n" + dir.path + "\nmask 0000000000000000 ignored 0000000000000000 fds 0 1 2 pid " +
                            pid + " pgid " + pid + " sid " + pid + " tpgid -1\n");
}

// tini mode's CMD gets the mask and ignored signals wsinit was started with (tini's own test:
// INT, TTOU and SEGV ignored, TTIN, ILL and TERM blocked), and nothing of the spawner's own.
TEST(Spawn, ChildGetsTheSignalStateItIsGiven) {
  SignalState inherited{.blocked = set_of({SIGTTIN, SIGILL, SIGTERM}), .ignored = set_of({SIGINT, SIGTTOU, SIGSEGV})};
  EXPECT_EQ(signals_of_child(inherited), "mask " + proc_field({SIGTTIN, SIGILL, SIGTERM}) + " ignored " +
                                             proc_field({SIGINT, SIGTTOU, SIGSEGV}));
  SignalState realtime{.blocked = set_of({SIGRTMIN, SIGRTMAX}), .ignored = set_of({SIGRTMIN + 1, SIGCHLD})};
  EXPECT_EQ(signals_of_child(realtime), "mask " + proc_field({SIGRTMIN, SIGRTMAX}) + " ignored " +
                                            proc_field({SIGRTMIN + 1, SIGCHLD}));
}

// Services start from defaults whatever the spawner has.
TEST(Spawn, ChildWithoutAGivenSignalStateGetsDefaults) {
  EXPECT_EQ(signals_of_child(std::nullopt), "mask 0000000000000000 ignored 0000000000000000");
}

TEST(SignalState, ReadsTheMaskAndTheIgnoredSignals) {
  sigset_t block = set_of({SIGUSR1, SIGRTMIN + 2});
  sigset_t before;
  sigprocmask(SIG_BLOCK, &block, &before);
  signal(SIGUSR2, SIG_IGN);
  signal(SIGRTMAX, SIG_IGN);
  auto state = current_signal_state();
  signal(SIGUSR2, SIG_DFL);
  signal(SIGRTMAX, SIG_DFL);
  sigprocmask(SIG_SETMASK, &before, nullptr);
  ASSERT_TRUE(state);
  EXPECT_EQ(sigismember(&state->blocked, SIGUSR1), 1);
  EXPECT_EQ(sigismember(&state->blocked, SIGRTMIN + 2), 1);
  EXPECT_EQ(sigismember(&state->blocked, SIGUSR2), 0);
  EXPECT_EQ(sigismember(&state->ignored, SIGUSR2), 1);
  EXPECT_EQ(sigismember(&state->ignored, SIGRTMAX), 1);
  EXPECT_EQ(sigismember(&state->ignored, SIGUSR1), 0);
  EXPECT_EQ(sigismember(&state->ignored, SIGHUP), 0);
}

namespace {

// What a real child reads from its own /proc/self/oom_score_adj when spawned with `adj`.
struct AdjOfChild {
  std::string seen;
  int error = 0;
};
AdjOfChild adj_of_child(std::optional<int> adj) {
  TempDir dir;
  std::string out = dir.path + "/out";
  int fd = open(out.c_str(), O_WRONLY | O_CREAT, 0644);
  auto r = spawn({.argv = {"/bin/cat", "/proc/self/oom_score_adj"}, .env = {}, .stdout_fd = fd, .oom_score_adj = adj});
  close(fd);
  EXPECT_TRUE(r.ok()) << r.stage << " " << r.error;
  if (r.pid > 0) {
    EXPECT_EQ(WEXITSTATUS(wait_for(r.pid)), 0);
  }
  return {slurp(out), r.oom_score_adj_error};
}

}  // namespace

// The child writes its oom_score_adj itself, between fork and exec, so that what it runs starts
// with it; a value the kernel refuses is reported and the child runs on with what it inherited.
TEST(Spawn, ChildWritesItsOwnOomScoreAdj) {
  std::optional<int> own = current_oom_score_adj();
  ASSERT_TRUE(own.has_value());
  ASSERT_LT(*own, 1000) << "the test raises the child above its parent";
  std::string own_text = std::to_string(*own) + "\n";
  EXPECT_EQ(adj_of_child(std::nullopt).seen, own_text);
  for (int raised : {*own + 1, 500 > *own ? 500 : *own + 1, 1000}) {
    auto child = adj_of_child(raised);
    EXPECT_EQ(child.seen, std::to_string(raised) + "\n");
    EXPECT_EQ(child.error, 0);
  }
  auto out_of_range = adj_of_child(1001);
  EXPECT_EQ(out_of_range.seen, own_text);
  EXPECT_EQ(out_of_range.error, EINVAL);
  // Below the parent's: written as asked by a process with CAP_SYS_RESOURCE (root here, often),
  // refused (EACCES) to one without it. Either way the digits and the sign are the kernel's to read.
  auto lowered = adj_of_child(-1000);
  if (lowered.error == 0) EXPECT_EQ(lowered.seen, "-1000\n");
  else EXPECT_EQ(lowered.seen, own_text);
}

TEST(Spawn, OomScoreAdjIsOnlyRaised) {
  EXPECT_EQ(oom_score_adj_to_write(500, 0), 500);
  EXPECT_EQ(oom_score_adj_to_write(500, std::nullopt), 500);  // unknown: tried
  EXPECT_EQ(oom_score_adj_to_write(500, 969), std::nullopt);  // a Kubernetes Burstable pod's
  EXPECT_EQ(oom_score_adj_to_write(0, 0), std::nullopt);
  EXPECT_EQ(oom_score_adj_to_write(std::nullopt, 0), std::nullopt);
  EXPECT_EQ(oom_score_adj_to_write(-5, -10), -5);
}

TEST(Spawn, ReadsItsOwnOomScoreAdj) {
  TempDir dir;
  std::string file = dir.path + "/adj";
  for (auto [text, value] : {std::pair{"0\n", std::optional<int>(0)}, {"-998\n", -998}, {"1000\n", 1000},
                             {"1001\n", std::nullopt}, {"x\n", std::nullopt}, {"", std::nullopt}}) {
    std::ofstream(file) << text;
    EXPECT_EQ(current_oom_score_adj(file.c_str()), value) << text;
  }
  EXPECT_EQ(current_oom_score_adj((dir.path + "/none").c_str()), std::nullopt);
}
