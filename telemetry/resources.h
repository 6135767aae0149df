// telemetry/resources.h: what the workspace's processes cost: the memory cgroup wsinit runs in
// (limit, usage, OOM kills; cgroup v1 and v2) and the memory and CPU of each service's process tree.
// Uses common/ only.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/timer.h"
#include "telemetry/processes.h"

namespace wsinit::telemetry {

// ---- the memory cgroup wsinit runs in ----

enum class CgroupVersion { v1, v2 };
const char* cgroup_version_name(CgroupVersion version);  // "v1" | "v2"

// wsinit's cgroup, as directories of this mount namespace.
struct Cgroup {
  CgroupVersion version = CgroupVersion::v2;
  std::string memory_dir;  // v2: the cgroup's directory; v1: its directory in the memory hierarchy
  std::string cpu_dir;     // where cpu.stat is (v1: the cpu hierarchy's); empty: nowhere
  bool operator==(const Cgroup&) const = default;
};

// From the text of /proc/self/cgroup and /proc/self/mountinfo, nothing read: v1 when a v1
// hierarchy carries the memory controller (a controller lives in one hierarchy at most), that
// line's path on a `cgroup` mount with the `memory` option; else v2, the `0::/path` line on a
// `cgroup2` mount. The path is mapped through the mount's root (the part of the hierarchy it
// shows) to its mount point; nullopt when no mount shows it (another namespace's, `/..`).
std::optional<Cgroup> locate_cgroup(std::string_view proc_cgroup, std::string_view mountinfo);

// Reads those two files under `proc` (bounded) and locates the cgroup; a v2 one counts only when
// its cgroup.controllers lists memory. nullopt: no memory cgroup to watch.
std::optional<Cgroup> find_cgroup(const std::string& proc = "/proc");

// What the cgroup's files say; nullopt for what is absent or unreadable, and for a limit: none.
struct CgroupUsage {
  std::optional<std::uint64_t> memory_bytes;        // v2 memory.current, v1 memory.usage_in_bytes
  std::optional<std::uint64_t> memory_limit_bytes;  // v2 memory.max, v1 memory.limit_in_bytes
  std::optional<std::uint64_t> memory_peak_bytes;   // v2 memory.peak (5.19+), v1 memory.max_usage_in_bytes
  std::optional<std::uint64_t> oom_kills;           // the kernel's counter, since the cgroup was made
  std::optional<std::uint64_t> cpu_throttled_periods;  // cpu.stat nr_throttled
  std::optional<double> cpu_throttled_s;            // v2 throttled_usec, v1 throttled_time (ns)
};

// The value of `key` in "key value" lines (memory.events, memory.oom_control, cpu.stat).
std::optional<std::uint64_t> parse_keyed_value(std::string_view text, std::string_view key);
// One decimal number and a newline (memory.current, memory.usage_in_bytes, ...).
std::optional<std::uint64_t> parse_bytes(std::string_view text);
// A memory limit; nullopt for none: v2 "max", v1 its "unlimited" (PAGE_COUNTER_MAX pages,
// 9223372036854771712 with 4 KiB pages: anything from 2^62 up).
std::optional<std::uint64_t> parse_limit(std::string_view text);

// Every file of `cgroup` that makes CgroupUsage, each read bounded.
CgroupUsage read_cgroup(const Cgroup& cgroup);
// The OOM kill counter alone (v2 memory.events oom_kill, v1 memory.oom_control oom_kill).
std::optional<std::uint64_t> read_oom_kills(const Cgroup& cgroup);

// ---- each service's process tree ----

struct TreeUsage {
  std::uint64_t memory_bytes = 0;  // resident
  double cpu_s = 0;                // user + system, reaped children included
  std::size_t processes = 0;
};
// For each of `roots` (same index), the sum over the processes it owns (owners()).
std::vector<TreeUsage> usage_by_root(const std::vector<Process>& processes, const std::vector<Root>& roots);

// ---- OOM kills: the cgroup's counter matched with the deaths wsinit sees ----

// The kernel counts an OOM kill before it sends the SIGKILL ("Raise event before sending
// signal: task reaper must see this", mm/oom_kill.c), so a counter read at a reap already holds
// the kill of the process reaped. A service's process found dead of a SIGKILL wsinit did not
// send, with the counter risen, was killed for memory: it claims one kill. A rise that no such
// death claims within `grace` was a process no service started itself (one deeper in a
// service's tree, or none of theirs); those are given up on (expire) and said as such.
class OomLedger {
 public:
  using Clock = std::chrono::steady_clock;
  explicit OomLedger(std::chrono::milliseconds grace = std::chrono::seconds(2)) : grace_(grace) {}
  // A reading of the counter. The first is the baseline: kills before wsinit started are not its.
  void observe(std::uint64_t counter, Clock::time_point now);
  // A service's process died of a SIGKILL wsinit did not send: takes the oldest unclaimed kill.
  bool claim();
  // The unclaimed kills seen at least `grace` ago, given up on now.
  std::uint64_t expire(Clock::time_point now);
  std::uint64_t unclaimed() const;
  std::uint64_t total() const { return total_; }  // kills since the baseline, claimed or not
  // When the oldest unclaimed kill is due to expire; nullopt: none is waiting.
  std::optional<Clock::time_point> next_expiry() const;

 private:
  struct Rise {
    Clock::time_point seen;
    std::uint64_t kills;
  };
  static constexpr std::size_t kMaxRises = 64;  // rises waiting; more merge into the newest
  std::chrono::milliseconds grace_;
  std::optional<std::uint64_t> last_;
  std::deque<Rise> rises_;
  std::uint64_t total_ = 0;
};

// ---- what status and metrics show ----

struct Resources {
  std::optional<std::uint64_t> memory_bytes;
  std::optional<std::uint64_t> memory_limit_bytes;  // nullopt: no limit (or no cgroup)
  std::optional<std::uint64_t> memory_peak_bytes;
  std::uint64_t oom_kills = 0;  // in the cgroup since wsinit started, whoever was killed
  std::optional<std::uint64_t> cpu_throttled_periods;
  std::optional<double> cpu_throttled_s;
  std::optional<std::string> cgroup;  // "v1" | "v2"; nullopt: no memory cgroup found
  struct Usage {
    pid_t pid = 0;  // the service's process when sampled: a newer one has no figures yet
    std::uint64_t memory_bytes = 0;
    double cpu_s = 0;
  };
  std::map<std::string, Usage> services;  // by name: those that had a process at the last sample
};

// "512 MiB": whole MiB, rounded.
std::string format_mib(std::uint64_t bytes);

// Samples the cgroup and the services' process trees on a libuv timer, and tells OOM kills
// apart. Sampling changes numbers only (readers see them when they ask); an OOM kill no service
// claims is logged and told through `on_oom_kill`.
class Monitor {
 public:
  struct Hooks {
    std::function<std::vector<Root>()> roots;  // the services' processes now
    std::function<void()> on_oom_kill;         // kills of processes that were no service's own
  };
  Monitor(uv_loop_t* loop, Hooks hooks, std::optional<Cgroup> cgroup);
  // Samples now, then every `period`; false (said) when the timer cannot run.
  bool start(std::chrono::milliseconds period);
  void sample();
  // A service's process died of a SIGKILL wsinit did not send: whether the kernel's OOM killer
  // did it, with the memory as the log says it ("limit 512 MiB, peak 511 MiB") when it did.
  std::optional<std::string> claim_oom_kill();
  const Resources& resources() const { return resources_; }
  const std::optional<Cgroup>& cgroup() const { return cgroup_; }

 private:
  void observe_oom_counter(std::optional<std::uint64_t> counter);
  void expire_oom_kills();
  std::string memory_words(const CgroupUsage& usage) const;

  Hooks hooks_;
  std::optional<Cgroup> cgroup_;
  OomLedger ledger_;
  Resources resources_;
  static constexpr std::chrono::milliseconds kOomCounterPeriod{500};
  Timer sample_timer_;
  Timer oom_timer_;     // reads the kill counter alone, every kOomCounterPeriod
  Timer expiry_timer_;  // says kills no service claimed, once their grace is over
};

}  // namespace wsinit::telemetry
