/* orphan-storm N [--no-wait]: makes N orphans (children of an intermediate that exits, so they are
 * re-parented to the nearest subreaper or PID 1), releases them all at once, then waits until
 * every one of them has been reaped by that init and prints the time that took and the CPU time
 * the init (its parent) spent meanwhile, in microseconds.
 * Used by the end-to-end tests (correctness) and by bench/ (speed). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* CPU time the init (our parent) has used so far, in microseconds, from /proc/PID/schedstat. */
static long long init_cpu_us(void) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/schedstat", (int)getppid());
  FILE* f = fopen(path, "r");
  long long ns = 0;
  if (f) {
    if (fscanf(f, "%lld", &ns) != 1) ns = 0;
    fclose(f);
  }
  return ns / 1000;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: orphan-storm N [--no-wait]\n");
    return 2;
  }
  int n = atoi(argv[1]);
  int wait_for_reap = !(argc > 2 && strcmp(argv[2], "--no-wait") == 0);
  pid_t* pids = mmap(NULL, sizeof(pid_t) * (size_t)n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  int release[2], started[2];
  if (pids == MAP_FAILED || pipe(release) < 0 || pipe(started) < 0) return perror("setup"), 1;
  pid_t middle = fork();
  if (middle < 0) return perror("fork"), 1;
  if (middle == 0) {
    close(release[1]);
    close(started[0]);
    for (int i = 0; i < n; ++i) {
      pid_t pid = fork();
      if (pid < 0) {
        perror("fork orphan");
        _exit(1);
      }
      if (pid == 0) {
        char c;
        close(started[1]);
        while (read(release[0], &c, 1) < 0 && errno == EINTR) {
        }
        _exit(0);
      }
      pids[i] = pid;
    }
    _exit(0);  /* its children become orphans now */
  }
  close(release[0]);
  close(started[1]);
  int status;
  waitpid(middle, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fprintf(stderr, "could not fork %d orphans\n", n), 1;
  long long cpu0 = init_cpu_us();
  long long t0 = now_us();
  close(release[1]); /* every orphan exits now */
  if (!wait_for_reap) return 0;
  /* An orphan is reaped when kill(pid, 0) says ESRCH (a zombie still answers). */
  for (int i = 0; i < n; ++i) {
    while (kill(pids[i], 0) == 0) usleep(200);
  }
  long long took = now_us() - t0;
  printf("reaped %d orphans in %lld us, init cpu %lld us\n", n, took, init_cpu_us() - cpu0);
  return 0;
}
