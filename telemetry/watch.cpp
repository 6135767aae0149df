// The sampler: sockets, their owners, and the trackers, every NetWatch::kInterval.
#include "telemetry/watch.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <charconv>
#include <spdlog/spdlog.h>
#include <unordered_map>
#include <unordered_set>

#include "common/timer.h"

namespace wsinit::telemetry {
namespace {

// CPU time this thread has used, system time included, in microseconds.
std::int64_t cpu_us() {
  timespec t{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0) return 0;
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000 + t.tv_nsec / 1000;
}

Tick tick() {
  using namespace std::chrono;
  return {duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count(),
          duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count()};
}

// wsinit's pid as `proc` numbers it (a procfs of another PID namespace numbers it otherwise).
pid_t self_in(const std::string& proc) {
  char link[32];
  ssize_t n = readlink((proc + "/self").c_str(), link, sizeof link);
  pid_t pid = 0;
  if (n > 0 && std::from_chars(link, link + n, pid).ec == std::errc()) return pid;
  return getpid();
}

bool sshd_like(const std::string& process) { return process.rfind("sshd", 0) == 0 || process.rfind("dropbear", 0) == 0; }

// The settings' ports, each once, at most NetWatch::kMaxWatchedPorts.
std::vector<std::uint16_t> all_ports(const WatchSettings& s) {
  std::vector<std::uint16_t> out;
  for (const auto* list : {&s.ssh_ports, &s.editor_ports, &s.activity_ports}) {
    for (std::uint16_t port : *list) {
      if (port != 0 && std::find(out.begin(), out.end(), port) == out.end() && out.size() < NetWatch::kMaxWatchedPorts)
        out.push_back(port);
    }
  }
  return out;
}

}  // namespace

struct NetWatch::Impl {
  Impl(uv_loop_t* loop, WatchSettings s, WatchHooks h, std::string p)
      : timer(loop), settings(std::move(s)), hooks(std::move(h)), proc(std::move(p)), reader(proc), activity(tick()),
        self(self_in(proc)) {
    ports.declare(settings.declared);
    activity.set_idle_after(settings.idle_after_ms);
  }

  void sample();
  void track(const Tick& now, bool connections);
  void schedule();
  std::vector<Listener> attribute(const std::vector<Socket>& listening);
  void look_up(const std::unordered_set<std::uint64_t>& inodes);
  std::map<std::uint16_t, ConnectionKind> watched(const std::vector<Listener>& open) const;

  Timer timer;
  WatchSettings settings;
  WatchHooks hooks;
  std::string proc;
  SocketReader reader;
  PortTracker ports;
  ActivityTracker activity;
  std::unordered_map<std::uint64_t, Owner> owners;  // of the last sample's listening sockets
  std::optional<std::int64_t> ready_since;
  pid_t self;
  bool said_fallback = false;
  bool failing = false;
  bool said_timer = false;
  std::int64_t next_connections_ms = 0;  // monotonic: when the connections are read next
  // CPU time spent sampling beyond 1/kBudget of the time (negative: some to spare, at most kCreditUs).
  std::int64_t debt_us = 0;
  std::optional<std::int64_t> last_sample_ms;
  static constexpr std::int64_t kCreditUs = 10'000;
  static constexpr std::int64_t kMaxDebtUs = 100'000;
  std::vector<std::uint64_t> last_inodes;  // the last sample's listening sockets, in its order
  std::vector<Listener> listeners;         // and with their owners
};

// Owners of the sockets not seen before (at most kMaxOwners remembered); the owners of sockets
// that are gone are forgotten.
std::vector<Listener> NetWatch::Impl::attribute(const std::vector<Socket>& listening) {
  std::unordered_set<std::uint64_t> fresh;
  for (const auto& s : listening) {
    if (s.inode && !owners.count(s.inode) && owners.size() + fresh.size() < kMaxOwners) fresh.insert(s.inode);
  }
  if (!fresh.empty()) look_up(fresh);
  std::vector<Listener> out;
  out.reserve(listening.size());
  std::unordered_set<std::uint64_t> present;
  for (const auto& s : listening) {
    present.insert(s.inode);
    auto owner = owners.find(s.inode);
    out.push_back({s, owner == owners.end() ? Owner{} : owner->second});
  }
  std::erase_if(owners, [&](const auto& item) { return !present.count(item.first); });
  return out;
}

// One walk of /proc for every new socket at once: who holds it, and under which service.
void NetWatch::Impl::look_up(const std::unordered_set<std::uint64_t>& inodes) {
  std::vector<Process> processes = read_processes(proc);
  auto holders = socket_holders(proc, processes, inodes);
  std::vector<Root> roots = hooks.roots ? hooks.roots() : std::vector<Root>{};
  auto service_of = telemetry::owners(processes, roots);
  // As PID 1, every process in sight is the container's; otherwise (a subreaper on a host) only
  // wsinit's own descendants are, and the rest are listed as no one's.
  auto descendants = self == 1 ? decltype(service_of){} : telemetry::owners(processes, {{kWsinit, self}});
  std::unordered_map<pid_t, pid_t> parent_of;
  std::unordered_map<pid_t, const Process*> by_pid;
  for (const auto& p : processes) {
    parent_of[p.pid] = p.ppid;
    by_pid[p.pid] = &p;
  }
  for (std::uint64_t inode : inodes) {
    Owner o;
    if (auto h = holders.find(inode); h != holders.end()) {
      o.pid = topmost_holder(h->second, parent_of);
      if (auto p = by_pid.find(o.pid); p != by_pid.end()) o.process = p->second->comm;
      if (o.pid == self) o.service = kWsinit;
      else if (auto r = service_of.find(o.pid); r != service_of.end()) o.service = roots[r->second].service;
      else if (self != 1 && !descendants.count(o.pid)) o = Owner{};
    }
    owners[inode] = std::move(o);
  }
}

// The watched ports and what their connections are. An activity port is SSH when an sshd serves it.
std::map<std::uint16_t, ConnectionKind> NetWatch::Impl::watched(const std::vector<Listener>& open) const {
  std::map<std::uint16_t, ConnectionKind> out;
  for (std::uint16_t port : all_ports(settings)) {
    bool ssh = std::find(settings.ssh_ports.begin(), settings.ssh_ports.end(), port) != settings.ssh_ports.end();
    bool editor = std::find(settings.editor_ports.begin(), settings.editor_ports.end(), port) != settings.editor_ports.end();
    if (!ssh && !editor) {
      ssh = std::any_of(open.begin(), open.end(),
                        [&](const Listener& l) { return l.socket.local_port == port && sshd_like(l.owner.process); });
    }
    out[port] = ssh ? ConnectionKind::ssh : ConnectionKind::editor;
  }
  return out;
}

// One sample, and what it cost (schedule() makes the time pay it back).
void NetWatch::Impl::sample() {
  std::int64_t cpu_before = cpu_us();
  Tick now = tick();
  bool connections = now.mono_ms >= next_connections_ms;
  track(now, connections);
  // What the loop lost: the CPU time, or the wall time when more (a reply waited for).
  std::int64_t cost_us = std::max(cpu_us() - cpu_before, (tick().mono_ms - now.mono_ms) * 1000);
  spdlog::trace("ports and activity: a sample{} took {} us of CPU", connections ? " with the connections" : "", cost_us);
  if (connections) next_connections_ms = now.mono_ms + kConnectionsInterval.count();
  // The budget: 1/kBudget of the time since the last sample is paid back, at most kCreditUs kept.
  std::int64_t since_ms = last_sample_ms ? now.mono_ms - *last_sample_ms : 0;
  last_sample_ms = now.mono_ms;
  // At most kMaxDebtUs is owed, so one slow sample (a huge owner lookup) delays the next by
  // kBudget times that at most (10 s), not for minutes.
  debt_us = std::min(std::max(debt_us - since_ms * 1000 / kBudget, -kCreditUs) + cost_us, kMaxDebtUs);
}

void NetWatch::Impl::track(const Tick& now, bool connections) {
  if (!ready_since && hooks.ready && hooks.ready()) ready_since = now.mono_ms;
  std::vector<std::uint16_t> wanted = all_ports(settings);
  auto dump = reader.read(wanted, connections && !wanted.empty());
  if (!reader.using_sock_diag() && !said_fallback) {
    said_fallback = true;
    spdlog::info("ports and activity: {}; reading /proc/net/tcp and tcp6 instead (no byte counters there: a new "
                 "connection counts as activity, traffic on an open one does not)",
                 reader.problem());
  }
  if (!dump) {
    if (!failing) spdlog::warn("ports and activity: cannot read the sockets: {}", dump.error().message);
    failing = true;
    std::vector<Said> said;  // the time still passes: idle_after is crossed without a reading
    bool changed = activity.check_idle(now, said);
    for (const auto& line : said) spdlog::info("{}", line.text);
    if (changed && hooks.on_change) hooks.on_change();
    return;
  }
  if (failing) spdlog::info("ports and activity: the sockets can be read again");
  failing = false;
  std::vector<Said> said;
  bool changed = false;
  // The same sockets in the same order as the last sample (a socket's inode is its own, and its
  // address does not change once it listens): nothing to look at again but the time.
  bool same = dump->listening.size() == last_inodes.size() &&
              std::equal(dump->listening.begin(), dump->listening.end(), last_inodes.begin(),
                         [](const Socket& s, std::uint64_t inode) { return s.inode == inode; });
  if (same) {
    changed = ports.unchanged(now, ready_since, said);
  } else {
    last_inodes.clear();
    for (const auto& s : dump->listening) last_inodes.push_back(s.inode);
    listeners = attribute(dump->listening);
    changed = ports.update(listeners, now, ready_since, said);
  }
  if (connections) {
    std::optional<std::unordered_set<std::uint64_t>> own;  // read once, and only when a client end asks
    auto is_own = [&](std::uint64_t inode) {
      if (!own) own = own_socket_inodes(proc);
      return own->count(inode) > 0;
    };
    changed |= activity.update(user_connections(dump->connections, watched(listeners), is_own), now, said);
  } else {
    changed |= activity.check_idle(now, said);
  }
  for (const auto& line : said) {
    if (line.warning) spdlog::warn("{}", line.text);
    else spdlog::info("{}", line.text);
  }
  if (changed && hooks.on_change) hooks.on_change();
}

NetWatch::NetWatch(uv_loop_t* loop, WatchSettings settings, WatchHooks hooks, std::string proc)
    : impl_(std::make_unique<Impl>(loop, std::move(settings), std::move(hooks), std::move(proc))) {}

NetWatch::~NetWatch() = default;

void NetWatch::configure(WatchSettings settings) {
  bool declared_changed = settings.declared != impl_->settings.declared;
  impl_->settings = std::move(settings);
  impl_->ports.declare(impl_->settings.declared);
  impl_->activity.set_idle_after(impl_->settings.idle_after_ms);
  if (declared_changed && impl_->hooks.on_change) impl_->hooks.on_change();
}

// The next sample: kInterval from now, or once the time has paid back what sampling took beyond
// 1/kBudget of it.
void NetWatch::Impl::schedule() {
  auto owed = std::chrono::milliseconds(kBudget * std::max<std::int64_t>(debt_us, 0) / 1000);
  std::chrono::milliseconds delay = std::max(kInterval, owed);
  if (timer.start(delay, [this] {
        sample();
        schedule();
      }))
    return;
  if (!said_timer) spdlog::error("ports and activity: cannot schedule the next sample (no timer); they stay as last seen");
  said_timer = true;
}

Status NetWatch::start() {
  impl_->sample();
  if (!impl_->timer.usable()) return fail("cannot schedule the sampling of ports and activity (no timer)");
  impl_->schedule();
  return {};
}

void NetWatch::sample() { impl_->sample(); }

std::vector<Port> NetWatch::ports() const { return impl_->ports.ports(); }

Activity NetWatch::activity() const { return impl_->activity.at(tick()); }

std::vector<std::string> NetWatch::warnings() const { return impl_->ports.warnings(); }

}  // namespace wsinit::telemetry
