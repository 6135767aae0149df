// telemetry/ports.h: what the sockets say about the workspace, fed one dump at a time: the ports
// it listens on (who holds each, whether the workspace proxy can reach it, whether a devfile
// endpoint is served) and whether anyone is using it (activity). Pure: no I/O, no clock of its own.
// Uses common/ only.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "telemetry/net.h"

namespace wsinit::telemetry {

// Who holds a listening socket. pid 0: no process wsinit can see holds it (another container of
// the pod, or the host's own when wsinit does not run in a container); service and process are
// then empty too.
struct Owner {
  std::optional<std::string> service;  // the service whose process tree holds it; kWsinit for wsinit's own
  pid_t pid = 0;
  std::string process;  // its comm
  bool operator==(const Owner&) const = default;
};
inline constexpr const char* kWsinit = "wsinit";

struct Listener {
  Socket socket;
  Owner owner;
};

// A devfile endpoint: its port, its name, and the URL it is reached at from outside (nullopt when
// none can be made).
struct Declared {
  std::uint16_t port = 0;
  std::string name;
  std::optional<std::string> url;
  bool operator==(const Declared&) const = default;
};

// One port the workspace listens on (status.ports[]).
struct Port {
  std::uint16_t port = 0;
  // Of its sockets' addresses, the widest: a wildcard (0.0.0.0, ::) when one has it, else the
  // first that is not loopback, else the first. The owner is that socket's.
  std::string address;
  bool loopback_only = false;  // every socket of the port is bound to a loopback address
  Owner owner;
  std::int64_t since_unix_ms = 0;  // when wsinit first saw it listen
  bool declared = false;           // a devfile endpoint
  std::optional<std::string> url;  // the endpoint's URL
  bool operator==(const Port&) const = default;
};

// A line for wsinit's log, and whether it is a warning.
struct Said {
  bool warning = false;
  std::string text;
};

// The time of one sample: wall clock for people, monotonic for durations.
struct Tick {
  std::int64_t unix_ms = 0;
  std::int64_t mono_ms = 0;
};

// The listening ports. State: one entry per open port (at most 65,535, the port numbers) and the
// declared endpoints; nothing else grows.
// - A port opening or closing is said (info).
// - A port whose sockets are all bound to loopback, held by a process wsinit can see other than
//   wsinit itself, is a warning (said once, in warnings() while it lasts).
// - A declared endpoint nothing has listened on for kUnservedAfterMs, counted from when the
//   workspace became ready (or from when the port last closed, if later), is a warning too.
class PortTracker {
 public:
  static constexpr std::int64_t kUnservedAfterMs = 60'000;

  void declare(std::vector<Declared> endpoints);
  const std::vector<Declared>& declared() const { return declared_; }
  // One dump's listening sockets. `ready_since_mono_ms`: when the workspace first became ready
  // (nullopt: not yet). Returns whether ports() or warnings() changed; adds what happened to `said`.
  bool update(const std::vector<Listener>& listeners, const Tick& now, std::optional<std::int64_t> ready_since_mono_ms,
              std::vector<Said>& said);
  // A sample whose listening sockets are those of the last one: only time moves (declared endpoints).
  bool unchanged(const Tick& now, std::optional<std::int64_t> ready_since_mono_ms, std::vector<Said>& said) {
    return check_unserved(now, ready_since_mono_ms, said);
  }
  std::vector<Port> ports() const;  // by port number
  std::vector<std::string> warnings() const;
  std::size_t open_count() const { return open_.size(); }

 private:
  struct Entry {
    Port port;
    std::vector<std::string> addresses;  // every socket's, sorted, once each
    std::int64_t seen_mono_ms = 0;       // the last sample it was listening in
  };
  const Declared* declaration(std::uint16_t port) const;
  std::string loopback_warning(const Entry& e) const;
  bool check_unserved(const Tick& now, std::optional<std::int64_t> ready_since_mono_ms, std::vector<Said>& said);

  std::map<std::uint16_t, Entry> open_;
  std::vector<Declared> declared_;
  std::map<std::uint16_t, std::int64_t> closed_mono_ms_;  // declared ports only: when each last closed
  std::map<std::uint16_t, std::string> unserved_;         // declared ports warned about, and the warning
};

// A port's entry from its sockets (the first of each pair is the socket, the second its owner).
Port port_of(std::uint16_t port, const std::vector<const Listener*>& sockets);
// "port 5173 (service web) listens on 127.0.0.1 only: the workspace proxy cannot reach it; bind 0.0.0.0".
std::string loopback_warning_text(const Port& port, const std::vector<std::string>& addresses);
// "service web (pid 123, node)", "pid 123 (node)", or "no process wsinit can see".
std::string owner_text(const Owner& owner);

// --- Activity ---

enum class ConnectionKind { ssh, editor };
// An established connection to a watched port, seen from its server's end.
struct Connection {
  std::array<std::uint8_t, 36> key{};  // local and remote address and port: one connection
  ConnectionKind kind = ConnectionKind::editor;
  std::optional<std::uint64_t> bytes;  // acked + received so far (sock_diag only)
};
// The connections among `established` that are a person's: the server ends of connections to a
// port of `watched`, less those whose client end is one of wsinit's own sockets (its readiness
// probes): `own(inode)` says whether it is, and is only asked about client ends of watched ports.
std::vector<Connection> user_connections(const std::vector<Socket>& established,
                                         const std::map<std::uint16_t, ConnectionKind>& watched,
                                         const std::function<bool(std::uint64_t)>& own);

struct Activity {
  std::optional<std::int64_t> last_active_unix_ms;  // nullopt: none since wsinit started
  double idle_s = 0;  // since the last activity, or since wsinit started when there was none
  bool idle = false;  // idle_s has crossed activity.idle_after (never without it)
  std::size_t ssh_sessions = 0;
  std::size_t editor_connections = 0;
};

// Activity: a connection whose byte counters grew since the last sample, or a new one that has
// carried bytes (without counters, /proc/net/tcp: a new connection). State: the counters of the
// connections of the last sample, nothing else.
class ActivityTracker {
 public:
  explicit ActivityTracker(const Tick& start) : start_(start) {}
  void set_idle_after(std::optional<std::int64_t> ms) { idle_after_ms_ = ms; }
  // One sample's connections. Returns whether `idle` flipped (said in `said`).
  bool update(const std::vector<Connection>& connections, const Tick& now, std::vector<Said>& said);
  // Between samples of the connections: whether `idle` flipped with time alone.
  bool check_idle(const Tick& now, std::vector<Said>& said);
  Activity at(const Tick& now) const;

 private:
  bool idle_at(const Tick& now) const;
  bool flip(const Tick& now, std::int64_t idle_for, std::vector<Said>& said);

  Tick start_;
  std::optional<Tick> last_active_;
  std::optional<std::int64_t> idle_after_ms_;
  bool idle_ = false;
  std::map<std::array<std::uint8_t, 36>, std::optional<std::uint64_t>> seen_;
  std::size_t ssh_ = 0, editor_ = 0;
};

// "45s", "30m", "1h30m".
std::string duration_text(std::int64_t ms);

}  // namespace wsinit::telemetry
