#include <gtest/gtest.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

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

// ---- user.persist

namespace {

PersistFacts facts(bool directory, Found link, Found target, std::string points_to = "") {
  PersistFacts f;
  f.directory = directory;
  f.target = "/data/home/p";
  f.link = {link, points_to};
  f.at_target = {target, ""};
  return f;
}

bool is_link_to(const std::string& link, const std::string& target) {
  char buffer[4096];
  ssize_t n = readlink(link.c_str(), buffer, sizeof buffer);
  return n > 0 && std::string(buffer, static_cast<size_t>(n)) == target;
}

struct Home {
  TempDir dir;
  PersistOptions options;
  std::vector<std::string> warnings;
  Home(std::vector<std::string> paths) {
    options.paths = std::move(paths);
    options.home = dir.path + "/home";
    options.data_dir = dir.path + "/data";
    mkdir(options.home.c_str(), 0755);
  }
  std::vector<Persisted> run(bool dry_run = false) { return persist_home(options, dry_run, warnings); }
  std::string link(const std::string& p) { return options.home + "/" + p; }
  std::string target(const std::string& p) { return options.data_dir + "/home/" + p; }
};

}  // namespace

TEST(PersistPlan, EveryCase) {
  auto ours = plan_persist(facts(false, Found::symlink, Found::file, "/data/home/p"));
  EXPECT_EQ(ours.state, PersistState::linked);
  EXPECT_FALSE(ours.link || ours.move || ours.keep_image || ours.make_target);
  auto ours_gone = plan_persist(facts(true, Found::symlink, Found::missing, "/data/home/p"));
  EXPECT_EQ(ours_gone.state, PersistState::created);
  EXPECT_TRUE(ours_gone.make_target);
  EXPECT_FALSE(ours_gone.link);
  auto fresh_dir = plan_persist(facts(true, Found::missing, Found::missing));
  EXPECT_EQ(fresh_dir.state, PersistState::created);
  EXPECT_TRUE(fresh_dir.make_target && fresh_dir.link && !fresh_dir.move);
  auto fresh_file = plan_persist(facts(false, Found::missing, Found::missing));
  EXPECT_EQ(fresh_file.state, PersistState::created);
  EXPECT_TRUE(fresh_file.make_target && fresh_file.link);
  auto move = plan_persist(facts(true, Found::directory, Found::missing));
  EXPECT_EQ(move.state, PersistState::moved);
  EXPECT_TRUE(move.move && move.link && !move.keep_image);
  auto restore = plan_persist(facts(false, Found::missing, Found::file));
  EXPECT_EQ(restore.state, PersistState::linked);
  EXPECT_TRUE(restore.link && !restore.move && !restore.make_target);
  auto shadowed = plan_persist(facts(false, Found::file, Found::file));
  EXPECT_EQ(shadowed.state, PersistState::image_kept);
  EXPECT_TRUE(shadowed.keep_image && shadowed.link && !shadowed.move);
  auto other_link = plan_persist(facts(true, Found::symlink, Found::missing, "/elsewhere"));
  EXPECT_EQ(other_link.state, PersistState::image_kept);
  EXPECT_TRUE(other_link.keep_image && other_link.make_target && other_link.link);
}

TEST(PersistPlan, Refusals) {
  EXPECT_EQ(plan_persist(facts(true, Found::file, Found::missing)).detail, "HOME's copy is a file, persisted as a directory");
  EXPECT_EQ(plan_persist(facts(false, Found::directory, Found::missing)).state, PersistState::refused);
  EXPECT_NE(plan_persist(facts(false, Found::other, Found::missing)).detail.find("socket"), std::string::npos);
  EXPECT_EQ(plan_persist(facts(false, Found::missing, Found::symlink)).detail,
            "the persistent copy /data/home/p is a symlink, persisted as a file");
  EXPECT_EQ(plan_persist(facts(true, Found::missing, Found::file)).state, PersistState::refused);
  auto parent = facts(false, Found::missing, Found::missing);
  parent.bad_parent = "/home/u/.ssh is a symlink, not a directory";
  EXPECT_EQ(plan_persist(parent).state, PersistState::refused);
  EXPECT_EQ(plan_persist(parent).detail, parent.bad_parent);
}

TEST(PersistApply, FirstStartMovesThenAWipedHomeIsLinkedAgain) {
  Home h({".bash_history", ".config/", ".ssh/known_hosts", ".local/share/"});
  spit(h.link(".bash_history"), "ls\n");
  mkdir(h.link(".config").c_str(), 0755);
  spit(h.link(".config/app.conf"), "a=1\n");
  auto first = h.run();
  ASSERT_EQ(first.size(), 4u);
  EXPECT_EQ(first[0].state, PersistState::moved) << first[0].detail;
  EXPECT_EQ(first[1].state, PersistState::moved) << first[1].detail;
  EXPECT_EQ(first[2].state, PersistState::created) << first[2].detail;
  EXPECT_EQ(first[3].state, PersistState::created) << first[3].detail;
  EXPECT_TRUE(is_link_to(h.link(".bash_history"), h.target(".bash_history")));
  EXPECT_TRUE(is_link_to(h.link(".ssh/known_hosts"), h.target(".ssh/known_hosts")));
  EXPECT_EQ(slurp(h.target(".config/app.conf")), "a=1\n");
  EXPECT_TRUE(h.warnings.empty()) << ::testing::PrintToString(h.warnings);
  spit(h.link(".ssh/known_hosts"), "host key\n");  // written through the dangling link
  EXPECT_EQ(slurp(h.target(".ssh/known_hosts")), "host key\n");
  auto again = h.run();
  for (const auto& p : again) EXPECT_EQ(p.state, PersistState::linked) << p.path << ": " << p.detail;
  std::system(("rm -rf '" + h.options.home + "' && mkdir '" + h.options.home + "'").c_str());  // a new, empty HOME
  auto second = h.run();
  for (const auto& p : second) EXPECT_EQ(p.state, PersistState::linked) << p.path << ": " << p.detail;
  EXPECT_EQ(slurp(h.link(".bash_history")), "ls\n");
  EXPECT_EQ(slurp(h.link(".config/app.conf")), "a=1\n");
  EXPECT_EQ(slurp(h.link(".ssh/known_hosts")), "host key\n");
}

TEST(PersistApply, AnImagesShadowedFileIsKeptAsImage) {
  Home h({".gitconfig", ".config/"});
  ASSERT_EQ(system(("mkdir -p '" + h.target(".config") + "'").c_str()), 0);
  spit(h.target(".gitconfig"), "mine\n");
  spit(h.link(".gitconfig"), "image\n");
  spit(h.link(".gitconfig.image"), "an earlier image\n");
  mkdir(h.link(".config").c_str(), 0755);
  auto done = h.run();
  EXPECT_EQ(done[0].state, PersistState::image_kept);
  EXPECT_NE(done[0].detail.find(h.link(".gitconfig.image.2")), std::string::npos) << done[0].detail;
  EXPECT_EQ(slurp(h.link(".gitconfig")), "mine\n");
  EXPECT_EQ(slurp(h.link(".gitconfig.image.2")), "image\n");
  EXPECT_EQ(slurp(h.link(".gitconfig.image")), "an earlier image\n");
  EXPECT_EQ(done[1].state, PersistState::image_kept);
  EXPECT_TRUE(is_link_to(h.link(".config"), h.target(".config")));
  ASSERT_EQ(h.warnings.size(), 2u);
  EXPECT_NE(h.warnings[0].find(".gitconfig.image.2"), std::string::npos);
}

TEST(PersistApply, RefusesWhatItMustNotTouchAndGoesOn) {
  Home h({".ssh/known_hosts", ".bash_history", ".zsh_history", ".config/"});
  TempDir outside;
  symlink(outside.path.c_str(), h.link(".ssh").c_str());  // a parent that is a symlink out of HOME
  mkdir(h.link(".bash_history").c_str(), 0755);             // a directory where a file is persisted
  spit(h.link(".config"), "a file where a directory is persisted");
  auto done = h.run();
  EXPECT_EQ(done[0].state, PersistState::refused);
  EXPECT_NE(done[0].detail.find("is a symlink"), std::string::npos) << done[0].detail;
  EXPECT_EQ(done[1].state, PersistState::refused);
  EXPECT_EQ(done[2].state, PersistState::created);
  EXPECT_EQ(done[3].state, PersistState::refused);
  struct stat st;
  EXPECT_NE(lstat((outside.path + "/known_hosts").c_str(), &st), 0);
  EXPECT_EQ(lstat(h.link(".bash_history").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(h.warnings.size(), 3u);
}

TEST(PersistApply, HomeUnderDataOrNoDataLinksNothing) {
  Home h({".bash_history"});
  h.options.home = h.options.data_dir + "/home";
  ASSERT_EQ(system(("mkdir -p '" + h.options.home + "'").c_str()), 0);
  auto under = h.run();
  ASSERT_EQ(under.size(), 1u);
  EXPECT_EQ(under[0].state, PersistState::skipped);
  EXPECT_NE(under[0].detail.find("lies under paths.data"), std::string::npos);
  EXPECT_TRUE(h.warnings.empty());
  struct stat st;
  EXPECT_NE(lstat((h.options.home + "/.bash_history").c_str(), &st), 0);
  Home nodata({".bash_history"});
  nodata.options.data_dir = nodata.dir.path + "/no-such-parent/.wsinit";
  EXPECT_EQ(nodata.run()[0].state, PersistState::skipped);
  EXPECT_EQ(nodata.warnings.size(), 1u);
}

TEST(PersistApply, DryRunTouchesNothing) {
  Home h({".bash_history", ".config/"});
  spit(h.link(".bash_history"), "ls\n");
  auto plan = h.run(true);
  EXPECT_EQ(plan[0].state, PersistState::moved);
  EXPECT_EQ(plan[1].state, PersistState::created);
  EXPECT_EQ(plan[0].detail.rfind("would be moved", 0), 0u) << plan[0].detail;
  struct stat st;
  EXPECT_NE(stat(h.options.data_dir.c_str(), &st), 0);
  EXPECT_EQ(slurp(h.link(".bash_history")), "ls\n");
}

TEST(PersistCopy, CopiesATreeKeepingSymlinksAndModes) {
  TempDir d;
  std::string from = d.path + "/from", to = d.path + "/to";
  ASSERT_EQ(system(("mkdir -p '" + from + "/sub/deeper'").c_str()), 0);
  spit(from + "/a", "alpha");
  spit(from + "/sub/deeper/b", std::string(200000, 'x'));
  chmod((from + "/a").c_str(), 0640);
  symlink("/etc/passwd", (from + "/sub/link").c_str());
  ASSERT_TRUE(copy_tree(from, to));
  EXPECT_EQ(slurp(to + "/a"), "alpha");
  EXPECT_EQ(slurp(to + "/sub/deeper/b"), std::string(200000, 'x'));
  struct stat st;
  ASSERT_EQ(lstat((to + "/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_TRUE(is_link_to(to + "/sub/link", "/etc/passwd"));
  EXPECT_FALSE(copy_tree(from, to));  // never over what exists
  EXPECT_EQ(slurp(to + "/a"), "alpha");
}

TEST(PersistCopy, AFailedCopyLeavesNothingBehind) {
  TempDir d;
  std::string from = d.path + "/from", to = d.path + "/to";
  mkdir(from.c_str(), 0755);
  spit(from + "/a", "alpha");
  ASSERT_EQ(mkfifo((from + "/z-fifo").c_str(), 0600), 0);
  auto copied = copy_tree(from, to);
  ASSERT_FALSE(copied);
  EXPECT_NE(copied.error().message.find("z-fifo"), std::string::npos) << copied.error().message;
  struct stat st;
  EXPECT_NE(lstat(to.c_str(), &st), 0);
  EXPECT_EQ(slurp(from + "/a"), "alpha");
}

namespace {

// `body` run in a child as uid/gid 65534 (as a non-root workspace user would run it), its
// failures said on stderr; true when every expectation held. Skipped (true) when not root.
bool as_nobody(const std::function<bool()>& body) {
  if (geteuid() != 0) return body();
  pid_t pid = fork();
  if (pid == 0) {
    bool ok = setgroups(0, nullptr) == 0 && setgid(65534) == 0 && setuid(65534) == 0 && body();
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool missing(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) != 0;
}

}  // namespace

TEST(PersistCopy, RefusesATreeOverTheBoundBeforeCopyingAnything) {
  TempDir d;
  std::string from = d.path + "/from", to = d.path + "/to";
  mkdir(from.c_str(), 0755);
  ASSERT_EQ(system(("truncate -s 65M '" + from + "/big'").c_str()), 0);  // sparse: nothing written
  auto copied = copy_tree(from, to);
  ASSERT_FALSE(copied);
  EXPECT_EQ(copied.error().message, from + " holds 65 MiB (more than the 64 MiB wsinit copies at start)");
  EXPECT_TRUE(missing(to));
  ASSERT_EQ(system(("rm '" + from + "/big' && mkdir '" + from + "/many'").c_str()), 0);
  for (size_t i = 0; i <= kMaxCopyEntries; ++i) spit(from + "/many/" + std::to_string(i), "");
  copied = copy_tree(from, to);
  ASSERT_FALSE(copied);
  EXPECT_EQ(copied.error().message, from + " holds more than 20000 entries (the most wsinit copies at start)");
  EXPECT_TRUE(missing(to));
}

TEST(PersistCopy, DropsSetuidAndSetgid) {
  TempDir d;
  std::string from = d.path + "/from", to = d.path + "/to";
  mkdir(from.c_str(), 0755);
  spit(from + "/tool", "#!/bin/sh\n");
  ASSERT_EQ(chmod((from + "/tool").c_str(), 06755), 0);
  ASSERT_TRUE(copy_tree(from, to));
  struct stat st;
  ASSERT_EQ(stat((to + "/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
}

TEST(PersistCopy, AFailedCopyOfReadOnlyDirectoriesLeavesNothingForANonRootUser) {
  TempDir d;
  ASSERT_EQ(chown(d.path.c_str(), 65534, 65534), 0);
  std::string from = d.path + "/from", to = d.path + "/to";
  EXPECT_TRUE(as_nobody([&] {
    mkdir(from.c_str(), 0755);
    mkdir((from + "/a-readonly").c_str(), 0755);
    spit(from + "/a-readonly/f", "f");
    chmod((from + "/a-readonly").c_str(), 0555);
    spit(from + "/z-unreadable", "z");  // copied after a-readonly, and fails
    chmod((from + "/z-unreadable").c_str(), 0);
    auto copied = copy_tree(from, to);
    if (copied) return false;
    if (!missing(to)) fprintf(stderr, "left behind: %s (%s)\n", to.c_str(), copied.error().message.c_str());
    chmod((from + "/a-readonly").c_str(), 0755);
    return missing(to);
  }));
}

TEST(PersistMove, ByCopySetsHomesCopyAsideForTheLink) {
  TempDir d;
  std::string link = d.path + "/home/.config", target = d.path + "/data/.config";
  ASSERT_EQ(system(("mkdir -p '" + link + "' '" + d.path + "/data'").c_str()), 0);
  spit(link + "/app.conf", "a=1\n");
  auto moved = move_by_copy(link, target);
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_EQ(*moved, link + ".wsinit-moving-" + std::to_string(getpid()));
  EXPECT_TRUE(missing(link));
  EXPECT_EQ(slurp(*moved + "/app.conf"), "a=1\n");
  EXPECT_EQ(slurp(target + "/app.conf"), "a=1\n");
}

TEST(PersistMove, ByCopyThatCannotSetHomesCopyAsideLeavesItWhole) {
  TempDir d;
  std::string home = d.path + "/home", link = home + "/.config", target = d.path + "/data/.config";
  ASSERT_EQ(system(("mkdir -p '" + link + "/sub' '" + d.path + "/data' && chown -R 65534:65534 '" + d.path + "'").c_str()), 0);
  spit(link + "/app.conf", "a=1\n");
  spit(link + "/sub/b", "b\n");
  ASSERT_EQ(chown((link + "/app.conf").c_str(), 65534, 65534), 0);
  ASSERT_EQ(chown((link + "/sub/b").c_str(), 65534, 65534), 0);
  ASSERT_EQ(chmod(home.c_str(), 0555), 0);  // HOME/.config can be emptied, but not renamed nor removed
  EXPECT_TRUE(as_nobody([&] {
    auto moved = move_by_copy(link, target);
    if (moved) return false;
    fprintf(stderr, "%s\n", moved.error().message.c_str());
    return moved.error().message.find("cannot set " + link + " aside") == 0 &&
           moved.error().message.find("HOME's copy left as it was") != std::string::npos && missing(target) &&
           slurp(link + "/app.conf") == "a=1\n" && slurp(link + "/sub/b") == "b\n";
  }));
  chmod(home.c_str(), 0755);
}

TEST(PersistApply, AcrossFileSystemsMovesBySetAsideAndCheckShowsATreeTooBig) {
  char tmpl[] = "/dev/shm/wsinit-unit-XXXXXX";
  if (!mkdtemp(tmpl)) GTEST_SKIP() << "no /dev/shm";
  struct Gone {
    std::string path;
    ~Gone() { std::system(("rm -rf '" + path + "'").c_str()); }
  } shm{tmpl};
  Home h({".config/", ".big/"});
  struct stat a, b;
  ASSERT_EQ(stat(shm.path.c_str(), &a), 0);
  ASSERT_EQ(stat(h.options.home.c_str(), &b), 0);
  if (a.st_dev == b.st_dev) GTEST_SKIP() << "/dev/shm and the temporary directory share a file system";
  h.options.data_dir = shm.path + "/data";
  ASSERT_EQ(system(("mkdir -p '" + h.link(".config/gh") + "' '" + h.link(".big") + "' && truncate -s 65M '" +
                    h.link(".big/blob") + "'").c_str()), 0);
  spit(h.link(".config/gh/hosts.yml"), "github.com\n");
  auto plan = h.run(true);
  EXPECT_EQ(plan[0].state, PersistState::moved) << plan[0].detail;
  EXPECT_EQ(plan[1].state, PersistState::refused);
  EXPECT_EQ(plan[1].detail, h.link(".big") + " holds 65 MiB (more than the 64 MiB wsinit copies at start); move it to " +
                                h.target(".big") + " yourself");
  auto done = h.run();
  EXPECT_EQ(done[0].state, PersistState::moved) << done[0].detail;
  EXPECT_TRUE(is_link_to(h.link(".config"), h.target(".config")));
  EXPECT_EQ(slurp(h.link(".config/gh/hosts.yml")), "github.com\n");
  EXPECT_TRUE(missing(h.link(".config") + ".wsinit-moving-" + std::to_string(getpid())));
  EXPECT_EQ(done[1].state, PersistState::refused);
  EXPECT_EQ(done[1].detail, plan[1].detail);
  EXPECT_TRUE(missing(h.target(".big")));
  EXPECT_EQ(system(("test -f '" + h.link(".big/blob") + "'").c_str()), 0);
}
