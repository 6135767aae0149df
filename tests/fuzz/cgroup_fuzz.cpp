// libFuzzer target: telemetry's readers of the kernel's cgroup files, fed any bytes. The input is
// /proc/self/cgroup, a NUL, then /proc/self/mountinfo: a cgroup found names a directory (v2's
// cpu.stat beside its memory files), and a line of /proc/self/cgroup that names no hierarchy
// changes nothing. The same bytes go to the file parsers
// (a limit is a number below 2^62; a keyed value is a line "key digits") and, eight bytes at a
// time, to the OOM ledger as counter readings and claims, whose books must balance.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <chrono>
#include <optional>

#include "telemetry/resources.h"

namespace {

using namespace wsinit::telemetry;

void check(bool ok) {
  if (!ok) abort();
}

void cgroup_found(std::string_view own, std::string_view mountinfo) {
  auto found = locate_cgroup(own, mountinfo);
  if (!found) return;
  check(!found->memory_dir.empty());
  if (found->version == CgroupVersion::v2) check(found->cpu_dir == found->memory_dir);
  // A line that names no hierarchy (no two colons) changes nothing wherever it stands.
  std::string with_noise = "noise without colons\n" + std::string(own);
  check(locate_cgroup(with_noise, mountinfo) == found);
}

void parsers(std::string_view text) {
  if (auto limit = parse_limit(text)) {
    check(*limit < (1ULL << 62));
    check(parse_bytes(text) == limit);
  }
  // The line it came from starts "oom_kill ", at the start of the text or of a line.
  if (parse_keyed_value(text, "oom_kill")) check(text.starts_with("oom_kill ") || text.find("\noom_kill ") != std::string_view::npos);
}

void ledger(const std::uint8_t* data, std::size_t size) {
  OomLedger ledger(std::chrono::milliseconds(2000));
  auto now = OomLedger::Clock::time_point{} + std::chrono::hours(1);
  std::uint64_t claimed = 0, expired = 0, total = 0;
  std::optional<std::uint64_t> last;
  for (std::size_t at = 0; at + 8 <= size; at += 8) {
    std::uint64_t word;
    std::memcpy(&word, data + at, 8);
    now += std::chrono::milliseconds(word >> 54);  // up to 1 s a step
    switch (word & 3) {
      case 0:
      case 1: {
        std::uint64_t counter = (word >> 2) & 0xffff;
        if (last && counter >= *last) total += counter - *last;
        last = counter;
        ledger.observe(counter, now);
        break;
      }
      case 2: claimed += ledger.claim() ? 1 : 0; break;
      case 3: expired += ledger.expire(now); break;
    }
    check(ledger.total() == total);
    check(ledger.unclaimed() + claimed + expired == total);
    check(ledger.next_expiry().has_value() == (ledger.unclaimed() > 0));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t nul = input.find('\0');
  std::string_view own = input.substr(0, nul);
  std::string_view mountinfo = nul == std::string_view::npos ? std::string_view{} : input.substr(nul + 1);
  cgroup_found(own, mountinfo);
  parsers(input);
  parsers(own);
  ledger(data, size);
  return 0;
}
