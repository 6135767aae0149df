#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/unit/test_util.h"
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "common/backoff.h"
#include "common/fs.h"
#include "common/http_status.h"
#include "common/json.h"
#include "supervisor/log_relay.h"
#include "supervisor/probe.h"
#include "supervisor/supervisor.h"

using namespace wsinit;
using namespace wsinit::supervisor;
using wsinit::testing::slurp;
using wsinit::testing::TempDir;
using namespace std::chrono_literals;

TEST(Backoff, DoublesFromInitialToMax) {
  EXPECT_EQ(backoff_delay(1000ms, 30000ms, 1, 0.0), 1000ms);
  EXPECT_EQ(backoff_delay(1000ms, 30000ms, 2, 0.0), 2000ms);
  EXPECT_EQ(backoff_delay(1000ms, 30000ms, 5, 0.0), 16000ms);
  EXPECT_EQ(backoff_delay(1000ms, 30000ms, 6, 0.0), 30000ms);
  EXPECT_EQ(backoff_delay(1000ms, 30000ms, 60, 0.0), 30000ms);  // no overflow
}

TEST(Backoff, JitterStaysWithinBounds) {
  EXPECT_EQ(backoff_delay(1000ms, 30000ms, 3, 0.5), 3600ms);  // 4000 less 10%
  EXPECT_EQ(backoff_delay(1000ms, 30000ms, 1, 0.99), 1000ms);  // never below initial
  for (double r : {0.0, 0.3, 0.999}) {
    auto d = backoff_delay(100ms, 400ms, 4, r);
    EXPECT_GE(d, 320ms);
    EXPECT_LE(d, 400ms);
  }
  EXPECT_EQ(backoff_delay(0ms, 0ms, 7, 0.5), 0ms);
}

TEST(Backoff, ScheduleStartsOverAfterAStableRun) {
  int attempt = 0;
  attempt = next_attempt(attempt, 50ms);
  attempt = next_attempt(attempt, 50ms);
  attempt = next_attempt(attempt, 9999ms);
  EXPECT_EQ(attempt, 3);
  EXPECT_EQ(backoff_delay(1000ms, 30000ms, attempt, 0.0), 4000ms);
  attempt = next_attempt(attempt, 10s);  // it ran long enough: back to the first delay
  EXPECT_EQ(attempt, 1);
  EXPECT_EQ(backoff_delay(1000ms, 30000ms, attempt, 0.0), 1000ms);
}

TEST(Json, EscapesAndKeepsValidUtf8) {
  EXPECT_EQ(json::quote("a\"b\\c\n\t\x01"), "\"a\\\"b\\\\c\\n\\t\\u0001\"");
  EXPECT_EQ(json::quote("h\xC3\xA9"), "\"h\xC3\xA9\"");
  EXPECT_EQ(json::quote("bad\xFF\xC3"), "\"bad\xEF\xBF\xBD\xEF\xBF\xBD\"");
  json::Writer w;
  w.begin_object().key("a").value(1).key("b").begin_array().value(true).null().end_array().end_object();
  EXPECT_EQ(w.str(), "{\"a\":1,\"b\":[true,null]}");
}

TEST(Probe, ParsesHttpUrls) {
  auto t = parse_http_url("http://127.0.0.1:8080/health?x=1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 8080);
  EXPECT_EQ(t->path, "/health?x=1");
  t = parse_http_url("http://localhost");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 80);
  EXPECT_EQ(t->path, "/");
  t = parse_http_url("http://[::1]:9000/");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "::1");
  EXPECT_FALSE(parse_http_url("https://127.0.0.1/"));
  auto named = parse_http_url("http://example.com/");
  EXPECT_FALSE(named);
  EXPECT_NE(named.error().message.find("IP address"), std::string::npos);
  EXPECT_FALSE(parse_http_url("http://127.0.0.1:99999/"));
  EXPECT_EQ(parse_http_url("http://localhost:3000/").value().host_header, "127.0.0.1:3000");
  EXPECT_EQ(parse_http_url("http://[::1]/").value().host_header, "[::1]");
}

// A URL the probe cannot use is named, with the reason, instead of being skipped in silence.
TEST(Probe, NamesAUrlItCannotUse) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  {
    config::Readiness spec;
    spec.kind = config::Readiness::Kind::http;
    spec.http_url = "http://example.com:8080/";
    Probe bad(&loop, spec);
    EXPECT_EQ(bad.problem(), "cannot probe http://example.com:8080/: host 'example.com' must be an IP address or "
                             "localhost (probes do not resolve names; e.g. http://127.0.0.1:8080/)");
    spec.http_url = "http://127.0.0.1:8080/";
    Probe good(&loop, spec);
    EXPECT_EQ(good.problem(), "");
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(Probe, StatusLines) {
  EXPECT_EQ(parse_status_line("HTTP/1.1 200 OK\r\n"), 200);
  EXPECT_EQ(parse_status_line("HTTP/1.0 503 Service Unavailable\r\n"), 503);
  EXPECT_EQ(parse_status_line("SSH-2.0-OpenSSH_9.2\r\n"), -1);
  EXPECT_EQ(parse_status_line("HTTP/1.1 2x0"), -1);
}

TEST(LogFile, RotatesAtMaxSizeKeepingMaxFiles) {
  TempDir dir;
  std::string path = dir.path + "/svc.log";
  {
    LogFile file(path, 100, 3);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(file.write("line " + std::to_string(i) + " " + std::string(30, 'x') + "\n"));
  }
  EXPECT_EQ(access((path + ".1").c_str(), F_OK), 0);
  EXPECT_EQ(access((path + ".2").c_str(), F_OK), 0);
  EXPECT_NE(access((path + ".3").c_str(), F_OK), 0);
  std::string newest = slurp(path);
  EXPECT_NE(newest.find("line 9 "), std::string::npos);
  EXPECT_LE(newest.size(), 100u);
  EXPECT_NE(slurp(path + ".1").find("line 7 "), std::string::npos);
}

namespace {
size_t open_fds() {
  size_t n = 0;
  for (DIR* d = opendir("/proc/self/fd"); d != nullptr;) {
    if (!readdir(d)) {
      closedir(d);
      break;
    }
    ++n;
  }
  return n;
}
size_t files_in(const std::string& dir) {
  size_t n = 0;
  for (DIR* d = opendir(dir.c_str()); d != nullptr;) {
    dirent* e = readdir(d);
    if (!e) {
      closedir(d);
      break;
    }
    n += e->d_name[0] != '.';
  }
  return n;
}
}  // namespace

// The oldest file is closed on the loop's threadpool: while kMaxReleasing closes wait, the
// current file grows instead of rotating, and no file or descriptor is ever left behind.
TEST(LogFile, ClosesTheOldestOffTheLoopAndWaitsWhenTooManyAreClosing) {
  TempDir dir;
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  std::string path = dir.path + "/svc.log";
  size_t fds_before = open_fds();
  {
    LogFile file(path, 100, 3, &loop);
    std::string line = std::string(59, 'x') + "\n";  // one line per file
    // A write per line, a rotation before each but the first: the first two have no oldest
    // file to let go; each one after has.
    for (int i = 0; i < 3 + LogFile::kMaxReleasing; ++i) ASSERT_TRUE(file.write(line));
    EXPECT_EQ(file.releasing(), LogFile::kMaxReleasing);
    EXPECT_EQ(files_in(dir.path), 3u);
    ASSERT_TRUE(file.write(line + line + line));  // no rotation: all of it in the current file
    EXPECT_EQ(slurp(path).size(), 4 * line.size());
    EXPECT_EQ(files_in(dir.path), 3u);
    for (int i = 0; i < 200 && file.releasing() > 0; ++i) uv_run(&loop, UV_RUN_ONCE);
    EXPECT_EQ(file.releasing(), 0);
    ASSERT_TRUE(file.write("last\n"));  // rotates again
    EXPECT_EQ(slurp(path), "last\n");
    EXPECT_EQ(slurp(path + ".1").size(), 4 * line.size());
    EXPECT_EQ(files_in(dir.path), 3u);
    for (int i = 0; i < 200 && file.releasing() > 0; ++i) uv_run(&loop, UV_RUN_ONCE);
  }
  EXPECT_EQ(open_fds(), fds_before);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

namespace {

// Runs the loop until `done` or a second passes.
void run_until(uv_loop_t* loop, const std::function<bool()>& done) {
  for (int i = 0; i < 200 && !done(); ++i) {
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(5000);
  }
}

}  // namespace

TEST(LogRelay, SplitsLongLinesFlushesPartialsAndWritesJson) {
  TempDir dir;
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::string out_path = dir.path + "/stdout";
  int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  {
    OutputSink sink(&loop, out_fd, 1 << 20);
    LogRelay relay(&loop, "svc", sink, std::make_unique<LogFile>(dir.path + "/svc.log", 1 << 30, 2), LineFormat::text);
    std::string long_line(LogRelay::kMaxLine + 10, 'a');
    std::string data = "first\r\n" + long_line + "\nsecond\npartial";
    ASSERT_GE(fcntl(relay.write_fd(), F_SETPIPE_SZ, 1 << 20), static_cast<int>(data.size()));  // one write, no reader yet
    ASSERT_EQ(write(relay.write_fd(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
    run_until(&loop, [&] { return slurp(out_path).find("[svc] second\n") != std::string::npos; });
    relay.drain();
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  close(out_fd);
  std::string out = slurp(out_path);
  EXPECT_EQ(out.rfind("[svc] first\n", 0), 0u) << out.substr(0, 100);
  EXPECT_NE(out.find("[svc] " + std::string(LogRelay::kMaxLine, 'a') + "\n[svc] aaaaaaaaaa\n"), std::string::npos);
  EXPECT_NE(out.find("[svc] partial\n"), std::string::npos);
  std::string file = slurp(dir.path + "/svc.log");
  EXPECT_NE(file.find("Z first\n"), std::string::npos);
  EXPECT_NE(file.find("Z partial\n"), std::string::npos);

  int json_fd = open(out_path.c_str(), O_WRONLY | O_TRUNC);
  {
    OutputSink sink(&loop, json_fd, 1 << 20);
    LogRelay relay(&loop, "svc", sink, nullptr, LineFormat::json);
    std::string data = "say \"hi\"\n";
    ASSERT_EQ(write(relay.write_fd(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
    relay.drain();
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  close(json_fd);
  out = slurp(out_path);
  EXPECT_NE(out.find(",\"service\":\"svc\",\"line\":\"say \\\"hi\\\"\"}\n"), std::string::npos) << out;
  EXPECT_EQ(out.rfind("{\"time\":\"", 0), 0u);
  uv_loop_close(&loop);
}

TEST(LogRelay, FullStdoutDropsAndCountsInsteadOfBlocking) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);  // nobody reads fds[0]
  {
    OutputSink sink(&loop, fds[1], 4096);
    LogRelay relay(&loop, "svc", sink, nullptr, LineFormat::text);
    std::string line(1000, 'x');
    line += '\n';
    for (int i = 0; i < 200; ++i) {
      ASSERT_EQ(write(relay.write_fd(), line.data(), line.size()), static_cast<ssize_t>(line.size()));
      uv_run(&loop, UV_RUN_NOWAIT);
    }
    relay.drain();
    EXPECT_GT(relay.dropped_lines(), 100u);  // a 64 KiB pipe and a 4 KiB queue hold fewer than 100
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  close(fds[0]);
  close(fds[1]);
  uv_loop_close(&loop);
}

// A write that the pipe takes only in part is finished later, never cut: a cut line would glue
// the next record to it (a broken JSON line on stdout).
TEST(LogRelay, APartlyWrittenBatchIsFinishedNotCut) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_GE(fcntl(fds[1], F_SETPIPE_SZ, 4096), 4096);
  std::string data;
  while (data.size() < 10000) data += "{\"line\":\"" + std::string(90, 'x') + "\"}\n";
  std::string got;
  {
    OutputSink sink(&loop, fds[1], 4096);
    EXPECT_TRUE(sink.write(data)) << "the part the pipe did not take is kept, not dropped";
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    char buffer[8192];
    for (int i = 0; i < 500 && got.size() < data.size(); ++i) {
      ssize_t n = read(fds[0], buffer, sizeof buffer);
      if (n > 0) got.append(buffer, static_cast<size_t>(n));
      uv_run(&loop, UV_RUN_NOWAIT);
      usleep(2000);
    }
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  EXPECT_EQ(got, data);
  close(fds[0]);
  close(fds[1]);
  uv_loop_close(&loop);
}

TEST(StatusRendering, Table) {
  ServiceStatus s;
  s.name = "web";
  s.state = State::ready;
  s.pid = 42;
  s.ready = true;
  s.restarts = 2;
  s.last_exit = "exit 1";
  s.since_unix_ms = 0;
  std::string table = status_table({s});
  EXPECT_NE(table.find("NAME"), std::string::npos);
  EXPECT_NE(table.find("web"), std::string::npos);
  EXPECT_NE(table.find("exit 1"), std::string::npos);
}

namespace {

// A supervisor on a real loop, with a reaper polling waitpid the way init/ does on SIGCHLD.
struct Harness {
  uv_loop_t loop;
  TempDir dir;
  std::unique_ptr<Supervisor> supervisor;
  std::unique_ptr<Timer> reaper;
  int main_exit = -1;
  int oom_asked = 0;                      // times a service asked whether the OOM killer killed it
  std::optional<std::string> oom_answer;  // what it is told

  explicit Harness(const std::string& services_yaml, bool start = true) {
    uv_loop_init(&loop);
    std::string text = "version: 1\npaths: {logs: " + dir.path + "}\nservices:\n" + services_yaml;
    auto loaded = config::load_text(text, "test.yaml", {{"DIR", dir.path}}, config::Profile::plain);
    EXPECT_TRUE(loaded.config) << ::testing::PrintToString(loaded.errors);
    Supervisor::Hooks hooks;
    hooks.on_main_exit = [this](int status) { main_exit = status; };
    hooks.oom_killed = [this] {
      ++oom_asked;
      return oom_answer;
    };
    std::vector<std::string> env = {"PATH=/usr/bin:/bin", "DIR=" + dir.path};
    supervisor = std::make_unique<Supervisor>(&loop, *loaded.config, specs_of(loaded.config->services),
                                              std::vector<std::string>{}, env, hooks);
    reaper = std::make_unique<Timer>(&loop);
    reaper->repeat(2ms, [this] {
      int status;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) supervisor->on_child_exit(pid, status);
    });
    if (start) supervisor->start();
  }
  ~Harness() {
    bool down = false;
    supervisor->stop_all([&] { down = true; });
    run_until([&] { return down; });
    supervisor.reset();
    reaper.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  bool run_until(const std::function<bool()>& done, int ms = 5000) {
    for (int i = 0; i < ms / 2 && !done(); ++i) {
      uv_run(&loop, UV_RUN_NOWAIT);
      usleep(2000);
    }
    return done();
  }
  ServiceStatus get(const std::string& name) {
    for (auto& s : supervisor->status()) {
      if (s.name == name) return s;
    }
    ADD_FAILURE() << "no service " << name;
    return {};
  }
};

}  // namespace

TEST(Supervisor, AfterWaitsForAOneshotToSucceed) {
  Harness h(R"(  - {name: second, shell: 'test -e "$DIR/flag"', oneshot: true, restart: never, after: [first]}
  - {name: first, shell: 'sleep 0.2; touch "$DIR/flag"', oneshot: true, restart: never}
)");
  EXPECT_EQ(h.get("second").state, State::waiting);
  ASSERT_TRUE(h.run_until([&] { return h.get("second").state == State::exited; }));
  EXPECT_EQ(h.get("second").last_exit, "exit 0");
  EXPECT_TRUE(h.get("first").ready);
  EXPECT_EQ(h.supervisor->overall(), Overall::ready);
}

TEST(Supervisor, ExecProbeDecidesReadiness) {
  Harness h(R"(  - {name: slow, shell: 'sleep 0.3; touch "$DIR/up"; exec sleep 30', ready: {exec: [test, -e, "${DIR}/up"], interval: 50ms}}
  - {name: user, shell: 'exec sleep 30', after: [slow]}
)");
  EXPECT_EQ(h.get("slow").state, State::starting);
  EXPECT_EQ(h.get("user").state, State::waiting);
  ASSERT_TRUE(h.run_until([&] { return h.get("slow").state == State::ready; }));
  ASSERT_TRUE(h.run_until([&] { return h.get("user").state == State::running; }));
}

TEST(Supervisor, ReadinessTimeoutRestartsTheService) {
  Harness h("  - {name: never, shell: 'exec sleep 30', ready: {exec: ['false'], interval: 20ms, timeout: 150ms},"
            " stop_timeout: 1s, backoff: {initial: 10ms, max: 10ms}}\n");
  ASSERT_TRUE(h.run_until([&] { return h.get("never").restarts >= 1; }));
  EXPECT_EQ(h.get("never").last_exit, "not ready after 150ms");
}

TEST(Supervisor, RestartsOnFailureWithBackoffAndCounts) {
  Harness h("  - {name: flaky, shell: 'exit 1', backoff: {initial: 20ms, max: 40ms}}\n");
  ASSERT_TRUE(h.run_until([&] { return h.get("flaky").restarts >= 3 && h.get("flaky").state == State::backoff; }));
  EXPECT_EQ(h.get("flaky").last_exit, "exit 1");
  EXPECT_FALSE(h.get("flaky").ready);  // without a probe, ready means running
}

TEST(Supervisor, NeverRestartMeansFailed) {
  Harness h("  - {name: once, shell: 'exit 4', restart: never, required: true, ready: {tcp: 1}}\n");
  ASSERT_TRUE(h.run_until([&] { return h.get("once").state == State::failed; }));
  EXPECT_EQ(h.get("once").last_exit, "exit 4");
  EXPECT_EQ(h.get("once").restarts, 0u);
  EXPECT_TRUE(h.supervisor->required_never_ready());
  EXPECT_EQ(h.supervisor->not_ready(), std::vector<std::string>{"once"});
}

TEST(Supervisor, MissingBinaryIsReportedAndBacksOff) {
  Harness h("  - {name: ghost, command: [no-such-binary-here], backoff: {initial: 50ms, max: 50ms}}\n");
  ASSERT_TRUE(h.run_until([&] { return h.get("ghost").restarts >= 1; }));
  EXPECT_EQ(h.get("ghost").last_exit, "failed: exec: No such file or directory");
  EXPECT_EQ(h.get("ghost").state, State::backoff);
}

TEST(Supervisor, FailedOneshotDegradesTheWorkspace) {
  Harness h("  - {name: setup, shell: 'exit 2', oneshot: true, restart: never}\n"
            "  - {name: web, shell: 'sleep 30', required: true}\n");
  ASSERT_TRUE(h.run_until([&] { return h.get("setup").state == State::failed; }));
  EXPECT_EQ(h.supervisor->overall(), Overall::degraded);
}

TEST(Supervisor, ControlStopStartRestart) {
  Harness h("  - {name: web, shell: 'exec sleep 30'}\n");
  ASSERT_TRUE(h.run_until([&] { return h.get("web").state == State::running; }));
  pid_t first = h.get("web").pid;
  std::string reply;
  bool ok = false;
  h.supervisor->control(Supervisor::Action::stop, "web", [&](bool k, const std::string& m) { ok = k, reply = m; });
  ASSERT_TRUE(h.run_until([&] { return !reply.empty(); }));
  EXPECT_TRUE(ok);
  EXPECT_EQ(reply, "web: stopped");
  EXPECT_EQ(h.get("web").state, State::stopped);
  EXPECT_EQ(kill(first, 0), -1);
  reply.clear();
  h.supervisor->control(Supervisor::Action::start, "web", [&](bool k, const std::string& m) { ok = k, reply = m; });
  EXPECT_EQ(reply, "web: running");
  pid_t second = h.get("web").pid;
  EXPECT_NE(second, first);
  reply.clear();
  h.supervisor->control(Supervisor::Action::restart, "web", [&](bool k, const std::string& m) { ok = k, reply = m; });
  ASSERT_TRUE(h.run_until([&] { return !reply.empty(); }));
  EXPECT_NE(h.get("web").pid, second);
  EXPECT_EQ(h.get("web").restarts, 2u);
  h.supervisor->control(Supervisor::Action::stop, "nope", [&](bool k, const std::string& m) { ok = k, reply = m; });
  EXPECT_FALSE(ok);
  EXPECT_EQ(reply, "no service named 'nope'");
}

// A SIGKILL wsinit did not send, with an OOM kill counted (the hook init fills from the cgroup):
// the kernel's OOM killer. The status stays 137; last_exit says what happened.
TEST(Supervisor, ASigkillNotOursWithAnOomKillCountedIsOomKilled) {
  Harness h("  - {name: hog, shell: 'kill -KILL $$', restart: never}\n");
  h.oom_answer = "limit 96 MiB, peak 95 MiB";
  ASSERT_TRUE(h.run_until([&] { return h.get("hog").state == State::failed; }));
  EXPECT_EQ(h.get("hog").last_exit, "oom-killed");
  EXPECT_EQ(h.get("hog").last_exit_status, 137);
  EXPECT_EQ(h.get("hog").oom_kills, 1u);
  EXPECT_EQ(h.oom_asked, 1);
}

TEST(Supervisor, ASigkillWithNoOomKillCountedIsJustASignal) {
  Harness h("  - {name: hog, shell: 'kill -KILL $$', restart: never}\n");
  ASSERT_TRUE(h.run_until([&] { return h.get("hog").state == State::failed; }));
  EXPECT_EQ(h.get("hog").last_exit, "signal 9 (KILL)");
  EXPECT_EQ(h.get("hog").oom_kills, 0u);
  EXPECT_EQ(h.oom_asked, 1);
}

// wsinit's own SIGKILL (a stop_signal of KILL, or the one after stop_timeout) and other ends
// never ask: the OOM killer's count could belong to another process.
TEST(Supervisor, WsinitsOwnSigkillAndOtherEndsDoNotAsk) {
  Harness h("  - {name: web, shell: 'exec sleep 30', stop_signal: KILL}\n"
            "  - {name: stubborn, shell: 'trap \"\" TERM; while :; do sleep 0.01; done', stop_timeout: 100ms}\n"
            "  - {name: fails, shell: 'exit 3', restart: never}\n");
  h.oom_answer = "limit 96 MiB, peak 95 MiB";
  ASSERT_TRUE(h.run_until([&] { return h.get("web").state == State::running && h.get("fails").state == State::failed; }));
  ASSERT_TRUE(h.run_until([&] { return h.get("stubborn").state == State::running; }));
  h.run_until([] { return false; }, 100);  // the shell sets its trap
  int answered = 0;
  for (const char* name : {"web", "stubborn"})
    h.supervisor->control(Supervisor::Action::stop, name, [&](bool, const std::string&) { ++answered; });
  ASSERT_TRUE(h.run_until([&] { return answered == 2; }));
  EXPECT_EQ(h.get("web").last_exit, "signal 9 (KILL)");
  EXPECT_EQ(h.get("stubborn").last_exit, "signal 9 (KILL)");
  EXPECT_EQ(h.get("fails").last_exit, "exit 3");
  EXPECT_EQ(h.oom_asked, 0);
}

std::string oom_score_adj_of(pid_t pid) {
  std::string text = slurp("/proc/" + std::to_string(pid) + "/oom_score_adj");
  return text.substr(0, text.find('\n'));
}

// A configured service runs with +500 (or its own oom_score_adj), read from the process itself;
// one asking for less than wsinit's own keeps wsinit's, which status shows.
TEST(Supervisor, ServicesRunWithTheirOomScoreAdj) {
  std::optional<int> own = current_oom_score_adj();
  ASSERT_TRUE(own);
  ASSERT_LT(*own, 500) << "the test expects the default to raise this process's own";
  Harness h("  - {name: user, shell: 'exec sleep 30'}\n"
            "  - {name: tuned, shell: 'exec sleep 30', oom_score_adj: 800}\n"
            "  - {name: lower, shell: 'exec sleep 30', oom_score_adj: " + std::to_string(*own - 1) + "}\n");
  ASSERT_TRUE(h.run_until([&] {
    return h.get("user").pid > 0 && h.get("tuned").pid > 0 && h.get("lower").pid > 0;
  }));
  EXPECT_EQ(oom_score_adj_of(h.get("user").pid), "500");
  EXPECT_EQ(h.get("user").oom_score_adj, 500);
  EXPECT_EQ(oom_score_adj_of(h.get("tuned").pid), "800");
  EXPECT_EQ(h.get("tuned").oom_score_adj, 800);
  EXPECT_EQ(oom_score_adj_of(h.get("lower").pid), std::to_string(*own));
  EXPECT_EQ(h.get("lower").oom_score_adj, *own);
}

TEST(Supervisor, ServiceAfterWorkspaceRunningWaitsForTheCondition) {
  Harness h("  - {name: user, shell: 'exec sleep 30', after: [workspace-running]}\n");
  h.run_until([] { return false; }, 100);
  EXPECT_EQ(h.get("user").state, State::waiting);
  h.supervisor->set_condition("workspace-running", true);
  EXPECT_EQ(h.get("user").state, State::running);
  h.supervisor->set_condition("workspace-running", false);  // going away stops nothing
  EXPECT_EQ(h.get("user").state, State::running);
}

// The login environment is read before services start: nothing starts before start(), a
// service not yet started is replaced as it is by a reload, and processes take the environment
// set last.
TEST(Supervisor, NothingStartsBeforeStartAndProcessesTakeTheEnvironmentSetLast) {
  Harness h("  - {name: show, shell: 'echo \"$LOGIN_ONLY\" > ${DIR}/seen; exec sleep 30', after: [workspace-running]}\n",
            false);
  h.supervisor->set_condition("workspace-running", true);
  h.run_until([] { return false; }, 100);
  EXPECT_EQ(h.get("show").state, State::waiting);
  EXPECT_EQ(h.get("show").pid, 0);
  h.supervisor->set_environment({"PATH=/usr/bin:/bin", "LOGIN_ONLY=from-profile"});
  std::string text = "version: 1\nservices:\n  - {name: show, shell: 'echo \"$LOGIN_ONLY\" > " + h.dir.path +
                     "/seen; exec sleep 30', after: [workspace-running]}\n";
  auto loaded = config::load_text(text, "test.yaml", {}, config::Profile::plain);
  ASSERT_TRUE(loaded.config);
  h.supervisor->reload(*loaded.config, specs_of(loaded.config->services));
  EXPECT_EQ(h.get("show").state, State::waiting);
  EXPECT_EQ(h.get("show").restarts, 0u);
  h.supervisor->start();
  ASSERT_TRUE(h.run_until([&] { return slurp(h.dir.path + "/seen") == "from-profile\n"; }))
      << slurp(h.dir.path + "/seen");
}

// sshd's definition does not change when its sshd_config does; the spec's inputs carry it.
TEST(Supervisor, ReloadRestartsAServiceWhoseInputsChangedAndKeepsOneThatDidNot) {
  Harness h("  - {name: web, shell: 'exec sleep 30'}\n  - {name: api, shell: 'exec sleep 30'}\n");
  ASSERT_TRUE(h.run_until([&] { return h.get("web").pid > 0 && h.get("api").pid > 0; }));
  pid_t web = h.get("web").pid, api = h.get("api").pid;
  std::string text = "version: 1\nservices:\n  - {name: web, shell: 'exec sleep 30'}\n  - {name: api, shell: 'exec sleep 30'}\n";
  auto loaded = config::load_text(text, "test.yaml", {}, config::Profile::plain);
  ASSERT_TRUE(loaded.config);
  loaded.config->paths.logs = h.dir.path;
  auto specs = specs_of(loaded.config->services);
  specs[0].inputs = "sshd_config digest 2";
  h.supervisor->reload(*loaded.config, specs);
  ASSERT_TRUE(h.run_until([&] { return h.get("web").pid > 0 && h.get("web").pid != web; }));
  EXPECT_EQ(h.get("api").pid, api);
}

namespace {
const char* kStubborn = "  - {name: web, shell: \"trap '' TERM; exec sleep 30\", stop_timeout: 1500ms}\n";

// `web` of kStubborn again, with `inputs` set: a changed definition for reload.
void reload_changed(Harness& h, const std::string& inputs) {
  auto loaded = config::load_text(std::string("version: 1\nservices:\n") + kStubborn, "test.yaml", {}, config::Profile::plain);
  ASSERT_TRUE(loaded.config);
  loaded.config->paths.logs = h.dir.path;
  auto specs = specs_of(loaded.config->services);
  specs[0].inputs = inputs;
  h.supervisor->reload(*loaded.config, specs);
}
}  // namespace

TEST(Supervisor, AStopDuringARestartWinsAndBothAreAnswered) {
  Harness h("  - {name: web, shell: \"trap '' TERM; exec sleep 30\", stop_timeout: 300ms}\n");
  ASSERT_TRUE(h.run_until([&] { return h.get("web").state == State::running; }));
  h.run_until([] { return false; }, 100);  // the shell has set its trap
  std::string restarted, stopped;
  h.supervisor->control(Supervisor::Action::restart, "web", [&](bool, const std::string& m) { restarted = m; });
  h.supervisor->control(Supervisor::Action::stop, "web", [&](bool, const std::string& m) { stopped = m; });
  ASSERT_TRUE(h.run_until([&] { return !restarted.empty() && !stopped.empty(); }));
  h.run_until([] { return false; }, 200);
  EXPECT_EQ(h.get("web").state, State::stopped);
  EXPECT_EQ(stopped, "web: stopped");
  EXPECT_EQ(restarted, "web: stopped by a later stop");
}

TEST(Supervisor, TwoReloadsWhileTheOldOneStopsNeverRunTwoAtOnce) {
  Harness h(kStubborn);
  ASSERT_TRUE(h.run_until([&] { return h.get("web").pid > 0; }));
  pid_t old = h.get("web").pid;
  h.run_until([] { return false; }, 100);
  reload_changed(h, "a");
  reload_changed(h, "b");
  h.run_until([] { return false; }, 300);
  EXPECT_EQ(kill(old, 0), 0);  // still stopping: it ignores TERM
  EXPECT_EQ(h.get("web").pid, 0) << "a second web beside the old one";
  ASSERT_TRUE(h.run_until([&] { return h.get("web").pid > 0; }, 4000));  // once the old one is killed
  EXPECT_NE(h.get("web").pid, old);
}

TEST(Supervisor, RestartOfAServiceWaitingForItsPreviousDefinitionWaitsToo) {
  Harness h(kStubborn);
  ASSERT_TRUE(h.run_until([&] { return h.get("web").pid > 0; }));
  h.run_until([] { return false; }, 100);
  reload_changed(h, "a");
  std::string reply;
  h.supervisor->control(Supervisor::Action::restart, "web", [&](bool, const std::string& m) { reply = m; });
  EXPECT_EQ(reply, "web: waiting for its previous definition to stop; it starts then");
  h.run_until([] { return false; }, 300);
  EXPECT_EQ(h.get("web").pid, 0) << "a second web beside the old one";
}

// The exec probe runs in its own session and outlives the service it probed: the replacement
// starts once that last process is reaped too, not never.
TEST(Supervisor, AReplacementStartsOnceTheOldOnesProbeIsGoneToo) {
  const char* web = "  - {name: web, shell: 'exec sleep 30', ready: {exec: [sleep, '0.6'], interval: 50ms}}\n";
  Harness h(web);
  ASSERT_TRUE(h.run_until([&] { return h.get("web").pid > 0; }));
  h.run_until([] { return false; }, 100);  // the probe's sleep runs
  auto loaded = config::load_text(std::string("version: 1\nservices:\n") + web, "test.yaml", {}, config::Profile::plain);
  ASSERT_TRUE(loaded.config);
  loaded.config->paths.logs = h.dir.path;
  auto specs = specs_of(loaded.config->services);
  specs[0].inputs = "changed";
  h.supervisor->reload(*loaded.config, specs);
  ASSERT_TRUE(h.run_until([&] { return h.get("web").pid > 0; }, 3000));
}

TEST(ControlRequest, ParsesTheProtocolAndRefusesTheRest) {
  using Kind = ControlRequest::Kind;
  EXPECT_EQ(parse_control_request("status\n", false).kind, Kind::status);
  EXPECT_EQ(parse_control_request("status --json\r\n", false).kind, Kind::status_json);
  EXPECT_EQ(parse_control_request("status", false).kind, Kind::incomplete);
  EXPECT_EQ(parse_control_request("status", true).kind, Kind::status);  // the stream ended: take what came
  auto r = parse_control_request("restart web-1\nignored", false);
  EXPECT_EQ(r.kind, Kind::restart);
  EXPECT_EQ(r.service, "web-1");
  r = parse_control_request("stop ../etc\n", false);
  EXPECT_EQ(r.kind, Kind::invalid);
  EXPECT_EQ(r.error, "'../etc' is not a service name");
  r = parse_control_request("reboot \x01\xff\n", false);
  EXPECT_EQ(r.kind, Kind::invalid);
  EXPECT_EQ(r.error, "unknown request 'reboot ?\?' (expected: status, status --json, start|stop|restart NAME, logs NAME "
                     "LINES [follow], wait ready TIMEOUT_MS, wait service NAME TIMEOUT_MS, wait port PORT TIMEOUT_MS)");
  r = parse_control_request(std::string(kMaxControlRequest + 1, 'x'), false);
  EXPECT_EQ(r.kind, Kind::invalid);
  EXPECT_EQ(r.error, "request longer than 4096 bytes");
  EXPECT_EQ(parse_control_request("start\n", false).error, "'' is not a service name");
}

TEST(ControlRequest, LogsAndWaitWithBoundedNumbers) {
  using Kind = ControlRequest::Kind;
  auto r = parse_control_request("logs web 3\n", false);
  EXPECT_EQ(r.kind, Kind::logs);
  EXPECT_EQ(r.service, "web");
  EXPECT_EQ(r.lines, 3u);
  EXPECT_FALSE(r.follow);
  EXPECT_FALSE(r.held());
  r = parse_control_request("logs web 0 follow\n", false);
  EXPECT_TRUE(r.follow);
  EXPECT_TRUE(r.held());
  EXPECT_EQ(parse_control_request("logs web 100000\n", false).lines, 100000u);
  for (const char* bad : {"logs web 100001\n", "logs web -1\n", "logs web 03\n", "logs web +3\n", "logs web\n",
                          "logs web 3 follow x\n", "logs web 3 tail\n", "logs ../x 3\n", "logs web  3\n",
                          "logs web 99999999999999999999\n"})
    EXPECT_EQ(parse_control_request(bad, false).kind, Kind::invalid) << bad;
  EXPECT_FALSE(parse_control_request("logs w%b 3 follow\n", false).follow);  // refused: nothing of it is kept
  EXPECT_EQ(parse_control_request("logs web 100001\n", false).error, "logs: '100001' is not a number of lines (0 to 100000)");

  r = parse_control_request("wait ready 0\n", false);
  EXPECT_EQ(r.kind, Kind::wait_ready);
  EXPECT_EQ(r.timeout_ms, 0);
  EXPECT_TRUE(r.held());
  r = parse_control_request("wait service web 1500\n", false);
  EXPECT_EQ(r.kind, Kind::wait_service);
  EXPECT_EQ(r.service, "web");
  EXPECT_EQ(r.timeout_ms, 1500);
  r = parse_control_request("wait port 65535 604800000\n", false);
  EXPECT_EQ(r.kind, Kind::wait_port);
  EXPECT_EQ(r.port, 65535);
  for (const char* bad : {"wait port 0 10\n", "wait port 65536 10\n", "wait ready 604800001\n", "wait ready\n",
                          "wait ready 1 2\n", "wait service 10\n", "wait service ../x 10\n", "wait port x 10\n",
                          "wait soon 10\n", "wait\n"})
    EXPECT_EQ(parse_control_request(bad, false).kind, Kind::invalid) << bad;
  EXPECT_EQ(parse_control_request("wait port 0 10\n", false).error, "wait: '0' is not a port (1 to 65535)");
}

TEST(LogFrame, RoundTripsAndRefusesWhatIsNotAFrame) {
  std::string stream = data_frame("a\nb\n") + "note [wsinit: 3 lines dropped]\n" + "end wsinit is shutting down\n";
  auto f = next_log_frame(stream);
  EXPECT_EQ(f.kind, LogFrame::Kind::data);
  EXPECT_EQ(f.text, "a\nb\n");
  stream.erase(0, f.size);
  f = next_log_frame(stream);
  EXPECT_EQ(f.kind, LogFrame::Kind::note);
  EXPECT_EQ(f.text, "[wsinit: 3 lines dropped]");
  stream.erase(0, f.size);
  f = next_log_frame(stream);
  EXPECT_EQ(f.kind, LogFrame::Kind::end);
  EXPECT_EQ(f.text, "wsinit is shutting down");
  EXPECT_EQ(next_log_frame("data 5\nab").kind, LogFrame::Kind::incomplete);
  EXPECT_EQ(next_log_frame("data 99999999\n").kind, LogFrame::Kind::bad);
  EXPECT_EQ(next_log_frame("what\n").kind, LogFrame::Kind::bad);
}

TEST(LogTail, LastLinesSpanRotatedFilesAndStayBounded) {
  TempDir dir;
  std::string path = dir.path + "/svc.log";
  auto put = [](const std::string& file, const std::string& text) {
    std::ofstream(file, std::ios::binary) << text;
  };
  put(path + ".2", "one\ntwo\n");
  put(path + ".1", "three\nfour\n");
  put(path, "five\n");
  EXPECT_EQ(last_lines(path, 3, 1, 1 << 20), "five\n");
  EXPECT_EQ(last_lines(path, 3, 3, 1 << 20), "three\nfour\nfive\n");
  EXPECT_EQ(last_lines(path, 3, 100, 1 << 20), "one\ntwo\nthree\nfour\nfive\n");
  EXPECT_EQ(last_lines(path, 2, 100, 1 << 20), "three\nfour\nfive\n");  // .2 is past max_files
  EXPECT_EQ(last_lines(path, 3, 0, 1 << 20), "");
  EXPECT_EQ(last_lines(path, 3, 100, 11), "four\nfive\n");  // 11 bytes: "\nfour\nfive\n", the cut line left out
  unlink(path.c_str());  // rotated, the new file not yet written
  EXPECT_EQ(last_lines(path, 3, 2, 1 << 20), "three\nfour\n");

  // A long file is read from its end, not whole.
  std::string big;
  for (int i = 0; i < 200000; ++i) big += "line " + std::to_string(i) + "\n";
  put(path, big);
  EXPECT_EQ(last_lines(path, 3, 2, 1 << 20), "line 199998\nline 199999\n");
  std::string tail = last_lines(path, 3, 100000, 64 << 10);
  EXPECT_LE(tail.size(), 64u << 10);
  EXPECT_TRUE(tail.ends_with("line 199999\n"));
  EXPECT_TRUE(tail.starts_with("line "));

  // A link in a log file's place is not followed.
  put(dir.path + "/secret", "secret\n");
  unlink(path.c_str());
  ASSERT_EQ(symlink((dir.path + "/secret").c_str(), path.c_str()), 0);
  EXPECT_EQ(last_lines(path, 1, 5, 1 << 20), "");

  EXPECT_EQ(last_lines_of("a\nb", 1, true), "b");  // no newline at the end: the last line still counts
  EXPECT_EQ(last_lines_of("\n\n", 1, true), "\n");
}

// The control socket's directory (and the other private ones): one wsinit makes is 0700; one
// that exists is never chmodded, and used only when no other user can write to it.
namespace {
mode_t mode_of(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}
}  // namespace

TEST(PrivateDir, OneWsinitMakesIs0700WhateverTheUmask) {
  TempDir t;
  mode_t mask = umask(0277);
  auto made = fs::prepare_private_dir(t.path + "/new/run");
  umask(mask);
  EXPECT_TRUE(made) << made.error().message;
  EXPECT_EQ(mode_of(t.path + "/new/run"), 0700u);
}

// Every file wsinit reads has a stated bound: a device that never ends, or a file past its
// purpose, is refused (EFBIG) instead of read into PID 1's memory without end.
TEST(ReadFile, StopsAtItsBound) {
  TempDir t;
  std::string exact = t.path + "/exact";
  wsinit::testing::spit(exact, std::string(100, 'x'));
  auto text = fs::read_file(exact, 100);
  ASSERT_TRUE(text);
  EXPECT_EQ(text->size(), 100u);
  auto over = fs::read_file(exact, 99);
  EXPECT_FALSE(over);
  EXPECT_EQ(over.error().code, EFBIG);
  auto device = fs::read_file("/dev/zero", 1 << 20);
  EXPECT_FALSE(device);
  EXPECT_EQ(device.error().code, EINVAL);
  auto missing = fs::read_file(t.path + "/missing", 10);
  EXPECT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
}

// A file of any size is copied in pieces, whole, with the mode asked for; a failed copy leaves
// the old file as it was and no temporary beside it.
TEST(CopyAtomically, CopiesAWholeFileInPiecesOrLeavesTheOldOne) {
  TempDir t;
  std::string big(3 * (1 << 20) + 12345, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
  wsinit::testing::spit(t.path + "/from", big);
  wsinit::testing::spit(t.path + "/to", "old");
  int from = open((t.path + "/from").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(from, 0);
  auto copied = fs::copy_atomically(from, "the source", t.path + "/to", 0751);
  close(from);
  ASSERT_TRUE(copied) << copied.error().message;
  EXPECT_EQ(*copied, big.size());
  EXPECT_TRUE(wsinit::testing::slurp(t.path + "/to") == big);
  EXPECT_EQ(mode_of(t.path + "/to"), 0751u);

  int dir = open(t.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);  // read() gives EISDIR
  ASSERT_GE(dir, 0);
  auto failed = fs::copy_atomically(dir, "the source", t.path + "/to", 0644);
  close(dir);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, EISDIR);
  EXPECT_EQ(failed.error().message, std::string("cannot read the source: ") + strerror(EISDIR));
  EXPECT_TRUE(wsinit::testing::slurp(t.path + "/to") == big);
  EXPECT_EQ(system(("test $(ls -A '" + t.path + "' | wc -l) -eq 2").c_str()), 0) << "a temporary was left";
}

// A FIFO where a file was expected (a project's config, product.json, a token file) is refused
// at once: opening it for reading would wait for a writer, with PID 1's loop stopped.
TEST(ReadFile, RefusesAFifoWithoutWaiting) {
  TempDir t;
  std::string fifo = t.path + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  alarm(5);  // the code before this test waits here for ever: SIGALRM ends the run instead
  auto read = fs::read_file(fifo, 100);
  EXPECT_FALSE(read);
  EXPECT_EQ(read.error().code, EINVAL);
  alarm(0);
}

TEST(PrivateDir, AnExistingOneKeepsItsMode) {
  TempDir t;
  std::string home = t.path + "/home";
  ASSERT_EQ(mkdir(home.c_str(), 0755), 0);
  ASSERT_EQ(chmod(home.c_str(), 0755), 0);
  auto used = fs::prepare_private_dir(home);
  EXPECT_TRUE(used) << used.error().message;
  EXPECT_EQ(mode_of(home), 0755u);
  // Group-writable with our own group (Kubernetes' fsGroup): used as it is too.
  ASSERT_EQ(chmod(home.c_str(), 02770), 0);
  ASSERT_EQ(chown(home.c_str(), -1, getgid()), 0);
  EXPECT_TRUE(fs::prepare_private_dir(home));
  EXPECT_EQ(mode_of(home), 02770u);
}

TEST(PrivateDir, AnExistingOneOthersCanWriteIsRefusedAndLeftAlone) {
  TempDir t;
  std::string open_dir = t.path + "/open";
  ASSERT_EQ(mkdir(open_dir.c_str(), 0700), 0);
  ASSERT_EQ(chmod(open_dir.c_str(), 0777), 0);
  auto refused = fs::prepare_private_dir(open_dir);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find(open_dir + " can be written by other users (mode 0777"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(mode_of(open_dir), 0777u);
  std::string link = t.path + "/link";
  ASSERT_EQ(symlink(open_dir.c_str(), link.c_str()), 0);
  EXPECT_EQ(fs::prepare_private_dir(link).error().message, link + " is not a directory");
  if (getuid() != 0) GTEST_FAIL() << "giving a directory away needs root (the tests run as root)";
  ASSERT_EQ(chmod(open_dir.c_str(), 0770), 0);
  ASSERT_EQ(chown(open_dir.c_str(), -1, 4242), 0);  // a group we are not in
  EXPECT_NE(
      fs::prepare_private_dir(open_dir).error().message.find("can be written by other users (mode 0770, group 4242)"),
      std::string::npos);
  ASSERT_EQ(chown(open_dir.c_str(), 4242, -1), 0);
  EXPECT_EQ(fs::prepare_private_dir(open_dir).error().message, open_dir + " belongs to uid 4242, not to us (uid 0)");
  EXPECT_EQ(mode_of(open_dir), 0770u);
}
