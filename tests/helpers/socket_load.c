// socket-load LISTENERS CONNECTIONS [WATCHED_PORT WATCHED_CONNECTIONS]: fills the network namespace
// with sockets for bench/ports-bench, on 127.0.0.1 only. Opens LISTENERS listening sockets (the
// first on WATCHED_PORT when given, the rest on ports the kernel picks), CONNECTIONS established
// connections to the second listener (both ends held: 2 sockets each) and WATCHED_CONNECTIONS to
// the first. The connections are spread over child processes (each inherits the listeners, as a
// preforking server's workers do), so that none needs more descriptors than its open-file limit
// allows. Prints "ready" once everything is open, then sends a byte on each watched connection
// every second until killed.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char* what) {
  fprintf(stderr, "socket-load: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int listener(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr*)&a, sizeof a) < 0) die("bind");
  if (listen(fd, 4096) < 0) die("listen");
  return fd;
}

static int port_of(int fd) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  if (getsockname(fd, (struct sockaddr*)&a, &len) < 0) die("getsockname");
  return ntohs(a.sin_port);
}

// One connection to `port`, accepted on `server`: the client's end (the server's end stays open too).
static int connection(int server, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket (connection)");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr*)&a, sizeof a) < 0) die("connect");
  if (accept(server, NULL, NULL) < 0) die("accept");
  return fd;
}

// Opens `count` connections to the listener `server` (port `port`), then holds them: a child's life.
static void hold_connections(int server, int port, int count, int ready_fd) {
  for (int i = 0; i < count; ++i) connection(server, port);
  if (write(ready_fd, "r", 1) != 1) die("write (ready)");
  for (;;) pause();
}

int main(int argc, char** argv) {
  if (argc != 3 && argc != 5) {
    fprintf(stderr, "usage: socket-load LISTENERS CONNECTIONS [WATCHED_PORT WATCHED_CONNECTIONS]\n");
    return 2;
  }
  int listeners = atoi(argv[1]), connections = atoi(argv[2]);
  int watched_port = argc == 5 ? atoi(argv[3]) : 0, watched = argc == 5 ? atoi(argv[4]) : 0;
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) die("getrlimit");
  limit.rlim_cur = limit.rlim_max;  // as many as this process may have
  if (setrlimit(RLIMIT_NOFILE, &limit) < 0) die("setrlimit");
  long room = (long)limit.rlim_cur - listeners - 2 * watched - 64;
  if (room < 2 || (connections > 0 && listeners < 2)) {
    fprintf(stderr, "socket-load: %d listeners do not leave room under the open-file limit %llu\n", listeners,
            (unsigned long long)limit.rlim_cur);
    return 1;
  }
  int per_child = (int)(room / 2);
  int* servers = calloc(listeners > 0 ? listeners : 1, sizeof(int));
  int* clients = calloc(watched > 0 ? watched : 1, sizeof(int));
  for (int i = 0; i < listeners; ++i) servers[i] = listener(i == 0 ? watched_port : 0);
  int ready[2];
  if (pipe(ready) < 0) die("pipe");
  int children = 0;
  for (int done = 0; done < connections; done += per_child, ++children) {
    int count = connections - done < per_child ? connections - done : per_child;
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) hold_connections(servers[1], port_of(servers[1]), count, ready[1]);
  }
  for (int i = 0; i < children; ++i) {
    char c;
    if (read(ready[0], &c, 1) != 1) die("read (a child failed)");
  }
  for (int i = 0; i < watched && listeners >= 1; ++i) clients[i] = connection(servers[0], port_of(servers[0]));
  printf("ready (%d listening, %d connections over %d processes, %d watched)\n", listeners, connections, children, watched);
  fflush(stdout);
  for (;;) {
    for (int i = 0; i < watched; ++i) {
      if (write(clients[i], "x", 1) != 1) die("write");
    }
    sleep(1);
  }
}
