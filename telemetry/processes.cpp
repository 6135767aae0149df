#include "telemetry/processes.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "text.h"

namespace wsinit::telemetry {
namespace {

// cutime and cstime are signed in the kernel's format; a negative one counts as none.
bool add_ticks(std::string_view text, std::uint64_t& sum) {
  long long ticks = 0;
  if (!whole_number(text, ticks)) return false;
  if (ticks > 0) sum += static_cast<std::uint64_t>(ticks);
  return true;
}

// Fields after ") ": state is field 3 of the line, so field N is at index N - 3.
bool parse_fields(std::string_view rest, Process& p) {
  std::string_view fields[22];
  for (auto& field : fields) {
    field = next_field(rest);
    if (field.empty()) return false;
  }
  if (!whole_number(fields[1], p.ppid) || p.ppid < 0) return false;
  for (int i = 11; i <= 14; ++i) {  // utime stime cutime cstime
    if (!add_ticks(fields[i], p.cpu_ticks)) return false;
  }
  long long rss = 0;
  if (!whole_number(fields[19], p.start_ticks) || !whole_number(fields[21], rss)) return false;
  p.rss_pages = rss > 0 ? static_cast<std::uint64_t>(rss) : 0;
  return true;
}

std::optional<Process> read_one(const std::string& proc, const char* name) {
  std::string path = proc + "/" + name + "/stat";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buffer[1024];  // a stat line is well under this: 52 numbers and 15 bytes of comm
  ssize_t n = read(fd, buffer, sizeof buffer);
  close(fd);
  if (n <= 0) return std::nullopt;
  return parse_stat(std::string_view(buffer, static_cast<std::size_t>(n)));
}

}  // namespace

std::optional<Process> parse_stat(std::string_view text) {
  std::size_t open_paren = text.find(" (");
  std::size_t close_paren = text.rfind(") ");
  if (open_paren == std::string_view::npos || close_paren == std::string_view::npos || close_paren < open_paren + 2)
    return std::nullopt;
  Process p;
  if (!whole_number(text.substr(0, open_paren), p.pid) || p.pid <= 0) return std::nullopt;
  p.comm = std::string(text.substr(open_paren + 2, close_paren - open_paren - 2));
  if (!parse_fields(text.substr(close_paren + 1), p)) return std::nullopt;
  return p;
}

std::vector<Process> read_processes(const std::string& proc) {
  std::vector<Process> out;
  DIR* dir = opendir(proc.c_str());
  if (!dir) return out;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    if (out.size() == kMaxProcesses) break;
    if (auto p = read_one(proc, entry->d_name)) out.push_back(std::move(*p));
  }
  closedir(dir);
  return out;
}

std::unordered_map<pid_t, std::size_t> owners(const std::vector<Process>& processes, const std::vector<Root>& roots) {
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::unordered_map<pid_t, pid_t> parent;
  parent.reserve(processes.size());
  for (const auto& p : processes) parent[p.pid] = p.ppid;
  // Each pid's owner once known (kNone: under no root), so every process is walked over once
  // however deep the tree: a chain of N processes costs N steps, not N*N/2.
  std::unordered_map<pid_t, std::size_t> known;
  known.reserve(processes.size() + roots.size());
  for (std::size_t i = 0; i < roots.size(); ++i) {
    if (roots[i].pid > 0) known[roots[i].pid] = i;
  }
  std::vector<pid_t> path;
  for (const auto& p : processes) {
    path.clear();
    std::size_t owner = kNone;
    // Up the tree to a pid already known, or the top. /proc is read over time and pids are
    // reused, so a cycle can appear: a pid met twice on one walk ends it.
    for (pid_t at = p.pid; at > 0;) {
      if (auto hit = known.find(at); hit != known.end()) {
        owner = hit->second;
        break;
      }
      known[at] = kNone;  // on the path now: met again, the walk ends
      path.push_back(at);
      auto up = parent.find(at);
      if (up == parent.end()) break;
      at = up->second;
    }
    for (pid_t on_path : path) known[on_path] = owner;
  }
  std::unordered_map<pid_t, std::size_t> out;
  for (const auto& p : processes) {
    if (auto hit = known.find(p.pid); hit != known.end() && hit->second != kNone) out[p.pid] = hit->second;
  }
  return out;
}

double ticks_to_seconds(std::uint64_t ticks) {
  static const long per_second = sysconf(_SC_CLK_TCK);
  return per_second > 0 ? static_cast<double>(ticks) / static_cast<double>(per_second) : 0.0;
}

std::uint64_t pages_to_bytes(std::uint64_t pages) {
  static const long page = sysconf(_SC_PAGESIZE);
  return pages * static_cast<std::uint64_t>(page > 0 ? page : 4096);
}

}  // namespace wsinit::telemetry
