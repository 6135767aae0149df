#include <sys/signalfd.h>

#include <csignal>

#include "pid1.h"

namespace wsinit::init {
namespace {

bool is_fault(int s) {
  return s == SIGSEGV || s == SIGBUS || s == SIGFPE || s == SIGILL || s == SIGTRAP || s == SIGSYS || s == SIGABRT;
}

}  // namespace

int open_signal_fd() {
  // An ignored SIGCHLD (inherited) would have the kernel reap our children itself, without a
  // SIGCHLD: the reaper would never see CMD exit. CMD still gets it ignored (spawn hands it on).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  if (sigaction(SIGCHLD, &dfl, nullptr) < 0) return -1;
  sigset_t handled;
  sigfillset(&handled);
  for (int s = 1; s < NSIG; ++s) {
    if (is_fault(s)) sigdelset(&handled, s);
  }
  if (sigprocmask(SIG_BLOCK, &handled, nullptr) < 0) return -1;
  return signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
}

bool is_forwarded(int s) {
  return s != SIGCHLD && s != SIGTSTP && s != SIGTTIN && s != SIGTTOU && s != SIGKILL && s != SIGSTOP && !is_fault(s);
}

}  // namespace wsinit::init
