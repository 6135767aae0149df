#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "common/log_text.h"
#include "init/init.h"

using wsinit::log_text::escape;
using wsinit::log_text::unescape;

TEST(LogText, ControlCharactersAreEscapedAndEverythingElseKept) {
  EXPECT_EQ(escape("variables: gl_token added"), "variables: gl_token added");
  EXPECT_EQ(escape("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(escape("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(escape(std::string("nul\0del\x7f", 8)), "nul\\x00del\\x7f");
  EXPECT_EQ(escape("C:\\dir"), "C:\\\\dir");
  EXPECT_EQ(escape("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x99\x82"), "gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x99\x82");
  EXPECT_EQ(escape("csi \xc2\x9b" "31m, line sep \xe2\x80\xa8."), "csi \\u009b31m, line sep \\u2028.");
  EXPECT_EQ(escape("bad \x9b \xc3 \xed\xa0\x80 \xc0\xaf \xf5\x80\x80\x80"),
            "bad \\x9b \\xc3 \\xed\\xa0\\x80 \\xc0\\xaf \\xf5\\x80\\x80\\x80");
}

TEST(LogText, UnescapeGivesTheMessageBack) {
  for (std::string message : {std::string("plain"), std::string("a\nwsinit error: forged\r\n"), std::string("\x1b]0;t\x07"),
                              std::string("\\n is not a newline"), std::string("\xc2\x85\xe2\x80\xa9\xff", 6),
                              std::string("\0\x01\x1f", 3)}) {
    std::string line = escape(message);
    EXPECT_EQ(line.find_first_of(std::string("\n\r\x1b\0", 4)), std::string::npos) << line;
    EXPECT_EQ(unescape(line), message) << line;
  }
  EXPECT_FALSE(unescape("trailing \\"));
  EXPECT_FALSE(unescape("\\q"));
  EXPECT_FALSE(unescape("\\x1"));
  EXPECT_FALSE(unescape("\\u12g4"));
}

// wsinit's own text lines go through the encoder: a name cannot forge a line or color a terminal.
TEST(LogText, TheTextFormatterEscapesMessages) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
  spdlog::logger logger("test", sink);
  logger.set_formatter(wsinit::init::text_log_formatter());
  logger.info("variables: {} added", "x\n2030-01-01T00:00:00.000Z wsinit error: forged \x1b[2J");
  std::string text = out.str();
  ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_NE(text.find(" wsinit info: variables: x\\n2030-01-01T00:00:00.000Z wsinit error: forged \\x1b[2J added\n"),
            std::string::npos)
      << text;
}
