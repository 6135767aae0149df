// The process table telemetry reads: /proc/PID/stat parsed, and processes assigned to services.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <thread>

#include "telemetry/processes.h"

namespace wsinit::telemetry {
namespace {

TEST(ProcessStat, ParsesTheFieldsTelemetryNeeds) {
  auto p = parse_stat("42 (node) S 7 42 42 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 11 0 12345 999 77 "
                      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->pid, 42);
  EXPECT_EQ(p->ppid, 7);
  EXPECT_EQ(p->comm, "node");
  EXPECT_EQ(p->cpu_ticks, 350u);  // 250 + 50 + 30 + 20
  EXPECT_EQ(p->start_ticks, 12345u);
  EXPECT_EQ(p->rss_pages, 77u);
}

TEST(ProcessStat, ACommWithSpacesAndParenthesesIsTakenWhole) {
  auto p = parse_stat("9 (a) b) (c ) R 1 9 9 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 5 6 7 8");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->comm, "a) b) (c ");
  EXPECT_EQ(p->ppid, 1);
  EXPECT_EQ(p->cpu_ticks, 10u);
  EXPECT_EQ(p->rss_pages, 7u);
}

TEST(ProcessStat, RefusesWhatIsNotAStatLine) {
  EXPECT_FALSE(parse_stat(""));
  EXPECT_FALSE(parse_stat("42 (node) S 7"));                       // cut short
  EXPECT_FALSE(parse_stat("x (node) S 7 1 1 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 5 6 7"));
  EXPECT_FALSE(parse_stat("42 node S 7 1 1 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 5 6 7"));  // no parentheses
  EXPECT_FALSE(parse_stat("42 (n) S -3 1 1 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 5 6 7"));   // negative ppid
}

TEST(ProcessStat, APidPastPidTIsRefusedNotWrapped) {
  EXPECT_FALSE(parse_stat("4294967298 (x) S 1 5 5 0 -1 0 0 0 0 0 10 10 0 0 20 0 1 0 5 6 7"));
  EXPECT_FALSE(parse_stat("5 (x) S 728414470914 5 5 0 -1 0 0 0 0 0 10 10 0 0 20 0 1 0 5 6 7"));
}

TEST(ProcessStat, NegativeChildTimesCountAsNone) {
  auto p = parse_stat("5 (x) S 1 5 5 0 -1 0 0 0 0 0 10 10 -4 -4 20 0 1 0 5 6 -1");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->cpu_ticks, 20u);
  EXPECT_EQ(p->rss_pages, 0u);
}

TEST(ProcessTable, ReadsThisProcessAndAChildBelowIt) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  bool seen_self = false, seen_child = false;
  for (const auto& p : read_processes()) {
    if (p.pid == getpid()) seen_self = p.rss_pages > 0 && p.ppid == getppid();
    if (p.pid == child) seen_child = p.ppid == getpid();
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(seen_self);
  EXPECT_TRUE(seen_child);
}

TEST(ProcessTable, CpuTicksGrowWithWork) {
  auto ticks = [] {
    for (const auto& p : read_processes())
      if (p.pid == getpid()) return p.cpu_ticks;
    return std::uint64_t{0};
  };
  std::uint64_t start = ticks();
  // 50 ms of this process's own CPU time (five ticks at 100 Hz), within 10 s of wall time.
  std::clock_t cpu_start = std::clock();
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  volatile std::uint64_t spin = 0;
  while (std::clock() - cpu_start < CLOCKS_PER_SEC / 20 && std::chrono::steady_clock::now() < give_up) spin = spin + 1;
  EXPECT_GT(ticks(), start);
  EXPECT_DOUBLE_EQ(ticks_to_seconds(static_cast<std::uint64_t>(sysconf(_SC_CLK_TCK))), 1.0);
}

TEST(ProcessOwners, EachProcessBelongsToItsNearestRoot) {
  std::vector<Process> ps = {{1, 0}, {10, 1}, {11, 10}, {12, 11}, {20, 1}, {21, 20}, {30, 12}, {99, 1}};
  // 12 is itself a root below 10: 30 belongs to 12's service, not 10's.
  std::vector<Root> roots = {{"web", 10}, {"build", 12}, {"sshd", 20}, {"gone", 555}};
  auto owner = owners(ps, roots);
  EXPECT_EQ(owner.at(10), 0u);
  EXPECT_EQ(owner.at(11), 0u);
  EXPECT_EQ(owner.at(12), 1u);
  EXPECT_EQ(owner.at(30), 1u);
  EXPECT_EQ(owner.at(20), 2u);
  EXPECT_EQ(owner.at(21), 2u);
  EXPECT_EQ(owner.count(1), 0u);
  EXPECT_EQ(owner.count(99), 0u);
}

// A runaway recursive script makes a chain as deep as the pid limit lets it: every process in it
// belongs to the service above, and processes below a cycle belong to nobody.
TEST(ProcessOwners, ADeepChainBelongsToItsServiceAndACycleToNobody) {
  std::vector<Process> ps;
  for (pid_t pid = 2; pid <= 32768; ++pid) ps.push_back({pid, pid - 1});
  ps.push_back({40000, 40001});
  ps.push_back({40001, 40000});
  ps.push_back({40002, 40001});
  auto owner = owners(ps, {{"script", 2}});
  EXPECT_EQ(owner.size(), 32767u);
  EXPECT_EQ(owner.at(32768), 0u);
  EXPECT_EQ(owner.count(40002), 0u);
}

TEST(ProcessOwners, ACycleFromReusedPidsEnds) {
  std::vector<Process> ps = {{5, 6}, {6, 5}, {7, 5}};
  auto owner = owners(ps, {{"x", 100}});
  EXPECT_TRUE(owner.empty());
}

}  // namespace
}  // namespace wsinit::telemetry
