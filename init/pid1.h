// Internal to init/: the signal intake and the process-tree helpers the core loop uses.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <vector>

namespace wsinit::init {

// Blocks every signal wsinit handles and returns a signalfd that delivers them (-1 on error,
// errno set). Synchronous faults (SEGV, BUS, FPE, ILL, TRAP, SYS, ABRT) stay unblocked: they are
// ours. SIGCHLD is set to its default first, so that an inherited SIG_IGN cannot hide exits.
int open_signal_fd();

// Whether a signal received by wsinit is passed on to the main child: everything but
// SIGCHLD and the job-control stops TSTP, TTIN, TTOU.
bool is_forwarded(int signal);

// Every process below `root` in the process tree, read from /proc (children before grandchildren).
std::vector<pid_t> descendants_of(pid_t root);

// Sends `signal` to every other process wsinit is responsible for: kill(-1) as PID 1, every
// descendant otherwise. Returns how many were signalled (-1 meaning "all" as PID 1).
int signal_all_others(int signal);

}  // namespace wsinit::init
