#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>

#include "pid1.h"

namespace wsinit::init {
namespace {

// Appends the pids listed in /proc/PID/task/TID/children of every thread of `pid`; false when
// the kernel has no such files (CONFIG_PROC_CHILDREN off).
bool append_children(pid_t pid, std::vector<pid_t>& out) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  DIR* tasks = opendir(path);
  if (!tasks) return true;  // gone meanwhile: no children
  bool supported = true;
  while (dirent* task = readdir(tasks)) {
    if (task->d_name[0] < '0' || task->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%d/task/%.16s/children", pid, task->d_name);
    FILE* f = fopen(path, "re");
    if (!f) {
      supported = supported && errno != ENOENT;
      continue;
    }
    int child;
    while (fscanf(f, "%d", &child) == 1) out.push_back(child);
    fclose(f);
  }
  closedir(tasks);
  return supported;
}

// The parent pid from /proc/PID/stat, or -1 (the process may already be gone).
pid_t parent_of(const char* pid_dir) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%.16s/stat", pid_dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  // "pid (comm) state ppid ...": comm may hold spaces and ')' so search from the end.
  const char* close_paren = strrchr(buf, ')');
  if (!close_paren) return -1;
  int ppid;
  char state;
  if (sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2) return -1;
  return ppid;
}

// Fallback without children files: one pass over all of /proc.
std::vector<pid_t> descendants_by_scanning(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  DIR* proc = opendir("/proc");
  if (!proc) return {};
  while (dirent* entry = readdir(proc)) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    pid_t ppid = parent_of(entry->d_name);
    if (ppid > 0) children.emplace(ppid, static_cast<pid_t>(atoi(entry->d_name)));
  }
  closedir(proc);
  std::vector<pid_t> found;
  std::deque<pid_t> queue{root};
  while (!queue.empty()) {
    pid_t parent = queue.front();
    queue.pop_front();
    auto [begin, end] = children.equal_range(parent);
    for (auto it = begin; it != end; ++it) {
      found.push_back(it->second);
      queue.push_back(it->second);
    }
  }
  return found;
}

}  // namespace

// Walks the tree through the children files: work grows with our descendants, not with every
// process on the machine.
std::vector<pid_t> descendants_of(pid_t root) {
  std::vector<pid_t> found;
  if (!append_children(root, found)) return descendants_by_scanning(root);
  for (size_t i = 0; i < found.size(); ++i) {
    if (!append_children(found[i], found)) return descendants_by_scanning(root);
  }
  return found;
}

int signal_all_others(int signal) {
  if (getpid() == 1) {
    kill(-1, signal);  // every process in our PID namespace but us
    return -1;
  }
  int count = 0;
  for (pid_t pid : descendants_of(getpid())) {
    if (kill(pid, signal) == 0) ++count;
  }
  return count;
}

}  // namespace wsinit::init
