// The service state machine, one test per transition of its table (supervisor/service.cpp, and
// docs/DESIGN.md "Service states"), driven with real processes, probes and timers on a real loop.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include "supervisor/once.h"
#include "supervisor/service.h"
#include "tests/unit/test_util.h"

using namespace wsinit;
using namespace wsinit::supervisor;
using namespace std::chrono_literals;
using Service = Supervisor::Service;
using Phase = Service::Phase;
using Event = Service::Event;

namespace {

ServiceSpec shell(const std::string& script) {
  ServiceSpec s;
  s.name = "svc";
  s.command = {"/bin/sh", "-c", script};
  s.stop_timeout = 2s;
  s.backoff_initial = s.backoff_max = 20ms;
  return s;
}

ServiceSpec with_exec_probe(ServiceSpec s, std::vector<std::string> probe, config::Duration timeout = 5s) {
  s.ready.kind = config::Readiness::Kind::exec;
  s.ready.exec = std::move(probe);
  s.ready.interval = 20ms;
  s.ready.timeout = timeout;
  return s;
}

// A listener on 127.0.0.1 at a port the kernel picks: "another process serves the port".
struct Listener {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int port = 0;
  Listener() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd, 8), 0);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  void close_now() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  ~Listener() { close_now(); }
};

ServiceSpec adopting(const Listener& l) {
  ServiceSpec s = shell("exec sleep 30");
  s.external_port = l.port;
  s.ready.kind = config::Readiness::Kind::tcp;
  s.ready.tcp_port = l.port;
  s.ready.interval = 20ms;
  return s;
}

// One service on a real loop; a reaper hands it its children's exits as init/ does.
struct Rig {
  uv_loop_t loop;
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  std::unique_ptr<OutputSink> out;
  Context ctx;
  std::unique_ptr<Service> s;
  std::unique_ptr<Timer> reaper;
  int changes = 0;
  int main_status = -1;

  explicit Rig(ServiceSpec spec, Phase initial = Phase::waiting, Service::Role role = Service::Role::service) {
    uv_loop_init(&loop);
    out = std::make_unique<OutputSink>(&loop, devnull, 1 << 16);
    ctx.loop = &loop;
    ctx.out = out.get();
    ctx.env = {"PATH=/usr/bin:/bin"};
    ctx.changed = [this] { ++changes; };
    ctx.main_exited = [this](int status) { main_status = status; };
    s = std::make_unique<Service>(ctx, std::move(spec), role, initial);
    reaper = std::make_unique<Timer>(&loop);
    reaper->repeat(2ms, [this] {
      int status;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (s && s->owns(pid)) s->on_exit(pid, status);
      }
    });
  }
  ~Rig() {
    if (s->has_process()) {
      s->stop(nullptr);
      run_until([&] { return !s->has_process(); });
    }
    EXPECT_EQ(ctx.impossible_events, 0u) << "an event the table calls impossible happened";
    s.reset();
    reaper.reset();
    out.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    close(devnull);
  }
  bool run_until(const std::function<bool()>& done, int ms = 5000) {
    for (int i = 0; i < ms / 2 && !done(); ++i) {
      uv_run(&loop, UV_RUN_NOWAIT);
      usleep(2000);
    }
    return done();
  }
  void run_for(int ms) { run_until([] { return false; }, ms); }
  bool reaches(Phase p, int ms = 5000) { return run_until([&] { return s->phase() == p; }, ms); }
  void bug_expected() { ctx.impossible_events = 0; }  // the test asked for one
};

}  // namespace

TEST(ServiceTable, RowsAreInPhaseOrderAndNamed) {
  EXPECT_TRUE(Service::table_in_order());
  EXPECT_STREQ(Service::action_name(Phase::waiting, Event::go), "launch");
  EXPECT_STREQ(Service::action_name(Phase::ready, Event::backoff_over), "bug");
}

// docs/DESIGN.md carries the same table; it is the contract a reader checks the code against.
TEST(ServiceTable, DesignDocumentHasTheSameTable) {
  std::ifstream in(std::string(SOURCE_DIR) + "/docs/DESIGN.md");
  std::string line;
  std::vector<std::string> events;
  std::map<std::string, std::vector<std::string>> rows;
  auto cells = [](const std::string& l) {
    std::vector<std::string> out;
    std::stringstream ss(l.substr(1));
    std::string cell;
    while (std::getline(ss, cell, '|')) {
      auto b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
      if (b != std::string::npos) out.push_back(cell.substr(b, e - b + 1));
    }
    return out;
  };
  while (std::getline(in, line)) {
    if (line.starts_with("| phase |")) events = cells(line);
    else if (!events.empty() && line.starts_with("| ") && !line.starts_with("|---")) {
      auto c = cells(line);
      if (c.size() == events.size()) rows[c[0]] = c;
    } else if (!events.empty() && !line.starts_with("|")) break;
  }
  ASSERT_EQ(events.size(), size_t(Service::kEvents + 1));
  ASSERT_EQ(rows.size(), size_t(Service::kPhases));
  for (int p = 0; p < Service::kPhases; ++p) {
    auto phase = static_cast<Phase>(p);
    ASSERT_TRUE(rows.count(Service::phase_name(phase))) << Service::phase_name(phase);
    const auto& row = rows[Service::phase_name(phase)];
    for (int e = 0; e < Service::kEvents; ++e) {
      auto event = static_cast<Event>(e);
      EXPECT_EQ(events[e + 1], Service::event_name(event));
      EXPECT_EQ(row[e + 1], Service::action_name(phase, event)) << Service::phase_name(phase) << " x " << Service::event_name(event);
    }
  }
}

// ---- held ----

TEST(ServiceHeld, ReleaseMakesItWaiting) {
  Rig r(shell("exec sleep 30"), Phase::held);
  EXPECT_EQ(r.s->state(), State::waiting);
  r.s->on_event(Event::release);
  EXPECT_EQ(r.s->phase(), Phase::waiting);
  EXPECT_EQ(r.changes, 1);
}

TEST(ServiceHeld, StopHaltsItAtOnce) {
  Rig r(shell("exec sleep 30"), Phase::held);
  bool down = false;
  r.s->stop([&] { down = true; });
  EXPECT_TRUE(down);
  EXPECT_EQ(r.s->phase(), Phase::stopped);
}

TEST(ServiceHeld, RearmKeepsItHeldAndGoIsABug) {
  Rig r(shell("exec sleep 30"), Phase::held);
  r.s->on_event(Event::rearm);
  EXPECT_EQ(r.s->phase(), Phase::held);
  r.s->on_event(Event::go);
  EXPECT_EQ(r.s->phase(), Phase::held);
  EXPECT_FALSE(r.s->has_process());
  EXPECT_EQ(r.ctx.impossible_events, 1u);
  r.bug_expected();
}

// ---- waiting ----

TEST(ServiceWaiting, GoStartsItRunningWithoutAProbe) {
  Rig r(shell("exec sleep 30"));
  r.s->on_event(Event::go);
  EXPECT_EQ(r.s->phase(), Phase::running);
  EXPECT_GT(r.s->status().pid, 0);
  EXPECT_EQ(kill(r.s->status().pid, 0), 0);
  EXPECT_TRUE(r.s->satisfies_dependents());
}

TEST(ServiceWaiting, GoStartsItStartingWithAProbe) {
  Rig r(with_exec_probe(shell("exec sleep 30"), {"false"}));
  r.s->on_event(Event::go);
  EXPECT_EQ(r.s->phase(), Phase::starting);
  EXPECT_FALSE(r.s->satisfies_dependents());
}

TEST(ServiceWaiting, GoThatCannotSpawnBacksOffOrFails) {
  ServiceSpec spec;
  spec.name = "ghost";
  spec.command = {"no-such-binary-here"};
  spec.backoff_initial = spec.backoff_max = 10s;
  Rig r(spec);
  r.s->on_event(Event::go);
  EXPECT_EQ(r.s->phase(), Phase::backoff);
  EXPECT_EQ(r.s->status().last_exit, "failed: exec: No such file or directory");
  EXPECT_EQ(r.s->status().last_exit_status, 127);
  spec.restart = config::Restart::never;
  Rig never(spec);
  never.s->on_event(Event::go);
  EXPECT_EQ(never.s->phase(), Phase::failed);
}

TEST(ServiceWaiting, GoWithItsPortTakenAdoptsTheOtherProcess) {
  Listener l;
  Rig r(adopting(l));
  r.s->on_event(Event::go);
  EXPECT_EQ(r.s->state(), State::external);
  EXPECT_FALSE(r.s->has_process());
}

TEST(ServiceWaiting, RearmAndReleaseKeepItWaitingAndStopHaltsIt) {
  Rig r(shell("exec sleep 30"));
  r.s->on_event(Event::rearm);
  r.s->on_event(Event::release);
  EXPECT_EQ(r.s->phase(), Phase::waiting);
  bool down = false;
  r.s->stop([&] { down = true; });
  EXPECT_TRUE(down);
  EXPECT_EQ(r.s->phase(), Phase::stopped);
}

// ---- starting ----

TEST(ServiceStarting, ProbePassedMakesItReady) {
  Rig r(with_exec_probe(shell("exec sleep 30"), {"true"}));
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::ready));
  EXPECT_TRUE(r.s->satisfies_dependents());
  EXPECT_TRUE(r.s->was_ever_ready());
}

TEST(ServiceStarting, ReadyTimeoutSendsTheStopSignalAndRestartsAsAFailure) {
  Rig r(with_exec_probe(shell("exec sleep 30"), {"false"}, 100ms));
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::unready, 2000));
  EXPECT_EQ(r.s->state(), State::starting);
  ASSERT_TRUE(r.run_until([&] { return r.s->status().restarts >= 1; }));
  EXPECT_EQ(r.s->status().last_exit, "not ready after 100ms");
  EXPECT_EQ(r.s->status().last_exit_status, 128 + SIGTERM);
}

TEST(ServiceStarting, ExitedGoesToBackoff) {
  ServiceSpec spec = with_exec_probe(shell("sleep 0.1; exit 3"), {"false"});
  spec.backoff_initial = spec.backoff_max = 10s;
  Rig r(spec);
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::backoff));
  EXPECT_EQ(r.s->status().last_exit, "exit 3");
}

TEST(ServiceStarting, StopStopsIt) {
  Rig r(with_exec_probe(shell("exec sleep 30"), {"false"}));
  r.s->on_event(Event::go);
  bool down = false;
  r.s->stop([&] { down = true; });
  EXPECT_EQ(r.s->phase(), Phase::stopping);
  ASSERT_TRUE(r.run_until([&] { return down; }));
  EXPECT_EQ(r.s->phase(), Phase::stopped);
  EXPECT_EQ(r.s->status().last_exit, "signal 15 (TERM)");
}

// ---- unready ----

TEST(ServiceUnready, KillTimerSendsSigkillToAServiceIgnoringItsStopSignal) {
  ServiceSpec spec = with_exec_probe(shell("trap '' TERM; while :; do sleep 0.05; done"), {"false"}, 100ms);
  spec.stop_timeout = 200ms;
  spec.backoff_initial = spec.backoff_max = 10s;
  Rig r(spec);
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::unready, 2000));
  r.run_for(50);
  EXPECT_EQ(r.s->phase(), Phase::unready);  // TERM is ignored
  ASSERT_TRUE(r.reaches(Phase::backoff, 3000));
  EXPECT_EQ(r.s->status().last_exit, "not ready after 100ms");
  EXPECT_EQ(r.s->status().last_exit_status, 128 + SIGKILL);
}

TEST(ServiceUnready, StopStopsIt) {
  ServiceSpec spec = with_exec_probe(shell("trap '' TERM; while :; do sleep 0.05; done"), {"false"}, 100ms);
  spec.stop_timeout = 300ms;
  Rig r(spec);
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::unready, 2000));
  bool down = false;
  r.s->stop([&] { down = true; });
  EXPECT_EQ(r.s->phase(), Phase::stopping);
  ASSERT_TRUE(r.run_until([&] { return down; }));
  EXPECT_EQ(r.s->phase(), Phase::stopped);
}

// ---- running and ready ----

TEST(ServiceRunning, ExitedEndsExitedFailedOrInBackoffByItsRestartPolicy) {
  ServiceSpec ok = shell("exit 0");
  ok.restart = config::Restart::never;
  Rig a(ok);
  a.s->on_event(Event::go);
  ASSERT_TRUE(a.reaches(Phase::exited));
  ServiceSpec bad = shell("exit 3");
  bad.restart = config::Restart::never;
  Rig b(bad);
  b.s->on_event(Event::go);
  ASSERT_TRUE(b.reaches(Phase::failed));
  EXPECT_EQ(b.s->status().last_exit_status, 3);
  ServiceSpec flaky = shell("exit 3");
  flaky.backoff_initial = flaky.backoff_max = 10s;
  Rig c(flaky);
  c.s->on_event(Event::go);
  ASSERT_TRUE(c.reaches(Phase::backoff));
}

TEST(ServiceRunning, AOneshotThatSucceededSatisfiesDependentsAndOneThatFailedDoesNot) {
  ServiceSpec ok = shell("exit 0");
  ok.oneshot = true;
  ok.restart = config::Restart::never;
  Rig a(ok);
  a.s->on_event(Event::go);
  ASSERT_TRUE(a.reaches(Phase::exited));
  EXPECT_TRUE(a.s->satisfies_dependents());
  EXPECT_TRUE(a.s->finished());
  ServiceSpec bad = ok;
  bad.command = {"/bin/sh", "-c", "exit 1"};
  Rig b(bad);
  b.s->on_event(Event::go);
  ASSERT_TRUE(b.reaches(Phase::failed));
  EXPECT_FALSE(b.s->satisfies_dependents());
  EXPECT_TRUE(b.s->finished());
}

TEST(ServiceRunning, StopStopsIt) {
  Rig r(shell("exec sleep 30"));
  r.s->on_event(Event::go);
  bool down = false;
  r.s->stop([&] { down = true; });
  ASSERT_TRUE(r.run_until([&] { return down; }));
  EXPECT_EQ(r.s->phase(), Phase::stopped);
}

TEST(ServiceReady, ExitedGoesToBackoffAndStopStopsIt) {
  ServiceSpec spec = with_exec_probe(shell("sleep 0.3; exit 1"), {"true"});
  spec.backoff_initial = spec.backoff_max = 10s;
  Rig r(spec);
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::ready));
  ASSERT_TRUE(r.reaches(Phase::backoff));
  EXPECT_TRUE(r.s->is_failing());
  Rig q(with_exec_probe(shell("exec sleep 30"), {"true"}));
  q.s->on_event(Event::go);
  ASSERT_TRUE(q.reaches(Phase::ready));
  q.s->stop(nullptr);
  ASSERT_TRUE(q.reaches(Phase::stopped));
}

// ---- stopping ----

TEST(ServiceStopping, ExitedMakesItStoppedAndEveryWaiterHearsIt) {
  Rig r(shell("exec sleep 30"));
  r.s->on_event(Event::go);
  int heard = 0;
  r.s->stop([&] { ++heard; });
  r.s->stop([&] { ++heard; });  // a second stop (shutdown during `wsinit stop`) waits too
  EXPECT_EQ(r.s->phase(), Phase::stopping);
  ASSERT_TRUE(r.reaches(Phase::stopped));
  EXPECT_EQ(heard, 2);
}

TEST(ServiceStopping, KillTimerSendsSigkill) {
  ServiceSpec spec = shell("trap '' TERM; while :; do sleep 0.05; done");
  spec.stop_timeout = 200ms;
  Rig r(spec);
  r.s->on_event(Event::go);
  r.run_for(100);  // the shell has set its trap
  r.s->stop(nullptr);
  r.run_for(100);
  EXPECT_EQ(r.s->phase(), Phase::stopping);
  ASSERT_TRUE(r.reaches(Phase::stopped, 3000));
  EXPECT_EQ(r.s->status().last_exit, "signal 9 (KILL)");
}

// ---- at rest: stopped, exited, failed ----

TEST(ServiceAtRest, RearmMakesItWaitingAgainAndStopAnswersAtOnce) {
  for (Phase rest : {Phase::stopped, Phase::exited, Phase::failed}) {
    ServiceSpec spec = shell(rest == Phase::failed ? "exit 1" : "exit 0");
    spec.restart = config::Restart::never;
    Rig r(spec);
    if (rest == Phase::stopped) r.s->stop(nullptr);
    else r.s->on_event(Event::go);
    ASSERT_TRUE(r.reaches(rest)) << Service::phase_name(rest);
    bool down = false;
    r.s->stop([&] { down = true; });
    EXPECT_TRUE(down);
    EXPECT_EQ(r.s->phase(), rest);
    r.s->on_event(Event::rearm);
    EXPECT_EQ(r.s->phase(), Phase::waiting);
  }
}

// ---- backoff ----

TEST(ServiceBackoff, BackoffOverStartsItAgain) {
  wsinit::testing::TempDir dir;
  ServiceSpec spec = shell("test -e " + dir.path + "/second || { touch " + dir.path + "/second; exit 1; }; exec sleep 30");
  spec.backoff_initial = spec.backoff_max = 50ms;
  Rig r(spec);
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::backoff));
  ASSERT_TRUE(r.reaches(Phase::running));
  EXPECT_EQ(r.s->status().restarts, 1u);
}

TEST(ServiceBackoff, RearmCancelsTheRestartAndStopHaltsIt) {
  ServiceSpec spec = shell("exit 1");
  spec.backoff_initial = spec.backoff_max = 100ms;
  Rig r(spec);
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::backoff));
  r.s->on_event(Event::rearm);
  EXPECT_EQ(r.s->phase(), Phase::waiting);
  r.run_for(300);
  EXPECT_EQ(r.s->phase(), Phase::waiting);  // the backoff timer was cancelled
  EXPECT_EQ(r.s->status().restarts, 0u);
  Rig q(spec);
  q.s->on_event(Event::go);
  ASSERT_TRUE(q.reaches(Phase::backoff));
  q.s->stop(nullptr);
  EXPECT_EQ(q.s->phase(), Phase::stopped);
  q.run_for(300);
  EXPECT_EQ(q.s->phase(), Phase::stopped);
}

// ---- external ----

TEST(ServiceExternal, ProbePassedWhenTheOtherProcessAnswers) {
  Listener l;
  Rig r(adopting(l));
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::external_ready));
  EXPECT_TRUE(r.s->satisfies_dependents());
}

TEST(ServiceExternal, RecheckPortKeepsProbingWhileTakenAndStartsOursOnceFree) {
  for (Phase from : {Phase::external, Phase::external_ready}) {
    Listener l;
    ServiceSpec spec = adopting(l);
    if (from == Phase::external) spec.ready.tcp_port = 1;  // never answers
    Rig r(spec);
    r.s->on_event(Event::go);
    ASSERT_TRUE(r.reaches(from));
    r.s->on_event(Event::recheck_port);
    EXPECT_EQ(r.s->phase(), from);
    EXPECT_FALSE(r.s->has_process());
    l.close_now();
    r.s->on_event(Event::recheck_port);
    EXPECT_EQ(r.s->state(), State::starting);  // our own, probed on the same port
    EXPECT_TRUE(r.s->has_process());
  }
}

TEST(ServiceExternal, StopHaltsIt) {
  Listener l;
  Rig r(adopting(l));
  r.s->on_event(Event::go);
  bool down = false;
  r.s->stop([&] { down = true; });
  EXPECT_TRUE(down);
  EXPECT_EQ(r.s->phase(), Phase::stopped);
}

// ---- the main command (tini mode) ----

TEST(ServiceMain, ExitedEndsItAndTellsWsinit) {
  ServiceSpec spec = shell("exit 5");
  spec.name = "main";
  spec.restart = config::Restart::never;
  Rig r(spec, Phase::waiting, Service::Role::main);
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::failed));
  EXPECT_EQ(r.main_status, 5);
}

// ---- what cannot happen ----

TEST(ServiceTable, AnImpossibleEventIsCountedAndChangesNothing) {
  Rig r(shell("exec sleep 30"));
  r.s->on_event(Event::go);
  ASSERT_EQ(r.s->phase(), Phase::running);
  pid_t pid = r.s->status().pid;
  int impossible = 0;
  for (int e = 0; e < Service::kEvents; ++e) {
    auto event = static_cast<Event>(e);
    if (std::string(Service::action_name(Phase::running, event)) != "bug") continue;
    r.s->on_event(event);
    ++impossible;
    EXPECT_EQ(r.s->phase(), Phase::running) << Service::event_name(event);
    EXPECT_EQ(r.s->status().pid, pid);
  }
  EXPECT_EQ(r.ctx.impossible_events, static_cast<std::uint64_t>(impossible));
  EXPECT_GE(impossible, 9);
  r.bug_expected();
}

// ---- timeout (step_timeout, timed_out) and once (already_ran) ----

namespace {

ServiceSpec oneshot(const std::string& script, std::optional<config::Duration> timeout = std::nullopt) {
  ServiceSpec s = shell(script);
  s.oneshot = true;
  s.restart = config::Restart::never;
  s.timeout = timeout;
  return s;
}

bool process_gone(pid_t pid) { return kill(pid, 0) < 0 && errno == ESRCH; }

}  // namespace

TEST(ServiceTimeout, AOneshotOverItsTimeoutIsStoppedAndFailsWithTimeout) {
  // The shell's child holds the group: both must go (the stop signal goes to the group).
  Rig r(oneshot("sleep 30 & wait", 150ms));
  r.s->on_event(Event::go);
  ASSERT_EQ(r.s->phase(), Phase::running);
  pid_t pid = r.s->status().pid;
  ASSERT_TRUE(r.reaches(Phase::failed, 3000));
  EXPECT_EQ(r.s->status().last_exit, "timeout");
  EXPECT_FALSE(r.s->satisfies_dependents());
  EXPECT_TRUE(r.s->finished());
  EXPECT_TRUE(r.s->is_failing());
  EXPECT_TRUE(r.run_until([&] { return process_gone(pid); }, 1000));
}

TEST(ServiceTimeout, TimedOutIsStoppingAndKillTimerSendsSigkill) {
  ServiceSpec spec = oneshot("trap '' TERM; while :; do sleep 0.05; done", 100ms);
  spec.stop_timeout = 200ms;
  Rig r(spec);
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::timed_out, 2000));
  EXPECT_EQ(r.s->state(), State::stopping);
  r.run_for(50);
  EXPECT_EQ(r.s->phase(), Phase::timed_out);  // TERM is ignored
  ASSERT_TRUE(r.reaches(Phase::failed, 3000));
  EXPECT_EQ(r.s->status().last_exit, "timeout");
  EXPECT_EQ(r.s->status().last_exit_status, 128 + SIGKILL);
}

TEST(ServiceTimeout, AOneshotWithinItsTimeoutSucceeds) {
  Rig r(oneshot("exit 0", 5s));
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::exited));
  EXPECT_EQ(r.s->status().last_exit, "exit 0");
  r.run_for(50);  // the timer is gone with the process: no step_timeout in exited (a bug)
}

TEST(ServiceTimeout, AServiceNotReadyWithinItsTimeoutRestartsAsAFailure) {
  ServiceSpec spec = with_exec_probe(shell("exec sleep 30"), {"false"}, 10s);
  spec.timeout = 150ms;
  spec.backoff_initial = spec.backoff_max = 10s;
  Rig r(spec);
  r.s->on_event(Event::go);
  ASSERT_EQ(r.s->phase(), Phase::starting);
  ASSERT_TRUE(r.reaches(Phase::backoff, 3000));
  EXPECT_EQ(r.s->status().last_exit, "timeout");
  EXPECT_TRUE(r.s->is_failing());
}

TEST(ServiceTimeout, AReadyServiceIsNotStoppedByItsTimeout) {
  ServiceSpec spec = with_exec_probe(shell("exec sleep 30"), {"true"});
  spec.timeout = 150ms;
  Rig r(spec);
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::ready));
  r.run_for(300);
  EXPECT_EQ(r.s->phase(), Phase::ready);
}

TEST(ServiceTimeout, StopWhileTimedOutStopsIt) {
  ServiceSpec spec = oneshot("trap '' TERM; while :; do sleep 0.05; done", 100ms);
  spec.stop_timeout = 200ms;
  Rig r(spec);
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::timed_out, 2000));
  bool down = false;
  r.s->stop([&] { down = true; });
  EXPECT_EQ(r.s->phase(), Phase::stopping);
  ASSERT_TRUE(r.run_until([&] { return down; }));
  EXPECT_EQ(r.s->phase(), Phase::stopped);
}

using OnceDir = wsinit::testing::TempDir;

TEST(ServiceOnce, ASuccessfulRunLeavesAMarkerAndTheNextStartSkipsIt) {
  OnceDir dir;
  ServiceSpec spec = oneshot("exit 0");
  spec.once = true;
  {
    Rig r(spec);
    r.ctx.once_dir = dir.path + "/once";
    r.s->on_event(Event::go);
    ASSERT_TRUE(r.reaches(Phase::exited));
    EXPECT_EQ(r.s->status().last_exit, "exit 0");
  }
  Rig r(spec);
  r.ctx.once_dir = dir.path + "/once";
  r.s->on_event(Event::go);
  EXPECT_EQ(r.s->phase(), Phase::exited);
  EXPECT_FALSE(r.s->has_process());
  EXPECT_TRUE(r.s->satisfies_dependents());
  EXPECT_TRUE(r.s->status().last_exit.starts_with("skipped (already ran at 20")) << r.s->status().last_exit;
  EXPECT_EQ(r.s->status().restarts, 0u);
  r.s->on_event(Event::rearm);  // wsinit start: skipped again
  r.s->on_event(Event::go);
  EXPECT_EQ(r.s->phase(), Phase::exited);
}

TEST(ServiceOnce, AFailedRunLeavesNoMarker) {
  OnceDir dir;
  ServiceSpec spec = oneshot("exit 3");
  spec.once = true;
  Rig r(spec);
  r.ctx.once_dir = dir.path + "/once";
  r.s->on_event(Event::go);
  ASSERT_TRUE(r.reaches(Phase::failed));
  EXPECT_EQ(access((dir.path + "/once").c_str(), F_OK), -1);
  r.s->on_event(Event::rearm);
  r.s->on_event(Event::go);
  EXPECT_EQ(r.s->phase(), Phase::running);  // run again
}

TEST(ServiceOnce, AnUnreadableMarkerRunsTheStep) {
  OnceDir dir;
  ServiceSpec spec = oneshot("exit 0");
  spec.once = true;
  std::string key = once_key(spec.command, spec.cwd, spec.env);
  ASSERT_EQ(mkdir((dir.path + "/once").c_str(), 0700), 0);
  ASSERT_EQ(mkdir((dir.path + "/once/" + key).c_str(), 0700), 0);  // a directory where the marker goes
  Rig r(spec);
  r.ctx.once_dir = dir.path + "/once";
  r.s->on_event(Event::go);
  EXPECT_EQ(r.s->phase(), Phase::running);
  ASSERT_TRUE(r.reaches(Phase::exited));  // and the marker that cannot be written is only said
  EXPECT_EQ(r.s->status().last_exit, "exit 0");
}
