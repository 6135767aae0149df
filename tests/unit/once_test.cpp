// The markers of `once: true` steps (supervisor/once.h): the key, the text, reading and writing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "supervisor/once.h"
#include "tests/unit/test_util.h"

using namespace wsinit;
using namespace wsinit::supervisor;

TEST(OnceKey, IsStableHexSha256) {
  std::string key = once_key({"/bin/sh", "-c", "make deps"}, "/projects/app", {{"A", "1"}});
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(key, once_key({"/bin/sh", "-c", "make deps"}, "/projects/app", {{"A", "1"}}));
  // A known value: the encoding is part of the contract (a changed encoding reruns every step).
  EXPECT_EQ(once_encoding({"a"}, "", {}), "wsinit-once-1\n7:command1\n1:a3:cwd0:3:env0\n");
}

TEST(OnceKey, ChangesWithCommandCwdAndEnv) {
  const std::vector<std::string> cmd = {"/bin/sh", "-c", "make deps"};
  std::string key = once_key(cmd, "/p", {{"A", "1"}});
  EXPECT_NE(key, once_key({"/bin/sh", "-c", "make dep"}, "/p", {{"A", "1"}}));
  EXPECT_NE(key, once_key(cmd, "/q", {{"A", "1"}}));
  EXPECT_NE(key, once_key(cmd, "/p", {{"A", "2"}}));
  EXPECT_NE(key, once_key(cmd, "/p", {{"A", "1"}, {"B", ""}}));
  EXPECT_NE(key, once_key(cmd, "/p", {}));
}

TEST(OnceKey, IsUnambiguous) {
  // Fields that join to the same bytes are different definitions.
  EXPECT_NE(once_key({"ab", "c"}, "", {}), once_key({"a", "bc"}, "", {}));
  EXPECT_NE(once_key({"a"}, "b", {}), once_key({"ab"}, "", {}));
  EXPECT_NE(once_key({"x"}, "", {{"A", "B=C"}}), once_key({"x"}, "", {{"A=B", "C"}}));
  EXPECT_NE(once_key({"x", "3:cwd0:"}, "", {}), once_key({"x"}, "", {}));
}

TEST(OnceMarker, TextRoundTrips) {
  std::string text = once_marker_text("2026-11-29T01:02:03.456Z", "setup");
  EXPECT_EQ(text, "ran_at 2026-11-29T01:02:03.456Z\nname setup\n");
  EXPECT_EQ(once_marker_ran_at(text), "2026-11-29T01:02:03.456Z");
  for (const char* bad : {"", "ran_at \n", "ran_at 2026-11-29T01:02:03Z", "ran_at <script>\n", "hello\n",
                          "ran_at 2026-11-29T01:02:03.456Z 2026-11-29T01:02:03.456Z\n"})
    EXPECT_EQ(once_marker_ran_at(bad), "") << bad;
}

TEST(OnceMarker, WriteThenRead) {
  wsinit::testing::TempDir dir;
  std::string once = dir.path + "/data/once";  // made, parents too
  EXPECT_EQ(read_once_marker(once, "k").kind, OnceLookup::Kind::absent);
  ASSERT_TRUE(write_once_marker(once, "k", "setup", "2026-11-29T01:02:03.456Z"));
  OnceLookup found = read_once_marker(once, "k");
  EXPECT_EQ(found.kind, OnceLookup::Kind::ran);
  EXPECT_EQ(found.ran_at, "2026-11-29T01:02:03.456Z");
  EXPECT_EQ(wsinit::testing::slurp(once + "/k"), "ran_at 2026-11-29T01:02:03.456Z\nname setup\n");
  struct stat st;
  ASSERT_EQ(stat(once.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(OnceMarker, WhatIsNoMarkerIsUnreadable) {
  wsinit::testing::TempDir dir;
  wsinit::testing::spit(dir.path + "/garbage", "not a marker\n");
  EXPECT_EQ(read_once_marker(dir.path, "garbage").kind, OnceLookup::Kind::unreadable);
  // Larger than the bound: refused, not read to its end.
  wsinit::testing::spit(dir.path + "/big", "ran_at 2026-11-29T01:02:03.456Z\n" + std::string(kMaxOnceMarker, 'x'));
  OnceLookup big = read_once_marker(dir.path, "big");
  EXPECT_EQ(big.kind, OnceLookup::Kind::unreadable);
  EXPECT_NE(big.problem.find("big"), std::string::npos) << big.problem;
  ASSERT_EQ(mkdir((dir.path + "/dir").c_str(), 0700), 0);
  EXPECT_EQ(read_once_marker(dir.path, "dir").kind, OnceLookup::Kind::unreadable);
  EXPECT_FALSE(write_once_marker(dir.path + "/garbage/once", "k", "setup", "2026-11-29T01:02:03.456Z"));
  EXPECT_FALSE(write_once_marker(dir.path, "", "setup", "2026-11-29T01:02:03.456Z"));
}

TEST(OnceDir, DataWhenUsableElseHome) {
  wsinit::testing::TempDir dir;
  EXPECT_EQ(once_dir(dir.path + "/data", "/home/u"), dir.path + "/data/once");  // made in its existing parent
  EXPECT_EQ(once_dir(dir.path + "/no/such/data", "/home/u"), "/home/u/.wsinit/once");
  EXPECT_EQ(once_dir(dir.path + "/no/such/data", ""), "");  // never a shared /tmp
}
