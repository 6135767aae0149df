// The read-only HTTP server: one libuv TCP listener bound to the pure per-connection state
// machine of conversation.h, with a fair admission policy (see README, "Limits").
#include <sys/resource.h>
#include <sys/socket.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <list>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/stream_write.h"
#include "common/timer.h"
#include "config/config.h"
#include "conversation.h"
#include "health/health.h"
#include "page.h"

namespace wsinit::health {
namespace {

// The kernel queues this many connections not yet accepted (capped by net.core.somaxconn): room
// for a real client's handshake while a flood waits to be accepted and turned away.
constexpr int kListenBacklog = 4096;
// Connections accepted in one turn of the loop; the rest wait in the backlog for the next turn,
// so a flood of reconnects cannot keep the loop inside accept (timers, closes, signals wait).
constexpr int kAcceptsPerTurn = 64;

bool is_ready(const Snapshot& s) { return s.overall == supervisor::Overall::ready && s.not_ready.empty(); }

// Whether what a held request waits for has happened.
bool met(const Hold& hold, const Snapshot& s) {
  return hold.until == Hold::Until::change ? s.version != hold.version : is_ready(s);
}

Answer text(int status, std::string body, bool head_only, bool keep_alive) {
  Answer a;
  a.status = status;
  a.body = std::move(body);
  a.head_only = head_only;
  a.keep_alive = keep_alive;
  return a;
}

Answer json_answer(int status, std::string body, bool head_only, bool keep_alive) {
  Answer a = text(status, std::move(body), head_only, keep_alive);
  a.type = "application/json";
  return a;
}

// The page and its script and style: only what it needs, all from this origin (no inline script
// or style, nothing from elsewhere, no framing), never cached, never sniffed, no referrer sent.
Answer page_answer(std::string_view body, const char* type, bool head_only, bool keep_alive) {
  Answer a = text(200, std::string(body), head_only, keep_alive);
  a.type = type;
  a.extra_headers =
      "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
      "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
      "Referrer-Policy: no-referrer\r\n";  // nosniff: on every answer (render)
  return a;
}

std::string peer_of(const uv_tcp_t* tcp) {
  sockaddr_storage sa{};
  int length = sizeof sa;
  char name[64] = "?";
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&sa), &length) != 0) return name;
  if (sa.ss_family == AF_INET) uv_ip4_name(reinterpret_cast<sockaddr_in*>(&sa), name, sizeof name);
  else if (sa.ss_family == AF_INET6) uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&sa), name, sizeof name);
  return name;
}

}  // namespace

size_t connection_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kMaxConnections;
  return std::clamp<size_t>(static_cast<size_t>(limit.rlim_cur) / 4, 16, kMaxConnections);
}

struct Server::Impl : Endpoints {
  struct Connection {
    Connection(Impl* s, Millis now) : server(s), talk(*s, s->limits, now), timer(s->loop) {}
    Impl* server;
    uv_tcp_t tcp{};
    Conversation talk;
    Timer timer;
    std::string peer;
    bool reading = false;
    bool held = false;  // counted in `held`
    bool closing = false;
    std::list<Connection*>::iterator place;  // in `open`
  };

  uv_loop_t* loop;
  SnapshotSource source;
  Limits limits;
  uv_tcp_t* listener = nullptr;
  std::list<Connection*> open;  // every accepted connection, oldest first
  std::size_t held = 0;         // parked /status?wait=ready and ?wait=change requests
  std::vector<Connection*> candidates;  // scratch for make_room and release_a_held_request
  std::vector<Occupant> occupants;
  std::size_t max_connections = connection_limit();
  int accepted_this_turn = 0;
  std::uint64_t turn = 0;           // the loop time the count is for
  uv_check_t* next_turn = nullptr;  // after a full turn's accepts: resumes accepting

  Millis now() const { return Millis(uv_now(loop)); }

  // --- what each request gets ---

  Answer answer(const Request& r) override {
    bool keep = r.keep_alive && !r.has_body;
    bool head = r.method == "HEAD";
    if (r.method != "GET" && !head) {
      Answer a = text(405, "only GET and HEAD\n", false, false);
      a.extra_headers = "Allow: GET, HEAD\r\n";
      return a;
    }
    if (r.path == "/healthz") return text(200, "ok\n", head, keep);
    if (r.path == "/readyz") {
      Snapshot s = source();
      return json_answer(is_ready(s) ? 200 : 503, readyz_json(s), head, keep);
    }
    if (r.path == "/metrics") {
      Answer a = text(200, metrics_text(source()), head, keep);
      a.type = "text/plain; version=0.0.4";
      return a;
    }
    if (r.path == "/status") return status_answer(r, head, keep);
    if (r.path == "/" && r.accepts_html) return page_answer(page::html, "text/html; charset=utf-8", head, keep);
    if (r.path == "/page.js") return page_answer(page::script, "text/javascript; charset=utf-8", head, keep);
    if (r.path == "/page.css") return page_answer(page::style, "text/css; charset=utf-8", head, keep);
    return text(404, "not found: try /healthz, /readyz, /status or /metrics (or / in a browser)\n", head, keep);
  }

  // /status?wait=ready&timeout=30s: held until ready (200) or the timeout (503).
  // /status?wait=change&version=N&timeout=30s: held until the version moves from N or the
  // timeout, then 200 with the document as it is.
  Answer status_answer(const Request& r, bool head, bool keep) {
    Snapshot s = source();
    auto wait = status_wait(r.query, is_ready(s), s.version);
    if (!wait) return text(400, wait.error().message + "\n", head, false);
    if (!*wait) return json_answer(200, status_json(s), head, keep);
    Answer a;
    a.head_only = head;
    a.keep_alive = keep;
    a.park_for = (*wait)->timeout;
    a.hold = (*wait)->hold;
    return a;
  }

  Answer answer_held(const Hold& hold) override {
    Snapshot s = source();
    bool answered = hold.until == Hold::Until::change || is_ready(s);
    return json_answer(answered ? 200 : 503, status_json(s), false, true);
  }

  // --- libuv ---

  static Impl* of(uv_handle_t* h) { return static_cast<Impl*>(h->data); }

  static void on_connection(uv_stream_t* listener, int status) {
    Impl* self = of(reinterpret_cast<uv_handle_t*>(listener));
    if (status < 0 || !self) {
      if (status < 0) spdlog::warn("health: accept: {}", uv_strerror(status));
      return;
    }
    if (self->turn != uv_now(self->loop)) {
      self->turn = uv_now(self->loop);
      self->accepted_this_turn = 0;
    }
    if (++self->accepted_this_turn > kAcceptsPerTurn) return self->defer_accepting();
    auto* c = new Connection(self, self->now());
    c->tcp.data = c;
    int err = uv_tcp_init(self->loop, &c->tcp);
    if (err != 0) {  // not accepted, so libuv stops watching the listener: try again next turn
      spdlog::warn("health: cannot take a connection: {}", uv_strerror(err));
      delete c;
      return self->defer_accepting();
    }
    c->place = self->open.insert(self->open.end(), c);
    if ((err = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp))) != 0) {
      spdlog::debug("health: accept: {}", uv_strerror(err));
      return close_connection(c);
    }
    c->peer = peer_of(&c->tcp);
    uv_tcp_nodelay(&c->tcp, 1);  // a latency hint only: its failure changes nothing
    take_what_came(c);
    if (self->open.size() > self->max_connections) self->make_room(c);
    sync(c);
  }

  // What a client sent with its connection is usually there when it is accepted: answering it
  // now means a flood of newcomers cannot push a connection out before it has been heard.
  static void take_what_came(Connection* c) {
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp), &fd) != 0) return;
    char buffer[4096];
    ssize_t n = recv(fd, buffer, std::min(sizeof buffer, c->talk.read_room()), MSG_DONTWAIT);
    if (n > 0) c->talk.received(std::string_view(buffer, static_cast<size_t>(n)), c->server->now());
  }

  // Not accepting leaves the connection queued and libuv stops watching the listener; after this
  // turn's I/O the check handle accepts it, which watches the listener again.
  void defer_accepting() {
    int err = uv_check_start(next_turn, [](uv_check_t* check) {
      Impl* self = static_cast<Impl*>(check->data);
      uv_check_stop(check);
      self->accepted_this_turn = 0;
      if (self->listener) on_connection(reinterpret_cast<uv_stream_t*>(self->listener), 0);
    });
    if (err != 0) spdlog::error("health: cannot resume accepting: {}", uv_strerror(err));
  }

  // The connection pick_victim() names among those `eligible` accepts, or null. The scratch
  // vectors are kept between calls: no allocation per newcomer under a flood.
  template <typename Eligible>
  Connection* stalest(Eligible eligible) {
    candidates.clear();
    occupants.clear();
    for (Connection* c : open) {
      if (c->closing || !eligible(c)) continue;
      candidates.push_back(c);
      occupants.push_back({c->peer, c->talk.last_progress()});
    }
    return candidates.empty() ? nullptr : candidates[pick_victim(occupants)];
  }

  // Every slot taken: the stalest connection (never the newcomer) is closed.
  void make_room(Connection* newcomer) {
    Connection* victim = stalest([newcomer](Connection* c) { return c != newcomer; });
    if (!victim) return;
    spdlog::debug("health: {} connections: closing one of {}'s to make room", open.size(), victim->peer);
    close_connection(victim);
  }

  // Too many held requests: the stalest is answered now (503 while not ready; a change-wait
  // with the document as it is).
  void release_a_held_request() {
    if (Connection* c = stalest([](Connection* candidate) { return candidate->held; })) {
      c->talk.release(now(), answer_held(c->talk.hold()));
      sync(c);
    }
  }

  static void alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    static char buffer[16 * 1024];
    auto* c = static_cast<Connection*>(h->data);
    *buf = uv_buf_init(buffer, static_cast<unsigned>(std::min(sizeof buffer, c->talk.read_room())));
  }

  static void on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
    auto* c = static_cast<Connection*>(stream->data);
    if (n == 0 || c->closing) return;
    if (n == UV_ENOBUFS) return sync(c);  // no room: sync() stops reading
    if (n < 0) c->talk.peer_closed(c->server->now());
    else c->talk.received(std::string_view(buf->base, static_cast<size_t>(n)), c->server->now());
    sync(c);
  }

  static void on_written(Connection* c, int status) {
    if (c->closing) return;
    c->talk.written(status == 0, c->server->now());
    sync(c);
  }

  // Carries out what the conversation wants after an event: write, read or not, wake at its
  // deadline, or close.
  static void sync(Connection* c) {
    Impl* self = c->server;
    if (c->talk.state() == Conversation::State::closed) return close_connection(c);
    bool parked = c->talk.state() == Conversation::State::parked;
    bool too_many_held = false;
    if (parked != c->held) {
      c->held = parked;
      parked ? ++self->held : --self->held;
      too_many_held = parked && self->held > kMaxHeldRequests;
    }
    if (auto out = c->talk.take_output()) {
      auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
      if (int err = write_owned(stream, std::move(*out), [c](int status) { on_written(c, status); }); err != 0) {
        spdlog::debug("health: write: {}", uv_strerror(err));
        return close_connection(c);
      }
    }
    bool want = c->talk.read_room() > 0;
    if (want != c->reading) {
      auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
      int err = want ? uv_read_start(stream, alloc, on_read) : uv_read_stop(stream);
      if (err != 0) {
        spdlog::debug("health: {}: {}", want ? "read" : "read stop", uv_strerror(err));
        return close_connection(c);
      }
      c->reading = want;
    }
    Millis wait = std::max(Millis(0), c->talk.deadline() - self->now());
    c->timer.start(wait, [c] {
      c->talk.tick(c->server->now());
      sync(c);
    });
    if (too_many_held) self->release_a_held_request();
  }

  static void close_connection(Connection* c) {
    if (c->closing) return;
    c->closing = true;
    c->talk.close();
    if (c->held) --c->server->held;
    c->held = false;
    c->server->open.erase(c->place);
    c->timer.stop();
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) { delete static_cast<Connection*>(h->data); });
  }
};

Server::Server(uv_loop_t* loop, SnapshotSource source) : impl_(std::make_unique<Impl>()) {
  impl_->loop = loop;
  impl_->source = std::move(source);
  impl_->next_turn = new uv_check_t;
  uv_check_init(loop, impl_->next_turn);  // cannot fail: it only links the handle into the loop
  impl_->next_turn->data = impl_.get();
}

Server::~Server() {
  for (Impl::Connection* c : std::vector<Impl::Connection*>(impl_->open.begin(), impl_->open.end())) {
    Impl::close_connection(c);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(impl_->next_turn), [](uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); });
  if (impl_->listener) {
    impl_->listener->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(impl_->listener), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  }
}

Status Server::listen(const std::string& address) {
  auto parsed = config::parse_listen(address);  // the same parser config/ checks health.listen with
  sockaddr_storage sa{};
  int bad = !parsed        ? UV_EINVAL
            : parsed->ipv6 ? uv_ip6_addr(parsed->host.c_str(), parsed->port, reinterpret_cast<sockaddr_in6*>(&sa))
                           : uv_ip4_addr(parsed->host.c_str(), parsed->port, reinterpret_cast<sockaddr_in*>(&sa));
  if (bad != 0)
    return fail("health.listen: '" + address + "' is not IP:PORT (expected e.g. 0.0.0.0:60080 or [::]:60080)");
  auto* tcp = new uv_tcp_t;
  if (int rc = uv_tcp_init(impl_->loop, tcp); rc != 0) {
    delete tcp;  // never initialised: nothing for the loop to close
    return fail("health: cannot listen on " + address + ": " + uv_strerror(rc));
  }
  int err = uv_tcp_bind(tcp, reinterpret_cast<sockaddr*>(&sa), 0);
  if (err == 0) err = uv_listen(reinterpret_cast<uv_stream_t*>(tcp), kListenBacklog, Impl::on_connection);
  if (err != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(tcp), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    return fail("health: cannot listen on " + address + ": " + uv_strerror(err));
  }
  tcp->data = impl_.get();
  impl_->listener = tcp;
  return {};
}

void Server::notify_change() {
  if (impl_->held == 0) return;
  Snapshot s = impl_->source();
  std::optional<Answer> answer;  // one document for every held request it answers, made once
  for (Impl::Connection* c : std::vector<Impl::Connection*>(impl_->open.begin(), impl_->open.end())) {
    if (!c->held || c->closing || !met(c->talk.hold(), s)) continue;
    if (!answer) answer = json_answer(200, status_json(s), false, true);
    c->talk.release(impl_->now(), *answer);
    Impl::sync(c);
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
  // Whole for its readers (the rename), not fsynced: PID 1's loop must not wait on the disk
  // for a file rewritten on every change and at every start.
  if (auto done = fs::write_atomically(impl_->path, status_json(impl_->source()), 0644, fs::Sync::no); !done) {
    spdlog::warn("status file: {}", done.error().message);
  }
}

}  // namespace wsinit::health
