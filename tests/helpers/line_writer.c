/* line-writer BYTES: writes BYTES of 100-byte lines ("000000001 xxx...\n") to stdout in 64 KiB
 * writes, as fast as it can. The writer of bench/relay-bench. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) return fprintf(stderr, "usage: line-writer BYTES\n"), 2;
  long long left = atoll(argv[1]);
  enum { kLine = 100, kBlock = 655 * kLine };
  static char block[kBlock];
  long long number = 0;
  while (left > 0) {
    for (int i = 0; i < kBlock; i += kLine) {
      snprintf(block + i, kLine, "%09lld ", ++number);
      memset(block + i + 10, 'x', kLine - 11);
      block[i + kLine - 1] = '\n';
    }
    size_t n = left < kBlock ? (size_t)left : kBlock;
    for (size_t done = 0; done < n;) {
      ssize_t w = write(STDOUT_FILENO, block + done, n - done);
      if (w <= 0) return 1;
      done += (size_t)w;
    }
    left -= (long long)n;
  }
  return 0;
}
