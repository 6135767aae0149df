#include <gtest/gtest.h>

#include "config/config.h"

using namespace wsinit::config;
using namespace std::chrono_literals;

namespace {

LoadResult load(const std::string& text, Environment env = {}) {
  return load_text(text, "test.yaml", env, Profile::plain);
}

std::string only_error(const LoadResult& r) {
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.errors.size(), 1u) << ::testing::PrintToString(r.errors);
  return r.errors.empty() ? "" : r.errors.front();
}

}  // namespace

TEST(Units, Durations) {
  EXPECT_EQ(parse_duration("250ms"), Duration(250));
  EXPECT_EQ(parse_duration("10s"), Duration(10'000));
  EXPECT_EQ(parse_duration("2m"), Duration(120'000));
  EXPECT_EQ(parse_duration("1h"), Duration(3'600'000));
  EXPECT_EQ(parse_duration("1m30s"), Duration(90'000));
  EXPECT_EQ(parse_duration("0"), Duration(0));
  EXPECT_EQ(parse_duration("0s"), Duration(0));
  for (auto bad : {"", "10", "s", "10x", "-1s", "1.5s", "10 s", "99999999999999999999s"})
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
}

TEST(Units, Sizes) {
  EXPECT_EQ(parse_size("10MiB"), 10u << 20);
  EXPECT_EQ(parse_size("4KiB"), 4096u);
  EXPECT_EQ(parse_size("1GiB"), 1u << 30);
  EXPECT_EQ(parse_size("10M"), 10'000'000u);
  EXPECT_EQ(parse_size("512"), 512u);
  for (auto bad : {"", "MiB", "10XB", "-5", "1.5MiB"}) EXPECT_FALSE(parse_size(bad).has_value()) << bad;
}

TEST(Units, Signals) {
  EXPECT_EQ(parse_signal("TERM"), 15);
  EXPECT_EQ(parse_signal("SIGINT"), 2);
  EXPECT_EQ(parse_signal("9"), 9);
  EXPECT_EQ(parse_signal("RTMIN+1"), SIGRTMIN + 1);
  EXPECT_FALSE(parse_signal("TERMINATE").has_value());
  EXPECT_FALSE(parse_signal("0").has_value());
  EXPECT_FALSE(parse_signal("999").has_value());
  EXPECT_EQ(signal_name(15), "TERM");
  EXPECT_EQ(signal_name(SIGRTMIN + 2), "RTMIN+2");
}

TEST(Expand, VariablesAndDefaults) {
  Environment env{{"A", "alpha"}, {"EMPTY", ""}, {"P", "60002"}};
  EXPECT_EQ(expand("x${A}y", env).value_or("<failed>"), "xalphay");
  EXPECT_EQ(expand("${MISSING:-dflt}", env).value_or("<failed>"), "dflt");
  EXPECT_EQ(expand("${EMPTY:-dflt}", env).value_or("<failed>"), "dflt");
  EXPECT_EQ(expand("${MISSING}", env).value_or("<failed>"), "");
  EXPECT_EQ(expand("${MISSING:-${P:-60001}}", env).value_or("<failed>"), "60002");
  EXPECT_EQ(expand("${MISSING:-${NONE:-60001}}", env).value_or("<failed>"), "60001");
  EXPECT_EQ(expand("cost $5 and $${A}", env).value_or("<failed>"), "cost $5 and ${A}");
  EXPECT_EQ(expand("$", env).value_or("<failed>"), "$");
}

TEST(Expand, MalformedIsAnError) {
  auto unterminated = expand("${A", {});
  EXPECT_FALSE(unterminated.ok());
  EXPECT_NE(unterminated.error().message.find("unterminated"), std::string::npos);
  auto malformed = expand("${A-b}", {});
  EXPECT_FALSE(malformed.ok());
  EXPECT_NE(malformed.error().message.find("malformed"), std::string::npos);
  EXPECT_FALSE(expand("${}", {}).ok());
}

TEST(Load, MinimalFileUsesPlainDefaults) {
  auto r = load("version: 1\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->shutdown.grace, 25s);
  EXPECT_EQ(r.config->sshd.enabled, Switch::off);
  EXPECT_TRUE(r.config->health.listen.empty());
}

TEST(Load, GitlabProfileTakesPortsFromEnvironment) {
  auto r = load("version: 1\nprofile: gitlab\n", {{"GL_SSH_PORT", "2222"}, {"GL_EDITOR_PORT", "7000"}});
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->sshd.enabled, Switch::automatic);
  EXPECT_EQ(r.config->sshd.listen, std::vector<std::string>{"0.0.0.0:2222"});
  EXPECT_EQ(r.config->editor.port, 7000);
  EXPECT_EQ(r.config->health.listen, "0.0.0.0:60080");
  r = load("version: 1\nprofile: gitlab\n", {{"GL_VSCODE_PORT", "60001x"}, {"GL_EDITOR_PORT", "7000"}});
  EXPECT_EQ(only_error(r), "environment: the editor port '60001x' (from GL_VSCODE_PORT or GL_EDITOR_PORT) is not a port (expected 1 to 65535)");
  std::vector<std::string> errors;
  profile_defaults(Profile::gitlab, {{"GL_VSCODE_PORT", "70000"}}, &errors);
  EXPECT_EQ(errors.size(), 1u);
}

TEST(Load, FullService) {
  auto r = load(R"(version: 1
shutdown: {grace: 5s}
log: {format: json, level: debug, max_size: 1MiB, max_files: 2}
services:
  - name: web
    command: [python3, -m, http.server, "${PORT:-8080}"]
    cwd: /tmp
    env: {PORT: "8080"}
    restart: always
    backoff: {initial: 100ms, max: 2s}
    ready: {tcp: 8080, timeout: 5s}
    stop_signal: INT
    stop_timeout: 3s
    required: true
  - name: setup
    shell: "echo hi"
    oneshot: true
    restart: never
    after: [web]
)");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  const auto& c = *r.config;
  EXPECT_EQ(c.shutdown.grace, 5s);
  EXPECT_EQ(c.log.format, LogFormat::json);
  EXPECT_EQ(c.log.max_size, 1u << 20);
  ASSERT_EQ(c.services.size(), 2u);
  const auto& web = c.services[0];
  EXPECT_EQ(web.command.back(), "8080");
  EXPECT_EQ(web.restart, Restart::always);
  EXPECT_EQ(web.backoff_initial, 100ms);
  EXPECT_EQ(web.ready.kind, Readiness::Kind::tcp);
  EXPECT_EQ(web.ready.tcp_port, 8080);
  EXPECT_EQ(web.stop_signal, SIGINT);
  EXPECT_TRUE(web.required);
  EXPECT_EQ(web.origin, "test.yaml:5:5");
  EXPECT_EQ(c.services[1].command, (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  EXPECT_TRUE(c.services[1].oneshot);
}

TEST(Load, UnknownKeyNamesPositionAndExpectedKeys) {
  EXPECT_EQ(only_error(load("version: 1\nshutdown:\n  gracee: 5s\n")),
            "test.yaml:3:3: unknown key 'gracee' in shutdown (expected one of: grace)");
  EXPECT_EQ(only_error(load("version: 1\nfoo: 1\n")).substr(0, 31), "test.yaml:2:1: unknown key 'foo");
}

TEST(Load, WrongTypesAndValues) {
  EXPECT_EQ(only_error(load("version: 1\nshutdown: {grace: soon}\n")),
            "test.yaml:2:19: shutdown.grace: 'soon' is not a duration (expected e.g. 250ms, 10s, 2m)");
  EXPECT_EQ(only_error(load("version: 2\n")), "test.yaml:1:10: version: expected 1");
  EXPECT_EQ(only_error(load("log: {level: info}\n")), "test.yaml:1:1: missing 'version' (expected version: 1)");
  EXPECT_EQ(only_error(load("version: 1\nprofile: fancy\n")),
            "test.yaml:2:10: profile: 'fancy' is not a profile (expected gitlab or plain)");
  EXPECT_EQ(only_error(load("version: 1\nservices: {a: 1}\n")), "test.yaml:2:11: services: expected a list");
  EXPECT_EQ(only_error(load("version: 1\nservices:\n  - name: a\n    command: x\n")),
            "test.yaml:4:14: services.a.command: expected a list of strings");
  EXPECT_EQ(only_error(load("version: 1\nservices:\n  - name: a\n    command: [x]\n    restart: sometimes\n")),
            "test.yaml:5:14: services.a.restart: 'sometimes' is not a restart policy (expected always, on-failure or never)");
}

// A readiness URL wsinit cannot probe (a host name: probes do not resolve names) is refused at
// load, where `wsinit check` sees it, instead of a service restarted forever as "not ready".
TEST(Load, ReadinessUrlsMustBeProbeable) {
  auto with_ready = [](const std::string& ready) {
    return load("version: 1\nservices:\n  - name: web\n    command: [x]\n    ready: {http: \"" + ready + "\"}\n");
  };
  EXPECT_EQ(only_error(with_ready("http://example.com:8080/")),
            "test.yaml:5:19: services.web.ready.http: host 'example.com' must be an IP address or localhost (probes do not "
            "resolve names; e.g. http://127.0.0.1:8080/)");
  EXPECT_EQ(only_error(with_ready("https://127.0.0.1/")),
            "test.yaml:5:19: services.web.ready.http: expected an http:// URL (probes do not speak TLS)");
  EXPECT_EQ(only_error(with_ready("127.0.0.1:8080")),
            "test.yaml:5:19: services.web.ready.http: '127.0.0.1:8080' is not an http:// or https:// URL");
  EXPECT_EQ(only_error(with_ready("http://127.0.0.1:0/")), "test.yaml:5:19: services.web.ready.http: bad port '0'");
  for (auto good : {"http://127.0.0.1:8080/health?x=1", "http://localhost:3000", "http://[::1]:9000/"}) {
    auto r = with_ready(good);
    ASSERT_TRUE(r.config) << good << ": " << ::testing::PrintToString(r.errors);
    EXPECT_EQ(r.config->services[0].ready.http_url, good);
  }
}

// The report URL is checked at load too; a host name is fine there (the reporter resolves it),
// and the error never shows the query string, where tokens live.
TEST(Load, ReportUrlIsCheckedAtLoad) {
  EXPECT_EQ(only_error(load("version: 1\nhealth: {report: {url: \"ftp://x/?token=s3cret\"}}\n")),
            "test.yaml:2:24: health.report.url: 'ftp://x/?...' is not an http:// or https:// URL");
  EXPECT_EQ(only_error(load("version: 1\nhealth: {report: {url: \"https://receiver.example:99999/\"}}\n")),
            "test.yaml:2:24: health.report.url: bad port '99999'");
  auto r = load("version: 1\nhealth: {report: {url: \"https://receiver.example/hook?token=x\"}}\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_TRUE(load("version: 1\nhealth: {report: {url: \"${NO_URL:-}\"}}\n").config);  // empty: reports off
}

TEST(Load, InvalidYamlHasPosition) {
  auto e = only_error(load("version: 1\nservices: [\n"));
  EXPECT_EQ(e.rfind("test.yaml:", 0), 0u);
  EXPECT_NE(e.find("invalid YAML"), std::string::npos);
}

TEST(Load, CollectsEveryError) {
  auto r = load("version: 1\nshutdown: {grace: x}\nlog: {format: xml}\n");
  EXPECT_EQ(r.errors.size(), 2u);
}

TEST(Validate, NamesDuplicatesDependencies) {
  EXPECT_EQ(only_error(load("version: 1\nservices:\n  - {name: Web, command: [x]}\n")),
            "test.yaml:3:5: service name 'Web' is invalid (expected [a-z0-9][a-z0-9_-]{0,62})");
  EXPECT_EQ(only_error(load("version: 1\nservices:\n  - {name: a, command: [x]}\n  - {name: a, command: [y]}\n")),
            "test.yaml:4:5: duplicate service name 'a' (first defined at test.yaml:3:5)");
  EXPECT_EQ(only_error(load("version: 1\nservices:\n  - {name: a, command: [x], after: [b]}\n")),
            "test.yaml:3:5: service 'a' comes after unknown service 'b'");
  EXPECT_EQ(only_error(load("version: 1\nservices:\n  - {name: a, command: [x], after: [b]}\n"
                            "  - {name: b, command: [x], after: [c]}\n  - {name: c, command: [x], after: [a]}\n")),
            "test.yaml:5:5: services depend on each other in a cycle: a -> b -> c -> a");
  EXPECT_EQ(only_error(load("version: 1\nservices:\n  - {name: poststart-1-x, command: [x]}\n")),
            "test.yaml:3:5: service name 'poststart-1-x' is reserved for wsinit's own service");
  EXPECT_EQ(only_error(load("version: 1\nservices:\n  - {name: main, command: [x]}\n")),
            "test.yaml:3:5: service name 'main' is taken by the main command in tini mode");
  EXPECT_TRUE(load("version: 1\nservices:\n  - {name: a, command: [x], after: [workspace-running, editor]}\n").config);
}

TEST(Order, DependenciesFirstOtherwiseFileOrder) {
  auto r = load("version: 1\nservices:\n  - {name: a, command: [x], after: [c]}\n  - {name: b, command: [x]}\n"
                "  - {name: c, command: [x], after: [workspace-running]}\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  auto order = start_order(*r.config);
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order[0]->name, "b");
  EXPECT_EQ(order[1]->name, "c");
  EXPECT_EQ(order[2]->name, "a");
}

TEST(ChooseFile, FlagThenEnvironment) {
  EXPECT_EQ(choose_file(std::string("/x.yaml"), {{"WSINIT_CONFIG", "/y.yaml"}}), "/x.yaml");
  EXPECT_EQ(choose_file(std::nullopt, {{"WSINIT_CONFIG", "/y.yaml"}}), "/y.yaml");
}

TEST(LoadFile, MissingFileIsAnError) {
  auto r = load_file("/nonexistent/wsinit.yaml", {}, Profile::plain);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0], "/nonexistent/wsinit.yaml: cannot read config file: No such file or directory");
}

TEST(Units, ListenAddresses) {
  auto v4 = parse_listen("0.0.0.0:60022");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "0.0.0.0");
  EXPECT_EQ(v4->port, 60022);
  EXPECT_FALSE(v4->ipv6);
  auto v6 = parse_listen("[::1]:8080");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_TRUE(v6->ipv6);
  EXPECT_EQ(v6->text(), "[::1]:8080");
  EXPECT_EQ(parse_listen("127.0.0.1:080").value().text(), "127.0.0.1:80");
  for (auto bad : {"127.0.0.1:59KiB", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:", "127.0.0.1", ":22",
                   "localhost:22", "::1:22", "[127.0.0.1]:22", "[::1]", "127.1:22", "0.0.0.0:+22", "0.0.0.0: 22",
                   "0.0.0.0:61022\nBanner /etc/x", "0.0.0.0\nBanner /x:22", "[::]:99999999999999999999"})
    EXPECT_FALSE(parse_listen(bad)) << bad;
}

TEST(Units, ValuesThatEndUpInFileFormats) {
  EXPECT_TRUE(check_user_name("gitlab-workspaces"));
  EXPECT_TRUE(check_user_name("_x9"));
  for (const std::string& bad : std::vector<std::string>{"", "Root", "9lives", "a b", "evil:0:0", "evil\nroot::0:0::/:/bin/sh", std::string(33, 'a'),
                          std::string("ev\0il", 5)})
    EXPECT_FALSE(check_user_name(bad)) << bad;
  EXPECT_TRUE(check_path("/home/a b/c", true));
  EXPECT_TRUE(check_path("/run/x:y", false));
  EXPECT_EQ(check_path("/x:y", true).error().message,
            "'/x:y' holds ':', which an /etc/passwd field cannot (expected a path without ':')");
  EXPECT_EQ(check_path("relative", false).error().message,
            "'relative' is not an absolute path (expected it to start with /)");
  for (const std::string& bad : std::vector<std::string>{"/x/e\nroot2::0:0::/x", "/x\r", std::string("/x\0y", 4)})
    EXPECT_NE(check_path(bad, false).error().message.find("holds a newline, CR or NUL"), std::string::npos) << bad;
  EXPECT_FALSE(check_path("/" + std::string(5000, 'h'), false));
  EXPECT_TRUE(check_cidr("10.0.0.0/8"));
  EXPECT_TRUE(check_cidr("127.0.0.1"));
  EXPECT_TRUE(check_cidr("fd00::/8"));
  for (auto bad : {"10.0.0.0/33", "10.0.0/8", "evil host", "10.0.0.0/", "10.0.0.0/0008", "fd00::/129", "1.2.3.4/8 x"})
    EXPECT_FALSE(check_cidr(bad)) << bad;
  EXPECT_TRUE(check_key_line("ssh-ed25519 AAAAC3Nza comment with spaces"));
  EXPECT_FALSE(check_key_line("ssh-ed25519 AAAA\ncommand=\"/bin/sh\" ssh-ed25519 BBBB"));
}

TEST(Load, UserAndPathsThatFileFormatsCannotHoldAreErrorsWithPositions) {
  EXPECT_EQ(only_error(load("version: 1\nuser: {name: \"evil\\nBanner /etc/shadow\"}\n")),
            "test.yaml:2:14: user.name: 'evil\nBanner /etc/shadow' is not a user name (expected [a-z_][a-z0-9_-]{0,31})");
  EXPECT_EQ(only_error(load("version: 1\nuser:\n  home: home/dev\n")),
            "test.yaml:3:9: user.home: 'home/dev' is not an absolute path (expected it to start with /)");
  EXPECT_EQ(only_error(load("version: 1\nuser:\n  shell: \"/bin/sh:x\"\n")).substr(0, 32),
            "test.yaml:3:10: user.shell: '/bi");
  EXPECT_EQ(only_error(load("version: 1\npaths: {data: \"/x/e\\nroot2::0:0::/x\"}\n")),
            "test.yaml:2:15: paths.data: '/x/e\nroot2::0:0::/x' holds a newline, CR or NUL (expected a path on one line)");
  EXPECT_EQ(only_error(load("version: 1\npaths: {data: \"/x/a:b\"}\n")),
            "test.yaml:2:15: paths.data: '/x/a:b' holds ':', which an /etc/passwd field cannot (expected a path without ':')");
  EXPECT_EQ(only_error(load("version: 1\npaths: {logs: logs}\n")),
            "test.yaml:2:15: paths.logs: 'logs' is not an absolute path (expected it to start with /)");
  EXPECT_NE(only_error(load("version: 1\npaths: {runtime: \"/run/a\\rb\"}\n")).find("test.yaml:2:18: paths.runtime:"),
            std::string::npos);
  EXPECT_NE(only_error(load("version: 1\npaths: {variables: \"\"}\n")).find("test.yaml:2:20: paths.variables:"),
            std::string::npos);
  // From the environment through ${VAR}: checked the same way, after expansion.
  EXPECT_NE(only_error(load("version: 1\nuser: {home: \"${H}\"}\n", {{"H", "/h\nx"}})).find("test.yaml:2:14: user.home:"),
            std::string::npos);
  auto r = load("version: 1\nuser: {name: dev, home: /home/dev, shell: /bin/sh}\npaths: {data: /p/.wsinit, logs: /p/l, "
                "variables: /v, runtime: /r}\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->user.name, "dev");
  EXPECT_EQ(r.config->paths.data, "/p/.wsinit");
}

TEST(Load, ListenAddressesKeysAndCidrsAreCheckedPerItem) {
  EXPECT_EQ(only_error(load("version: 1\nhealth: {listen: \"127.0.0.1:59KiB\"}\n")),
            "test.yaml:2:18: health.listen: '127.0.0.1:59KiB' is not IP:PORT (expected a numeric IPv4 address or a "
            "bracketed IPv6 one, and a port from 1 to 65535: 0.0.0.0:60022, [::]:60022)");
  EXPECT_TRUE(load("version: 1\nhealth: {listen: \"\"}\n").config);
  EXPECT_TRUE(load("version: 1\nhealth: {listen: \"[::1]:60080\"}\n").config);
  auto r = load("version: 1\nsshd:\n  listen: [\"127.0.0.1:22\", \"localhost:22\", \"0.0.0.0:22\\nBanner /x\"]\n");
  ASSERT_EQ(r.errors.size(), 2u) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.errors[0].substr(0, 46), "test.yaml:3:28: sshd.listen: 'localhost:22' is");
  EXPECT_EQ(r.errors[1].substr(0, 29), "test.yaml:3:44: sshd.listen: ");
  EXPECT_EQ(only_error(load("version: 1\nsshd: {allow_from: [10.0.0.0/8, 10.0.0.0/33]}\n")),
            "test.yaml:2:33: sshd.allow_from: '10.0.0.0/33' has a bad prefix length (expected 0 to 32)");
  EXPECT_EQ(only_error(load("version: 1\nsshd: {authorized_keys: [\"ssh-ed25519 AAAA\\nssh-rsa BBBB\"]}\n")).substr(0, 41),
            "test.yaml:2:26: sshd.authorized_keys: 'ss");
}

TEST(Load, DefaultsFromTheEnvironmentAreCheckedWhereTheyAreRead) {
  auto r = load("version: 1\nprofile: gitlab\n", {{"GL_SSH_PORT", "61022\nBanner /etc/issue"}});
  EXPECT_EQ(only_error(r).substr(0, 99),
            "environment: sshd.listen (from GL_SSH_PORT): '0.0.0.0:61022\nBanner /etc/issue' is not IP:PORT (expe");
  r = load("version: 1\nprofile: gitlab\n", {{"GL_SSH_PORT", "59KiB"}});
  EXPECT_NE(only_error(r).find("(from GL_SSH_PORT)"), std::string::npos);
  r = load("version: 1\n", {{"GL_WORKSPACE_LOGS_DIR", "workspace-logs"}});
  EXPECT_EQ(only_error(r), "environment: paths.logs (from GL_WORKSPACE_LOGS_DIR): 'workspace-logs' is not an absolute "
                           "path (expected it to start with /)");
  r = load("version: 1\n", {{"XDG_RUNTIME_DIR", "/run/user/1\nx"}});
  EXPECT_NE(only_error(r).find("environment: paths.runtime (from XDG_RUNTIME_DIR): "), std::string::npos);
  std::vector<std::string> errors;
  profile_defaults(Profile::gitlab, {{"GL_SSH_PORT", "2222"}, {"GL_WORKSPACE_LOGS_DIR", "/p/logs"}}, &errors);
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
}

// GitLab plans to rename the /projects mount: every default under it follows PROJECTS_ROOT.
TEST(Load, ProjectPathsFollowProjectsRoot) {
  auto r = load("version: 1\nprofile: gitlab\n", {{"PROJECTS_ROOT", "/workspace"}});
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->paths.data, "/workspace/.wsinit");
  EXPECT_EQ(r.config->paths.logs, "/workspace/workspace-logs");
  EXPECT_EQ(r.config->paths.scripts, "/workspace-scripts");
  r = load("version: 1\n", {{"PROJECTS_ROOT", "/workspace"}, {"GL_WORKSPACE_LOGS_DIR", "/logs"}});
  EXPECT_EQ(r.config->paths.logs, "/logs");
  r = load("version: 1\n");
  EXPECT_EQ(r.config->paths.data, "/projects/.wsinit");
  EXPECT_EQ(projects_root({}), "/projects");
  EXPECT_EQ(project_source({{"PROJECTS_ROOT", "/w"}}), "/w");
  EXPECT_EQ(project_source({{"PROJECTS_ROOT", "/w"}, {"PROJECT_SOURCE", "/w/app"}}), "/w/app");
  EXPECT_NE(only_error(load("version: 1\n", {{"PROJECTS_ROOT", "/a:b"}})).find("environment: the projects volume (from PROJECTS_ROOT)"),
            std::string::npos);
}

TEST(Load, WorkspacePostStartModeAndTheClonedCondition) {
  auto r = load("version: 1\nworkspace: {poststart: observe, poststart_slow_after: 90s}\npaths: {scripts: /s}\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->workspace.poststart, Config::Workspace::PostStart::observe);
  EXPECT_EQ(r.config->workspace.poststart_slow_after, std::chrono::seconds(90));
  EXPECT_EQ(r.config->paths.scripts, "/s");
  EXPECT_EQ(only_error(load("version: 1\nworkspace: {poststart: twice}\n")),
            "test.yaml:2:24: workspace.poststart: 'twice' is not a postStart mode (expected auto, run or observe)");
  r = load("version: 1\nservices:\n  - {name: a, shell: x, after: [project-cloned, workspace-running]}\n");
  EXPECT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_NE(only_error(load("version: 1\nservices:\n  - {name: project-cloned, shell: x}\n")).find("reserved"),
            std::string::npos);
}

// oom_score_adj: an integer from -1000 to 1000 (the kernel's range); a configured service
// defaults to +500, ahead of wsinit's own sshd and editor for the OOM killer.
TEST(Load, OomScoreAdj) {
  auto with_adj = [](const std::string& adj) {
    return load("version: 1\nservices:\n  - name: build\n    command: [make]\n    oom_score_adj: " + adj + "\n");
  };
  for (auto [text, value] : {std::pair{"0", 0}, {"-1000", -1000}, {"1000", 1000}, {"+200", 200}, {"-5", -5}}) {
    auto r = with_adj(text);
    ASSERT_TRUE(r.config) << text << ": " << ::testing::PrintToString(r.errors);
    EXPECT_EQ(r.config->services[0].oom_score_adj, value) << text;
  }
  EXPECT_EQ(only_error(with_adj("1001")),
            "test.yaml:5:20: services.build.oom_score_adj: '1001' is not an oom_score_adj (expected an integer from -1000 "
            "to 1000)");
  for (auto bad : {"-1001", "high", "1.5", "''", "--1", "99999999999999999999999", "[1]"})
    EXPECT_FALSE(with_adj(bad).config.has_value()) << bad;
  auto plain = load("version: 1\nservices:\n  - name: build\n    command: [make]\n");
  ASSERT_TRUE(plain.config);
  EXPECT_EQ(plain.config->services[0].oom_score_adj, kUserOomScoreAdj);
  EXPECT_EQ(kUserOomScoreAdj, 500);
}

// Not given, the value follows wsinit's own: 500 above it, at most 1000 (a Burstable pod starts
// wsinit at 2..999); given, it is taken as it is.
TEST(Config, OomScoreAdjNotGivenIsAboveWsinitsOwn) {
  auto plain = load("version: 1\nservices:\n  - name: build\n    command: [make]\n");
  ASSERT_TRUE(plain.config);
  const auto& build = plain.config->services[0];
  EXPECT_EQ(build.wanted_oom_score_adj(0), 500);
  EXPECT_EQ(build.wanted_oom_score_adj(std::nullopt), 500);
  EXPECT_EQ(build.wanted_oom_score_adj(300), 800);
  EXPECT_EQ(build.wanted_oom_score_adj(969), 1000);
  EXPECT_EQ(build.wanted_oom_score_adj(-997), -497);
  auto given = load("version: 1\nservices:\n  - name: build\n    command: [make]\n    oom_score_adj: 500\n");
  ASSERT_TRUE(given.config);
  EXPECT_EQ(given.config->services[0].wanted_oom_score_adj(969), 500);
  Service own;
  own.oom_score_adj = std::nullopt;
  EXPECT_EQ(own.wanted_oom_score_adj(969), std::nullopt);
}

TEST(Load, Activity) {
  auto r = load("version: 1\nactivity: {ports: [8888, \"${PORT:-9000}\"], idle_after: 30m}\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->activity.ports, (std::vector<int>{8888, 9000}));
  EXPECT_EQ(r.config->activity.idle_after, Duration(30 * 60'000));
  auto none = load("version: 1\n");
  ASSERT_TRUE(none.config);
  EXPECT_TRUE(none.config->activity.ports.empty());
  EXPECT_FALSE(none.config->activity.idle_after);  // never idle unless asked
}

TEST(Load, ActivityErrorsNamePositionAndWhatIsExpected) {
  EXPECT_EQ(only_error(load("version: 1\nactivity: {ports: [22, 70000]}\n")),
            "test.yaml:2:24: activity.ports: '70000' is not a port (expected 1 to 65535)");
  EXPECT_EQ(only_error(load("version: 1\nactivity: {ports: 22}\n")), "test.yaml:2:19: activity.ports: expected a list of ports");
  EXPECT_EQ(only_error(load("version: 1\nactivity: {idle_after: 0}\n")),
            "test.yaml:2:24: activity.idle_after: '0' is not a duration above zero (expected e.g. 30m)");
  EXPECT_EQ(only_error(load("version: 1\nactivity: {idle_after: soon}\n")),
            "test.yaml:2:24: activity.idle_after: 'soon' is not a duration above zero (expected e.g. 30m)");
  EXPECT_EQ(only_error(load("version: 1\nactivity: {idle: 5m}\n")),
            "test.yaml:2:12: unknown key 'idle' in activity (expected one of: ports, idle_after)");
  std::string many = "version: 1\nactivity: {ports: [";
  for (int i = 1; i <= 33; ++i) many += std::to_string(i) + (i < 33 ? ", " : "]}\n");
  EXPECT_EQ(only_error(load(many)), "test.yaml:2:19: activity.ports: 33 ports (expected at most 32)");
}

// timeout: a oneshot's whole run, a probed service's time to ready; once: oneshots only.
TEST(Load, StepTimeoutAndOnce) {
  auto r = load(R"(version: 1
services:
  - name: setup
    shell: "make deps"
    oneshot: true
    timeout: 90s
    once: true
  - name: web
    command: [web]
    ready: {tcp: 8080}
    timeout: 45s
)");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->services[0].timeout, Duration(90'000));
  EXPECT_TRUE(r.config->services[0].once);
  EXPECT_EQ(r.config->services[1].timeout, Duration(45'000));
  EXPECT_FALSE(r.config->services[1].once);
  EXPECT_FALSE(load("version: 1\nservices:\n  - {name: a, command: [x]}\n").config->services[0].timeout.has_value());
}

TEST(Load, StepTimeoutAndOnceRefusals) {
  EXPECT_EQ(only_error(load("version: 1\nservices:\n  - name: a\n    command: [x]\n    once: true\n")),
            "test.yaml:5:11: services.a.once: only a oneshot can run once (expected oneshot: true)");
  EXPECT_EQ(only_error(load("version: 1\nservices:\n  - name: a\n    command: [x]\n    timeout: 5s\n")),
            "test.yaml:5:14: services.a.timeout: a service without 'ready' is ready at once, so it would never "
            "apply (expected oneshot: true, or a ready probe)");
  EXPECT_EQ(only_error(load("version: 1\nservices:\n  - {name: a, command: [x], oneshot: true, timeout: 0}\n")),
            "test.yaml:3:53: services.a.timeout: '0' is not a duration above zero (expected e.g. 30s, 10m)");
  EXPECT_EQ(only_error(load("version: 1\nservices:\n  - {name: a, command: [x], ready: {tcp: 80}, timeout: 60s}\n")),
            "test.yaml:3:56: services.a.timeout: 60s is not below ready.timeout (60s), which gives up first and starts "
            "both clocks again (expected a shorter timeout, or a longer ready.timeout)");
  EXPECT_TRUE(load("version: 1\nservices:\n  - {name: a, command: [x], ready: {tcp: 80, timeout: 5m}, timeout: 2m}\n").config);
  EXPECT_EQ(only_error(load("version: 1\nservices:\n  - {name: a, command: [x], oneshot: true, once: yes}\n")),
            "test.yaml:3:50: services.a.once: 'yes' is not a boolean (expected true or false)");
}

TEST(Persist, EntriesAreRelativePlainPaths) {
  for (auto good : {".bash_history", ".config/", ".config/gh/hosts.yml", ".ssh/known_hosts", "a b/c"})
    EXPECT_TRUE(check_persist_path(good)) << good;
  std::string long_segment(256, 'a'), long_path;
  for (int i = 0; i < 6; ++i) long_path += std::string(200, 'b') + "/";
  for (std::string bad : {std::string(""), std::string("/etc/passwd"), std::string("../x"), std::string("a/../b"),
                          std::string("./a"), std::string("a//b"), std::string("a/./b"), std::string("/"), std::string("a\nb"),
                          std::string("a\rb"), std::string("a\0b", 3), std::string("//"), long_segment, long_path})
    EXPECT_FALSE(check_persist_path(bad)) << bad;
  EXPECT_TRUE(check_persist_path(std::string(255, 'a')));
}

TEST(Persist, ProfilesAndTheFile) {
  auto plain = load("version: 1\n");
  ASSERT_TRUE(plain.config);
  EXPECT_TRUE(plain.config->user.persist.empty());
  auto gitlab = load_text("version: 1\n", "test.yaml", {}, Profile::gitlab);
  ASSERT_TRUE(gitlab.config);
  EXPECT_EQ(gitlab.config->user.persist, default_persist());
  auto defaults = default_persist();
  EXPECT_EQ(std::count(defaults.begin(), defaults.end(), ".cache/"), 0);
  EXPECT_EQ(std::count(defaults.begin(), defaults.end(), ".bash_history"), 1);
  // Not where tools are installed (mise, pipx, pnpm, uv: GBs, shadowing a newer image's), nor a
  // file its program replaces by rename (zsh's HIST_SAVE_BY_COPY), which a symlink cannot hold.
  for (const char* never : {".local/share/", ".local/", ".zsh_history"})
    EXPECT_EQ(std::count(defaults.begin(), defaults.end(), never), 0) << never;
  auto replaced = load_text("version: 1\nuser:\n  persist: [.zsh_history, .config/]\n", "test.yaml", {}, Profile::gitlab);
  ASSERT_TRUE(replaced.config) << ::testing::PrintToString(replaced.errors);
  EXPECT_EQ(replaced.config->user.persist, (std::vector<std::string>{".zsh_history", ".config/"}));
  auto none = load_text("version: 1\nuser: {persist: []}\n", "test.yaml", {}, Profile::gitlab);
  ASSERT_TRUE(none.config);
  EXPECT_TRUE(none.config->user.persist.empty());
}

TEST(Persist, RefusalsNamePositionAndBothOverlappingEntries) {
  EXPECT_EQ(only_error(load("version: 1\nuser:\n  persist: [.config/, /etc/x]\n")),
            "test.yaml:3:23: user.persist: '/etc/x' is absolute (expected a path relative to HOME)");
  EXPECT_EQ(only_error(load("version: 1\nuser:\n  persist:\n    - .config/\n    - .config/gh/\n")),
            "test.yaml:5:7: user.persist: '.config/gh/' and '.config/' (at test.yaml:4:7) overlap (expected no entry "
            "inside another)");
  EXPECT_NE(only_error(load("version: 1\nuser: {persist: [.bash_history, .bash_history]}\n")).find("overlap"),
            std::string::npos);
  EXPECT_NE(only_error(load("version: 1\nuser: {persist: [.config, .config/x]}\n")).find("overlap"), std::string::npos);
  EXPECT_EQ(only_error(load("version: 1\nuser: {persist: [a/../b]}\n")).substr(0, 35), "test.yaml:2:18: user.persist: 'a/..");
  EXPECT_EQ(only_error(load("version: 1\nuser: {persist: .config/}\n")),
            "test.yaml:2:17: user.persist: expected a list of strings");
  std::string many = "version: 1\nuser:\n  persist: [";
  for (int i = 0; i < 65; ++i) many += (i ? ", f" : "f") + std::to_string(i);
  EXPECT_EQ(only_error(load(many + "]\n")), "test.yaml:3:12: user.persist: 65 entries (expected at most 64)");
  EXPECT_TRUE(load("version: 1\nuser: {persist: [.config/, .configx/, .config-old]}\n").config);
}

TEST(Load, LoginEnv) {
  auto plain = load("version: 1\n");
  ASSERT_TRUE(plain.config);
  EXPECT_FALSE(plain.config->user.login_env);  // plain: off unless asked
  EXPECT_EQ(plain.config->user.login_env_timeout, Duration(10'000));
  EXPECT_TRUE(profile_defaults(Profile::gitlab, {}).user.login_env);
  auto set = load("version: 1\nuser: {login_env: true, login_env_timeout: 2s}\n");
  ASSERT_TRUE(set.config) << ::testing::PrintToString(set.errors);
  EXPECT_TRUE(set.config->user.login_env);
  EXPECT_EQ(set.config->user.login_env_timeout, Duration(2'000));
  auto off = load("version: 1\nprofile: gitlab\nuser: {login_env: false}\n");
  ASSERT_TRUE(off.config) << ::testing::PrintToString(off.errors);
  EXPECT_FALSE(off.config->user.login_env);
}

TEST(Load, LoginEnvErrorsNamePositionAndWhatIsExpected) {
  EXPECT_EQ(only_error(load("version: 1\nuser: {login_env: yes}\n")),
            "test.yaml:2:19: user.login_env: 'yes' is not a boolean (expected true or false)");
  EXPECT_EQ(only_error(load("version: 1\nuser: {login_env_timeout: 500ms}\n")),
            "test.yaml:2:27: user.login_env_timeout: '500ms' is not a duration from 1s to 5m (expected e.g. 10s)");
  EXPECT_EQ(only_error(load("version: 1\nuser: {login_env_timeout: 6m}\n")),
            "test.yaml:2:27: user.login_env_timeout: '6m' is not a duration from 1s to 5m (expected e.g. 10s)");
}
