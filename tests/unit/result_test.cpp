#include "common/result.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

namespace wsinit {
namespace {

Result<int> half(int n) {
  if (n % 2 != 0) return fail(std::to_string(n) + " is odd");
  return n / 2;
}

Result<std::string> greeting(bool ok) {
  if (!ok) return fail("no greeting", ENOENT);
  return "hello";  // converts to the value's type
}

Status check_positive(int n) {
  if (n <= 0) return Error{"not positive", EINVAL};
  return {};
}

TEST(Result, HoldsTheValue) {
  auto r = half(8);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(*r, 4);
  EXPECT_EQ(r.value(), 4);
}

TEST(Result, HoldsTheErrorWithItsMessageAndCode) {
  auto r = half(7);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().message, "7 is odd");
  EXPECT_EQ(r.error().code, 0);

  auto g = greeting(false);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().message, "no greeting");
  EXPECT_EQ(g.error().code, ENOENT);
}

TEST(Result, ConvertsFromWhatConvertsToTheValue) {
  auto g = greeting(true);
  ASSERT_TRUE(g);
  EXPECT_EQ(*g, "hello");
  EXPECT_EQ(g->size(), 5u);
}

TEST(Result, MovesOutAValueThatCannotBeCopied) {
  auto make = [](bool ok) -> Result<std::unique_ptr<int>> {
    if (!ok) return fail("none");
    return std::make_unique<int>(3);
  };
  std::unique_ptr<int> p = *make(true);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, 3);
  EXPECT_FALSE(make(false));
}

TEST(Result, ValueOrTheFallback) {
  EXPECT_EQ(half(8).value_or(-1), 4);
  EXPECT_EQ(half(7).value_or(-1), -1);
  EXPECT_EQ(greeting(false).value_or(""), "");
}

TEST(Result, ValueCanBeChangedInPlace) {
  Result<std::vector<int>> r = std::vector<int>{1, 2};
  r->push_back(3);
  (*r)[0] = 0;
  EXPECT_EQ(*r, (std::vector<int>{0, 2, 3}));
}

TEST(Status, SucceedsOrCarriesTheError) {
  EXPECT_TRUE(check_positive(1).ok());
  Status s = check_positive(0);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "not positive");
  EXPECT_EQ(s.error().code, EINVAL);
  EXPECT_TRUE(Status{}.ok());
}

TEST(Status, FailConvertsToEveryResult) {
  Status s = fail("a", 1);
  Result<double> d = fail("b");
  EXPECT_EQ(s.error().code, 1);
  EXPECT_EQ(d.error().message, "b");
}

TEST(Result, ASuccessHasAnEmptyError) {
  EXPECT_EQ(half(2).error().message, "");
  EXPECT_EQ(half(2).error().code, 0);
  EXPECT_EQ(Status{}.error().message, "");
}

TEST(ResultDeathTest, AskingAFailedResultForItsValueAborts) {
  EXPECT_DEATH((void)*half(3), "");
  EXPECT_DEATH((void)half(3).value(), "");
}

}  // namespace
}  // namespace wsinit
