// What the sockets say about the workspace: the port tracker and the activity tracker, fed
// dumps by hand.
#include <gtest/gtest.h>
#include <arpa/inet.h>

#include "telemetry/ports.h"

namespace wsinit::telemetry {
namespace {

IpAddress address(const char* text) {
  std::uint8_t bytes[16];
  if (inet_pton(AF_INET, text, bytes) == 1) {
    const std::uint8_t (&four)[4] = *reinterpret_cast<const std::uint8_t(*)[4]>(bytes);
    return IpAddress::from_v4(four);
  }
  EXPECT_EQ(inet_pton(AF_INET6, text, bytes), 1) << text;
  return IpAddress::from_v6(bytes);
}

Listener listening(const char* at, std::uint16_t port, std::uint64_t inode, Owner owner) {
  Listener l;
  l.socket.local = address(at);
  l.socket.local_port = port;
  l.socket.state = kTcpListen;
  l.socket.inode = inode;
  l.owner = std::move(owner);
  return l;
}

const Owner kWeb{"web", 123, "node"};
const Owner kNobody{};

Tick at(std::int64_t seconds) { return {1'700'000'000'000 + seconds * 1000, seconds * 1000}; }

std::vector<std::string> texts(const std::vector<Said>& said) {
  std::vector<std::string> out;
  for (const auto& s : said) out.push_back((s.warning ? "warn: " : "info: ") + s.text);
  return out;
}

TEST(PortTracker, OpeningAndClosingAreSaid) {
  PortTracker t;
  std::vector<Said> said;
  EXPECT_TRUE(t.update({listening("0.0.0.0", 3000, 1, kWeb)}, at(1), std::nullopt, said));
  EXPECT_EQ(texts(said), std::vector<std::string>{"info: port 3000 opened: service web (pid 123, node) on 0.0.0.0"});
  ASSERT_EQ(t.ports().size(), 1u);
  Port p = t.ports()[0];
  EXPECT_EQ(p.port, 3000);
  EXPECT_EQ(p.address, "0.0.0.0");
  EXPECT_FALSE(p.loopback_only);
  EXPECT_EQ(p.owner, kWeb);
  EXPECT_EQ(p.since_unix_ms, at(1).unix_ms);
  EXPECT_FALSE(p.declared);
  EXPECT_TRUE(t.warnings().empty());
  said.clear();
  EXPECT_FALSE(t.update({listening("0.0.0.0", 3000, 1, kWeb)}, at(2), std::nullopt, said));  // nothing new
  EXPECT_TRUE(said.empty());
  EXPECT_EQ(t.ports()[0].since_unix_ms, at(1).unix_ms);
  EXPECT_TRUE(t.update({}, at(3), std::nullopt, said));
  EXPECT_EQ(texts(said), std::vector<std::string>{"info: port 3000 closed: service web (pid 123, node)"});
  EXPECT_TRUE(t.ports().empty());
}

TEST(PortTracker, ALoopbackOnlyPortIsAWarningWhileItLasts) {
  PortTracker t;
  std::vector<Said> said;
  t.update({listening("127.0.0.1", 5173, 1, kWeb)}, at(1), std::nullopt, said);
  const std::string warning =
      "port 5173 (service web) listens on 127.0.0.1 only: the workspace proxy cannot reach it; bind 0.0.0.0";
  EXPECT_EQ(texts(said), (std::vector<std::string>{"info: port 5173 opened: service web (pid 123, node) on 127.0.0.1",
                                                   "warn: " + warning}));
  EXPECT_TRUE(t.ports()[0].loopback_only);
  EXPECT_EQ(t.warnings(), std::vector<std::string>{warning});
  said.clear();
  t.update({listening("127.0.0.1", 5173, 1, kWeb)}, at(2), std::nullopt, said);
  EXPECT_TRUE(said.empty());  // said once
  EXPECT_EQ(t.warnings(), std::vector<std::string>{warning});
  // Rebound to every address (a restart between two samples): the warning goes, and that is said.
  EXPECT_TRUE(t.update({listening("0.0.0.0", 5173, 2, kWeb)}, at(3), std::nullopt, said));
  EXPECT_EQ(texts(said), std::vector<std::string>{"info: port 5173 now listens on 0.0.0.0: the workspace proxy can reach it"});
  EXPECT_TRUE(t.warnings().empty());
  EXPECT_FALSE(t.ports()[0].loopback_only);
}

TEST(PortTracker, BothLoopbacksOnlyAndAProcessInNoService) {
  PortTracker t;
  std::vector<Said> said;
  Owner stray{std::nullopt, 77, "python3"};
  t.update({listening("127.0.0.1", 8888, 1, stray), listening("::1", 8888, 2, stray)}, at(1), std::nullopt, said);
  ASSERT_EQ(t.ports().size(), 1u);
  EXPECT_EQ(t.ports()[0].address, "127.0.0.1");  // the IPv4 one first, of two equally narrow
  EXPECT_EQ(t.warnings(), std::vector<std::string>{"port 8888 (process python3, pid 77) listens on 127.0.0.1 and ::1 only: "
                                                   "the workspace proxy cannot reach it; bind 0.0.0.0"});
  EXPECT_EQ(texts(said)[0], "info: port 8888 opened: pid 77 (python3, in no service) on 127.0.0.1 and ::1");
}

TEST(PortTracker, TheWidestAddressAndItsOwnerRepresentThePort) {
  Listener a = listening("127.0.0.1", 80, 1, kWeb), b = listening("::", 80, 2, Owner{"proxy", 9, "nginx"});
  Port p = port_of(80, {&a, &b});
  EXPECT_EQ(p.address, "::");
  EXPECT_EQ(p.owner.service, "proxy");
  EXPECT_FALSE(p.loopback_only);  // :: reaches it from outside
}

TEST(PortTracker, WsinitsOwnAndUnseenOwnersGetNoWarning) {
  PortTracker t;
  std::vector<Said> said;
  t.update({listening("127.0.0.1", 60080, 1, Owner{kWsinit, 1, "wsinit"}), listening("127.0.0.1", 53, 2, kNobody)}, at(1),
           std::nullopt, said);
  EXPECT_TRUE(t.warnings().empty());
  EXPECT_EQ(texts(said), (std::vector<std::string>{"info: port 53 opened: no process wsinit can see on 127.0.0.1",
                                                   "info: port 60080 opened: wsinit itself (pid 1) on 127.0.0.1"}));
  ASSERT_EQ(t.ports().size(), 2u);
  EXPECT_EQ(t.ports()[0].owner, kNobody);
}

TEST(PortTracker, ADeclaredEndpointCarriesItsUrl) {
  PortTracker t;
  t.declare({{3000, "web", "https://3000-ws.example.com/"}, {9229, "debug", std::nullopt}});
  std::vector<Said> said;
  t.update({listening("0.0.0.0", 3000, 1, kWeb), listening("0.0.0.0", 9229, 2, kWeb), listening("0.0.0.0", 5000, 3, kWeb)},
           at(1), std::nullopt, said);
  auto ports = t.ports();
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_TRUE(ports[0].declared);
  EXPECT_EQ(ports[0].url, "https://3000-ws.example.com/");
  EXPECT_FALSE(ports[1].declared);
  EXPECT_TRUE(ports[2].declared);
  EXPECT_EQ(ports[2].url, std::nullopt);
  // Declared on a reload, while it is open.
  t.declare({{5000, "api", "https://5000-ws.example.com/"}});
  ports = t.ports();
  EXPECT_FALSE(ports[0].declared);
  EXPECT_TRUE(ports[1].declared);
  EXPECT_EQ(ports[1].url, "https://5000-ws.example.com/");
}

TEST(PortTracker, ADeclaredEndpointBoundToLoopbackIsAWarningWhoeverHoldsIt) {
  PortTracker t;
  t.declare({{3000, "web", std::nullopt}});
  std::vector<Said> said;
  t.update({listening("127.0.0.1", 3000, 1, kNobody)}, at(1), std::nullopt, said);  // another container of the pod
  EXPECT_EQ(t.warnings(), std::vector<std::string>{"port 3000 (held outside what wsinit can see) listens on 127.0.0.1 only: "
                                                   "the workspace proxy cannot reach it; bind 0.0.0.0"});
}

TEST(PortTracker, ADeclaredEndpointNothingServesIsAWarningAMinuteAfterReady) {
  PortTracker t;
  t.declare({{3000, "web", std::nullopt}});
  std::vector<Said> said;
  EXPECT_FALSE(t.update({}, at(100), std::nullopt, said));  // not ready: never
  EXPECT_FALSE(t.update({}, at(159), 100'000, said));       // ready at 100 s: 59 s
  EXPECT_TRUE(t.warnings().empty());
  EXPECT_TRUE(t.update({}, at(160), 100'000, said));
  const std::string warning = "devfile endpoint 'web' (port 3000): nothing listens on it 1m after the workspace became ready "
                              "(or the port closed); start what serves it, listening on 0.0.0.0:3000";
  EXPECT_EQ(texts(said), std::vector<std::string>{"warn: " + warning});
  EXPECT_EQ(t.warnings(), std::vector<std::string>{warning});
  said.clear();
  EXPECT_FALSE(t.update({}, at(161), 100'000, said));  // said once
  EXPECT_TRUE(said.empty());
  // Served: gone. Closed again: due a minute after the close.
  EXPECT_TRUE(t.update({listening("0.0.0.0", 3000, 1, kWeb)}, at(170), 100'000, said));
  EXPECT_TRUE(t.warnings().empty());
  t.update({}, at(200), 100'000, said);
  said.clear();
  t.update({}, at(259), 100'000, said);
  EXPECT_TRUE(t.warnings().empty());
  t.update({}, at(260), 100'000, said);
  EXPECT_EQ(t.warnings().size(), 1u);
  // No longer declared (a reload): the warning goes with it.
  t.declare({});
  EXPECT_TRUE(t.warnings().empty());
}

TEST(PortTracker, AnotherHolderIsSaid) {
  PortTracker t;
  std::vector<Said> said;
  t.update({listening("0.0.0.0", 3000, 1, kWeb)}, at(1), std::nullopt, said);
  said.clear();
  Owner next{"web", 456, "node"};
  EXPECT_TRUE(t.update({listening("0.0.0.0", 3000, 2, next)}, at(2), std::nullopt, said));
  EXPECT_EQ(texts(said), std::vector<std::string>{"info: port 3000 is now held by service web (pid 456, node)"});
  EXPECT_EQ(t.ports()[0].owner.pid, 456);
  EXPECT_EQ(t.ports()[0].since_unix_ms, at(1).unix_ms);
}

TEST(Duration, Text) {
  EXPECT_EQ(duration_text(0), "0s");
  EXPECT_EQ(duration_text(45'900), "45s");
  EXPECT_EQ(duration_text(1'800'000), "30m");
  EXPECT_EQ(duration_text(5'400'000), "1h30m");
  EXPECT_EQ(duration_text(3'725'000), "1h2m5s");
}

// --- Activity ---

Socket connection(const char* local, std::uint16_t local_port, const char* remote, std::uint16_t remote_port,
                  std::uint64_t inode, std::optional<std::uint64_t> bytes = std::nullopt) {
  Socket s;
  s.local = address(local);
  s.local_port = local_port;
  s.remote = address(remote);
  s.remote_port = remote_port;
  s.state = kTcpEstablished;
  s.inode = inode;
  s.bytes = bytes;
  return s;
}

const std::map<std::uint16_t, ConnectionKind> kWatched = {{22, ConnectionKind::ssh}, {60001, ConnectionKind::editor}};

TEST(UserConnections, ServerEndsOfWatchedPortsLessWsinitsOwnProbes) {
  std::vector<Socket> dump = {
      connection("10.0.0.5", 22, "10.0.0.9", 50000, 1, 500),            // the proxy's SSH session
      connection("127.0.0.1", 60001, "127.0.0.1", 41000, 2, 100),       // a probe's server end
      connection("127.0.0.1", 41000, "127.0.0.1", 60001, 3, 100),       // the probe: wsinit's own
      connection("::ffff:127.0.0.1", 60001, "::ffff:127.0.0.1", 41001, 4, 9),  // a dual-stack server end...
      connection("127.0.0.1", 41001, "127.0.0.1", 60001, 5, 9),         // ...of a client that is someone else's
      connection("127.0.0.1", 41002, "127.0.0.1", 22, 6, 9),            // a client end whose server end went
  };
  std::vector<std::uint64_t> asked;
  auto own = [&](std::uint64_t inode) {
    asked.push_back(inode);
    return inode == 3;
  };
  auto users = user_connections(dump, kWatched, own);
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0].kind, ConnectionKind::ssh);
  EXPECT_EQ(users[0].bytes, 500u);
  EXPECT_EQ(users[1].kind, ConnectionKind::editor);
  EXPECT_EQ(users[1].bytes, 9u);
  EXPECT_EQ(asked, (std::vector<std::uint64_t>{3, 5, 6}));  // only client ends of watched ports are asked about
  // A probe over IPv4 to a dual-stack server: still wsinit's own.
  auto mapped = user_connections({connection("::ffff:127.0.0.1", 60001, "::ffff:127.0.0.1", 41000, 2, 1),
                                  connection("127.0.0.1", 41000, "127.0.0.1", 60001, 3, 1)},
                                 kWatched, own);
  EXPECT_TRUE(mapped.empty());
}

std::vector<Connection> conns(std::initializer_list<std::pair<std::uint16_t, std::optional<std::uint64_t>>> items) {
  std::vector<Socket> dump;
  std::uint64_t inode = 100;
  for (const auto& [client_port, bytes] : items) dump.push_back(connection("127.0.0.1", 60001, "127.0.0.1", client_port, ++inode, bytes));
  return user_connections(dump, kWatched, [](std::uint64_t) { return false; });
}

TEST(ActivityTracker, IdleCountsFromTheStartUntilTheFirstActivity) {
  ActivityTracker t(at(0));
  std::vector<Said> said;
  t.update({}, at(10), said);
  Activity a = t.at(at(12));
  EXPECT_FALSE(a.last_active_unix_ms);
  EXPECT_DOUBLE_EQ(a.idle_s, 12.0);
  EXPECT_FALSE(a.idle);
  EXPECT_EQ(a.ssh_sessions + a.editor_connections, 0u);
}

TEST(ActivityTracker, BytesMoveLastActiveAndAnIdleConnectionDoesNot) {
  ActivityTracker t(at(0));
  std::vector<Said> said;
  t.update(conns({{40000, 0}}), at(1), said);  // a new connection that carried nothing
  EXPECT_FALSE(t.at(at(1)).last_active_unix_ms);
  EXPECT_EQ(t.at(at(1)).editor_connections, 1u);
  t.update(conns({{40000, 0}}), at(2), said);
  EXPECT_FALSE(t.at(at(2)).last_active_unix_ms);
  t.update(conns({{40000, 10}}), at(3), said);  // it carried bytes
  EXPECT_EQ(t.at(at(3)).last_active_unix_ms, at(3).unix_ms);
  t.update(conns({{40000, 10}}), at(4), said);  // and then none
  EXPECT_EQ(t.at(at(5)).last_active_unix_ms, at(3).unix_ms);
  EXPECT_DOUBLE_EQ(t.at(at(5)).idle_s, 2.0);
  t.update(conns({{40000, 10}, {40001, 300}}), at(6), said);  // a new one with bytes
  EXPECT_EQ(t.at(at(6)).last_active_unix_ms, at(6).unix_ms);
  EXPECT_EQ(t.at(at(6)).editor_connections, 2u);
  t.update({}, at(7), said);  // both gone: nothing to count, no activity
  EXPECT_EQ(t.at(at(7)).last_active_unix_ms, at(6).unix_ms);
  EXPECT_EQ(t.at(at(7)).editor_connections, 0u);
  EXPECT_TRUE(said.empty());  // no idle_after: nothing said
}

// /proc/net/tcp has no counters: a new connection counts, an open one does not.
TEST(ActivityTracker, WithoutCountersANewConnectionIsActivity) {
  ActivityTracker t(at(0));
  std::vector<Said> said;
  t.update(conns({{40000, std::nullopt}}), at(1), said);
  EXPECT_EQ(t.at(at(1)).last_active_unix_ms, at(1).unix_ms);
  t.update(conns({{40000, std::nullopt}}), at(5), said);
  EXPECT_EQ(t.at(at(5)).last_active_unix_ms, at(1).unix_ms);
}

TEST(ActivityTracker, IdleAfterFlipsOnceEachWay) {
  ActivityTracker t(at(0));
  t.set_idle_after(30'000);
  std::vector<Said> said;
  EXPECT_FALSE(t.update({}, at(29), said));
  EXPECT_FALSE(t.at(at(29)).idle);
  EXPECT_TRUE(t.update({}, at(30), said));
  EXPECT_TRUE(t.at(at(30)).idle);
  EXPECT_EQ(texts(said), std::vector<std::string>{"info: workspace idle: no SSH or editor traffic for 30s (activity.idle_after 30s)"});
  said.clear();
  EXPECT_FALSE(t.update({}, at(31), said));  // once
  EXPECT_FALSE(t.update(conns({{40000, 0}}), at(40), said));  // a connection that carries nothing
  EXPECT_TRUE(t.at(at(40)).idle);
  EXPECT_TRUE(t.update(conns({{40000, 5}}), at(45), said));
  EXPECT_FALSE(t.at(at(45)).idle);
  EXPECT_EQ(texts(said), std::vector<std::string>{"info: workspace active again after 45s idle"});
  said.clear();
  EXPECT_FALSE(t.update(conns({{40000, 5}}), at(74), said));
  EXPECT_TRUE(t.update(conns({{40000, 5}}), at(75), said));  // 30 s after the last bytes
  EXPECT_TRUE(t.at(at(75)).idle);
}

// The connections are read less often than the ports: between two readings, time alone makes
// the workspace idle, on time.
TEST(ActivityTracker, IdleComesWithTimeBetweenReadingsOfTheConnections) {
  ActivityTracker t(at(0));
  t.set_idle_after(30'000);
  std::vector<Said> said;
  t.update(conns({{40000, 5}}), at(5), said);
  EXPECT_FALSE(t.check_idle(at(34), said));
  EXPECT_TRUE(t.check_idle(at(35), said));
  EXPECT_TRUE(t.at(at(35)).idle);
  EXPECT_FALSE(t.check_idle(at(36), said));  // once
  EXPECT_EQ(said.size(), 1u);
}

}  // namespace
}  // namespace wsinit::telemetry
