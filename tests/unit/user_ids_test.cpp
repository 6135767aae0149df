#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "tests/unit/test_util.h"
#include "user_ids/user_ids.h"

using namespace wsinit::user_ids;
using wsinit::testing::slurp;
using wsinit::testing::spit;
using wsinit::testing::TempDir;

namespace {

const char* kPasswd =
    "root:x:0:0:root:/root:/bin/bash\n"
    "# a comment\n"
    "\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "broken line without fields\n"
    "short:x:5\n"
    "badid:x:abc:0::/:/bin/sh\n"
    "gitlab-workspaces:x:5001:0::/home/gitlab-workspaces:/bin/bash\n";

const char* kGroup = "root:x:0:\nadm:x:4:syslog,someone\n";

struct Files {
  TempDir dir;
  Options options;
  Files(const std::string& passwd = kPasswd, const std::string& group = kGroup) {
    spit(dir.path + "/passwd", passwd);
    spit(dir.path + "/group", group);
    options.passwd_file = dir.path + "/passwd";
    options.group_file = dir.path + "/group";
    options.runtime_dir = dir.path + "/run";
    options.data_dir = dir.path + "/data";
    options.home = dir.path + "/home/gitlab-workspaces";
    options.shell = "/bin/sh";
    options.nss_wrapper_paths = {};  // tests opt in
  }
  Identity run(uid_t uid, gid_t gid = 0, std::vector<gid_t> groups = {}) {
    return establish(options, uid, gid, groups, {"HOME=/"}, false);
  }
  size_t lines_for(uid_t uid) {
    auto e = parse_passwd(slurp(options.passwd_file));
    return static_cast<size_t>(std::count_if(e.begin(), e.end(), [&](auto& x) { return x.uid == uid; }));
  }
};

}  // namespace

TEST(Parse, SkipsCommentsBlankAndMalformedLines) {
  auto entries = parse_passwd(kPasswd);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[1].name, "daemon");
  EXPECT_EQ(entries[1].shell, "/usr/sbin/nologin");
  EXPECT_EQ(entries[2].uid, 5001u);
  EXPECT_EQ(entries[2].gecos, "");
  auto groups = parse_group(kGroup);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[1].members, "syslog,someone");
  std::string huge(100000, 'a');
  EXPECT_TRUE(parse_passwd(huge + "\n" + huge).empty());
  EXPECT_EQ(parse_passwd("x:x:4294967295:0::/:/bin/sh\n").size(), 0u);  // (uid_t)-1 is no uid
  EXPECT_EQ(parse_passwd("last:x:7:7::/:/bin/sh").size(), 1u);         // no final newline
}

TEST(Establish, ExistingEntryIsUsedAsIs) {
  Files f;
  std::string before = slurp(f.options.passwd_file);
  Identity id = f.run(0);
  EXPECT_EQ(id.source, Source::existing);
  EXPECT_EQ(id.name, "root");
  EXPECT_EQ(slurp(f.options.passwd_file), before);
}

TEST(Establish, AppendsOnceHoweverOftenItRuns) {
  Files f;
  Identity id = f.run(1000770000, 0, {0, 4242});
  EXPECT_EQ(id.source, Source::appended);
  EXPECT_EQ(id.name, "gitlab-workspaces-1000770000");  // the plain name belongs to uid 5001
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(f.run(1000770000, 0, {0, 4242}).source, Source::existing);
  EXPECT_EQ(f.lines_for(1000770000), 1u);
  std::string passwd = slurp(f.options.passwd_file);
  EXPECT_NE(passwd.find("\ngitlab-workspaces-1000770000::1000770000:0:workspace user:" + f.options.home + ":/bin/sh\n"),
            std::string::npos)
      << passwd;
  std::string group = slurp(f.options.group_file);
  EXPECT_EQ(group, std::string(kGroup) + "gid4242:x:4242:\n");
  EXPECT_TRUE(std::find(id.env.begin(), id.env.end(), "USER=gitlab-workspaces-1000770000") != id.env.end());
  EXPECT_TRUE(std::find(id.env.begin(), id.env.end(), "HOME=" + f.options.home) != id.env.end());
  struct stat st;
  ASSERT_EQ(stat(f.options.home.c_str(), &st), 0);  // HOME was created
}

TEST(Establish, PasswordFieldFollowsPasswordLess) {
  Files f;
  f.options.empty_password = false;
  f.options.name = "dev";
  f.run(4000);
  EXPECT_NE(slurp(f.options.passwd_file).find("\ndev:x:4000:0:"), std::string::npos);
}

TEST(Establish, FinishesAnUnterminatedLastLine) {
  Files f("root:x:0:0:root:/root:/bin/bash", "root:x:0:");
  f.options.name = "dev";
  f.run(4000, 77);
  EXPECT_EQ(slurp(f.options.passwd_file), "root:x:0:0:root:/root:/bin/bash\ndev::4000:77:workspace user:" + f.options.home + ":/bin/sh\n");
  EXPECT_EQ(slurp(f.options.group_file), "root:x:0:\ndev:x:77:\n");
}

TEST(Establish, TwoProcessesRacingWriteOneLine) {
  for (int round = 0; round < 20; ++round) {
    Files f;
    pid_t children[2];
    for (pid_t& child : children) {
      child = fork();
      if (child == 0) _exit(f.run(1000770000).source == Source::none ? 1 : 0);
    }
    for (pid_t child : children) {
      int status;
      waitpid(child, &status, 0);
      EXPECT_EQ(WEXITSTATUS(status), 0);
    }
    ASSERT_EQ(f.lines_for(1000770000), 1u) << slurp(f.options.passwd_file);
  }
}

TEST(Encode, LinesParseBackToTheSameEntry) {
  PasswdEntry e{"dev", "", 1000770000, 0, "workspace user", "/home/a b", "/bin/bash"};
  auto line = passwd_line(e);
  ASSERT_TRUE(line) << line.error().message;
  EXPECT_EQ(*line, "dev::1000770000:0:workspace user:/home/a b:/bin/bash\n");
  auto back = parse_passwd(*line);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].name, e.name);
  EXPECT_EQ(back[0].home, e.home);
  EXPECT_EQ(back[0].uid, e.uid);
  auto group = group_line({"gid77", "x", 77, ""});
  ASSERT_TRUE(group) << group.error().message;
  EXPECT_EQ(*group, "gid77:x:77:\n");
  EXPECT_EQ(parse_group(*group).size(), 1u);
}

TEST(Encode, WhatTheFormatCannotHoldIsRefused) {
  struct Case {
    std::string field, value, message;
  };
  std::vector<Case> cases = {
      {"name", "evil:0:0", "name 'evil:0:0' holds ':', a newline or NUL"},
      {"name", "evil\nroot::0:0::/:/bin/sh", "holds ':', a newline or NUL"},
      {"name", std::string("ev\0il", 5), "holds ':', a newline or NUL"},
      {"name", "", "the name is empty"},
      {"name", "#comment", "starts with '#'"},
      {"name", "+nis", "starts with '+'"},
      {"name", " dev", "starts with ' '"},
      {"home", "/home/x:/bin/sh", "home '/home/x:/bin/sh' holds"},
      {"home", "/x/e\nroot2::0:0::/x/home", "home '/x/e"},
      {"shell", std::string("/bin/sh\0", 8), "shell '/bin/sh"},
      {"gecos", "a:b", "gecos 'a:b' holds"},
      {"password", "x\n", "password 'x"},
  };
  for (const auto& c : cases) {
    PasswdEntry e{"dev", "", 5000, 0, "", "/home/dev", "/bin/sh"};
    if (c.field == "name") e.name = c.value;
    if (c.field == "home") e.home = c.value;
    if (c.field == "shell") e.shell = c.value;
    if (c.field == "gecos") e.gecos = c.value;
    if (c.field == "password") e.password = c.value;
    auto refused = passwd_line(e);
    EXPECT_FALSE(refused) << c.value;
    const std::string& error = refused.error().message;
    EXPECT_EQ(error.rfind("a passwd line cannot be written: ", 0), 0u) << error;
    EXPECT_NE(error.find(c.message), std::string::npos) << error;
  }
  EXPECT_FALSE(passwd_line({"dev", "", static_cast<uid_t>(-1), 0, "", "/", "/bin/sh"}));
  EXPECT_FALSE(group_line({"a:b", "x", 5, ""}));
  EXPECT_FALSE(group_line({"g", "x", 5, "a\nroot:x:0:evil"}));
}

// Every value reaches the file through the encoder, whatever checked it before: a value that
// would break the line leaves passwd and group byte-identical.
TEST(Establish, ValuesTheEncoderRefusesWriteNothing) {
  std::vector<std::pair<std::string, std::string>> cases = {
      {"name", "evil:0:0"},     {"name", "evil\nroot::0:0::/:/bin/sh"}, {"home", "/home/x:/bin/sh"},
      {"home", "/home/x\nroot::0:0::/:"}, {"gecos", "line\nbreak"},
  };
  for (const auto& [field, value] : cases) {
    Files f;
    if (field == "name") f.options.name = value;
    if (field == "home") f.options.home = value;
    if (field == "gecos") f.options.gecos = value;
    std::string passwd = slurp(f.options.passwd_file), group = slurp(f.options.group_file);
    Identity id = f.run(1000770000);
    EXPECT_EQ(id.source, Source::none) << value;
    ASSERT_FALSE(id.warnings.empty());
    EXPECT_NE(id.warnings[0].find("a passwd line cannot be written"), std::string::npos) << id.warnings[0];
    EXPECT_EQ(slurp(f.options.passwd_file), passwd);
    EXPECT_EQ(slurp(f.options.group_file), group);
  }
}

// The <paths.data>/home fallback goes through the same encoder as user.home: a data directory
// holding a newline (its parent existing, user.home unusable) adds no line, not even once.
TEST(Establish, TheDataHomeFallbackCannotAddALine) {
  for (std::string data : {"/e\nroot2::0:0::/x", "/e:x"}) {
    Files f;
    f.options.home = "/proc/no-such-home";
    f.options.data_dir = f.dir.path + data;
    std::string parent = f.options.data_dir.substr(0, f.options.data_dir.rfind('/'));
    ASSERT_TRUE(mkdir(parent.c_str(), 0755) == 0 || errno == EEXIST);  // as the hostile user made it
    std::string passwd = slurp(f.options.passwd_file), group = slurp(f.options.group_file);
    for (int start = 0; start < 2; ++start) {
      Identity id = f.run(1000770000);
      EXPECT_EQ(id.source, Source::none) << data;
      EXPECT_EQ(slurp(f.options.passwd_file), passwd) << data;
      EXPECT_EQ(slurp(f.options.group_file), group) << data;
    }
  }
}

TEST(Establish, FullFilesystemLeavesTheFileUnchanged) {
  if (geteuid() != 0) GTEST_FAIL() << "needs root to mount a tmpfs (tests run as root)";
  TempDir dir;
  std::string mnt = dir.path + "/tiny";
  mkdir(mnt.c_str(), 0755);
  ASSERT_EQ(mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=8k"), 0) << strerror(errno);
  std::string passwd = mnt + "/passwd";
  spit(passwd, kPasswd);
  spit(mnt + "/filler", std::string(4096, 'f'));  // the rest of the 8 KiB: no room for another block
  std::string before = slurp(passwd);
  Options o;
  o.passwd_file = passwd;
  o.group_file = mnt + "/group";
  o.home = dir.path + "/home";
  o.runtime_dir = dir.path + "/run";
  o.nss_wrapper_paths = {};
  // Fill the last block of passwd too, so the append has to allocate.
  std::string pad(4096 - before.size() % 4096, '#');
  pad.back() = '\n';
  spit(passwd, before + pad);
  before = slurp(passwd);
  Identity id = establish(o, 1000770000, 0, {}, {}, false);
  EXPECT_EQ(id.source, Source::none);
  ASSERT_FALSE(id.warnings.empty());
  EXPECT_NE(id.warnings[0].find("No space left on device"), std::string::npos) << id.warnings[0];
  EXPECT_EQ(slurp(passwd), before);
  umount(mnt.c_str());
}

TEST(Establish, ReadOnlyPasswdUsesNssWrapperCopies) {
  Files f;
  std::string lib = f.dir.path + "/libnss_wrapper.so";
  spit(lib, "");
  f.options.nss_wrapper_paths = {lib};
  chmod(f.options.passwd_file.c_str(), 0444);
  std::string before = slurp(f.options.passwd_file);
  Options o = f.options;
  o.passwd_file = f.options.passwd_file;
  // access(W_OK) is true for root whatever the mode: make it read-only by path instead.
  o.passwd_file = "/proc/self/status";  // not writable, holds no entries
  Identity id = establish(o, 1000770000, 0, {}, {}, false);
  EXPECT_EQ(id.source, Source::nss_wrapper);
  EXPECT_TRUE(std::find(id.env.begin(), id.env.end(), "LD_PRELOAD=" + lib) != id.env.end());
  std::string copy = slurp(f.options.runtime_dir + "/passwd");
  EXPECT_NE(copy.find("gitlab-workspaces::1000770000:0:"), std::string::npos) << copy;
  EXPECT_NE(slurp(f.options.runtime_dir + "/group").find("root:x:0:"), std::string::npos);
}

TEST(Establish, NoWayToAnEntryIsSaidClearly) {
  Files f;
  Options o = f.options;
  o.passwd_file = "/proc/self/status";
  Identity id = establish(o, 1000770000, 0, {}, {"HOME=/"}, false);
  EXPECT_EQ(id.source, Source::none);
  ASSERT_FALSE(id.warnings.empty());
  EXPECT_NE(id.warnings.back().find("SSH logins will fail"), std::string::npos);
  EXPECT_TRUE(std::find(id.env.begin(), id.env.end(), "USER=gitlab-workspaces") != id.env.end());
}

TEST(Establish, NologinShellIsReportedAndFixedThroughNssWrapper) {
  Files f("root:x:0:0:root:/root:/bin/bash\nws:x:1000770000:0::/proc/no-such-home:/sbin/nologin\n");
  Identity plain = f.run(1000770000);
  EXPECT_EQ(plain.source, Source::existing);
  ASSERT_FALSE(plain.warnings.empty());
  std::string all;
  for (auto& w : plain.warnings) all += w + "|";
  EXPECT_NE(all.find("shell '/sbin/nologin', which refuses logins"), std::string::npos) << all;
  EXPECT_NE(all.find("HOME /proc/no-such-home is not usable"), std::string::npos) << all;
  std::string lib = f.dir.path + "/libnss_wrapper.so";
  spit(lib, "");
  f.options.nss_wrapper_paths = {lib};
  Identity fixed = f.run(1000770000);
  EXPECT_EQ(fixed.source, Source::nss_wrapper);
  EXPECT_EQ(fixed.shell, "/bin/sh");
  EXPECT_NE(slurp(f.options.runtime_dir + "/passwd").find("ws:x:1000770000:0::" + f.options.data_dir + "/home:/bin/sh\n"),
            std::string::npos)
      << slurp(f.options.runtime_dir + "/passwd");
}

TEST(Establish, HomeFallbackDoesNotInventTheDataDirectorysParent) {
  Files f("root:x:0:0:root:/root:/bin/bash\nws:x:1000770000:0::/proc/no-such-home:/bin/sh\n");
  f.options.data_dir = f.dir.path + "/projects/.wsinit";  // no projects/ here, as on a machine without /projects
  Identity id = f.run(1000770000);
  EXPECT_EQ(id.home, "/tmp/home-1000770000");
  struct stat st;
  EXPECT_NE(stat((f.dir.path + "/projects").c_str(), &st), 0);
  ASSERT_EQ(mkdir((f.dir.path + "/projects").c_str(), 0755), 0);  // with the parent there, <data>/home is used
  id = f.run(1000770000);
  EXPECT_EQ(id.home, f.options.data_dir + "/home");
  rmdir("/tmp/home-1000770000");
}

TEST(Establish, EnvironmentHomeIsKeptWhenUsable) {
  Files f;
  Identity id = establish(f.options, 0, 0, {}, {"HOME=" + f.dir.path}, false);
  EXPECT_EQ(id.home, f.dir.path);
  Identity fallback = establish(f.options, 0, 0, {}, {"HOME=/"}, false);
  EXPECT_EQ(fallback.home, "/root");
}

TEST(Establish, DryRunChangesNothing) {
  Files f;
  std::string before = slurp(f.options.passwd_file);
  Identity id = establish(f.options, 1000770000, 0, {}, {}, true);
  EXPECT_EQ(id.source, Source::appended);
  EXPECT_EQ(slurp(f.options.passwd_file), before);
  struct stat st;
  EXPECT_NE(stat(f.options.home.c_str(), &st), 0);
}
