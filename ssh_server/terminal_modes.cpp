// The terminal modes of a pty-req (RFC 4254 section 8), applied to the new terminal's termios.
#include <termios.h>
#include <unistd.h>  // _POSIX_VDISABLE

#include "internal.h"

namespace wsinit::ssh_server {
namespace {

enum class Field { cc, iflag, lflag, oflag, cflag };
struct Mode {
  uint8_t opcode;
  Field field;
  tcflag_t flag;  // for cc: the index into c_cc
};

// The opcodes Linux has a meaning for; others are skipped (their argument read), as OpenSSH does.
constexpr Mode kModes[] = {
    {1, Field::cc, VINTR},       {2, Field::cc, VQUIT},       {3, Field::cc, VERASE},     {4, Field::cc, VKILL},
    {5, Field::cc, VEOF},        {6, Field::cc, VEOL},        {7, Field::cc, VEOL2},      {8, Field::cc, VSTART},
    {9, Field::cc, VSTOP},       {10, Field::cc, VSUSP},      {12, Field::cc, VREPRINT},  {13, Field::cc, VWERASE},
    {14, Field::cc, VLNEXT},     {18, Field::cc, VDISCARD},   {30, Field::iflag, IGNPAR}, {31, Field::iflag, PARMRK},
    {32, Field::iflag, INPCK},   {33, Field::iflag, ISTRIP},  {34, Field::iflag, INLCR},  {35, Field::iflag, IGNCR},
    {36, Field::iflag, ICRNL},   {37, Field::iflag, IUCLC},   {38, Field::iflag, IXON},   {39, Field::iflag, IXANY},
    {40, Field::iflag, IXOFF},   {41, Field::iflag, IMAXBEL}, {42, Field::iflag, IUTF8},  {50, Field::lflag, ISIG},
    {51, Field::lflag, ICANON},  {52, Field::lflag, XCASE},   {53, Field::lflag, ECHO},   {54, Field::lflag, ECHOE},
    {55, Field::lflag, ECHOK},   {56, Field::lflag, ECHONL},  {57, Field::lflag, NOFLSH}, {58, Field::lflag, TOSTOP},
    {59, Field::lflag, IEXTEN},  {60, Field::lflag, ECHOCTL}, {61, Field::lflag, ECHOKE}, {62, Field::lflag, PENDIN},
    {70, Field::oflag, OPOST},   {71, Field::oflag, OLCUC},   {72, Field::oflag, ONLCR},  {73, Field::oflag, OCRNL},
    {74, Field::oflag, ONOCR},   {75, Field::oflag, ONLRET},  {90, Field::cflag, CS7},    {91, Field::cflag, CS8},
    {92, Field::cflag, PARENB},  {93, Field::cflag, PARODD}};

constexpr uint8_t kEnd = 0;
constexpr uint8_t kLastWithArgument = 159;  // 160..255 are undefined: parsing stops there (RFC 4254)

void apply(termios& t, const Mode& m, uint32_t value) {
  if (m.field == Field::cc) {
    t.c_cc[m.flag] = value >= 255 ? _POSIX_VDISABLE : static_cast<cc_t>(value);  // 255: disabled, as OpenSSH decodes it
    return;
  }
  tcflag_t* field = m.field == Field::iflag ? &t.c_iflag : m.field == Field::lflag ? &t.c_lflag
                  : m.field == Field::oflag ? &t.c_oflag : &t.c_cflag;
  if (m.field == Field::cflag && (m.flag == CS7 || m.flag == CS8)) {
    if (value) *field = (*field & ~static_cast<tcflag_t>(CSIZE)) | m.flag;  // a character size, not a bit
    return;
  }
  if (value) *field |= m.flag;
  else *field &= ~m.flag;
}

}  // namespace

Status apply_terminal_modes(termios& t, std::string_view encoded) {
  size_t i = 0;
  while (i < encoded.size()) {
    auto opcode = static_cast<uint8_t>(encoded[i++]);
    if (opcode == kEnd || opcode > kLastWithArgument) return {};
    if (encoded.size() - i < 4) return fail("terminal modes: opcode " + std::to_string(opcode) + " without its value");
    uint32_t value = 0;
    for (int k = 0; k < 4; ++k) value = (value << 8) | static_cast<uint8_t>(encoded[i++]);
    for (const Mode& m : kModes) {
      if (m.opcode == opcode) apply(t, m, value);
    }
  }
  return {};
}

}  // namespace wsinit::ssh_server
