/* signal-recorder READY_FILE: records every signal it receives as a line "N" on stdout, exits 0
 * on SIGTERM (after recording it). Creates READY_FILE once its handlers are installed. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_signal(int sig) {
  char line[16];
  int len = snprintf(line, sizeof line, "%d\n", sig);
  (void)!write(STDOUT_FILENO, line, (size_t)len);
  if (sig == SIGTERM) _exit(0);
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s = 1; s <= SIGRTMAX; ++s) {
    if (s == SIGKILL || s == SIGSTOP || s == SIGCHLD) continue;
    sigaction(s, &sa, NULL); /* glibc's reserved 32 and 33 fail: fine */
  }
  int fd = open(argv[1], O_WRONLY | O_CREAT, 0644);
  if (fd < 0) return 1;
  close(fd);
  for (;;) pause();
}
