// The listening ports and the workspace's activity, from one dump of sockets at a time.
#include "telemetry/ports.h"

#include <algorithm>
#include <cstring>

namespace wsinit::telemetry {
namespace {

// How widely a socket's address reaches: lower is wider.
int reach(const IpAddress& a) { return a.wildcard() ? 0 : a.loopback() ? 2 : 1; }

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i == 0 ? "" : i + 1 == items.size() ? " and " : ", ") + items[i];
  return out;
}

std::string who(const Owner& owner) {
  if (owner.service) return "service " + *owner.service;
  if (owner.pid > 0) return "process " + owner.process + ", pid " + std::to_string(owner.pid);
  return "held outside what wsinit can see";
}

}  // namespace

std::string duration_text(std::int64_t ms) {
  std::int64_t s = std::max<std::int64_t>(ms, 0) / 1000;
  std::int64_t h = s / 3600, m = s % 3600 / 60;
  s %= 60;
  std::string out;
  if (h) out += std::to_string(h) + "h";
  if (m) out += std::to_string(m) + "m";
  if (s || out.empty()) out += std::to_string(s) + "s";
  return out;
}

std::string owner_text(const Owner& owner) {
  if (owner.service && *owner.service == kWsinit) return "wsinit itself (pid " + std::to_string(owner.pid) + ")";
  std::string process = owner.pid > 0 ? "pid " + std::to_string(owner.pid) + ", " + owner.process : "";
  if (owner.service) return "service " + *owner.service + " (" + process + ")";
  if (owner.pid > 0) return "pid " + std::to_string(owner.pid) + " (" + owner.process + ", in no service)";
  return "no process wsinit can see";
}

std::string loopback_warning_text(const Port& port, const std::vector<std::string>& addresses) {
  return "port " + std::to_string(port.port) + " (" + who(port.owner) + ") listens on " + joined(addresses) +
         " only: the workspace proxy cannot reach it; bind 0.0.0.0";
}

Port port_of(std::uint16_t port, const std::vector<const Listener*>& sockets) {
  Port p;
  p.port = port;
  if (sockets.empty()) return p;
  auto widest = std::min_element(sockets.begin(), sockets.end(), [](const Listener* a, const Listener* b) {
    auto rank = [](const Listener* l) { return std::make_tuple(reach(l->socket.local), !l->socket.local.v4, l->socket.local.bytes); };
    return rank(a) < rank(b);
  });
  p.address = (*widest)->socket.local.text();
  p.owner = (*widest)->owner;
  p.loopback_only = std::all_of(sockets.begin(), sockets.end(), [](const Listener* l) { return l->socket.local.loopback(); });
  return p;
}

// --- PortTracker ---

const Declared* PortTracker::declaration(std::uint16_t port) const {
  auto it = std::find_if(declared_.begin(), declared_.end(), [&](const Declared& d) { return d.port == port; });
  return it == declared_.end() ? nullptr : &*it;
}

void PortTracker::declare(std::vector<Declared> endpoints) {
  declared_ = std::move(endpoints);
  std::erase_if(unserved_, [&](const auto& item) { return !declaration(item.first); });
  std::erase_if(closed_mono_ms_, [&](const auto& item) { return !declaration(item.first); });
  for (auto& [number, entry] : open_) {
    const Declared* d = declaration(number);
    entry.port.declared = d != nullptr;
    entry.port.url = d ? d->url : std::nullopt;
  }
}

// Said for a loopback-only port held by a process of this workspace (or serving a declared
// endpoint), never for wsinit's own.
std::string PortTracker::loopback_warning(const Entry& e) const {
  const Owner& owner = e.port.owner;
  if (!e.port.loopback_only || (owner.service && *owner.service == kWsinit)) return "";
  if (owner.pid == 0 && !e.port.declared) return "";
  return loopback_warning_text(e.port, e.addresses);
}

bool PortTracker::update(const std::vector<Listener>& listeners, const Tick& now,
                         std::optional<std::int64_t> ready_since_mono_ms, std::vector<Said>& said) {
  bool changed = false;
  std::map<std::uint16_t, std::vector<const Listener*>> by_port;
  for (const auto& l : listeners) {
    if (l.socket.state == kTcpListen) by_port[l.socket.local_port].push_back(&l);
  }
  for (auto it = open_.begin(); it != open_.end();) {
    if (by_port.count(it->first)) {
      ++it;
      continue;
    }
    said.push_back({false, "port " + std::to_string(it->first) + " closed: " + owner_text(it->second.port.owner)});
    if (declaration(it->first)) closed_mono_ms_[it->first] = now.mono_ms;
    it = open_.erase(it);
    changed = true;
  }
  for (const auto& [number, sockets] : by_port) {
    Entry fresh{port_of(number, sockets), {}, now.mono_ms};
    for (const Listener* l : sockets) fresh.addresses.push_back(l->socket.local.text());
    std::sort(fresh.addresses.begin(), fresh.addresses.end());
    fresh.addresses.erase(std::unique(fresh.addresses.begin(), fresh.addresses.end()), fresh.addresses.end());
    const Declared* d = declaration(number);
    fresh.port.declared = d != nullptr;
    if (d) fresh.port.url = d->url;
    std::string port = "port " + std::to_string(number);
    auto it = open_.find(number);
    if (it == open_.end()) {
      fresh.port.since_unix_ms = now.unix_ms;
      said.push_back({false, port + " opened: " + owner_text(fresh.port.owner) + " on " + joined(fresh.addresses)});
      if (auto warning = loopback_warning(fresh); !warning.empty()) said.push_back({true, warning});
      open_.emplace(number, std::move(fresh));
      changed = true;
      continue;
    }
    Entry& known = it->second;
    fresh.port.since_unix_ms = known.port.since_unix_ms;
    std::string before = loopback_warning(known), after = loopback_warning(fresh);
    if (fresh.port.owner != known.port.owner) said.push_back({false, port + " is now held by " + owner_text(fresh.port.owner)});
    if (after != before && !after.empty()) said.push_back({true, after});
    else if (after != before) said.push_back({false, port + " now listens on " + joined(fresh.addresses) + ": the workspace proxy can reach it"});
    if (fresh.port != known.port || fresh.addresses != known.addresses) changed = true;
    known = std::move(fresh);
  }
  return check_unserved(now, ready_since_mono_ms, said) || changed;
}

// Declared endpoints nothing listens on, once the workspace has been ready for a while.
bool PortTracker::check_unserved(const Tick& now, std::optional<std::int64_t> ready_since_mono_ms, std::vector<Said>& said) {
  bool changed = false;
  for (const auto& d : declared_) {
    if (open_.count(d.port)) {
      changed |= unserved_.erase(d.port) > 0;
      continue;
    }
    if (!ready_since_mono_ms || unserved_.count(d.port)) continue;
    std::int64_t from = *ready_since_mono_ms;
    if (auto closed = closed_mono_ms_.find(d.port); closed != closed_mono_ms_.end()) from = std::max(from, closed->second);
    if (now.mono_ms - from < kUnservedAfterMs) continue;
    std::string port = std::to_string(d.port);
    std::string warning = "devfile endpoint '" + d.name + "' (port " + port + "): nothing listens on it " +
                          duration_text(now.mono_ms - from) + " after the workspace became ready" +
                          " (or the port closed); start what serves it, listening on 0.0.0.0:" + port;
    said.push_back({true, warning});
    unserved_[d.port] = std::move(warning);
    changed = true;
  }
  return changed;
}

std::vector<Port> PortTracker::ports() const {
  std::vector<Port> out;
  out.reserve(open_.size());
  for (const auto& [number, entry] : open_) out.push_back(entry.port);
  return out;
}

std::vector<std::string> PortTracker::warnings() const {
  std::vector<std::string> out;
  for (const auto& [number, entry] : open_) {
    if (auto warning = loopback_warning(entry); !warning.empty()) out.push_back(std::move(warning));
  }
  for (const auto& [number, warning] : unserved_) out.push_back(warning);
  return out;
}

// --- Activity ---

namespace {

std::array<std::uint8_t, 36> connection_key(const Socket& s) {
  std::array<std::uint8_t, 36> key{};
  std::copy(s.local.bytes.begin(), s.local.bytes.end(), key.begin());
  std::copy(s.remote.bytes.begin(), s.remote.bytes.end(), key.begin() + 16);
  std::uint16_t ports[2] = {s.local_port, s.remote_port};
  std::memcpy(key.data() + 32, ports, sizeof ports);
  return key;
}

// A client's end as its server sees it: its address and port, and the server's port.
std::array<std::uint8_t, 20> client_key(const IpAddress& address, std::uint16_t port, std::uint16_t server_port) {
  std::array<std::uint8_t, 20> key{};
  std::copy(address.bytes.begin(), address.bytes.end(), key.begin());
  std::uint16_t ports[2] = {port, server_port};
  std::memcpy(key.data() + 16, ports, sizeof ports);
  return key;
}

}  // namespace

std::vector<Connection> user_connections(const std::vector<Socket>& established,
                                         const std::map<std::uint16_t, ConnectionKind>& watched,
                                         const std::function<bool(std::uint64_t)>& own) {
  std::set<std::array<std::uint8_t, 20>> own_clients;
  for (const auto& s : established) {
    if (s.state == kTcpEstablished && watched.count(s.remote_port) && !watched.count(s.local_port) && s.inode && own(s.inode))
      own_clients.insert(client_key(s.local, s.local_port, s.remote_port));
  }
  std::vector<Connection> out;
  for (const auto& s : established) {
    auto kind = watched.find(s.local_port);
    if (s.state != kTcpEstablished || kind == watched.end()) continue;
    if (own_clients.count(client_key(s.remote, s.remote_port, s.local_port))) continue;
    out.push_back({connection_key(s), kind->second, s.bytes});
  }
  return out;
}

bool ActivityTracker::idle_at(const Tick& now) const {
  std::int64_t from = last_active_ ? last_active_->mono_ms : start_.mono_ms;
  return idle_after_ms_ && now.mono_ms - from >= *idle_after_ms_;
}

bool ActivityTracker::update(const std::vector<Connection>& connections, const Tick& now, std::vector<Said>& said) {
  bool active = false;
  std::map<std::array<std::uint8_t, 36>, std::optional<std::uint64_t>> seen;
  ssh_ = editor_ = 0;
  for (const auto& c : connections) {
    ++(c.kind == ConnectionKind::ssh ? ssh_ : editor_);
    auto before = seen_.find(c.key);
    if (before == seen_.end()) active |= !c.bytes || *c.bytes > 0;  // new, and it carried bytes (or cannot tell)
    else active |= c.bytes && before->second && *c.bytes > *before->second;
    seen[c.key] = c.bytes;
  }
  seen_ = std::move(seen);
  std::int64_t idle_for = now.mono_ms - (last_active_ ? last_active_->mono_ms : start_.mono_ms);
  if (active) last_active_ = now;
  return flip(now, idle_for, said);
}

bool ActivityTracker::check_idle(const Tick& now, std::vector<Said>& said) {
  return flip(now, now.mono_ms - (last_active_ ? last_active_->mono_ms : start_.mono_ms), said);
}

// `idle_for`: how long it had been idle before `now`.
bool ActivityTracker::flip(const Tick& now, std::int64_t idle_for, std::vector<Said>& said) {
  bool idle = idle_at(now);
  if (idle == idle_) return false;
  idle_ = idle;
  if (idle)
    said.push_back({false, "workspace idle: no SSH or editor traffic for " + duration_text(idle_for) + " (activity.idle_after " +
                               duration_text(*idle_after_ms_) + ")"});
  else
    said.push_back({false, "workspace active again after " + duration_text(idle_for) + " idle"});
  return true;
}

Activity ActivityTracker::at(const Tick& now) const {
  Activity a;
  if (last_active_) a.last_active_unix_ms = last_active_->unix_ms;
  a.idle_s = static_cast<double>(std::max<std::int64_t>(0, now.mono_ms - (last_active_ ? last_active_->mono_ms : start_.mono_ms))) / 1000.0;
  a.idle = idle_;
  a.ssh_sessions = ssh_;
  a.editor_connections = editor_;
  return a;
}

}  // namespace wsinit::telemetry
