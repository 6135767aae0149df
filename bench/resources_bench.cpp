// resources-bench [PROCESSES] [SAMPLES]: the CPU time of one resource sample as wsinit takes it
// every 5 s (telemetry::Monitor::sample: the memory cgroup's files, every /proc/PID/stat, the
// services' process trees summed). PROCESSES processes (default 200) run in 10 trees, each a
// service's root and its children; run it as PID 1 of a PID namespace so /proc shows those alone.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "telemetry/resources.h"

using namespace wsinit::telemetry;

namespace {

double cpu_us() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

// A service's root with `children` processes under it, all waiting to be killed.
pid_t tree(int children) {
  pid_t root = fork();
  if (root != 0) return root;
  setpgid(0, 0);
  for (int i = 0; i < children; ++i) {
    if (fork() == 0) {
      for (;;) pause();
    }
  }
  for (;;) pause();
}

}  // namespace

int main(int argc, char** argv) {
  int processes = argc > 1 ? atoi(argv[1]) : 200;
  int samples = argc > 2 ? atoi(argv[2]) : 1000;
  constexpr int kServices = 10;
  std::vector<Root> roots;
  for (int i = 0; i < kServices; ++i) roots.push_back({"service-" + std::to_string(i), tree(processes / kServices - 1)});
  usleep(300'000);  // every child forked

  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<Root> none;
  bool with_trees = true;
  Monitor monitor(&loop, {[&] { return with_trees ? roots : none; }, nullptr}, find_cgroup());
  monitor.sample();
  std::size_t seen = 0;
  for (const auto& [name, usage] : monitor.resources().services) seen += usage.pid > 0;

  auto run = [&](bool trees) {
    with_trees = trees;
    double cpu0 = cpu_us();
    auto wall0 = std::chrono::steady_clock::now();
    for (int i = 0; i < samples; ++i) monitor.sample();
    double wall = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - wall0).count();
    return std::pair{(cpu_us() - cpu0) / samples, wall / samples};
  };
  auto [cpu, wall] = run(true);
  auto [cgroup_cpu, cgroup_wall] = run(false);
  printf("processes %zu services %zu cgroup %s\n", read_processes().size(), seen,
         monitor.resources().cgroup.value_or("none").c_str());
  printf("sample: cpu %.1f us, wall %.1f us\n", cpu, wall);
  printf("cgroup files only (no service running): cpu %.1f us, wall %.1f us\n", cgroup_cpu, cgroup_wall);

  for (const Root& r : roots) kill(-r.pid, SIGKILL);
  while (wait(nullptr) > 0) {
  }
  return 0;
}
