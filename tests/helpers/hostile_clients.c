// Holds COUNT hostile HTTP connections to 127.0.0.1:PORT for SECONDS, reopening any the server
// closes, and stops by itself. Kinds (round-robin with "mix"):
//   pipeline  GET /healthz pipelined as fast as the socket takes it, never reading an answer
//   trickle   a pipelined burst, then one more byte every 2 s, never reading
//   longpoll  GET /status?wait=ready&timeout=5m, held
//   slowloris a request line and headers one byte every 2 s, never finished
//   idle      connected, silent
// Usage: hostile-clients PORT KIND COUNT SECONDS [SOURCE_ADDRESS]
// Prints "opened N reopened M" at the end. Loopback only.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum kind { PIPELINE, TRICKLE, LONGPOLL, SLOWLORIS, IDLE, KINDS };
static const char* kind_names[] = {"pipeline", "trickle", "longpoll", "slowloris", "idle"};

static const char kRequest[] = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
static const char kPoll[] = "GET /status?wait=ready&timeout=5m HTTP/1.1\r\nHost: a\r\n\r\n";
static const char kSlow[] = "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

struct client {
  int fd;
  enum kind kind;
  size_t sent;        // bytes of the current script sent
  double next_byte;   // trickle and slowloris: when the next byte goes
};

static struct sockaddr_in target, source;
static int have_source;
static long opened, reopened;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_one(struct client* c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -1;
  if (have_source && bind(c->fd, (struct sockaddr*)&source, sizeof source) < 0) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  if (connect(c->fd, (struct sockaddr*)&target, sizeof target) < 0 && errno != EINPROGRESS) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  c->sent = 0;
  c->next_byte = now();
  opened++;
  return 0;
}

// Sends what this kind sends now; -1 when the connection is gone.
static int feed(struct client* c, double t) {
  ssize_t n = 0;
  switch (c->kind) {
    case PIPELINE:
      for (int i = 0; i < 64; i++) {
        n = send(c->fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL);
        if (n < 0) break;
      }
      break;
    case TRICKLE:
      if (c->sent < 64 * 1024) {
        n = send(c->fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL);
        if (n > 0) c->sent += (size_t)n;
        if (n < 0 && errno == EAGAIN) c->sent = 64 * 1024;  // the burst is in: now trickle
      } else if (t >= c->next_byte) {
        n = send(c->fd, kRequest + (c->sent % (sizeof kRequest - 1)), 1, MSG_NOSIGNAL);
        if (n > 0) c->sent++;
        c->next_byte = t + 2;
      }
      break;
    case LONGPOLL:
      if (c->sent == 0) {
        n = send(c->fd, kPoll, sizeof kPoll - 1, MSG_NOSIGNAL);
        if (n > 0) c->sent = 1;
      }
      break;
    case SLOWLORIS:
      if (t >= c->next_byte) {
        n = send(c->fd, kSlow + (c->sent % (sizeof kSlow - 1)), 1, MSG_NOSIGNAL);
        if (n > 0) c->sent++;
        c->next_byte = t + 2;
      }
      break;
    default: break;
  }
  if (n < 0 && errno != EAGAIN && errno != EINPROGRESS && errno != ENOTCONN) return -1;
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: hostile-clients PORT KIND COUNT SECONDS [SOURCE_ADDRESS]\n");
    return 2;
  }
  int port = atoi(argv[1]), count = atoi(argv[3]);
  double seconds = atof(argv[4]);
  int mix = strcmp(argv[2], "mix") == 0, kind = -1;
  for (int k = 0; k < KINDS; k++)
    if (strcmp(argv[2], kind_names[k]) == 0) kind = k;
  if ((kind < 0 && !mix) || port <= 0 || count <= 0 || count > 5000 || seconds <= 0 || seconds > 600) {
    fprintf(stderr, "hostile-clients: bad arguments\n");
    return 2;
  }
  struct rlimit rl = {(rlim_t)count + 64, (rlim_t)count + 64};
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0) perror("setrlimit");
  memset(&target, 0, sizeof target);
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, "127.0.0.1", &target.sin_addr);
  if (argc > 5) {
    memset(&source, 0, sizeof source);
    source.sin_family = AF_INET;
    if (inet_pton(AF_INET, argv[5], &source.sin_addr) != 1) return 2;
    have_source = 1;
  }
  struct client* clients = calloc((size_t)count, sizeof *clients);
  struct pollfd* fds = calloc((size_t)count, sizeof *fds);
  if (!clients || !fds) return 1;
  for (int i = 0; i < count; i++) {
    clients[i].kind = mix ? (enum kind)(i % KINDS) : (enum kind)kind;
    open_one(&clients[i]);
  }
  double end = now() + seconds;
  while (now() < end) {
    double t = now();
    for (int i = 0; i < count; i++) {
      struct client* c = &clients[i];
      if (c->fd < 0) {
        if (open_one(c) == 0) reopened++;
      } else if (feed(c, t) < 0) {
        close(c->fd);
        if (open_one(c) == 0) reopened++;
      }
      fds[i].fd = c->fd;
      fds[i].events = POLLRDHUP;
      fds[i].revents = 0;
    }
    if (poll(fds, (nfds_t)count, 50) < 0 && errno != EINTR) break;
    for (int i = 0; i < count; i++) {
      if (clients[i].fd >= 0 && (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
        close(clients[i].fd);  // closed by the server: come straight back
        if (open_one(&clients[i]) == 0) reopened++;
      }
    }
  }
  for (int i = 0; i < count; i++)
    if (clients[i].fd >= 0) close(clients[i].fd);
  free(clients);
  free(fds);
  printf("opened %ld reopened %ld\n", opened, reopened);
  return 0;
}
