// The pty-req's terminal modes (RFC 4254 section 8) as the built-in SSH server applies them.
#include <gtest/gtest.h>
#include <termios.h>
#include <unistd.h>

#include <string>

#include "ssh_server/internal.h"

namespace wsinit::ssh_server {
namespace {

std::string op(uint8_t opcode, uint32_t value) {
  std::string s(1, static_cast<char>(opcode));
  for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((value >> shift) & 0xff);
  return s;
}

termios start() {
  termios t{};
  t.c_lflag = ECHO | ICANON;
  t.c_cflag = CS8;
  t.c_cc[VERASE] = 127;
  return t;
}

TEST(TerminalModes, NothingChangesNothing) {
  termios t = start();
  ASSERT_TRUE(apply_terminal_modes(t, ""));
  ASSERT_TRUE(apply_terminal_modes(t, std::string(1, '\0')));
  EXPECT_EQ(t.c_lflag, static_cast<tcflag_t>(ECHO | ICANON));
  EXPECT_EQ(t.c_cc[VERASE], 127);
}

TEST(TerminalModes, CharactersAndFlagsAsTheClientSends) {
  termios t = start();
  std::string modes = op(3, 8) + op(53, 0) + op(42, 1) + op(72, 1) + op(1, 3) + std::string(1, '\0');
  ASSERT_TRUE(apply_terminal_modes(t, modes));
  EXPECT_EQ(t.c_cc[VERASE], 8);  // ^H
  EXPECT_EQ(t.c_cc[VINTR], 3);
  EXPECT_FALSE(t.c_lflag & ECHO);
  EXPECT_TRUE(t.c_lflag & ICANON);
  EXPECT_TRUE(t.c_iflag & IUTF8);
  EXPECT_TRUE(t.c_oflag & ONLCR);
}

TEST(TerminalModes, CharacterSizeIsAFieldNotABit) {
  termios t = start();
  ASSERT_TRUE(apply_terminal_modes(t, op(90, 1)));
  EXPECT_EQ(t.c_cflag & CSIZE, static_cast<tcflag_t>(CS7));
  ASSERT_TRUE(apply_terminal_modes(t, op(91, 1)));
  EXPECT_EQ(t.c_cflag & CSIZE, static_cast<tcflag_t>(CS8));
}

TEST(TerminalModes, Value255DisablesACharacter) {
  termios t = start();
  ASSERT_TRUE(apply_terminal_modes(t, op(6, 255) + op(3, 0x1234)));
  EXPECT_EQ(t.c_cc[VEOL], _POSIX_VDISABLE);
  EXPECT_EQ(t.c_cc[VERASE], _POSIX_VDISABLE);
}

TEST(TerminalModes, UnknownOpcodesAreSkippedWithTheirValue) {
  termios t = start();
  // 11 (VDSUSP), 128/129 (speeds) mean nothing here; what follows them still applies.
  ASSERT_TRUE(apply_terminal_modes(t, op(11, 25) + op(128, 38400) + op(129, 38400) + op(3, 8)));
  EXPECT_EQ(t.c_cc[VERASE], 8);
}

TEST(TerminalModes, AnOpcodeFrom160EndsTheModes) {
  termios t = start();
  ASSERT_TRUE(apply_terminal_modes(t, op(3, 8) + std::string(1, static_cast<char>(160)) + op(53, 0)));
  EXPECT_EQ(t.c_cc[VERASE], 8);
  EXPECT_TRUE(t.c_lflag & ECHO);  // after the end: not read
}

TEST(TerminalModes, AValueCutShortIsRefusedKeepingWhatCameBefore) {
  termios t = start();
  auto r = apply_terminal_modes(t, op(3, 8) + op(53, 0).substr(0, 3));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("opcode 53"), std::string::npos) << r.error().message;
  EXPECT_EQ(t.c_cc[VERASE], 8);
  EXPECT_TRUE(t.c_lflag & ECHO);
}

}  // namespace
}  // namespace wsinit::ssh_server
