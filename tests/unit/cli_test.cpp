#include <gtest/gtest.h>
#include <sys/wait.h>

#include "init/init.h"
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

TEST(CommandLine, UsageErrors) {
  EXPECT_EQ(parse_command_line({"--bogus"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"--config"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"stop"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"stop", "a", "b"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"status", "--yaml"}).kind, Command::Kind::usage_error);
  EXPECT_EQ(parse_command_line({"check", "extra"}).kind, Command::Kind::usage_error);
}

TEST(ExitStatus, CodesAndSignals) {
  for (int code : {0, 1, 42, 255}) EXPECT_EQ(wsinit::supervisor::exit_status_of(code << 8), code);
  EXPECT_EQ(wsinit::supervisor::exit_status_of(SIGKILL), 137);
  EXPECT_EQ(wsinit::supervisor::exit_status_of(SIGTERM), 143);
}
