// libFuzzer target: the process table telemetry reads. Whatever bytes a /proc/PID/stat holds (a
// process names itself: comm may hold spaces, parentheses and any byte but NUL), parse_stat never
// reads past the text, and what it takes is what a canonical line with those fields gives back.
// The same bytes, read as a process table with reused pids and cycles, always assign owners in
// bounded time, each to a root that exists.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "telemetry/processes.h"

using wsinit::telemetry::Process;

namespace {

std::string canonical(const Process& p) {
  return std::to_string(p.pid) + " (" + p.comm + ") S " + std::to_string(p.ppid) + " 1 1 0 -1 0 0 0 0 0 " +
         std::to_string(p.cpu_ticks) + " 0 0 0 20 0 1 0 " + std::to_string(p.start_ticks) + " 0 " +
         std::to_string(p.rss_pages) + " 0 0 0";
}

void check_round_trip(std::string_view text) {
  auto p = wsinit::telemetry::parse_stat(text);
  if (!p) return;
  if (p->pid <= 0 || p->ppid < 0 || p->comm.size() > text.size()) abort();
  auto again = wsinit::telemetry::parse_stat(canonical(*p));
  if (!again || again->pid != p->pid || again->ppid != p->ppid || again->comm != p->comm ||
      again->cpu_ticks != p->cpu_ticks || again->rss_pages != p->rss_pages || again->start_ticks != p->start_ticks)
    abort();
}

void check_owners(const uint8_t* data, size_t size) {
  std::vector<Process> processes;
  std::vector<wsinit::telemetry::Root> roots;
  for (size_t i = 0; i + 1 < size && processes.size() < 256; i += 2) {
    Process p;
    p.pid = data[i] % 32 + 1;  // few pids: reuse and cycles happen
    p.ppid = data[i + 1] % 33;
    processes.push_back(p);
    if (data[i] & 0x80) roots.push_back({"s", p.pid});
  }
  auto owner = wsinit::telemetry::owners(processes, roots);
  for (const auto& [pid, root] : owner) {
    if (root >= roots.size()) abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check_round_trip(std::string_view(reinterpret_cast<const char*>(data), size));
  check_owners(data, size);
  return 0;
}
