// telemetry/watch.h: the sampler. Every kInterval it reads the listening sockets (net.h), finds
// who holds the ones it has not seen before, and feeds the port tracker (ports.h); every
// kConnectionsInterval also the connections on the watched ports, for the activity tracker.
// Uses common/ only.
//
// What it costs is bounded whatever the host: the CPU time sampling takes is paid back at
// 1/kBudget of the time that passes, and the next sample waits until what it took beyond that is
// paid (1% of a core on average, a sample's worth of CPU time kept in hand at most 10 ms; at most
// 100 ms owed, so no sample waits more than 10 s for the next; wall time counts when more). The
// connections are read less
// often because the kernel finds them by walking its whole TCP hash table (every bucket, whatever
// the network namespace holds: 262,144 of them on a 2-core machine, about 3 ms per address family),
// where listening sockets have a table of their own (bench/README.md, ports-bench).
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "telemetry/ports.h"
#include "telemetry/processes.h"

namespace wsinit::telemetry {

struct WatchSettings {
  std::vector<std::uint16_t> ssh_ports;       // wsinit's own sshd's
  std::vector<std::uint16_t> editor_ports;    // wsinit's own editor's
  // activity.ports: SSH sessions when an sshd (or dropbear) listens there, editor connections else.
  std::vector<std::uint16_t> activity_ports;
  std::vector<Declared> declared;             // devfile endpoints
  std::optional<std::int64_t> idle_after_ms;  // activity.idle_after
};

struct WatchHooks {
  std::function<std::vector<Root>()> roots;  // the services' processes, for the owners of new sockets
  std::function<bool()> ready;               // the workspace is ready (declared endpoints are due from then)
  std::function<void()> on_change;           // the ports, their warnings, or `idle` changed
};

class NetWatch {
 public:
  static constexpr std::chrono::milliseconds kInterval{500};
  static constexpr std::chrono::milliseconds kConnectionsInterval{5000};
  static constexpr std::int64_t kBudget = 100;
  // Owners remembered at most (one per listening socket of the last sample): past this, sockets
  // are listed without an owner rather than looked up at every sample.
  static constexpr std::size_t kMaxOwners = 16384;
  // Activity ports watched at most (the kernel's filter holds two conditions per port).
  static constexpr std::size_t kMaxWatchedPorts = 64;

  NetWatch(uv_loop_t* loop, WatchSettings settings, WatchHooks hooks, std::string proc = "/proc");
  ~NetWatch();
  NetWatch(const NetWatch&) = delete;
  NetWatch& operator=(const NetWatch&) = delete;

  // A reload's settings; the change is notified at once when it changes the ports.
  void configure(WatchSettings settings);
  // Takes a first sample at once, then one every kInterval (or later: kBudget).
  Status start();
  void sample();

  std::vector<Port> ports() const;
  Activity activity() const;
  std::vector<std::string> warnings() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wsinit::telemetry
