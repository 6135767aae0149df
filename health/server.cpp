// The read-only HTTP server: one libuv TCP listener, keep-alive and pipelining, limits on
// header size, idle time and connections, and /status long polls answered on change.
#include <algorithm>
#include <chrono>
#include <list>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/timer.h"
#include "config/config.h"
#include "health/health.h"

namespace wsinit::health {
namespace {

constexpr auto kIdle = std::chrono::seconds(10);
constexpr auto kDefaultWait = std::chrono::seconds(30);
constexpr auto kMaxWait = std::chrono::minutes(5);

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
  }
  return "Error";
}

bool is_ready(const Snapshot& s) { return s.overall == supervisor::Overall::ready && s.not_ready.empty(); }

}  // namespace

struct Server::Impl {
  struct Connection {
    Impl* server;
    uv_tcp_t tcp;
    std::string in;
    std::unique_ptr<Timer> idle, wait;
    bool busy = false;     // a response is being written or a long poll is parked
    bool closing = false;
    bool parked = false;
    bool head_only = false;
    bool keep_alive = true;
    std::list<Connection*>::iterator place;  // in `open`, least recently active first
    bool counted = false;                    // accepted: counts toward the limit, is in `open`
  };

  uv_loop_t* loop;
  SnapshotSource source;
  uv_tcp_t* listener = nullptr;
  size_t connections = 0;
  std::list<Connection*> open;
  std::list<Connection*> parked;

  static void touch(Connection* c) { c->server->open.splice(c->server->open.end(), c->server->open, c->place); }

  // At the limit the least recently active idle connection makes room; when every one is busy
  // (long polls, answers in flight) the newcomer is closed instead.
  bool make_room() {
    if (connections < kMaxConnections) return true;
    for (Connection* c : open) {
      if (!c->busy && !c->closing) {
        close_connection(c);
        return true;
      }
    }
    return false;
  }

  static Impl* of(uv_handle_t* h) { return static_cast<Impl*>(h->data); }

  static void on_connection(uv_stream_t* listener, int status) {
    Impl* self = of(reinterpret_cast<uv_handle_t*>(listener));
    if (status < 0 || !self) return;
    if (!self->make_room()) {
      // Every slot busy: take it off the backlog and close it at once, so the loop never stalls.
      auto* extra = new uv_tcp_t;
      uv_tcp_init(self->loop, extra);
      if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(extra)) == 0) spdlog::debug("health: connection limit reached");
      uv_close(reinterpret_cast<uv_handle_t*>(extra), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
      return;
    }
    auto* c = new Connection{self, {}, {}, std::make_unique<Timer>(self->loop), std::make_unique<Timer>(self->loop)};
    uv_tcp_init(self->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) return close_connection(c);
    ++self->connections;
    c->counted = true;
    c->place = self->open.insert(self->open.end(), c);
    uv_tcp_nodelay(&c->tcp, 1);
    c->idle->start(kIdle, [c] { close_connection(c); });
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          static char buffer[16 * 1024];
          *buf = uv_buf_init(buffer, sizeof buffer);
        },
        on_read);
  }

  static void on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
    auto* c = static_cast<Connection*>(stream->data);
    if (n < 0) return close_connection(c);
    c->in.append(buf->base, static_cast<size_t>(n));
    touch(c);
    c->idle->start(kIdle, [c] { close_connection(c); });
    process(c);
  }

  // Answers the requests in the buffer one at a time, in order (pipelining).
  static void process(Connection* c) {
    while (!c->busy && !c->closing) {
      Request request;
      size_t consumed = 0;
      int status = 0;
      Parse result = parse_request(c->in, &request, &consumed, &status);
      if (result == Parse::incomplete) return;
      if (result == Parse::bad) {
        c->in.clear();
        return respond(c, status, "text/plain", std::string(reason(status)) + "\n", false, false);
      }
      c->in.erase(0, consumed);
      handle(c, request);
    }
  }

  static void handle(Connection* c, const Request& r) {
    bool keep = r.keep_alive && !r.has_body;
    bool head = r.method == "HEAD";
    if (r.method != "GET" && !head) {
      return respond(c, 405, "text/plain", "only GET and HEAD\n", false, false, "Allow: GET, HEAD\r\n");
    }
    Impl* self = c->server;
    if (r.path == "/healthz") return respond(c, 200, "text/plain", "ok\n", head, keep);
    if (r.path == "/readyz") {
      Snapshot s = self->source();
      return respond(c, is_ready(s) ? 200 : 503, "application/json", readyz_json(s), head, keep);
    }
    if (r.path == "/metrics") return respond(c, 200, "text/plain; version=0.0.4", metrics_text(self->source()), head, keep);
    if (r.path == "/status") {
      Snapshot s = self->source();
      auto wait = query_value(r.query, "wait");
      if (wait && *wait == "ready" && !is_ready(s)) return park(c, r, head, keep);
      return respond(c, 200, "application/json", status_json(s), head, keep);
    }
    respond(c, 404, "text/plain", "not found: try /healthz, /readyz, /status or /metrics\n", head, keep);
  }

  // /status?wait=ready&timeout=30s: held until ready (200) or the timeout (503).
  static void park(Connection* c, const Request& r, bool head, bool keep) {
    auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(kDefaultWait);
    if (auto t = query_value(r.query, "timeout")) {
      auto parsed = config::parse_duration(*t);
      if (!parsed) return respond(c, 400, "text/plain", "timeout: '" + *t + "' is not a duration (e.g. 30s)\n", head, false);
      timeout = std::min(*parsed, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxWait));
    }
    c->busy = c->parked = true;
    c->head_only = head;
    c->keep_alive = keep;
    c->idle->stop();
    c->server->parked.push_back(c);
    c->wait->start(timeout, [c] {
      unpark(c);
      Snapshot s = c->server->source();
      respond(c, is_ready(s) ? 200 : 503, "application/json", status_json(s), c->head_only, c->keep_alive);
    });
  }

  static void unpark(Connection* c) {
    c->parked = false;
    c->busy = false;
    c->wait->stop();
    c->server->parked.remove(c);
  }

  static void respond(Connection* c, int status, const std::string& type, const std::string& body, bool head_only,
                      bool keep_alive, const std::string& extra_headers = "") {
    auto* out = new std::string("HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n");
    *out += "Content-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nCache-Control: no-store\r\n";
    *out += extra_headers;
    *out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    if (!head_only) *out += body;
    c->busy = true;
    c->keep_alive = keep_alive;
    auto* req = new uv_write_t;
    req->data = out;
    uv_buf_t buf = uv_buf_init(out->data(), static_cast<unsigned>(out->size()));
    if (uv_write(req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1, on_written) != 0) {
      delete out;
      delete req;
      close_connection(c);
    }
  }

  static void on_written(uv_write_t* req, int status) {
    delete static_cast<std::string*>(req->data);
    auto* c = static_cast<Connection*>(req->handle->data);
    delete req;
    if (c->closing) return;
    if (status < 0 || !c->keep_alive) return close_connection(c);
    c->busy = false;
    c->idle->start(kIdle, [c] { close_connection(c); });
    process(c);
  }

  static void close_connection(Connection* c) {
    if (c->closing) return;
    c->closing = true;
    if (c->parked) unpark(c);
    if (c->counted) {
      c->server->open.erase(c->place);
      --c->server->connections;
    }
    c->idle.reset();
    c->wait.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) {
      delete static_cast<Connection*>(h->data);
    });
  }
};

Server::Server(uv_loop_t* loop, SnapshotSource source) : impl_(std::make_unique<Impl>()) {
  impl_->loop = loop;
  impl_->source = std::move(source);
}

Server::~Server() {
  for (Impl::Connection* c : std::vector<Impl::Connection*>(impl_->parked.begin(), impl_->parked.end())) {
    Impl::close_connection(c);
  }
  if (impl_->listener) {
    impl_->listener->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(impl_->listener), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  }
}

bool Server::listen(const std::string& address, std::string* error) {
  size_t colon = address.rfind(':');
  std::string host = colon == std::string::npos ? "" : address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  auto port = colon == std::string::npos ? std::nullopt : config::parse_size(address.substr(colon + 1));
  sockaddr_storage sa{};
  if (!port || *port < 1 || *port > 65535 ||
      (uv_ip4_addr(host.c_str(), static_cast<int>(*port), reinterpret_cast<sockaddr_in*>(&sa)) != 0 &&
       uv_ip6_addr(host.c_str(), static_cast<int>(*port), reinterpret_cast<sockaddr_in6*>(&sa)) != 0)) {
    *error = "health.listen: '" + address + "' is not IP:PORT";
    return false;
  }
  auto* tcp = new uv_tcp_t;
  uv_tcp_init(impl_->loop, tcp);
  int err = uv_tcp_bind(tcp, reinterpret_cast<sockaddr*>(&sa), 0);
  if (err == 0) err = uv_listen(reinterpret_cast<uv_stream_t*>(tcp), 511, Impl::on_connection);
  if (err != 0) {
    *error = "health: cannot listen on " + address + ": " + uv_strerror(err);
    uv_close(reinterpret_cast<uv_handle_t*>(tcp), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    return false;
  }
  tcp->data = impl_.get();
  impl_->listener = tcp;
  return true;
}

void Server::notify_change() {
  if (impl_->parked.empty()) return;
  Snapshot s = impl_->source();
  if (!is_ready(s)) return;
  for (Impl::Connection* c : std::vector<Impl::Connection*>(impl_->parked.begin(), impl_->parked.end())) {
    Impl::unpark(c);
    Impl::respond(c, 200, "application/json", status_json(s), c->head_only, c->keep_alive);
  }
}

// --- StatusFile ---

struct StatusFile::Impl {
  std::string path;
  Server::SnapshotSource source;
  Timer debounce;
  Impl(uv_loop_t* loop, std::string p, Server::SnapshotSource s) : path(std::move(p)), source(std::move(s)), debounce(loop) {}
};

StatusFile::StatusFile(uv_loop_t* loop, std::string path, Server::SnapshotSource source)
    : impl_(std::make_unique<Impl>(loop, std::move(path), std::move(source))) {}

StatusFile::~StatusFile() = default;

void StatusFile::changed() {
  if (impl_->debounce.pending()) return;
  impl_->debounce.start(std::chrono::milliseconds(100), [this] { write_now(); });
}

void StatusFile::write_now() {
  impl_->debounce.stop();
  if (auto problem = fs::write_atomically(impl_->path, status_json(impl_->source()), 0644)) {
    spdlog::warn("status file: {}", *problem);
  }
}

}  // namespace wsinit::health
