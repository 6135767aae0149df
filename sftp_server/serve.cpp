// The I/O loop: large reads of the input, every whole packet handled, replies written in
// batches; input is not read while kMaxPendingOutput of replies wait.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "sftp_server/sftp_server.h"
#include "user_ids/user_ids.h"
#include "wire.h"

namespace wsinit::sftp_server {

namespace {

// Pipes and sockets are made non-blocking for the session (a blocked write must not keep the
// loop from reading, nor the reverse); anything else (a file, a terminal) is left as it is.
struct NonBlocking {
  int fd, saved = -1;
  explicit NonBlocking(int f) : fd(f) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) return;
    saved = fcntl(fd, F_GETFL);
    if (saved >= 0 && fcntl(fd, F_SETFL, saved | O_NONBLOCK) != 0) saved = -1;
  }
  ~NonBlocking() {
    if (saved >= 0) fcntl(fd, F_SETFL, saved);
  }
};

// Reads what is there, up to the room left under kMaxPendingInput. False on an error (said).
bool fill(int in, Buffer& input, bool& eof) {
  std::size_t room = std::min(kReadChunk, kMaxPendingInput - input.size());
  ssize_t n = read(in, input.reserve(room), room);
  if (n > 0) input.commit(static_cast<std::size_t>(n));
  if (n == 0) eof = true;
  if (n >= 0 || errno == EAGAIN || errno == EINTR) return true;
  fprintf(stderr, "wsinit sftp-server: reading the input: %s\n", strerror(errno));
  return false;
}

bool drain(int out, Session& session) {
  while (session.output_size() > 0) {
    ssize_t n = write(out, session.output_data(), session.output_size());
    if (n > 0) {
      session.output_done(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    fprintf(stderr, "wsinit sftp-server: writing replies: %s\n", n < 0 ? strerror(errno) : "wrote nothing");
    return false;
  }
  return true;
}

// Waits until the input can be read (when wanted) or the output written (when pending).
bool wait(int in, int out, bool want_read, bool want_write) {
  struct pollfd fds[2] = {{want_read ? in : -1, POLLIN, 0}, {want_write ? out : -1, POLLOUT, 0}};
  while (poll(fds, 2, -1) < 0) {
    if (errno == EINTR) continue;
    fprintf(stderr, "wsinit sftp-server: poll: %s\n", strerror(errno));
    return false;
  }
  return true;
}

// Handles packets and writes replies for as long as either makes progress: a session that
// stopped at the output bound has whole packets left, which no new input would ever announce.
bool work(int out, Session& session, Buffer& input) {
  for (;;) {
    std::size_t taken = session.consume(input.data(), input.size());
    input.drop_front(taken);
    if (session.failed()) {
      drain(out, session);
      fprintf(stderr, "wsinit sftp-server: %s; ending the session\n", session.error().c_str());
      return false;
    }
    std::size_t waiting = session.output_size();
    if (!drain(out, session)) return false;
    if (taken == 0 && session.output_size() == waiting) return true;
  }
}

}  // namespace

int serve(int in, int out, Options options) {
  signal(SIGPIPE, SIG_IGN);  // a client gone shows as EPIPE from write()
  NonBlocking nb_in(in), nb_out(out);
  Session session(std::move(options));
  Buffer input;
  bool eof = false;
  for (;;) {
    if (!work(out, session, input)) return 1;
    bool want_read = !eof && input.size() < kMaxPendingInput && session.output_size() < kMaxPendingOutput;
    bool want_write = session.output_size() > 0;
    if (!want_read && !want_write) return 0;  // the input ended and every reply is out
    if (!wait(in, out, want_read, want_write)) return 1;
    if (want_read && !fill(in, input, eof)) return 1;
  }
}

namespace {

std::string read_bounded(const char* path) {
  constexpr std::size_t kMaxFile = 4 * 1024 * 1024;
  FILE* f = fopen(path, "re");
  if (f == nullptr) return {};
  std::string text(kMaxFile, '\0');
  std::size_t n = fread(text.data(), 1, kMaxFile, f);
  fclose(f);
  text.resize(n);
  return text;
}

}  // namespace

Options system_options(const char* home_env) {
  Options o;
  for (const auto& e : user_ids::parse_passwd(read_bounded("/etc/passwd"))) {
    o.user_names.emplace(e.uid, e.name);
    o.homes.emplace(e.name, e.home);
  }
  for (const auto& e : user_ids::parse_group(read_bounded("/etc/group"))) o.group_names.emplace(e.gid, e.name);
  if (home_env != nullptr) o.home = home_env;
  return o;
}

}  // namespace wsinit::sftp_server
