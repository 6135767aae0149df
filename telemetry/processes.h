// telemetry/processes.h: the processes wsinit can see in /proc, and which service each belongs to.
// Uses common/ only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace wsinit::telemetry {

// One line of /proc/PID/stat, the fields telemetry needs.
struct Process {
  pid_t pid = 0;
  pid_t ppid = 0;
  std::string comm;               // the kernel's short name: at most 15 bytes, any bytes but NUL
  std::uint64_t cpu_ticks = 0;    // utime + stime + cutime + cstime (children it has reaped), clock ticks
  std::uint64_t rss_pages = 0;    // resident set, pages
  std::uint64_t start_ticks = 0;  // since boot, clock ticks: tells a reused pid from the process before
};

// Parses one /proc/PID/stat ("pid (comm) state ppid ..."; comm may hold spaces and parentheses).
std::optional<Process> parse_stat(std::string_view text);

// Processes read at once at most: past this the rest are not looked at (a fork bomb cannot make
// one sample unbounded).
inline constexpr std::size_t kMaxProcesses = 32768;
// Every process in `proc` (a procfs mount), as far as it can be read (processes come and go).
std::vector<Process> read_processes(const std::string& proc = "/proc");

// A service's process: it and everything below it belong to the service.
struct Root {
  std::string service;
  pid_t pid = 0;
};
// For each process under one of `roots` (or a root itself), the index in `roots` of the nearest
// root above it. Processes under no root are left out.
std::unordered_map<pid_t, std::size_t> owners(const std::vector<Process>& processes, const std::vector<Root>& roots);

// Clock ticks (sysconf(_SC_CLK_TCK)) and page size, read once.
double ticks_to_seconds(std::uint64_t ticks);
std::uint64_t pages_to_bytes(std::uint64_t pages);

}  // namespace wsinit::telemetry
