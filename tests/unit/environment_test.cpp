#include <gtest/gtest.h>

#include "common/environment.h"

using namespace wsinit;

namespace {

TEST(Environment, FromEnvpSkipsEntriesWithoutAnEqualsSignAndKeepsTheFirstOfAName) {
  char a[] = "B=2", b[] = "junk", c[] = "A=1=one", d[] = "B=3", e[] = "EMPTY=";
  char* envp[] = {a, b, c, d, e, nullptr};
  EXPECT_EQ(environment_of(envp), (Environment{{"A", "1=one"}, {"B", "2"}, {"EMPTY", ""}}));
  EXPECT_TRUE(environment_of(nullptr).empty());
}

TEST(Environment, VariableOfTakesTheFirstEntryOfExactlyThatName) {
  std::vector<std::string> entries = {"PATHS=x", "PATH", "PATH=/a", "PATH=/b"};
  EXPECT_EQ(variable_of(entries, "PATH"), "/a");
  EXPECT_EQ(variable_of(entries, "PAT"), std::nullopt);
  EXPECT_EQ(variable_of({"EMPTY="}, "EMPTY"), "");
}

TEST(Environment, SearchPathIsPathEvenEmptyElseTheDefault) {
  EXPECT_EQ(search_path(Environment{}), "/usr/local/bin:/usr/bin:/bin");
  EXPECT_EQ(search_path(Environment{{"PATH", ""}}), "");
  EXPECT_EQ(search_path(Environment{{"PATH", "/x"}}), "/x");
  EXPECT_EQ(search_path(std::vector<std::string>{"HOME=/"}), kDefaultPath);
  EXPECT_EQ(search_path(std::vector<std::string>{"PATH=", "PATH=/y"}), "");
}

TEST(Environment, MergedKeepsTheInheritedOrderAndAppendsOverridesByName) {
  std::vector<std::string> inherited = {"Z=1", "PATH=/bin", "A=2"};
  EXPECT_EQ(merged(inherited, {}), inherited);
  EXPECT_EQ(merged(inherited, {{"PATH", "/opt"}, {"B", "3"}}),
            (std::vector<std::string>{"Z=1", "A=2", "B=3", "PATH=/opt"}));
  EXPECT_EQ(to_envp({{"b", "2"}, {"a", "1"}}), (std::vector<std::string>{"a=1", "b=2"}));
}

}  // namespace
