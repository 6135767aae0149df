// The memory cgroup telemetry watches: found from /proc/self/cgroup and mountinfo (v1, v2,
// nested, namespaced), its files parsed, OOM kills matched with deaths, and process trees summed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "telemetry/resources.h"
#include "tests/unit/test_util.h"

namespace wsinit::telemetry {
namespace {

using namespace std::chrono_literals;
using wsinit::testing::spit;
using wsinit::testing::TempDir;

// A cgroup v1 machine as Docker (no cgroup namespace) or this one shows it: every controller its
// own hierarchy, the container's part of each bind-mounted at /sys/fs/cgroup/<controller>.
constexpr const char* kV1Cgroup =
    "12:pids:/docker/abc\n"
    "11:memory:/docker/abc\n"
    "4:cpu,cpuacct:/docker/abc\n"
    "1:name=systemd:/docker/abc\n"
    "0::/docker/abc\n";
constexpr const char* kV1Mountinfo =
    "600 590 0:50 / / rw,relatime master:300 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n"
    "610 600 0:54 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755\n"
    "611 610 0:30 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid,nodev,noexec,relatime master:11 - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "612 610 0:32 /docker/abc /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:16 - cgroup cgroup rw,memory\n"
    "613 610 0:33 /docker/abc /sys/fs/cgroup/pids ro,nosuid,nodev,noexec,relatime master:17 - cgroup cgroup rw,pids\n";

TEST(Cgroup, V1IsTheMemoryHierarchysLineMappedThroughTheMountsRoot) {
  auto cg = locate_cgroup(kV1Cgroup, kV1Mountinfo);
  ASSERT_TRUE(cg);
  EXPECT_EQ(cg->version, CgroupVersion::v1);
  EXPECT_EQ(cg->memory_dir, "/sys/fs/cgroup/memory");
  EXPECT_EQ(cg->cpu_dir, "/sys/fs/cgroup/cpu,cpuacct");
}

// wsinit in a cgroup of its own below the part mounted (a test's child cgroup, a nested runtime).
TEST(Cgroup, V1NestedBelowTheMountedPart) {
  auto cg = locate_cgroup("9:memory:/docker/abc/oom-test-1\n4:cpu,cpuacct:/docker/abc/oom-test-1\n", kV1Mountinfo);
  ASSERT_TRUE(cg);
  EXPECT_EQ(cg->memory_dir, "/sys/fs/cgroup/memory/oom-test-1");
  EXPECT_EQ(cg->cpu_dir, "/sys/fs/cgroup/cpu,cpuacct/oom-test-1");
  // No hierarchy with the cpu controller ("cpuacct" is another): no throttling to read.
  EXPECT_EQ(locate_cgroup("9:memory:/docker/abc\n2:cpuacct:/docker/abc\n", kV1Mountinfo)->cpu_dir, "");
}

// The hybrid layout of a host (systemd's): v1 hierarchies at their root, and a cgroup2 mount
// with no controller. The memory controller is v1's, so v1 is the one read.
TEST(Cgroup, HybridTakesTheHierarchyThatHasMemory) {
  const char* own = "8:pids:/\n4:memory:/process_api/c92d\n2:cpuacct:/\n1:cpu:/\n0::/\n";
  const char* mounts =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
      "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
  auto cg = locate_cgroup(own, mounts);
  ASSERT_TRUE(cg);
  EXPECT_EQ(cg->version, CgroupVersion::v1);
  EXPECT_EQ(cg->memory_dir, "/sys/fs/cgroup/memory/process_api/c92d");
  EXPECT_EQ(cg->cpu_dir, "/sys/fs/cgroup/cpu");
}

// Kubernetes with cgroup v2 and a cgroup namespace: the container's cgroup is "/" of its view.
TEST(Cgroup, V2Namespaced) {
  const char* mounts =
      "1040 1030 0:300 / / rw - overlay overlay rw\n"
      "1046 1040 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot\n";
  auto cg = locate_cgroup("0::/\n", mounts);
  ASSERT_TRUE(cg);
  EXPECT_EQ(cg->version, CgroupVersion::v2);
  EXPECT_EQ(cg->memory_dir, "/sys/fs/cgroup");
  EXPECT_EQ(cg->cpu_dir, "/sys/fs/cgroup");
  // Nested inside it (a runtime that moves its init into a leaf), and a process outside the
  // namespace's root, which the kernel shows as "/.." steps: no directory here shows it.
  EXPECT_EQ(locate_cgroup("0::/init.scope\n", mounts)->memory_dir, "/sys/fs/cgroup/init.scope");
  EXPECT_FALSE(locate_cgroup("0::/../../kubepods/other\n", mounts));
  EXPECT_FALSE(locate_cgroup("0::/a/../b\n", mounts));
}

// Without a cgroup namespace, the container's own part of the hierarchy is bind-mounted: the
// path in /proc/self/cgroup is the hierarchy's, the mount's root field says which part it shows.
TEST(Cgroup, V2WithoutANamespaceMapsThroughTheRootField) {
  const char* own = "0::/kubepods/burstable/pod1/ctr\n";
  const char* mounts =
      "700 690 0:27 /kubepods/burstable/pod1/ctr /sys/fs/cgroup ro,relatime - cgroup2 cgroup2 rw\n"
      "701 690 0:27 /kubepods/burstable/pod1 /mnt/pod ro,relatime - cgroup2 cgroup2 rw\n"
      "702 690 0:27 /kubepods/burstable/pod1/ct /mnt/wrong ro,relatime - cgroup2 cgroup2 rw\n";
  auto cg = locate_cgroup(own, mounts);
  ASSERT_TRUE(cg);
  EXPECT_EQ(cg->memory_dir, "/sys/fs/cgroup");  // the mount showing the most of it
  EXPECT_EQ(locate_cgroup("0::/kubepods/burstable/pod1/ctr/sub\n", mounts)->memory_dir, "/sys/fs/cgroup/sub");
  EXPECT_EQ(locate_cgroup("0::/kubepods/burstable/pod1/other\n", mounts)->memory_dir, "/mnt/pod/other");
  EXPECT_FALSE(locate_cgroup("0::/kubepods/besteffort/x\n", mounts));  // not under any mount's root
}

TEST(Cgroup, MountPointsAreUnescaped) {
  auto cg = locate_cgroup("0::/a b\n", "5 1 0:27 / /mnt/cg\\040two\\134x rw - cgroup2 cgroup2 rw\n");
  ASSERT_TRUE(cg);
  EXPECT_EQ(cg->memory_dir, "/mnt/cg two\\x/a b");
}

TEST(Cgroup, NothingToWatch) {
  EXPECT_FALSE(locate_cgroup("", ""));
  EXPECT_FALSE(locate_cgroup("0::/\n", "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"));  // no cgroup2 mount
  // The memory hierarchy exists but this mount namespace does not show it: nothing to read, and
  // v2 cannot have the controller then.
  EXPECT_FALSE(locate_cgroup("4:memory:/x\n0::/\n", "41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"));
  EXPECT_FALSE(locate_cgroup("garbage\n::\n4:memory\n", kV1Mountinfo));
  EXPECT_FALSE(locate_cgroup("0::relative\n", "41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"));
}

// find_cgroup reads the two files; a v2 cgroup counts only with the memory controller.
TEST(Cgroup, FoundFromProcFilesAndV2NeedsTheMemoryController) {
  TempDir dir;
  mkdir((dir.path + "/proc").c_str(), 0755);
  mkdir((dir.path + "/proc/self").c_str(), 0755);
  mkdir((dir.path + "/cg").c_str(), 0755);
  spit(dir.path + "/proc/self/cgroup", "0::/\n");
  spit(dir.path + "/proc/self/mountinfo", "41 31 0:38 / " + dir.path + "/cg rw - cgroup2 cgroup2 rw\n");
  spit(dir.path + "/cg/cgroup.controllers", "cpuset cpu io pids\n");
  EXPECT_FALSE(find_cgroup(dir.path + "/proc"));
  spit(dir.path + "/cg/cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
  auto cg = find_cgroup(dir.path + "/proc");
  ASSERT_TRUE(cg);
  EXPECT_EQ(cg->memory_dir, dir.path + "/cg");
  EXPECT_FALSE(find_cgroup(dir.path + "/nothing"));
}

TEST(CgroupFiles, KeyedValues) {
  const char* events = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
  EXPECT_EQ(parse_keyed_value(events, "oom_kill"), 2u);
  EXPECT_EQ(parse_keyed_value(events, "oom"), 3u);
  EXPECT_EQ(parse_keyed_value(events, "oom_group"), std::nullopt);
  const char* oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n";
  EXPECT_EQ(parse_keyed_value(oom_control, "oom_kill"), 7u);
  EXPECT_EQ(parse_keyed_value("oom_kill_disable 0\nunder_oom 0\n", "oom_kill"), std::nullopt);  // before 4.13
  const char* v2_cpu = "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 10\nnr_throttled 4\nthrottled_usec 2500000\n";
  EXPECT_EQ(parse_keyed_value(v2_cpu, "throttled_usec"), 2'500'000u);
  EXPECT_EQ(parse_keyed_value(v2_cpu, "nr_throttled"), 4u);
  const char* v1_cpu = "nr_periods 0\nnr_throttled 0\nthrottled_time 1500000000\nnr_bursts 0\nburst_time 0\n";
  EXPECT_EQ(parse_keyed_value(v1_cpu, "throttled_time"), 1'500'000'000u);
  EXPECT_EQ(parse_keyed_value("oom_kill -1\n", "oom_kill"), std::nullopt);
  EXPECT_EQ(parse_keyed_value("oom_kill 99999999999999999999999\n", "oom_kill"), std::nullopt);
  EXPECT_EQ(parse_keyed_value("oom_kill", "oom_kill"), std::nullopt);
}

TEST(CgroupFiles, NumbersAndLimits) {
  EXPECT_EQ(parse_bytes("38596608\n"), 38596608u);
  EXPECT_EQ(parse_bytes(""), std::nullopt);
  EXPECT_EQ(parse_bytes("12 MiB\n"), std::nullopt);
  EXPECT_EQ(parse_limit("max\n"), std::nullopt);                   // v2: none
  EXPECT_EQ(parse_limit("9223372036854771712\n"), std::nullopt);   // v1 with 4 KiB pages: none
  EXPECT_EQ(parse_limit("9223372036854710272\n"), std::nullopt);   // v1 with 64 KiB pages: none
  EXPECT_EQ(parse_limit("100663296\n"), 100663296u);               // 96 MiB
}

void make_files(const std::string& dir, std::initializer_list<std::pair<const char*, const char*>> files) {
  for (auto [name, text] : files) spit(dir + "/" + name, text);
}

TEST(CgroupFiles, ReadsV2) {
  TempDir dir;
  make_files(dir.path, {{"memory.current", "52428800\n"},
                        {"memory.max", "100663296\n"},
                        {"memory.peak", "99614720\n"},
                        {"memory.events", "low 0\nhigh 0\nmax 40\noom 1\noom_kill 1\noom_group_kill 0\n"},
                        {"cpu.stat", "usage_usec 5\nnr_periods 3\nnr_throttled 2\nthrottled_usec 1250000\n"}});
  CgroupUsage u = read_cgroup({CgroupVersion::v2, dir.path, dir.path});
  EXPECT_EQ(u.memory_bytes, 52428800u);
  EXPECT_EQ(u.memory_limit_bytes, 100663296u);
  EXPECT_EQ(u.memory_peak_bytes, 99614720u);
  EXPECT_EQ(u.oom_kills, 1u);
  EXPECT_EQ(u.cpu_throttled_periods, 2u);
  EXPECT_DOUBLE_EQ(*u.cpu_throttled_s, 1.25);
  // No limit, no memory.peak (before 5.19), no cpu controller: those are unknown, not zero.
  make_files(dir.path, {{"memory.max", "max\n"}, {"cpu.stat", "usage_usec 5\n"}});
  unlink((dir.path + "/memory.peak").c_str());
  u = read_cgroup({CgroupVersion::v2, dir.path, dir.path});
  EXPECT_EQ(u.memory_limit_bytes, std::nullopt);
  EXPECT_EQ(u.memory_peak_bytes, std::nullopt);
  EXPECT_EQ(u.cpu_throttled_s, std::nullopt);
  EXPECT_EQ(u.memory_bytes, 52428800u);
}

TEST(CgroupFiles, ReadsV1) {
  TempDir memory, cpu;
  make_files(memory.path, {{"memory.usage_in_bytes", "38596608\n"},
                           {"memory.limit_in_bytes", "9223372036854771712\n"},
                           {"memory.max_usage_in_bytes", "42221568\n"},
                           {"memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"}});
  make_files(cpu.path, {{"cpu.stat", "nr_periods 7\nnr_throttled 1\nthrottled_time 250000000\n"}});
  CgroupUsage u = read_cgroup({CgroupVersion::v1, memory.path, cpu.path});
  EXPECT_EQ(u.memory_bytes, 38596608u);
  EXPECT_EQ(u.memory_limit_bytes, std::nullopt);
  EXPECT_EQ(u.memory_peak_bytes, 42221568u);
  EXPECT_EQ(u.oom_kills, 3u);
  EXPECT_EQ(read_oom_kills({CgroupVersion::v1, memory.path, ""}), 3u);
  EXPECT_DOUBLE_EQ(*u.cpu_throttled_s, 0.25);
  // No cpu hierarchy mounted: no throttling figure.
  EXPECT_EQ(read_cgroup({CgroupVersion::v1, memory.path, ""}).cpu_throttled_s, std::nullopt);
}

// A file that never ends (a device put where a cgroup file should be) is not read without end.
TEST(CgroupFiles, ReadsAreBounded) {
  TempDir dir;
  ASSERT_EQ(symlink("/dev/zero", (dir.path + "/memory.events").c_str()), 0);
  spit(dir.path + "/memory.current", std::string(1 << 20, '1'));
  CgroupUsage u = read_cgroup({CgroupVersion::v2, dir.path, dir.path});
  EXPECT_EQ(u.oom_kills, std::nullopt);
  EXPECT_EQ(u.memory_bytes, std::nullopt);
}

TEST(OomLedger, TheFirstReadingIsTheBaseline) {
  OomLedger ledger(2s);
  auto t = OomLedger::Clock::time_point{} + 100s;
  ledger.observe(5, t);  // five kills before wsinit started
  EXPECT_EQ(ledger.total(), 0u);
  EXPECT_FALSE(ledger.claim());
  ledger.observe(5, t + 1s);
  EXPECT_FALSE(ledger.claim());  // a SIGKILL with no rise: not the OOM killer's
}

TEST(OomLedger, ADeathClaimsARise) {
  OomLedger ledger(2s);
  auto t = OomLedger::Clock::time_point{} + 100s;
  ledger.observe(0, t);
  ledger.observe(1, t + 1s);
  EXPECT_EQ(ledger.total(), 1u);
  EXPECT_TRUE(ledger.claim());
  EXPECT_FALSE(ledger.claim());  // one kill, one death
  EXPECT_EQ(ledger.expire(t + 10s), 0u);
  EXPECT_EQ(ledger.total(), 1u);
}

// Kills no service death claims within the grace are given up on (a process deeper in a
// service's tree, or none of theirs) and counted in the total all the same.
TEST(OomLedger, UnclaimedRisesExpireAfterTheGrace) {
  OomLedger ledger(2s);
  auto t = OomLedger::Clock::time_point{} + 100s;
  ledger.observe(10, t);
  ledger.observe(13, t + 1s);  // three at once
  EXPECT_TRUE(ledger.claim());
  EXPECT_EQ(ledger.unclaimed(), 2u);
  EXPECT_EQ(ledger.next_expiry(), t + 3s);
  EXPECT_EQ(ledger.expire(t + 2s), 0u);
  ledger.observe(14, t + 2500ms);
  EXPECT_EQ(ledger.expire(t + 3s), 2u);  // the first rise's; the later one waits its own grace
  EXPECT_EQ(ledger.unclaimed(), 1u);
  EXPECT_EQ(ledger.next_expiry(), t + 4500ms);
  EXPECT_EQ(ledger.expire(t + 5s), 1u);
  EXPECT_EQ(ledger.next_expiry(), std::nullopt);
  EXPECT_EQ(ledger.total(), 4u);
  ledger.observe(2, t + 6s);  // went back: another counter; a new baseline, nothing counted
  ledger.observe(3, t + 7s);
  EXPECT_EQ(ledger.total(), 5u);
}

TEST(OomLedger, ManyRisesStayBounded) {
  OomLedger ledger(2s);
  auto t = OomLedger::Clock::time_point{} + 100s;
  ledger.observe(0, t);
  for (int i = 1; i <= 10000; ++i) ledger.observe(static_cast<std::uint64_t>(i), t + std::chrono::milliseconds(i));
  EXPECT_EQ(ledger.unclaimed(), 10000u);
  EXPECT_EQ(ledger.expire(t + 1h), 10000u);
}

TEST(ProcessTrees, EachServiceSumsItsTree) {
  auto proc = [](pid_t pid, pid_t ppid, std::uint64_t ticks, std::uint64_t pages) {
    Process p;
    p.pid = pid;
    p.ppid = ppid;
    p.cpu_ticks = ticks;
    p.rss_pages = pages;
    return p;
  };
  std::vector<Process> table = {proc(1, 0, 5, 100),   // wsinit: no service's
                                proc(10, 1, 100, 10),  // build
                                proc(11, 10, 200, 20), proc(12, 11, 300, 30),
                                proc(20, 1, 50, 5),    // web
                                proc(30, 1, 1, 1)};    // an orphan
  auto usage = usage_by_root(table, {{"build", 10}, {"web", 20}, {"gone", 99}});
  ASSERT_EQ(usage.size(), 3u);
  EXPECT_EQ(usage[0].processes, 3u);
  EXPECT_EQ(usage[0].memory_bytes, pages_to_bytes(60));
  EXPECT_DOUBLE_EQ(usage[0].cpu_s, ticks_to_seconds(600));
  EXPECT_EQ(usage[1].memory_bytes, pages_to_bytes(5));
  EXPECT_EQ(usage[2].processes, 0u);
}

TEST(Resources, MebibytesAsTheLogSaysThem) {
  EXPECT_EQ(format_mib(512ull << 20), "512 MiB");
  EXPECT_EQ(format_mib((511ull << 20) + (1 << 19) + 1), "512 MiB");
  EXPECT_EQ(format_mib(0), "0 MiB");
}

}  // namespace
}  // namespace wsinit::telemetry
