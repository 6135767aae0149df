#include "telemetry/resources.h"

#include <algorithm>
#include <cmath>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "text.h"

namespace wsinit::telemetry {
namespace {

constexpr std::size_t kMaxMountinfo = 1 << 20;     // thousands of mounts
constexpr std::size_t kMaxProcCgroup = 64 << 10;   // one line per hierarchy
constexpr std::size_t kMaxCgroupFile = 16 << 10;   // memory.events, cpu.stat: a few hundred bytes
constexpr std::uint64_t kNoLimitFrom = 1ULL << 62;  // v1's "unlimited" is PAGE_COUNTER_MAX pages

// The lines of `text`, each without its newline.
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    out.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return out;
}

// The `separator`-separated words of `text`, empty ones left out.
std::vector<std::string_view> words_of(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    std::size_t end = text.find(separator);
    if (end != 0) out.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return out;
}

bool has_word(std::string_view list, std::string_view word, char separator) {
  for (std::string_view w : words_of(list, separator)) {
    if (w == word) return true;
  }
  return false;
}

// mountinfo writes space, tab, newline and backslash in paths as \ooo.
std::string unescape(std::string_view field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      std::string_view digits = field.substr(i + 1, 3);
      if (digits.find_first_not_of("01234567") == std::string_view::npos) {
        out += static_cast<char>(((digits[0] - '0') << 6) | ((digits[1] - '0') << 3) | (digits[2] - '0'));
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

struct Mount {
  std::string root;   // the part of the hierarchy the mount shows
  std::string point;  // where
  std::string_view fstype;
  std::string_view options;  // the super block's: a v1 hierarchy's controllers are among them
};

// The cgroup and cgroup2 mounts: "ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER".
std::vector<Mount> cgroup_mounts(std::string_view mountinfo) {
  std::vector<Mount> out;
  for (std::string_view line : lines_of(mountinfo)) {
    std::vector<std::string_view> f = words_of(line, ' ');
    std::size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash + 1 >= f.size()) continue;  // no "-" and type: not a mountinfo line
    std::string_view fstype = f[dash + 1];
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    out.push_back({unescape(f[3]), unescape(f[4]), fstype, dash + 3 < f.size() ? f[dash + 3] : std::string_view{}});
  }
  return out;
}

// A cgroup path as /proc/self/cgroup gives it: absolute, no "." or ".." step (a cgroup outside
// this cgroup namespace shows as "/../.."), not a removed one.
bool plain_path(std::string_view path) {
  if (path.empty() || path[0] != '/' || path.ends_with(" (deleted)")) return false;
  for (std::string_view step : words_of(path, '/')) {
    if (step == "." || step == "..") return false;
  }
  return true;
}

// `path` of the hierarchy as a directory under a mount that shows `root` of it at `point`.
std::optional<std::string> map_path(std::string_view path, std::string_view root, std::string_view point) {
  if (root == "/") return std::string(point) + (path == "/" ? "" : std::string(path));
  if (path == root) return std::string(point);
  if (path.starts_with(root) && path[root.size()] == '/') return std::string(point) + std::string(path.substr(root.size()));
  return std::nullopt;
}

// The directory of `path` under the mount of `mounts` that `fits` and shows the most of it
// (the longest root that holds it).
template <typename Fits>
std::optional<std::string> dir_of(std::string_view path, const std::vector<Mount>& mounts, Fits fits) {
  if (!plain_path(path)) return std::nullopt;
  std::optional<std::string> best;
  std::size_t best_root = 0;
  for (const Mount& m : mounts) {
    if (!fits(m)) continue;
    auto dir = map_path(path, m.root, m.point);
    if (dir && (!best || m.root.size() > best_root)) {
      best = std::move(dir);
      best_root = m.root.size();
    }
  }
  return best;
}

std::optional<std::uint64_t> number(std::string_view text) {
  std::uint64_t value = 0;
  if (!whole_number(text, value)) return std::nullopt;
  return value;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  return text;
}

// A cgroup file's text; empty when it cannot be read (absent: an older kernel, a controller not enabled).
std::string read_small(const std::string& dir, const char* name) {
  if (dir.empty()) return "";
  auto text = fs::read_file(dir + "/" + name, kMaxCgroupFile);
  return text ? std::move(*text) : std::string();
}

}  // namespace

const char* cgroup_version_name(CgroupVersion version) { return version == CgroupVersion::v1 ? "v1" : "v2"; }

std::optional<Cgroup> locate_cgroup(std::string_view proc_cgroup, std::string_view mountinfo) {
  std::optional<std::string_view> v1_memory, v1_cpu, v2;
  for (std::string_view line : lines_of(proc_cgroup)) {
    std::size_t first = line.find(':');
    std::size_t second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    std::string_view id = line.substr(0, first), controllers = line.substr(first + 1, second - first - 1);
    std::string_view path = line.substr(second + 1);
    if (id == "0" && controllers.empty()) v2 = path;
    if (has_word(controllers, "memory", ',')) v1_memory = path;
    if (has_word(controllers, "cpu", ',')) v1_cpu = path;
  }
  std::vector<Mount> mounts = cgroup_mounts(mountinfo);
  if (v1_memory) {
    auto v1_with = [](std::string_view controller) {
      return [controller](const Mount& m) { return m.fstype == "cgroup" && has_word(m.options, controller, ','); };
    };
    auto memory = dir_of(*v1_memory, mounts, v1_with("memory"));
    if (!memory) return std::nullopt;
    std::optional<std::string> cpu = v1_cpu ? dir_of(*v1_cpu, mounts, v1_with("cpu")) : std::nullopt;
    return Cgroup{CgroupVersion::v1, std::move(*memory), cpu.value_or("")};
  }
  if (v2) {
    auto dir = dir_of(*v2, mounts, [](const Mount& m) { return m.fstype == "cgroup2"; });
    if (dir) return Cgroup{CgroupVersion::v2, *dir, *dir};
  }
  return std::nullopt;
}

std::optional<Cgroup> find_cgroup(const std::string& proc) {
  auto own = fs::read_file(proc + "/self/cgroup", kMaxProcCgroup);
  auto mountinfo = fs::read_file(proc + "/self/mountinfo", kMaxMountinfo);
  if (!own || !mountinfo) return std::nullopt;
  std::optional<Cgroup> found = locate_cgroup(*own, *mountinfo);
  if (found && found->version == CgroupVersion::v2 &&
      !has_word(trimmed(read_small(found->memory_dir, "cgroup.controllers")), "memory", ' '))
    return std::nullopt;
  return found;
}

std::optional<std::uint64_t> parse_keyed_value(std::string_view text, std::string_view key) {
  for (std::string_view line : lines_of(text)) {
    std::size_t space = line.find(' ');
    if (space != std::string_view::npos && line.substr(0, space) == key) return number(trimmed(line.substr(space + 1)));
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_bytes(std::string_view text) { return number(trimmed(text)); }

std::optional<std::uint64_t> parse_limit(std::string_view text) {
  auto value = parse_bytes(text);
  if (!value || *value >= kNoLimitFrom) return std::nullopt;
  return value;
}

std::optional<std::uint64_t> read_oom_kills(const Cgroup& cg) {
  if (cg.version == CgroupVersion::v2) return parse_keyed_value(read_small(cg.memory_dir, "memory.events"), "oom_kill");
  return parse_keyed_value(read_small(cg.memory_dir, "memory.oom_control"), "oom_kill");
}

CgroupUsage read_cgroup(const Cgroup& cg) {
  CgroupUsage u;
  bool v2 = cg.version == CgroupVersion::v2;
  u.memory_bytes = parse_bytes(read_small(cg.memory_dir, v2 ? "memory.current" : "memory.usage_in_bytes"));
  u.memory_limit_bytes = parse_limit(read_small(cg.memory_dir, v2 ? "memory.max" : "memory.limit_in_bytes"));
  u.memory_peak_bytes = parse_bytes(read_small(cg.memory_dir, v2 ? "memory.peak" : "memory.max_usage_in_bytes"));
  u.oom_kills = read_oom_kills(cg);
  std::string cpu = read_small(cg.cpu_dir, "cpu.stat");
  u.cpu_throttled_periods = parse_keyed_value(cpu, "nr_throttled");
  if (auto t = parse_keyed_value(cpu, v2 ? "throttled_usec" : "throttled_time"))
    u.cpu_throttled_s = static_cast<double>(*t) / (v2 ? 1e6 : 1e9);
  return u;
}

std::vector<TreeUsage> usage_by_root(const std::vector<Process>& processes, const std::vector<Root>& roots) {
  std::vector<TreeUsage> out(roots.size());
  std::vector<std::uint64_t> ticks(roots.size(), 0);
  auto owner = owners(processes, roots);
  for (const Process& p : processes) {
    auto it = owner.find(p.pid);
    if (it == owner.end()) continue;
    TreeUsage& u = out[it->second];
    u.memory_bytes += pages_to_bytes(p.rss_pages);
    ticks[it->second] += p.cpu_ticks;
    ++u.processes;
  }
  for (std::size_t i = 0; i < out.size(); ++i) out[i].cpu_s = ticks_to_seconds(ticks[i]);
  return out;
}

// ---- OomLedger ----

void OomLedger::observe(std::uint64_t counter, Clock::time_point now) {
  if (!last_ || counter < *last_) {  // the baseline (or a counter that went back: a new one)
    last_ = counter;
    return;
  }
  std::uint64_t rise = counter - *last_;
  last_ = counter;
  if (rise == 0) return;
  total_ += rise;
  if (rises_.size() < kMaxRises) rises_.push_back({now, rise});
  else rises_.back().kills += rise;
}

bool OomLedger::claim() {
  if (rises_.empty()) return false;
  if (--rises_.front().kills == 0) rises_.pop_front();
  return true;
}

std::uint64_t OomLedger::expire(Clock::time_point now) {
  std::uint64_t given_up = 0;
  while (!rises_.empty() && now - rises_.front().seen >= grace_) {
    given_up += rises_.front().kills;
    rises_.pop_front();
  }
  return given_up;
}

std::uint64_t OomLedger::unclaimed() const {
  std::uint64_t n = 0;
  for (const Rise& r : rises_) n += r.kills;
  return n;
}

std::optional<OomLedger::Clock::time_point> OomLedger::next_expiry() const {
  if (rises_.empty()) return std::nullopt;
  return rises_.front().seen + grace_;
}

// ---- Monitor ----

std::string format_mib(std::uint64_t bytes) {
  return std::to_string(static_cast<std::uint64_t>(std::llround(static_cast<double>(bytes) / (1 << 20)))) + " MiB";
}

Monitor::Monitor(uv_loop_t* loop, Hooks hooks, std::optional<Cgroup> cgroup)
    : hooks_(std::move(hooks)), cgroup_(std::move(cgroup)), sample_timer_(loop), oom_timer_(loop), expiry_timer_(loop) {
  if (!cgroup_) return;
  resources_.cgroup = cgroup_version_name(cgroup_->version);
  observe_oom_counter(read_oom_kills(*cgroup_));  // the baseline: kills before wsinit started are not counted
}

bool Monitor::start(std::chrono::milliseconds period) {
  sample();
  // The kill counter alone, often: a rise is stamped when it is seen, so a kill of a process no
  // service owns is told from a later `kill -9` of a service's within the grace plus this.
  if (cgroup_ && !oom_timer_.repeat(kOomCounterPeriod, [this] { observe_oom_counter(read_oom_kills(*cgroup_)); }))
    spdlog::error("resources: cannot read the OOM kill counter every {} ms; it is read every {} ms",
                  kOomCounterPeriod.count(), period.count());
  if (sample_timer_.repeat(period, [this] { sample(); })) return true;
  spdlog::error("resources: cannot sample every {} ms; the figures in status stay those of the start", period.count());
  return false;
}

void Monitor::sample() {
  if (cgroup_) {
    CgroupUsage u = read_cgroup(*cgroup_);
    resources_.memory_bytes = u.memory_bytes;
    resources_.memory_limit_bytes = u.memory_limit_bytes;
    resources_.memory_peak_bytes = u.memory_peak_bytes;
    resources_.cpu_throttled_periods = u.cpu_throttled_periods;
    resources_.cpu_throttled_s = u.cpu_throttled_s;
    observe_oom_counter(u.oom_kills);
  }
  auto before = std::move(resources_.services);
  resources_.services.clear();
  std::vector<Root> roots = hooks_.roots ? hooks_.roots() : std::vector<Root>{};
  std::erase_if(roots, [](const Root& r) { return r.pid <= 0; });
  if (roots.empty()) return;  // no service runs: /proc is not read
  std::vector<TreeUsage> usage = usage_by_root(read_processes(), roots);
  for (std::size_t i = 0; i < roots.size(); ++i) {
    if (usage[i].processes == 0) continue;  // gone since it was listed
    double cpu_s = usage[i].cpu_s;
    // A counter: a process that leaves the tree (orphaned to wsinit) takes its CPU time with it;
    // the same process's total never goes back (a new process starts again from its own).
    if (auto was = before.find(roots[i].service); was != before.end() && was->second.pid == roots[i].pid)
      cpu_s = std::max(cpu_s, was->second.cpu_s);
    resources_.services[roots[i].service] = {roots[i].pid, usage[i].memory_bytes, cpu_s};
  }
}

void Monitor::observe_oom_counter(std::optional<std::uint64_t> counter) {
  if (!counter) return;
  ledger_.observe(*counter, OomLedger::Clock::now());
  resources_.oom_kills = ledger_.total();
  auto due = ledger_.next_expiry();
  if (!due || expiry_timer_.pending()) return;
  auto delay = std::chrono::ceil<std::chrono::milliseconds>(*due - OomLedger::Clock::now());
  expiry_timer_.start(std::max(delay, std::chrono::milliseconds(0)), [this] { expire_oom_kills(); });
}

void Monitor::expire_oom_kills() {
  std::uint64_t kills = ledger_.expire(OomLedger::Clock::now());
  if (kills > 0) {
    CgroupUsage u = read_cgroup(*cgroup_);
    std::string who = kills == 1 ? "a process in the container was" : std::to_string(kills) + " processes in the container were";
    spdlog::warn("{} killed by the kernel for memory ({}); not a service's own process: one a service started, or "
                 "another",
                 who, memory_words(u));
    if (hooks_.on_oom_kill) hooks_.on_oom_kill();
  }
  if (auto due = ledger_.next_expiry()) {
    auto delay = std::chrono::ceil<std::chrono::milliseconds>(*due - OomLedger::Clock::now());
    expiry_timer_.start(std::max(delay, std::chrono::milliseconds(0)), [this] { expire_oom_kills(); });
  }
}

std::optional<std::string> Monitor::claim_oom_kill() {
  if (!cgroup_) return std::nullopt;
  CgroupUsage u = read_cgroup(*cgroup_);
  observe_oom_counter(u.oom_kills);
  if (!ledger_.claim()) return std::nullopt;
  resources_.memory_bytes = u.memory_bytes;
  resources_.memory_limit_bytes = u.memory_limit_bytes;
  resources_.memory_peak_bytes = u.memory_peak_bytes;
  return memory_words(u);
}

std::string Monitor::memory_words(const CgroupUsage& u) const {
  std::string words = u.memory_limit_bytes ? "limit " + format_mib(*u.memory_limit_bytes) : "no limit";
  if (u.memory_peak_bytes) words += ", peak " + format_mib(*u.memory_peak_bytes);
  return words;
}

}  // namespace wsinit::telemetry
