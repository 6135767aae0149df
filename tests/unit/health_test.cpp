#include <gtest/gtest.h>

#include "health/conversation.h"
#include "health/health.h"

using namespace wsinit::health;
using namespace std::chrono_literals;

namespace {

Parse parse(const std::string& text, Request* r, size_t* consumed, int* status) {
  return parse_request(text, r, consumed, status);
}

}  // namespace

TEST(HttpParser, SimpleGetWithQuery) {
  Request r;
  size_t used = 0;
  int status = 0;
  std::string text = "GET /status?wait=ready&timeout=5s HTTP/1.1\r\nHost: x\r\nUser-Agent: curl\r\n\r\n";
  ASSERT_EQ(parse(text, &r, &used, &status), Parse::done);
  EXPECT_EQ(used, text.size());
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/status");
  EXPECT_EQ(query_value(r.query, "wait"), "ready");
  EXPECT_EQ(query_value(r.query, "timeout"), "5s");
  EXPECT_FALSE(query_value(r.query, "nope"));
  EXPECT_TRUE(r.keep_alive);
}

TEST(HttpParser, IncompleteUntilTheBlankLine) {
  Request r;
  size_t used;
  int status;
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: x\r\n", &r, &used, &status), Parse::incomplete);
  EXPECT_EQ(parse("GET / HT", &r, &used, &status), Parse::incomplete);
}

TEST(HttpParser, PipelinedRequestsComeOneAtATime) {
  std::string text = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nHEAD /readyz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  Request r;
  size_t used;
  int status;
  ASSERT_EQ(parse(text, &r, &used, &status), Parse::done);
  EXPECT_EQ(r.path, "/healthz");
  text.erase(0, used);
  ASSERT_EQ(parse(text, &r, &used, &status), Parse::done);
  EXPECT_EQ(r.method, "HEAD");
  EXPECT_FALSE(r.keep_alive);
  EXPECT_EQ(used, text.size());
}

TEST(HttpParser, MalformedRequestsAreRefused) {
  struct Case {
    std::string text;
    int status;
  };
  std::vector<Case> cases = {
      {"GET\r\n\r\n", 400},
      {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET status HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"GET / HTTP/1.1\r\n\r\n", 400},  // no Host in 1.1
      {"GET / HTTP/1.1\r\nHost a\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n: empty\r\nHost: a\r\n\r\n", 400},
      {"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/1.1\nHost: a\n\n", 400},  // bare LF
      {std::string("GET / HTTP/1.1\r\nHost: a\r\nX: ") + std::string(9000, 'a') + "\r\n\r\n", 431},
      {std::string("GET / HTTP/1.1\r\nX: ") + std::string(9000, 'a'), 431},  // never ends
  };
  for (const auto& c : cases) {
    Request r;
    size_t used;
    int status = 0;
    EXPECT_EQ(parse(c.text, &r, &used, &status), Parse::bad) << c.text.substr(0, 40);
    EXPECT_EQ(status, c.status) << c.text.substr(0, 40);
  }
}

TEST(HttpParser, Http10ClosesUnlessKeepAlive) {
  Request r;
  size_t used;
  int status;
  ASSERT_EQ(parse("GET / HTTP/1.0\r\n\r\n", &r, &used, &status), Parse::done);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r, &used, &status), Parse::done);
  EXPECT_TRUE(r.keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", &r, &used, &status), Parse::done);
  EXPECT_TRUE(r.has_body);
}

// `/` is the page only for a client that lists text/html: a browser. curl's */* and a probe
// without Accept keep getting what they always got.
TEST(HttpParser, AcceptListingTextHtmlIsABrowser) {
  auto accepts_html = [](const std::string& headers) {
    Request r;
    size_t used;
    int status;
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n" + headers + "\r\n", &r, &used, &status), Parse::done) << headers;
    return r.accepts_html;
  };
  EXPECT_TRUE(accepts_html("Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"));  // Chromium
  EXPECT_TRUE(accepts_html("accept: TEXT/HTML\r\n"));
  EXPECT_TRUE(accepts_html("Accept: application/json, text/html ; q=0.5\r\n"));
  EXPECT_TRUE(accepts_html("Accept: application/json\r\nAccept: text/html\r\n")) << "several Accept lines add up";
  EXPECT_FALSE(accepts_html(""));
  EXPECT_FALSE(accepts_html("Accept: */*\r\n")) << "curl";
  EXPECT_FALSE(accepts_html("Accept: text/*, application/json\r\n"));
  EXPECT_FALSE(accepts_html("Accept: text/html;q=0\r\n")) << "weight 0: not acceptable";
  EXPECT_FALSE(accepts_html("Accept: text/html; level=1; q=0.000\r\n"));
  EXPECT_FALSE(accepts_html("Accept: text/htmlx, xtext/html\r\n"));
  EXPECT_FALSE(accepts_html("X-Accept: text/html\r\n"));
  // The header is bounded like every other: one too long makes the request a 431.
  Request r;
  size_t used;
  int status = 0;
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nAccept: " + std::string(kMaxHeaderBytes, 'a') + ",text/html\r\n\r\n", &r,
                  &used, &status),
            Parse::bad);
  EXPECT_EQ(status, 431);
}

// What /status?QUERY asks for: answered now, held until ready, or held until the document's
// version moves from the client's; a bad value is a 400 naming its parameter.
TEST(StatusWait, WaitForReadyAsBefore) {
  auto now = status_wait("", false, 3);
  ASSERT_TRUE(now);
  EXPECT_FALSE(*now) << "no wait: answered at once";
  EXPECT_FALSE(*status_wait("wait=ready", true, 3)) << "already ready";
  EXPECT_FALSE(*status_wait("wait=ready&timeout=soon", true, 3)) << "a timeout that is not needed is not looked at";
  EXPECT_FALSE(*status_wait("wait=later", false, 3)) << "an unknown wait is answered at once, as always";
  auto held = status_wait("wait=ready", false, 3);
  ASSERT_TRUE(held && *held);
  EXPECT_EQ((*held)->hold.until, Hold::Until::ready);
  EXPECT_EQ((*held)->timeout, 30'000ms);
  EXPECT_EQ((*status_wait("timeout=2s&wait=ready", false, 3))->timeout, 2'000ms);
  EXPECT_EQ((*status_wait("wait=ready&timeout=1h", false, 3))->timeout, 300'000ms) << "at most 5 minutes";
  auto bad = status_wait("wait=ready&timeout=soon", false, 3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "timeout: 'soon' is not a duration (e.g. 30s)");
}

TEST(StatusWait, WaitForAChangeOfVersion) {
  auto held = status_wait("wait=change&version=3", true, 3);
  ASSERT_TRUE(held && *held);
  EXPECT_EQ((*held)->hold.until, Hold::Until::change);
  EXPECT_EQ((*held)->hold.version, 3u);
  EXPECT_EQ((*held)->timeout, 30'000ms);
  EXPECT_TRUE(*status_wait("wait=change&version=3", false, 3)) << "held whether ready or not";
  EXPECT_EQ((*status_wait("wait=change&version=3&timeout=5s", true, 3))->timeout, 5'000ms);
  EXPECT_EQ((*status_wait("wait=change&version=3&timeout=10m", true, 3))->timeout, 300'000ms) << "at most 5 minutes";
  EXPECT_FALSE(*status_wait("wait=change&version=2", true, 3)) << "the client's document is old: the new one at once";
  EXPECT_FALSE(*status_wait("wait=change&version=4", true, 3)) << "any other version: at once";
  EXPECT_FALSE(*status_wait("wait=change&version=2&timeout=soon", true, 3)) << "answered at once: timeout not needed";
  EXPECT_EQ((*status_wait("wait=change&version=18446744073709551615", true, UINT64_MAX))->hold.version, UINT64_MAX);
}

TEST(StatusWait, BadVersionIsRefusedNamingIt) {
  for (const char* query : {"wait=change", "wait=change&version=", "wait=change&version=abc", "wait=change&version=-1",
                            "wait=change&version=+1", "wait=change&version=1x", "wait=change&version=%31",
                            "wait=change&version=18446744073709551616", "wait=change&version=1.0"}) {
    auto answer = status_wait(query, true, 1);
    ASSERT_FALSE(answer) << query;
    EXPECT_EQ(answer.error().message.rfind("version: ", 0), 0u) << query << ": " << answer.error().message;
  }
  EXPECT_EQ(status_wait("wait=change&version=abc", true, 1).error().message,
            "version: 'abc' is not a version (expected the status document's \"version\", a whole number)");
  EXPECT_EQ(status_wait("wait=change&version=" + std::string(100, '9'), true, 1).error().message.size(),
            std::string("version: '' is not a version (expected the status document's \"version\", a whole number)").size() + 64)
      << "the value is cut at 64 bytes";
  auto bad_timeout = status_wait("wait=change&version=1&timeout=soon", true, 1);
  ASSERT_FALSE(bad_timeout);
  EXPECT_EQ(bad_timeout.error().message.rfind("timeout: ", 0), 0u);
}

// Every document carries the version as it was when its snapshot was taken.
TEST(StatusDocument, CarriesTheChangeVersion) {
  Snapshot s;
  EXPECT_NE(status_json(s).find("\"version\":0,"), std::string::npos);
  s.version = 42;
  EXPECT_NE(status_json(s).find("\"version\":42,"), std::string::npos);
}

TEST(StatusDocument, SaysWhichSshServerRuns) {
  Snapshot s;
  wsinit::sshd_setup::Setup sshd;
  sshd.enabled = true;
  sshd.server = "builtin";
  s.sshd = &sshd;
  EXPECT_NE(status_json(s).find("\"sshd\":{\"enabled\":true,\"server\":\"builtin\","), std::string::npos) << status_json(s);
  sshd.enabled = false;
  sshd.why_off = "sshd.enabled is false";
  EXPECT_EQ(status_json(s).find("\"server\":"), std::string::npos) << "no server when sshd is off";
}

TEST(StatusDocument, HoldsWhatStatusPromises) {
  Snapshot s;
  s.overall = wsinit::supervisor::Overall::starting;
  s.uptime_s = 1.5;
  s.orphans_reaped = 3;
  wsinit::supervisor::ServiceStatus svc;
  svc.name = "sshd";
  svc.state = wsinit::supervisor::State::starting;
  svc.required = true;
  svc.last_exit = "signal 9 (KILL)";
  svc.last_exit_status = 137;
  s.services = {svc};
  s.not_ready = {"sshd"};
  wsinit::user_ids::Identity id;
  id.name = "gitlab-workspaces";
  id.uid = 5001;
  id.source = wsinit::user_ids::Source::appended;
  s.user = &id;
  s.startup_ms = {{"user", 1.25}};
  std::string doc = status_json(s);
  for (const char* part : {"\"state\":\"starting\"", "\"uptime_s\":1.500", "\"orphans_reaped\":3",
                           "\"user\":{\"name\":\"gitlab-workspaces\",\"uid\":5001", "\"entry\":\"appended\"",
                           "\"startup\":{\"user_ms\":1.250}", "\"not_ready\":[\"sshd\"]", "\"services\":[{\"name\":\"sshd\""}) {
    EXPECT_NE(doc.find(part), std::string::npos) << part << "\n" << doc;
  }
  EXPECT_EQ(readyz_json(s), "{\"ready\":false,\"state\":\"starting\",\"not_ready\":[\"sshd\"]}\n");
  std::string metrics = metrics_text(s);
  for (const char* part : {"wsinit_ready 0\n", "wsinit_orphans_reaped_total 3\n", "wsinit_service_up{service=\"sshd\"} 0\n",
                           "wsinit_service_last_exit_code{service=\"sshd\"} 137\n", "# TYPE wsinit_service_restarts_total counter\n"}) {
    EXPECT_NE(metrics.find(part), std::string::npos) << part;
  }
}

// user.login_env: names only, under user.
TEST(StatusDocument, LoginEnvironmentUnderUser) {
  Snapshot s;
  wsinit::user_ids::Identity id;
  s.user = &id;
  std::string off = status_json(s);
  EXPECT_NE(off.find("\"login_env\":{\"state\":\"off\",\"shell\":null,\"added\":[],\"changed\":[],\"took_ms\":null}"),
            std::string::npos) << off;
  s.login_env.state = "applied";
  s.login_env.shell = "/bin/bash";
  s.login_env.added = {"NVM_DIR"};
  s.login_env.changed = {"PATH"};
  s.login_env.took_ms = 12.5;
  std::string doc = status_json(s);
  EXPECT_NE(doc.find("\"login_env\":{\"state\":\"applied\",\"shell\":\"/bin/bash\",\"added\":[\"NVM_DIR\"],"
                     "\"changed\":[\"PATH\"],\"took_ms\":12.500}"),
            std::string::npos) << doc;
}

// postStart step ids come from a log the user writes: in /status through the JSON writer, in
// /metrics escaped and made valid UTF-8 (Prometheus refuses a whole scrape over one bad byte).
TEST(Status, PostStartStepsInStatusAndMetrics) {
  Snapshot s;
  Snapshot::PostStartStep step;
  step.id = "in\xff\"stall\\";
  step.component = "tooling";
  step.started_unix_ms = 1'700'000'000'000;
  step.finished_unix_ms = 1'700'000'002'500;
  step.duration_s = 2.5;
  step.slow = true;
  s.workspace.poststart = {step};
  s.workspace.poststart_mode = "observe";
  s.workspace.project_cloned = false;
  s.config.file = "/projects/p/.wsinit.yaml";
  s.config.state = "waiting-for-clone";
  std::string doc = status_json(s);
  for (const char* part : {"\"poststart\":[{\"id\":\"in\xEF\xBF\xBD\\\"stall\\\\\",\"component\":\"tooling\",\"state\":\"finished\"",
                           "\"started\":\"2023-11-14T22:13:20.000Z\"", "\"duration_s\":2.500", "\"slow\":true",
                           "\"project_cloned\":false", "\"poststart_mode\":\"observe\"",
                           "\"config\":{\"file\":\"/projects/p/.wsinit.yaml\",\"state\":\"waiting-for-clone\"}"}) {
    EXPECT_NE(doc.find(part), std::string::npos) << part << "\n" << doc;
  }
  std::string metrics = metrics_text(s);
  for (const char* part : {"wsinit_poststart_step_seconds{step=\"in\xEF\xBF\xBD\\\"stall\\\\\"} 2.500\n",
                           "wsinit_poststart_step_running{step=\"in\xEF\xBF\xBD\\\"stall\\\\\"} 0\n",
                           "wsinit_poststart_steps_slow 1\n", "wsinit_project_cloned 0\n"}) {
    EXPECT_NE(metrics.find(part), std::string::npos) << part << "\n" << metrics;
  }
  EXPECT_EQ(metrics.find('\xff'), std::string::npos);
}

// The services are part of the one status document (also `wsinit status --json`).
TEST(StatusDocument, Services) {
  Snapshot s;
  wsinit::supervisor::ServiceStatus svc;
  svc.name = "web";
  svc.state = wsinit::supervisor::State::ready;
  svc.pid = 42;
  svc.ready = true;
  svc.restarts = 2;
  svc.last_exit = "exit 1";
  svc.since_unix_ms = 0;
  s.services = {svc};
  std::string json = status_json(s);
  EXPECT_NE(json.find("\"name\":\"web\",\"state\":\"ready\",\"pid\":42,\"ready\":true"), std::string::npos) << json;
  EXPECT_NE(json.find("\"since\":\"1970-01-01T00:00:00.000Z\""), std::string::npos) << json;
}

// The whole document, byte for byte: clients parse it, the status file and the push report
// carry it, so its keys, their order and the number formats do not change by accident.
TEST(StatusDocument, ByteForByte) {
  Snapshot s;
  s.uptime_s = 2;
  wsinit::supervisor::ServiceStatus web;
  web.name = "web";
  web.state = wsinit::supervisor::State::ready;
  web.pid = 42;
  web.ready = true;
  web.required = true;
  web.restarts = 2;
  web.last_exit = "exit 1";
  web.since_unix_ms = 1'700'000'000'000;
  web.uptime_ms = 1500;
  web.dropped_lines = 3;
  web.log_file_dropped_lines = 4;
  wsinit::supervisor::ServiceStatus once;
  once.name = "o\"nce";
  once.state = wsinit::supervisor::State::exited;
  once.oneshot = true;
  s.services = {web, once};
  s.not_ready = {"web"};
  s.version = 7;
  EXPECT_EQ(status_json(s),
            "{\"state\":\"starting\",\"version\":7,\"uptime_s\":2.000,\"orphans_reaped\":0,\"log_lines_dropped\":0,"
            "\"config\":{\"file\":null,\"state\":\"embedded\"},\"warnings\":[],"
            "\"workspace\":{\"editor_url\":null,\"variables_dir\":null,\"file_variables\":0,\"reconciled_state\":null,"
            "\"project_cloned\":true,\"clone_s\":null,\"poststart_mode\":\"off\",\"poststart\":[]},"
            "\"resources\":{\"memory_bytes\":null,\"memory_limit_bytes\":null,\"memory_peak_bytes\":null,\"oom_kills\":0,"
            "\"cpu_throttled_s\":null,\"cgroup\":null},"
            "\"ports\":[],\"activity\":null,"
            "\"startup\":{},\"not_ready\":[\"web\"],\"services\":["
            "{\"name\":\"web\",\"state\":\"ready\",\"pid\":42,\"ready\":true,\"required\":true,\"oneshot\":false,"
            "\"restarts\":2,\"last_exit\":\"exit 1\",\"since\":\"2023-11-14T22:13:20.000Z\",\"uptime_s\":1.500,"
            "\"dropped_lines\":3,\"log_file_dropped_lines\":4,"
            "\"memory_bytes\":null,\"cpu_s\":null,\"oom_kills\":0,\"oom_score_adj\":null},"
            "{\"name\":\"o\\\"nce\",\"state\":\"exited\",\"pid\":null,\"ready\":false,\"required\":false,\"oneshot\":true,"
            "\"restarts\":0,\"last_exit\":null,\"since\":\"1970-01-01T00:00:00.000Z\",\"uptime_s\":0.000,"
            "\"dropped_lines\":0,\"log_file_dropped_lines\":0,"
            "\"memory_bytes\":null,\"cpu_s\":null,\"oom_kills\":0,\"oom_score_adj\":null}]}\n");
}

// The memory cgroup and each service's process tree: figures of the process sampled (a newer
// process has none yet), OOM kills and the oom_score_adj it runs with; in /status and /metrics.
TEST(StatusDocument, Resources) {
  Snapshot s;
  wsinit::supervisor::ServiceStatus hog, keeper, fresh;
  hog.name = "hog";
  hog.last_exit = "oom-killed";
  hog.last_exit_status = 137;
  hog.oom_kills = 1;
  hog.oom_score_adj = 500;
  keeper.name = "keeper";
  keeper.pid = 42;
  keeper.oom_score_adj = 0;
  fresh.name = "fresh";
  fresh.pid = 77;  // restarted since the sample
  s.services = {hog, keeper, fresh};
  s.resources.cgroup = "v1";
  s.resources.memory_bytes = 52428800;
  s.resources.memory_limit_bytes = 100663296;
  s.resources.memory_peak_bytes = 100659200;
  s.resources.oom_kills = 2;
  s.resources.cpu_throttled_s = 1.25;
  s.resources.services["keeper"] = {42, 55574528, 0.5};
  s.resources.services["fresh"] = {76, 1000, 9.0};
  std::string doc = status_json(s);
  for (const char* part :
       {"\"resources\":{\"memory_bytes\":52428800,\"memory_limit_bytes\":100663296,\"memory_peak_bytes\":100659200,"
        "\"oom_kills\":2,\"cpu_throttled_s\":1.250,\"cgroup\":\"v1\"}",
        "\"last_exit\":\"oom-killed\"", "\"memory_bytes\":null,\"cpu_s\":null,\"oom_kills\":1,\"oom_score_adj\":500}",
        "\"memory_bytes\":55574528,\"cpu_s\":0.500,\"oom_kills\":0,\"oom_score_adj\":0}",
        "\"name\":\"fresh\"", "\"memory_bytes\":null,\"cpu_s\":null,\"oom_kills\":0,\"oom_score_adj\":null}]"}) {
    EXPECT_NE(doc.find(part), std::string::npos) << part << "\n" << doc;
  }
  std::string metrics = metrics_text(s);
  for (const char* part : {"wsinit_memory_bytes 52428800\n", "wsinit_memory_limit_bytes 100663296\n",
                           "wsinit_memory_peak_bytes 100659200\n", "wsinit_cpu_throttled_seconds_total 1.25\n",
                           "wsinit_oom_kills_total 2\n", "wsinit_service_oom_kills_total{service=\"hog\"} 1\n",
                           "wsinit_service_oom_kills_total{service=\"keeper\"} 0\n",
                           "wsinit_service_memory_bytes{service=\"keeper\"} 55574528\n",
                           "wsinit_service_cpu_seconds_total{service=\"keeper\"} 0.500\n",
                           "# TYPE wsinit_service_cpu_seconds_total counter\n"}) {
    EXPECT_NE(metrics.find(part), std::string::npos) << part << "\n" << metrics;
  }
  EXPECT_EQ(metrics.find("wsinit_service_memory_bytes{service=\"fresh\"}"), std::string::npos);
  EXPECT_EQ(metrics.find("wsinit_service_memory_bytes{service=\"hog\"}"), std::string::npos);
  // No cgroup: no figures, a zero count.
  std::string bare = metrics_text(Snapshot{});
  EXPECT_EQ(bare.find("\nwsinit_memory_limit_bytes "), std::string::npos);
  EXPECT_NE(bare.find("\nwsinit_oom_kills_total 0\n"), std::string::npos);
}

// status.ports[] and status.activity: the schema the page and the reports read, and the metrics.
TEST(StatusDocument, PortsAndActivity) {
  Snapshot s;
  wsinit::telemetry::Port web;
  web.port = 5173;
  web.address = "127.0.0.1";
  web.loopback_only = true;
  web.owner = {"web", 123, "node"};
  web.since_unix_ms = 1'700'000'000'000;
  wsinit::telemetry::Port api;
  api.port = 3000;
  api.address = "::";
  api.since_unix_ms = 1'700'000'000'500;
  api.declared = true;
  api.url = "https://3000-ws.example.com/";
  s.ports = {api, web};
  wsinit::telemetry::Activity a;
  a.idle_s = 12.5;
  a.ssh_sessions = 1;
  a.editor_connections = 2;
  s.activity = a;
  std::string doc = status_json(s);
  EXPECT_NE(doc.find("\"ports\":[{\"port\":3000,\"address\":\"::\",\"loopback_only\":false,\"service\":null,\"pid\":null,"
                     "\"process\":null,\"since\":\"2023-11-14T22:13:20.500Z\",\"declared\":true,"
                     "\"url\":\"https://3000-ws.example.com/\"},"
                     "{\"port\":5173,\"address\":\"127.0.0.1\",\"loopback_only\":true,\"service\":\"web\",\"pid\":123,"
                     "\"process\":\"node\",\"since\":\"2023-11-14T22:13:20.000Z\",\"declared\":false,\"url\":null}],"
                     "\"activity\":{\"last_active\":null,\"idle_s\":12.500,\"idle\":false,\"ssh_sessions\":1,"
                     "\"editor_connections\":2}"),
            std::string::npos)
      << doc;
  std::string metrics = metrics_text(s);
  for (const char* part : {"# TYPE wsinit_listening_ports gauge\nwsinit_listening_ports 2\n", "wsinit_idle_seconds 12.500\n",
                           "wsinit_ssh_sessions 1\n", "wsinit_editor_connections 2\n"})
    EXPECT_NE(metrics.find(part), std::string::npos) << part << metrics;
  s.activity->last_active_unix_ms = 1'700'000'000'000;
  s.activity->idle = true;
  EXPECT_NE(status_json(s).find("\"activity\":{\"last_active\":\"2023-11-14T22:13:20.000Z\",\"idle_s\":12.500,\"idle\":true"),
            std::string::npos);
  s.activity.reset();  // not sampled: no activity metrics
  EXPECT_EQ(metrics_text(s).find("wsinit_idle_seconds"), std::string::npos);
}

#include "common/url.h"
#include "health/reporter.h"

TEST(Reporter, HmacMatchesRfc4231) {
  // RFC 4231, test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Reporter, SignatureIsOverTimestampDotBody) {
  // printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
  EXPECT_EQ(signature("secret", "1700000000", "{}"),
            "sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163");
}

TEST(Url, ParsesReportUrls) {
  auto t = wsinit::parse_url("https://proxy.example:8443/hooks/ws?id=1");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_TRUE(t->tls);
  EXPECT_EQ(t->host, "proxy.example");
  EXPECT_EQ(t->port, 8443);
  EXPECT_EQ(t->path, "/hooks/ws?id=1");
  t = wsinit::parse_url("http://127.0.0.1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->port, 80);
  EXPECT_EQ(t->path, "/");
  EXPECT_FALSE(wsinit::parse_url("ftp://x/"));
  EXPECT_FALSE(wsinit::parse_url("http://host:99999/"));
  EXPECT_FALSE(wsinit::parse_url("http://user@host/"));
  EXPECT_FALSE(wsinit::parse_url("http://host/a b"));
}

TEST(Url, QueryWithoutPathAndErrorsWithoutQuery) {
  auto t = wsinit::parse_url("http://10.0.0.1:81?token=x");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->host, "10.0.0.1");
  EXPECT_EQ(t->port, 81);
  EXPECT_EQ(t->path, "/?token=x");
  auto bad = wsinit::parse_url("htp://host/hook?token=s3cret");
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "'htp://host/hook?...' is not an http:// or https:// URL");
}

// A URL the test knows is valid; a clean failure, not undefined behaviour, if it is not.
static wsinit::Url valid_url(const char* text) {
  auto url = wsinit::parse_url(text);
  EXPECT_TRUE(url) << text << ": " << url.error().message;
  return url.value_or(wsinit::Url{});
}

// A URL becomes an HTTP request line and a Host header: no blank or control byte may reach
// them, and the fragment is the client's own, never sent.
TEST(Url, NoBlankOrControlReachesTheRequest) {
  for (const char* bad : {"http://a\tb/", "http://a\x7f/", "http://127.0.0.1/a\tb", "http://127.0.0.1/a\x01",
                          "http://127.0.0.1/a b", "http://user@127.0.0.1/"}) {
    EXPECT_FALSE(wsinit::parse_url(bad)) << bad;
  }
  EXPECT_EQ(valid_url("http://127.0.0.1/r?x=1#frag").path, "/r?x=1");
}

// The Host header carries a port that is not the scheme's, and brackets an IPv6 address.
TEST(Url, HostHeader) {
  auto header = [](const char* text) { return wsinit::host_header(valid_url(text)); };
  EXPECT_EQ(header("http://receiver.example:8080/x"), "receiver.example:8080");
  EXPECT_EQ(header("http://receiver.example/x"), "receiver.example");
  EXPECT_EQ(header("http://receiver.example:80/x"), "receiver.example");
  EXPECT_EQ(header("https://receiver.example/x"), "receiver.example");
  EXPECT_EQ(header("https://receiver.example:80/x"), "receiver.example:80");
  EXPECT_EQ(header("http://[::1]:9000/"), "[::1]:9000");
  EXPECT_EQ(header("https://[::1]/"), "[::1]");
}

// What is logged of a report URL: scheme, host, port and path, never the query (tokens).
TEST(Url, LoggableUrlHasNoQuery) {
  auto logged = [](const char* text) { return wsinit::loggable_url(valid_url(text)); };
  EXPECT_EQ(logged("https://proxy.example:8443/hooks/ws?id=1&token=s3cret"), "https://proxy.example:8443/hooks/ws");
  EXPECT_EQ(logged("https://proxy.example/hooks"), "https://proxy.example:443/hooks");
  EXPECT_EQ(logged("http://127.0.0.1"), "http://127.0.0.1:80/");
  EXPECT_EQ(logged("http://[::1]:9000/r#frag"), "http://[::1]:9000/r");
  EXPECT_EQ(logged("http://10.0.0.1?token=s3cret"), "http://10.0.0.1:80/");
}

TEST(Url, ProbeUrlsAreIpLiteralsOrLocalhost) {
  auto t = wsinit::parse_probe_url("http://localhost:3000/up");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_TRUE(wsinit::parse_probe_url("http://[fe80::1]/"));
  auto named = wsinit::parse_probe_url("http://example.com:8080/");
  EXPECT_FALSE(named);
  EXPECT_EQ(named.error().message,
            "host 'example.com' must be an IP address or localhost (probes do not resolve names; e.g. "
            "http://127.0.0.1:8080/)");
  EXPECT_FALSE(wsinit::parse_probe_url("http://127.0.0.1.example/"));
}

// The reporter reads the answer's status line only, each byte once, and at most 16 KiB of it.
TEST(Reporter, ReplyStatusLineArrivingByteByByte) {
  ReplyStatus reply;
  std::string answer = "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n";
  size_t fed = 0;
  while (fed < answer.size() && reply.feed(answer.substr(fed, 1)) == ReplyStatus::State::incomplete) ++fed;
  EXPECT_EQ(fed, answer.find('\n'));  // complete at the status line's end, headers never read
  EXPECT_EQ(reply.state(), ReplyStatus::State::complete);
  EXPECT_EQ(reply.code(), 204);
  ReplyStatus garbage;
  EXPECT_EQ(garbage.feed("hello\nHTTP/1.1 200 OK\r\n"), ReplyStatus::State::complete);
  EXPECT_EQ(garbage.code(), -1);
}

TEST(Reporter, ReplyWithoutLineBreakIsTooLongAt16KiB) {
  ReplyStatus reply;
  std::string chunk(1024, 'x');
  int chunks = 0;
  while (reply.feed(chunk) == ReplyStatus::State::incomplete && chunks < 1000) ++chunks;
  EXPECT_EQ(chunks, 16);  // 16 KiB kept, the 17th KiB is one too many
  EXPECT_EQ(reply.state(), ReplyStatus::State::too_long);
  EXPECT_EQ(reply.feed("\r\n"), ReplyStatus::State::too_long);  // and it stays so
  // A status line of 16 KiB (its CR included) is still one.
  ReplyStatus longest;
  EXPECT_EQ(longest.feed("HTTP/1.1 200 " + std::string(ReplyStatus::kMaxStatusLine - 14, 'k')), ReplyStatus::State::incomplete);
  EXPECT_EQ(longest.feed("\r\n"), ReplyStatus::State::complete);
  EXPECT_EQ(longest.code(), 200);
}
