#include "probe.h"

#include <sys/wait.h>

#include <cstring>
#include <spdlog/spdlog.h>

#include "common/http_status.h"
#include "common/url.h"

namespace wsinit::supervisor {

Result<HttpTarget> parse_http_url(const std::string& text) {
  auto url = parse_probe_url(text);
  if (!url) return url.error();
  return HttpTarget{url->host, url->port, url->path, host_header(*url)};
}

// One connection attempt. Owned by itself: freed when its handle closes. `owner` is cleared
// when the probe stops first, so late callbacks do nothing.
struct Probe::Attempt {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  Probe* owner;
  bool closing = false;
  bool expect_banner = false;  // tcp: the first line must start with spec.tcp_expect
  std::string request, response;
  char buffer[1024];

  // Ends the attempt once; callbacks that arrive after (cancelled ones) find it closing.
  void finish(bool ready) {
    if (closing) return;
    closing = true;
    Probe* probe = owner;
    owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* h) { delete static_cast<Attempt*>(h->data); });
    if (!probe) return;
    probe->in_flight_ = nullptr;
    if (ready) probe->succeed();
  }
  // Ends the attempt as failed because libuv refused `what`: the probe says why, and tries again
  // at its next interval.
  void fail(const char* what, int error) {
    if (owner) owner->attempt_failed(what, error);
    finish(false);
  }

  static void on_connect(uv_connect_t* req, int status);
  static void on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf);
};

void Probe::Attempt::on_connect(uv_connect_t* req, int status) {
  auto* self = static_cast<Attempt*>(req->data);
  if (!self->owner || status != 0) return self->finish(false);
  if (self->request.empty() && !self->expect_banner) return self->finish(true);  // tcp: connected is ready
  auto* stream = reinterpret_cast<uv_stream_t*>(&self->tcp);
  if (!self->request.empty()) {
    uv_buf_t buf = uv_buf_init(self->request.data(), static_cast<unsigned>(self->request.size()));
    int rc = uv_write(&self->write, stream, &buf, 1, [](uv_write_t* w, int st) {
      auto* attempt = static_cast<Attempt*>(w->data);
      if (st != 0 && attempt->owner) attempt->finish(false);
    });
    if (rc != 0) return self->fail("uv_write", rc);
  }
  auto alloc = [](uv_handle_t* h, size_t, uv_buf_t* b) {
    auto* attempt = static_cast<Attempt*>(h->data);
    *b = uv_buf_init(attempt->buffer, sizeof attempt->buffer);
  };
  if (int rc = uv_read_start(stream, alloc, on_read); rc != 0) self->fail("uv_read_start", rc);
}

void Probe::Attempt::on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
  auto* attempt = static_cast<Attempt*>(stream->data);
  if (!attempt->owner) return;
  if (n < 0) return attempt->finish(false);
  attempt->response.append(buf->base, static_cast<size_t>(n));
  if (attempt->response.find('\n') == std::string::npos && attempt->response.size() < 512) return;
  const config::Readiness& spec = attempt->owner->spec_;
  if (attempt->expect_banner) return attempt->finish(attempt->response.rfind(spec.tcp_expect, 0) == 0);
  int code = parse_status_line(attempt->response);
  attempt->finish(code >= 100 && code < spec.http_ready_below);
}

Probe::Probe(uv_loop_t* loop, const config::Readiness& spec, std::string host)
    : loop_(loop), spec_(spec), host_(std::move(host)), timer_(loop) {
  if (spec_.kind == config::Readiness::Kind::http) {
    if (auto target = parse_http_url(spec_.http_url)) http_ = *target;
    else problem_ = "cannot probe " + spec_.http_url + ": " + target.error().message;
  }
}

Probe::~Probe() { stop(); }

void Probe::start(std::function<void()> on_ready, std::function<pid_t()> spawn_exec) {
  on_ready_ = std::move(on_ready);
  spawn_exec_ = std::move(spawn_exec);
  running_ = true;
  attempt();
  if (running_ && !timer_.repeat(spec_.interval, [this] { attempt(); }))
    problem_ = "cannot schedule the probe's attempts (no timer): it is tried once only";
}

// A libuv call an attempt needs was refused: the attempt failed, and problem() says why.
void Probe::attempt_failed(const char* what, int error) {
  bool is_http = spec_.kind == config::Readiness::Kind::http;
  std::string target = is_http ? spec_.http_url : host_ + ":" + std::to_string(spec_.tcp_port);
  problem_ = "probing " + target + ": " + what + " failed: " + uv_strerror(error);
  spdlog::debug("{}", problem_);
}

void Probe::stop() {
  running_ = false;
  timer_.stop();
  if (in_flight_) in_flight_->finish(false);
  // An exec probe still running is left to exit on its own; its pid stays known until reaped.
}

void Probe::succeed() {
  if (!running_) return;
  stop();
  if (on_ready_) on_ready_();
}

void Probe::attempt() {
  if (!running_ || in_flight_ || exec_pid_ > 0) return;  // the previous try is still going
  if (spec_.kind == config::Readiness::Kind::exec) {
    exec_pid_ = spawn_exec_ ? spawn_exec_() : -1;
    return;
  }
  start_network_attempt();
}

void Probe::on_exec_exit(int wait_status) {
  exec_pid_ = -1;
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) succeed();
}

void Probe::start_network_attempt() {
  bool is_http = spec_.kind == config::Readiness::Kind::http;
  if (is_http && !http_) return;  // config validation reports bad URLs
  sockaddr_storage address{};
  std::string host = is_http ? http_->host : host_;
  int port = is_http ? http_->port : spec_.tcp_port;
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&address)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&address)) != 0)
    return;
  auto* a = new Attempt;
  a->owner = this;
  a->tcp.data = a;
  a->connect.data = a;
  a->write.data = a;
  if (is_http) {
    a->request = "GET " + http_->path + " HTTP/1.0\r\nHost: " + http_->host_header +
                 "\r\nUser-Agent: wsinit-probe\r\nConnection: close\r\n\r\n";
  }
  a->expect_banner = !is_http && !spec_.tcp_expect.empty();
  if (int rc = uv_tcp_init(loop_, &a->tcp); rc != 0) {
    delete a;  // libuv never saw the handle: nothing to close
    return attempt_failed("uv_tcp_init", rc);
  }
  in_flight_ = a;
  auto* to = reinterpret_cast<sockaddr*>(&address);
  if (int rc = uv_tcp_connect(&a->connect, &a->tcp, to, Attempt::on_connect); rc != 0) a->fail("uv_tcp_connect", rc);
}

}  // namespace wsinit::supervisor
