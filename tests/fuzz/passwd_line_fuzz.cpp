// libFuzzer target: the passwd and group line encoder. Whatever the fields, a line it makes is
// one line that the reader parses back to exactly one entry with the same fields; anything
// else must be refused, with a reason.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>
#include <string>

#include "user_ids/user_ids.h"

namespace {

bool one_line(const std::string& line) { return !line.empty() && line.find('\n') == line.size() - 1; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wsinit::user_ids;
  FuzzedDataProvider in(data, size);
  PasswdEntry p;
  p.uid = in.ConsumeIntegral<uid_t>();
  p.gid = in.ConsumeIntegral<gid_t>();
  for (std::string* field : {&p.name, &p.password, &p.gecos, &p.home, &p.shell}) *field = in.ConsumeRandomLengthString(40);
  GroupEntry g{in.ConsumeRandomLengthString(40), in.ConsumeRandomLengthString(8), in.ConsumeIntegral<gid_t>(),
               in.ConsumeRandomLengthString(40)};
  if (auto line = passwd_line(p)) {
    auto back = parse_passwd(*line);
    if (!one_line(*line) || back.size() != 1) abort();
    const PasswdEntry& b = back[0];
    if (b.name != p.name || b.password != p.password || b.uid != p.uid || b.gid != p.gid || b.gecos != p.gecos ||
        b.home != p.home || b.shell != p.shell)
      abort();
  } else if (line.error().message.empty()) {
    abort();
  }
  if (auto line = group_line(g)) {
    auto back = parse_group(*line);
    if (!one_line(*line) || back.size() != 1) abort();
    if (back[0].name != g.name || back[0].password != g.password || back[0].gid != g.gid || back[0].members != g.members)
      abort();
  } else if (line.error().message.empty()) {
    abort();
  }
  return 0;
}
