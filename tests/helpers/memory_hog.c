/* memory-hog MIB [FILE] [grow]: holds MIB MiB of memory it has written to (resident, not just
 * reserved), then creates FILE (when given and not "-") to say so. Then it sleeps until killed,
 * or with `grow` takes 1 MiB more every 2 ms until the kernel stops it: the service of
 * tests/e2e/oom.test.sh that runs past its cgroup's memory limit. Bounded: it gives up (exit 3)
 * after 64 GiB, so a missing limit cannot take the machine. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int take(long mib) {
  size_t size = (size_t)mib << 20;
  char* block = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) return -1;
  memset(block, 0x5a, size);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) return fprintf(stderr, "usage: memory-hog MIB [FILE] [grow]\n"), 2;
  long held = atol(argv[1]);
  if (held < 0 || take(held) < 0) return perror("memory-hog"), 1;
  if (argc >= 3 && strcmp(argv[2], "-") != 0) {
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return perror(argv[2]), 1;
    close(fd);
  }
  printf("holding %ld MiB\n", held);
  fflush(stdout);
  if (argc < 4 || strcmp(argv[3], "grow") != 0) {
    for (;;) pause();
  }
  struct timespec pause_2ms = {0, 2000000};
  for (; held < 65536; ++held) {
    if (take(1) < 0) return perror("memory-hog"), 1;
    nanosleep(&pause_2ms, NULL);
  }
  return 3;
}
