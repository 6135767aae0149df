// The control socket: one request line in, "ok\n<text>" or "error\n<text>" out, then close.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/stream_write.h"
#include "common/timer.h"
#include "supervisor/supervisor.h"

namespace wsinit::supervisor {
namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(5);
// A reply the client does not take within this is dropped with its connection (as the health port).
constexpr auto kReplyTimeout = std::chrono::seconds(10);

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path)
    return fail("socket path too long (" + std::to_string(path.size()) + " bytes, at most " +
                std::to_string(sizeof address.sun_path - 1) + "): " + path);
  memcpy(address.sun_path, path.c_str(), path.size());
  return address;
}

// True when something answers on `path`: another wsinit is running.
bool socket_is_live(const std::string& path) {
  auto address = unix_address(path);
  if (!address) return false;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool live = connect(fd, reinterpret_cast<sockaddr*>(&*address), sizeof *address) == 0;
  close(fd);
  return live;
}

}  // namespace

// What a ControlStream reaches of the server's connection.
struct ControlServerConnections {
  static void attach(ControlStream& stream, void* connection) { stream.connection_ = connection; }
  static void detach(ControlStream& stream) { stream.connection_ = nullptr; }
  static void* of(const ControlStream& stream) { return stream.connection_; }
  static bool finishing(const ControlStream& stream) { return stream.finishing_; }
  static void begin_finish(ControlStream& stream) { stream.finishing_ = true; }
  static void count(ControlStream& stream, size_t added, size_t taken) { stream.queued_ = stream.queued_ + added - taken; }
  static bool write(ControlStream& stream, std::string data);
};

struct ControlServer::Impl {
  struct Connection {
    Impl* server;  // null once the server is gone
    uv_pipe_t pipe;
    std::string request;  // at most kMaxControlRequest + 1 bytes
    std::unique_ptr<Timer> timeout;
    std::list<Connection*>::iterator place;  // in server->connections
    bool busy = false;  // the handler has its request and will reply
    bool answered = false;
    bool reply_sent = false;
    bool peer_done = false;  // we read all we will read
    bool closed = false;
    std::shared_ptr<ControlStream> stream;  // a held request's
    // What the handler's reply reaches: null once the connection is closed, so a reply that
    // comes later (after a restart, or after the server is gone) is dropped.
    std::shared_ptr<Connection*> self;
  };

  uv_loop_t* loop;
  Handler handler;
  HeldHandler held;
  uv_pipe_t* listener = nullptr;
  std::string path;
  std::list<Connection*> connections;  // open ones, oldest first
  uint64_t warned_full_at = 0;         // uv_now of the last "too many connections" line

  static void on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<Impl*>(server->data);
    if (status < 0 || !self) return;
    auto* c = new Connection{self, {}, {}, std::make_unique<Timer>(self->loop)};
    if (uv_pipe_init(self->loop, &c->pipe, 0) != 0) {
      delete c;  // never initialised: nothing for the loop to close; the client stays in the backlog
      return;
    }
    c->pipe.data = c;
    c->self = std::make_shared<Connection*>(c);
    c->place = self->connections.end();
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) return close_connection(c);
    if (!self->make_room()) return close_connection(c);
    c->place = self->connections.insert(self->connections.end(), c);
    c->timeout->start(kRequestTimeout, [c] { answer(c, false, "no complete request line within 5s"); });
    int rc = uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->pipe),
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          static char buffer[1024];
          *buf = uv_buf_init(buffer, sizeof buffer);
        },
        on_read);
    if (rc != 0) close_connection(c);
  }

  // At most kMaxControlConnections are open. A newcomer over the cap takes the place of the
  // oldest one the handler is not answering (an idle client, or one that sent garbage), so idle
  // connections cannot lock `wsinit status` out; when all of them are being answered, the
  // newcomer is closed at once. Said at most once a minute.
  bool make_room() {
    if (connections.size() < kMaxControlConnections) return true;
    if (warned_full_at == 0 || uv_now(loop) - warned_full_at >= 60'000) {
      warned_full_at = uv_now(loop);
      spdlog::warn("control socket: {} connections are open, the most there may be; the oldest idle one, or the "
                   "newcomer, is closed",
                   kMaxControlConnections);
    }
    for (Connection* old : connections) {
      if (!old->busy) {
        close_connection(old);
        return true;
      }
    }
    return false;
  }

  static void on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
    auto* c = static_cast<Connection*>(stream->data);
    if (c->stream) {  // held: read on only to see the client go; what it sends is ignored
      if (n == UV_EOF) {  // a half-close after the request line: the reply still goes out
        uv_read_stop(stream);
        c->peer_done = true;
      } else if (n < 0) {
        close_connection(c);
      }
      return;
    }
    if (c->answered) {
      // Reading on after an early error reply, so closing does not reset the client's side
      // before it has read the reply.
      if (n < 0) {
        c->peer_done = true;
        if (c->reply_sent) close_connection(c);
      }
      return;
    }
    if (n < 0 && c->request.empty()) return close_connection(c);
    // One byte past the longest request is enough to know it is too long.
    if (n > 0) c->request.append(buf->base, std::min(static_cast<size_t>(n), kMaxControlRequest + 1 - c->request.size()));
    ControlRequest request = parse_control_request(c->request, n < 0);  // EOF without a newline: take what came
    if (request.kind == ControlRequest::Kind::incomplete) return;
    bool whole_line = n < 0 || c->request.find('\n') != std::string::npos;
    if (!whole_line) return answer(c, false, request.error);  // too long: answer, and read on to the end
    dispatch(c, request, n < 0);
  }

  // `at_end`: the request came with the end of the stream (no newline). A held one is refused:
  // with reading over, its client going away would never be seen.
  static void dispatch(Connection* c, const ControlRequest& request, bool at_end) {
    bool refused = request.held() && at_end;
    if (request.held() && c->server->held && !refused) return hold(c, request);
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->pipe));
    c->peer_done = true;
    c->timeout->stop();
    c->answered = true;  // from here the handler owns the reply
    c->busy = request.kind != ControlRequest::Kind::invalid && !refused;
    if (request.kind == ControlRequest::Kind::invalid) return send_reply(c, false, request.error);
    if (refused)
      return send_reply(c, false, "a wait or a follow needs an open connection: end the request line with a newline "
                                  "and keep the connection open until the answer");
    c->server->handler(request, [self = c->self](bool ok, const std::string& text) {
      if (*self) send_reply(*self, ok, text);
    });
  }

  size_t held_count() const {
    return static_cast<size_t>(std::count_if(connections.begin(), connections.end(), [](Connection* c) { return c->stream != nullptr; }));
  }

  // A wait or a follow: the connection stays open, and read, so a client that goes away is seen.
  static void hold(Connection* c, const ControlRequest& request) {
    c->timeout->stop();
    c->answered = c->busy = true;
    if (c->server->held_count() >= kMaxHeldConnections) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->pipe));
      c->peer_done = true;
      return send_reply(c, false, std::to_string(kMaxHeldConnections) +
                                      " waits and follows are open, the most there may be; end one and try again");
    }
    c->stream = std::make_shared<ControlStream>();
    ControlServerConnections::attach(*c->stream, c);
    c->server->held(request, c->stream);
  }

  static void answer(Connection* c, bool ok, const std::string& text) {
    if (c->answered) return;
    c->answered = true;
    c->timeout->start(kRequestTimeout, [c] { close_connection(c); });
    send_reply(c, ok, text);
  }

  static void send_reply(Connection* c, bool ok, const std::string& text) {
    std::string data = (ok ? "ok\n" : "error\n") + text;
    if (data.back() != '\n') data += '\n';
    int err = write_owned(reinterpret_cast<uv_stream_t*>(&c->pipe), std::move(data), [c](int) {
      c->reply_sent = true;
      if (c->peer_done) close_connection(c);
    });
    if (err != 0) {  // no callback will come: the slot is freed here
      spdlog::debug("control socket: cannot send the reply: {}", uv_strerror(err));
      return close_connection(c);
    }
    // The reply is out of the handler's hands: a newcomer may take this place, and a client
    // that does not read it loses it after kReplyTimeout.
    c->busy = false;
    if (c->timeout && !c->timeout->start(kReplyTimeout, [c] { close_connection(c); })) close_connection(c);
  }

  static void close_connection(Connection* c) {
    if (c->closed) return;
    c->closed = true;
    if (c->server && c->place != c->server->connections.end()) c->server->connections.erase(c->place);
    c->timeout.reset();
    if (c->self) *c->self = nullptr;
    if (c->stream) {
      ControlServerConnections::detach(*c->stream);
      if (!ControlServerConnections::finishing(*c->stream) && c->stream->on_gone) {
        auto gone = std::move(c->stream->on_gone);
        gone();
      }
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), [](uv_handle_t* h) { delete static_cast<Connection*>(h->data); });
  }
};

bool ControlServerConnections::write(ControlStream& stream, std::string data) {
  auto* c = static_cast<ControlServer::Impl::Connection*>(stream.connection_);
  size_t size = data.size();
  count(stream, size, 0);
  int err = write_owned(reinterpret_cast<uv_stream_t*>(&c->pipe), std::move(data), [c, size](int status) {
    ControlStream& s = *c->stream;
    count(s, 0, size);
    if (c->closed) return;
    if (status < 0 || (s.finishing_ && s.queued_ == 0)) return ControlServer::Impl::close_connection(c);
    if (s.queued_ == 0 && s.on_drained) s.on_drained();
  });
  if (err != 0) {
    count(stream, 0, size);
    spdlog::debug("control socket: cannot send to a held connection: {}", uv_strerror(err));
    return false;  // the client's end is broken: its read side ends the connection
  }
  return true;
}

bool ControlStream::send(std::string data, bool bounded) {
  // An empty queue takes any one piece (a batch of lines may be larger than the bound).
  if (!open() || (bounded && queued_ > 0 && queued_ + data.size() > kMaxStreamQueue)) return false;
  return ControlServerConnections::write(*this, std::move(data));
}

void ControlStream::finish(std::string data) {
  if (!open()) return;
  finishing_ = true;
  if (data.empty() || !ControlServerConnections::write(*this, std::move(data)))
    ControlServer::Impl::close_connection(static_cast<ControlServer::Impl::Connection*>(connection_));
}

ControlServer::ControlServer(uv_loop_t* loop, Handler handler, HeldHandler held) : impl_(std::make_unique<Impl>()) {
  impl_->loop = loop;
  impl_->handler = std::move(handler);
  impl_->held = std::move(held);
}

ControlServer::~ControlServer() {
  // Every connection closes now; a reply the handler gives later is dropped (Connection::self).
  while (!impl_->connections.empty()) {
    Impl::Connection* c = impl_->connections.front();
    Impl::close_connection(c);
    c->server = nullptr;  // alive until its close callback; the server is not
  }
  if (impl_->listener) {
    impl_->listener->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(impl_->listener), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
    unlink(impl_->path.c_str());
  }
}

Status ControlServer::listen(const std::string& path) {
  std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty()) {
    if (auto done = fs::prepare_private_dir(dir); !done) return done;
  }
  auto address = unix_address(path);
  if (!address) return address.error();
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return fail(path + " exists and is not a socket");
    if (socket_is_live(path)) return fail("another wsinit already answers on " + path);
    unlink(path.c_str());  // left over from an instance that is gone
  }
  auto* pipe = new uv_pipe_t;
  if (int rc = uv_pipe_init(impl_->loop, pipe, 0); rc != 0) {
    delete pipe;
    return fail("cannot set up the control socket: " + std::string(uv_strerror(rc)));
  }
  // 0600 from its first moment: bind makes the socket with the umask, and the directory it is
  // in may be one that others can enter.
  mode_t mask = umask(0177);
  int err = uv_pipe_bind(pipe, path.c_str());
  umask(mask);
  bool bound = err == 0;
  if (err == 0 && chmod(path.c_str(), 0600) < 0) err = uv_translate_sys_error(errno);
  if (err == 0) err = uv_listen(reinterpret_cast<uv_stream_t*>(pipe), 16, Impl::on_connection);
  if (err != 0) {
    if (bound) unlink(path.c_str());
    uv_close(reinterpret_cast<uv_handle_t*>(pipe), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
    return fail("cannot listen on " + path + ": " + uv_strerror(err));
  }
  pipe->data = impl_.get();
  impl_->listener = pipe;
  impl_->path = path;
  return {};
}

std::string control_socket_path(const config::Environment& env, const config::Config& config) {
  if (auto it = env.find("WSINIT_SOCKET"); it != env.end() && !it->second.empty()) return it->second;
  return config.paths.runtime + "/wsinit.sock";
}

int control_connect(const std::string& socket_path, const std::string& request, int timeout_s) {
  auto address = unix_address(socket_path);
  if (!address) {
    fprintf(stderr, "wsinit: %s\n", address.error().message.c_str());
    return -1;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&*address), sizeof *address) < 0) {
    fprintf(stderr, "wsinit: no running wsinit answers on %s: %s\n", socket_path.c_str(), strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  timeval timeout{timeout_s, 0};  // {0, 0}: no end
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string line = request + "\n";
  if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    fprintf(stderr, "wsinit: cannot send to %s: %s\n", socket_path.c_str(), strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

int control_request(const std::string& socket_path, const std::string& request, int timeout_s) {
  int fd = control_connect(socket_path, request, timeout_s);  // a restart waits for the service's stop_timeout
  if (fd < 0) return 3;
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t newline = reply.find('\n');
  if (n < 0 || newline == std::string::npos) {
    fprintf(stderr, "wsinit: no complete answer from %s%s%s\n", socket_path.c_str(), n < 0 ? ": " : "",
            n < 0 ? strerror(errno) : "");
    return 3;
  }
  bool ok = reply.compare(0, newline, "ok") == 0;
  std::string body = reply.substr(newline + 1);
  fwrite(body.data(), 1, body.size(), ok ? stdout : stderr);
  return ok ? 0 : 1;
}

}  // namespace wsinit::supervisor
