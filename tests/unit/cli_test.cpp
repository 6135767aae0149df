#include <gtest/gtest.h>
#include <sys/wait.h>

#include "init/init.h"
#include "init/internal.h"
#include "supervisor/spawn.h"

using wsinit::init::Command;
using wsinit::init::parse_command_line;

TEST(CommandLine, TiniModeWithAndWithoutDashes) {
  auto c = parse_command_line({"--", "sleep", "1"});
  EXPECT_EQ(c.kind, Command::Kind::run);
  EXPECT_EQ(c.argv, (std::vector<std::string>{"sleep", "1"}));
  c = parse_command_line({"--config", "f.yaml", "sleep", "--flag"});
  EXPECT_EQ(c.config_file, "f.yaml");
  EXPECT_EQ(c.argv, (std::vector<std::string>{"sleep", "--flag"}));
  c = parse_command_line({"--config=g.yaml", "--", "status"});
  EXPECT_EQ(c.config_file, "g.yaml");
  EXPECT_EQ(c.argv, (std::vector<std::string>{"status"}));
}

TEST(CommandLine, WorkspaceMode) {
  auto c = parse_command_line({});
  EXPECT_EQ(c.kind, Command::Kind::run);
  EXPECT_TRUE(c.argv.empty());
}

TEST(CommandLine, Subcommands) {
  EXPECT_EQ(parse_command_line({"check", "--config", "x"}).kind, Command::Kind::check);
  EXPECT_TRUE(parse_command_line({"status", "--json"}).json);
  auto c = parse_command_line({"restart", "web"});
  EXPECT_EQ(c.kind, Command::Kind::control);
  EXPECT_EQ(c.action, "restart");
  EXPECT_EQ(c.target, "web");
  EXPECT_EQ(parse_command_line({"install", "/dir"}).target, "/dir");
  EXPECT_EQ(parse_command_line({"version"}).kind, Command::Kind::version);
  EXPECT_EQ(parse_command_line({"--help"}).kind, Command::Kind::help);
}

// The SSH server's sftp subsystem: a subcommand of its own, with no arguments, not in the usage.
TEST(CommandLine, HiddenSftpServer) {
  EXPECT_EQ(parse_command_line({"sftp-server"}).kind, Command::Kind::sftp_server);
  auto c = parse_command_line({"sftp-server", "-e"});  // with arguments: a program to run, as before
  EXPECT_EQ(c.kind, Command::Kind::run);
  EXPECT_EQ(c.argv, (std::vector<std::string>{"sftp-server", "-e"}));
  EXPECT_EQ(wsinit::init::usage_text().find("sftp"), std::string::npos);
}

TEST(CommandLine, UsageErrors) {
  EXPECT_EQ(parse_command_line({"--bogus"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"--config"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"stop"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"stop", "a", "b"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"status", "--yaml"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"check", "extra"}).kind, Command::Kind::usage_error);
}

TEST(CommandLine, LogsAndWait) {
  auto c = parse_command_line({"logs", "-f", "-n", "3", "web"});
  EXPECT_EQ(c.kind, Command::Kind::logs);
  EXPECT_TRUE(c.follow);
  EXPECT_EQ(c.lines, 3u);
  EXPECT_EQ(c.target, "web");
  c = parse_command_line({"logs", "--lines=0", "web"});
  EXPECT_EQ(c.lines, 0u);
  EXPECT_FALSE(c.follow);
  EXPECT_EQ(parse_command_line({"logs", "web"}).lines, 10u);  // as tail
  EXPECT_EQ(parse_command_line({"logs", "-n100001", "web"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"logs", "-n", "-1", "web"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"logs"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"logs", "a", "b"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"logs", "../x"}).kind, Command::Kind::usage_error);
  c = parse_command_line({"logs", "--help"});
  EXPECT_EQ(c.kind, Command::Kind::help);
  EXPECT_EQ(c.topic, "logs");

  c = parse_command_line({"wait", "ready"});
  EXPECT_EQ(c.kind, Command::Kind::wait);
  EXPECT_EQ(c.action, "ready");
  EXPECT_EQ(c.timeout_ms, 60000);
  c = parse_command_line({"wait", "port", "8080", "--timeout", "1s"});
  EXPECT_EQ(c.action, "port");
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(c.timeout_ms, 1000);
  c = parse_command_line({"wait", "--timeout=0", "web"});
  EXPECT_EQ(c.action, "service");
  EXPECT_EQ(c.target, "web");
  EXPECT_EQ(c.timeout_ms, 0);
  EXPECT_EQ(parse_command_line({"wait"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"wait", "port"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"wait", "port", "0"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"wait", "port", "65536"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"wait", "ready", "web"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"wait", "ready", "--timeout", "soon"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"wait", "ready", "--timeout"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"wait", "ready", "--timeout", "8d"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"wait", "-h"}).topic, "wait");
  EXPECT_NE(wsinit::init::usage_text().find("wsinit logs"), std::string::npos);
  EXPECT_NE(wsinit::init::usage_text().find("wsinit wait"), std::string::npos);
  EXPECT_NE(wsinit::init::usage_text("wait").find("Exit status"), std::string::npos);
}

TEST(ExitStatus, CodesAndSignals) {
  for (int code : {0, 1, 42, 255}) EXPECT_EQ(wsinit::supervisor::exit_status_of(code << 8), code);
  EXPECT_EQ(wsinit::supervisor::exit_status_of(SIGKILL), 137);
  EXPECT_EQ(wsinit::supervisor::exit_status_of(SIGTERM), 143);
}

// What `wsinit wait` answers, judged on the state: met, failed for good (at once), or open.
TEST(Wait, JudgesReadyServicesAndPorts) {
  using wsinit::init::judge_wait;
  using wsinit::init::WaitOutcome;
  using namespace wsinit::supervisor;
  auto service = [](std::string name, State state, bool ready, bool required, bool oneshot, std::string last_exit = "") {
    ServiceStatus s;
    s.name = std::move(name);
    s.state = state;
    s.ready = ready;
    s.required = required;
    s.oneshot = oneshot;
    s.last_exit = std::move(last_exit);
    return s;
  };
  ControlRequest ready;
  ready.kind = ControlRequest::Kind::wait_ready;
  std::vector<ServiceStatus> services{service("web", State::starting, false, true, false),
                                      service("setup", State::exited, true, false, true, "exit 0")};
  auto r = judge_wait(ready, Overall::starting, services, nullptr);
  EXPECT_EQ(r.kind, WaitOutcome::Kind::open);
  EXPECT_EQ(r.message, "the workspace is starting: web is starting");
  EXPECT_EQ(judge_wait(ready, Overall::ready, services, nullptr).kind, WaitOutcome::Kind::met);
  EXPECT_EQ(judge_wait(ready, Overall::stopping, services, nullptr).kind, WaitOutcome::Kind::failed);
  services.push_back(service("migrate", State::exited, false, false, true, "exit 3"));
  r = judge_wait(ready, Overall::degraded, services, nullptr);
  EXPECT_EQ(r.kind, WaitOutcome::Kind::failed);
  EXPECT_EQ(r.message, "the workspace will not be ready: migrate exited (exit 3) and is not restarted");

  ControlRequest one;
  one.kind = ControlRequest::Kind::wait_service;
  one.service = "setup";
  EXPECT_EQ(judge_wait(one, Overall::starting, services, nullptr).message, "setup finished successfully");
  one.service = "web";
  EXPECT_EQ(judge_wait(one, Overall::starting, services, nullptr).kind, WaitOutcome::Kind::open);
  services[0].state = State::backoff;  // it may still come up
  EXPECT_EQ(judge_wait(one, Overall::degraded, services, nullptr).kind, WaitOutcome::Kind::open);
  services[0].state = State::failed;
  EXPECT_EQ(judge_wait(one, Overall::degraded, services, nullptr).kind, WaitOutcome::Kind::failed);
  one.service = "nope";
  r = judge_wait(one, Overall::starting, services, nullptr);
  EXPECT_EQ(r.kind, WaitOutcome::Kind::failed);
  EXPECT_EQ(r.message, "no service 'nope' (services: web, setup, migrate)");

  ControlRequest port;
  port.kind = ControlRequest::Kind::wait_port;
  port.port = 8080;
  std::set<std::uint16_t> ports{22, 3000};
  EXPECT_EQ(judge_wait(port, Overall::ready, services, &ports).kind, WaitOutcome::Kind::open);
  ports.insert(8080);
  EXPECT_EQ(judge_wait(port, Overall::ready, services, &ports).kind, WaitOutcome::Kind::met);
  EXPECT_EQ(judge_wait(port, Overall::ready, services, nullptr).kind, WaitOutcome::Kind::failed);
}
