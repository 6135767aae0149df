// The login environment's pure core: the dump, its reader, the filters and the merge.
#include <gtest/gtest.h>

#include "workspace/login_env.h"

namespace wsinit::workspace {
namespace {

std::string dump_of(std::vector<std::string> entries) {
  std::vector<char*> envp;
  for (auto& e : entries) envp.push_back(e.data());
  envp.push_back(nullptr);
  return login_env_dump(envp.data());
}

TEST(LoginEnv, DumpReadsBack) {
  std::string why;
  auto vars = parse_login_env_dump(dump_of({"PATH=/opt/bin:/bin", "EMPTY=", "EQ=a=b", "NOEQUALS"}), &why);
  ASSERT_TRUE(vars) << why;
  LoginVariables want{{"PATH", "/opt/bin:/bin"}, {"EMPTY", ""}, {"EQ", "a=b"}};
  EXPECT_EQ(*vars, want);
}

TEST(LoginEnv, WhatTheProfilePrintsBeforeTheDumpIsIgnored) {
  std::string noise = "Welcome!\n" + std::string(kLoginEnvStart) + "FAKE=1" + std::string(1, '\0') + "\n";
  std::string why;
  auto vars = parse_login_env_dump(noise + dump_of({"REAL=1"}), &why);
  ASSERT_TRUE(vars) << why;
  EXPECT_EQ(*vars, (LoginVariables{{"REAL", "1"}}));
}

TEST(LoginEnv, NoDumpOrACutOneFails) {
  std::string why;
  EXPECT_FALSE(parse_login_env_dump("bash: wsinit: not found\n", &why));
  EXPECT_NE(why.find("no environment"), std::string::npos);
  std::string whole = dump_of({"A=1", "B=2"});
  EXPECT_FALSE(parse_login_env_dump(whole.substr(0, whole.size() - 3), &why));
  EXPECT_NE(why.find("cut short"), std::string::npos);
  // An end marker without the NUL of the last entry before it.
  std::string unended = std::string(kLoginEnvStart) + "A=1" + std::string(kLoginEnvEnd);
  EXPECT_FALSE(parse_login_env_dump(unended, &why));
}

TEST(LoginEnv, TooManyVariablesFails) {
  std::vector<std::string> many;
  for (size_t i = 0; i <= kMaxLoginEnvVariables; ++i) many.push_back("V" + std::to_string(i) + "=x");
  std::string why;
  EXPECT_FALSE(parse_login_env_dump(dump_of(many), &why));
  EXPECT_NE(why.find("more than"), std::string::npos);
  many.pop_back();
  EXPECT_TRUE(parse_login_env_dump(dump_of(many), &why));
}

TEST(LoginEnv, TakenNames) {
  for (const char* name : {"HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "SHLVL", "_", "WSINIT_LOG_LEVEL",
                           "", "1ABC", "A-B", "A B", "BASH_FUNC_x%%"})
    EXPECT_TRUE(login_env_name_taken(name)) << name;
  for (const char* name : {"PATH", "NVM_DIR", "_private", "a1", "WSINIT", "LD_LIBRARY_PATH"})
    EXPECT_FALSE(login_env_name_taken(name)) << name;
}

TEST(LoginEnv, PerSessionAndWsinitOwnNamesAreTaken) {
  for (const char* name : {"XDG_RUNTIME_DIR", "LD_PRELOAD", "NSS_WRAPPER_PASSWD", "NSS_WRAPPER_GROUP", "SSH_AUTH_SOCK",
                           "SSH_AGENT_PID", "GPG_TTY", "TERM", "DISPLAY", "SHELLOPTS", "BASHOPTS", "WINDOWID", "TMUX",
                           "TMUX_PANE", "STY", "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY", "XDG_SESSION_ID"})
    EXPECT_TRUE(login_env_name_taken(name)) << name;
  auto m = merge_login_env({"LD_PRELOAD=/ours.so"}, {{"LD_PRELOAD", "/theirs.so"}, {"SSH_AUTH_SOCK", "/tmp/agent"}});
  EXPECT_TRUE(m.overrides.empty());
}

TEST(LoginEnv, PathDropsEmptyEntries) {
  EXPECT_EQ(merge_paths("/a::/b:", "/a:/b"), "/a:/b");
  EXPECT_EQ(merge_paths(":/a", "/a::/c"), "/a:/c");
}

TEST(LoginEnv, MergeKeepsAddedAndChangedOnly) {
  std::vector<std::string> base{"PATH=/usr/bin:/bin", "HOME=/home/u", "KEEP=same", "GONE=x", "LANG=C"};
  LoginVariables dump{{"PATH", "/home/u/.local/bin:/usr/bin:/bin"}, {"HOME", "/elsewhere"}, {"KEEP", "same"},
                 {"NVM_DIR", "/home/u/.nvm"}, {"SHLVL", "1"}, {"_", "/usr/bin/wsinit"}, {"WSINIT_X", "1"},
                 {"LANG", "C.UTF-8"}, {"NVM_DIR", "/second"}, {"BASH_FUNC_f%%", "() { :; }"}};
  auto m = merge_login_env(base, dump);
  EXPECT_EQ(m.added, (std::vector<std::string>{"NVM_DIR"}));
  EXPECT_EQ(m.changed, (std::vector<std::string>{"PATH", "LANG"}));
  EXPECT_EQ(m.overrides,
            (std::vector<std::string>{"PATH=/home/u/.local/bin:/usr/bin:/bin", "NVM_DIR=/home/u/.nvm", "LANG=C.UTF-8"}));
  EXPECT_EQ(m.left_out, 0u);
  auto env = with_overrides(base, m.overrides);
  EXPECT_EQ(env, (std::vector<std::string>{"PATH=/home/u/.local/bin:/usr/bin:/bin", "HOME=/home/u", "KEEP=same",
                                           "GONE=x", "LANG=C.UTF-8", "NVM_DIR=/home/u/.nvm"}));
}

TEST(LoginEnv, PathKeepsTheImagesEntries) {
  // Debian's /etc/profile sets PATH anew: the image's /opt/custom/bin stays, where it was.
  EXPECT_EQ(merge_paths("/usr/local/bin:/usr/bin:/bin:/usr/games", "/opt/custom/bin:/usr/local/bin:/usr/bin:/bin"),
            "/opt/custom/bin:/usr/local/bin:/usr/bin:/bin:/usr/games");
  EXPECT_EQ(merge_paths("/home/u/.nvm/bin:/usr/bin:/bin", "/usr/bin:/opt/x:/bin"), "/home/u/.nvm/bin:/usr/bin:/opt/x:/bin");
  EXPECT_EQ(merge_paths("/a:/b", "/a:/b"), "/a:/b");
  auto m = merge_login_env({"PATH=/opt/custom/bin:/bin"}, {{"PATH", "/bin"}});
  EXPECT_TRUE(m.overrides.empty());  // the profile only dropped an entry: nothing changed
}

TEST(LoginEnv, MergeIsBounded) {
  LoginVariables dump;
  for (size_t i = 0; i < kMaxLoginEnvChanges + 10; ++i) dump.emplace_back("V" + std::to_string(i), "x");
  auto m = merge_login_env({}, dump);
  EXPECT_EQ(m.overrides.size(), kMaxLoginEnvChanges);
  EXPECT_EQ(m.added.size(), kMaxLoginEnvChanges);
  EXPECT_EQ(m.left_out, 10u);
}

TEST(LoginEnv, NothingNewMergesToNothing) {
  std::vector<std::string> base{"PATH=/bin", "A=1"};
  auto m = merge_login_env(base, {{"PATH", "/bin"}, {"A", "1"}, {"PWD", "/"}});
  EXPECT_TRUE(m.overrides.empty());
  EXPECT_TRUE(m.added.empty());
  EXPECT_TRUE(m.changed.empty());
}

TEST(LoginEnv, ProbeCommandAndShells) {
  EXPECT_EQ(login_env_argv("/bin/bash", "/usr/local/bin/wsinit"),
            (std::vector<std::string>{"/bin/bash", "-l", "-c", "exec \"$0\" __login-env-dump", "/usr/local/bin/wsinit"}));
  EXPECT_TRUE(login_shell_usable("/bin/bash"));
  EXPECT_TRUE(login_shell_usable("/bin/sh"));
  EXPECT_FALSE(login_shell_usable(""));
  EXPECT_FALSE(login_shell_usable("/sbin/nologin"));
  EXPECT_FALSE(login_shell_usable("/usr/sbin/nologin"));
  EXPECT_FALSE(login_shell_usable("/bin/false"));
  EXPECT_FALSE(login_shell_usable("/bin/"));
}

}  // namespace
}  // namespace wsinit::workspace
