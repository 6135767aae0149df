// The push reporter. One attempt at a time: resolve, connect, (TLS), POST, read the status line.
#include "reporter.h"

#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <random>
#include <spdlog/spdlog.h>

#include "common/backoff.h"
#include "common/fs.h"
#include "common/http_status.h"
#include "common/url.h"
#include "common/stream_write.h"
#include "common/timer.h"

namespace wsinit::health {
namespace {

using namespace std::chrono_literals;
constexpr auto kDebounce = 200ms;
constexpr auto kAttemptTimeout = 10s;

std::string tls_error() {
  unsigned long code = ERR_get_error();
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return code ? buf : "TLS error";
}

}  // namespace

ReplyStatus::State ReplyStatus::feed(std::string_view bytes) {
  if (state_ != State::incomplete) return state_;
  size_t newline = bytes.find('\n');
  size_t line_bytes = newline == std::string_view::npos ? bytes.size() : newline;
  if (line_.size() + line_bytes > kMaxStatusLine) return state_ = State::too_long;
  line_.append(bytes.substr(0, line_bytes));
  if (newline == std::string_view::npos) return state_;
  code_ = parse_status_line(line_);
  return state_ = State::complete;
}

std::string signature(const std::string& key, const std::string& timestamp, const std::string& body) {
  return "sha256=" + hmac_sha256_hex(key, timestamp + "." + body);
}

std::string hmac_sha256_hex(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &length);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < length; ++i) {
    out += hex[mac[i] >> 4];
    out += hex[mac[i] & 15];
  }
  return out;
}

// One report: owned by itself, freed once both the resolver and the socket have let go of it.
struct Attempt {
  Reporter::Impl* owner;
  uv_getaddrinfo_t resolver;
  uv_tcp_t tcp;
  uv_connect_t connect;
  SSL* ssl = nullptr;
  BIO* rbio = nullptr;  // network -> OpenSSL
  BIO* wbio = nullptr;  // OpenSSL -> network
  std::string request;
  ReplyStatus reply;
  bool resolving = true, done = false, request_sent = false;

  ~Attempt() {
    if (ssl) SSL_free(ssl);  // frees both BIOs too
  }
  void finish(bool ok, const std::string& why);
  void release() {
    if (resolving) return;  // the resolver callback comes back for us
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* h) { delete static_cast<Attempt*>(h->data); });
  }
  void send(std::string data) {
    if (write_owned(reinterpret_cast<uv_stream_t*>(&tcp), std::move(data), [this](int status) {
          if (status < 0 && !done) finish(false, std::string("send: ") + uv_strerror(status));
        }) != 0)
      finish(false, "send failed");
  }
  void flush_tls() {
    char buf[16384];
    int n;
    while ((n = BIO_read(wbio, buf, sizeof buf)) > 0) send(std::string(buf, static_cast<size_t>(n)));
  }
  // Ends the attempt once the answer's status line is there, or is too long to be one.
  void take_reply(std::string_view bytes) {
    switch (reply.feed(bytes)) {
      case ReplyStatus::State::incomplete:
        return;
      case ReplyStatus::State::too_long:
        return finish(false, "the answer has no status line within its first " +
                                 std::to_string(ReplyStatus::kMaxStatusLine / 1024) + " KiB; not an HTTP receiver?");
      case ReplyStatus::State::complete: {
        int code = reply.code();
        if (code >= 200 && code < 300) return finish(true, "");
        return finish(false, code > 0 ? "the receiver answered " + std::to_string(code) : "the answer is not HTTP");
      }
    }
  }
  void pump_tls() {
    if (!request_sent) {
      int n = SSL_write(ssl, request.data(), static_cast<int>(request.size()));
      if (n > 0) {
        request_sent = true;
      } else if (int e = SSL_get_error(ssl, n); e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        long verify = SSL_get_verify_result(ssl);
        return finish(false, verify != X509_V_OK ? std::string("certificate: ") + X509_verify_cert_error_string(verify)
                                                 : "TLS: " + tls_error());
      }
    }
    if (request_sent) {
      char buf[4096];
      int n = 0;
      while (!done && (n = SSL_read(ssl, buf, sizeof buf)) > 0) take_reply(std::string_view(buf, static_cast<size_t>(n)));
      if (done) return;
      int e = SSL_get_error(ssl, n);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_ZERO_RETURN) {
        flush_tls();
        return finish(false, "TLS: " + tls_error());
      }
    }
    flush_tls();
  }
};

struct Reporter::Impl {
  uv_loop_t* loop;
  config::Config::Health settings;
  Server::SnapshotSource source;
  Url target;
  std::string secret;
  SSL_CTX* tls = nullptr;
  Timer debounce, interval, retry, attempt_timeout;
  Attempt* in_flight = nullptr;
  bool pending = false;
  int failures = 0;
  std::mt19937_64 random{std::random_device{}()};

  Impl(uv_loop_t* l, const config::Config::Health& s, Server::SnapshotSource src)
      : loop(l), settings(s), source(std::move(src)), debounce(l), interval(l), retry(l), attempt_timeout(l) {}
  ~Impl() {
    if (in_flight) {
      in_flight->owner = nullptr;
      in_flight->finish(false, "shutting down");
    }
    if (tls) SSL_CTX_free(tls);
  }

  void send();     // a report is due
  void attempt();  // sends one now
  void finished(bool ok, const std::string& why);
  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* result);
  static void on_connected(uv_connect_t* req, int status);
};

void Attempt::finish(bool ok, const std::string& why) {
  if (done) return;
  done = true;
  if (owner) owner->finished(ok, why);
  release();
}

// A report is due (a change, the interval). While one is in flight or a failed one waits for
// its retry, the due one folds into that: the retry sends the state of its own moment, so a
// down receiver sees the backoff, not one attempt per interval.
void Reporter::Impl::send() {
  if (in_flight || retry.pending()) {
    pending = true;
    return;
  }
  attempt();
}

void Reporter::Impl::attempt() {
  pending = false;
  std::string body = status_json(source());
  std::string timestamp = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  auto* a = new Attempt;
  a->owner = this;
  a->resolver.data = a;
  a->tcp.data = a;
  a->connect.data = a;
  a->request = "POST " + target.path + " HTTP/1.1\r\nHost: " + host_header(target) + "\r\nUser-Agent: wsinit/" WSINIT_VERSION
               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\nX-Wsinit-Timestamp: " + timestamp + "\r\n";
  if (!secret.empty()) a->request += "X-Wsinit-Signature: " + signature(secret, timestamp, body) + "\r\n";
  a->request += "Connection: close\r\n\r\n" + body;
  if (int rc = uv_tcp_init(loop, &a->tcp); rc != 0) {
    delete a;  // its handle was never initialised: nothing for the loop to close
    finished(false, std::string("cannot open a socket: ") + uv_strerror(rc));
    return;
  }
  in_flight = a;
  attempt_timeout.start(kAttemptTimeout, [this] {
    if (in_flight) in_flight->finish(false, "no answer within 10s");
  });
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string port = std::to_string(target.port);
  if (int err = uv_getaddrinfo(loop, &a->resolver, on_resolved, target.host.c_str(), port.c_str(), &hints); err != 0) {
    a->resolving = false;
    a->finish(false, std::string("resolving ") + target.host + ": " + uv_strerror(err));
  }
}

void Reporter::Impl::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* result) {
  auto* a = static_cast<Attempt*>(req->data);
  a->resolving = false;
  if (a->done) {
    if (result) uv_freeaddrinfo(result);
    return a->release();
  }
  if (status < 0 || !result) {
    a->finish(false, std::string("resolving the report host: ") + uv_strerror(status));
    return;
  }
  int err = uv_tcp_connect(&a->connect, &a->tcp, result->ai_addr, on_connected);
  uv_freeaddrinfo(result);
  if (err != 0) a->finish(false, std::string("connect: ") + uv_strerror(err));
}

void Reporter::Impl::on_connected(uv_connect_t* req, int status) {
  auto* a = static_cast<Attempt*>(req->data);
  if (a->done) return;
  if (status < 0) return a->finish(false, std::string("connect: ") + uv_strerror(status));
  int rc = uv_read_start(
      reinterpret_cast<uv_stream_t*>(&a->tcp),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static char buffer[16384];
        *buf = uv_buf_init(buffer, sizeof buffer);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* self = static_cast<Attempt*>(s->data);
        if (self->done) return;
        if (n < 0) {
          if (self->ssl) self->pump_tls();
          if (!self->done) self->finish(false, "the receiver closed the connection without an answer");
          return;
        }
        if (!self->ssl) return self->take_reply(std::string_view(buf->base, static_cast<size_t>(n)));
        BIO_write(self->rbio, buf->base, static_cast<int>(n));
        self->pump_tls();
      });
  if (rc != 0) return a->finish(false, std::string("reading the answer: ") + uv_strerror(rc));
  Impl* owner = a->owner;
  if (!owner->target.tls) return a->send(a->request);
  a->ssl = SSL_new(owner->tls);
  a->rbio = BIO_new(BIO_s_mem());
  a->wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(a->ssl, a->rbio, a->wbio);
  SSL_set_connect_state(a->ssl);
  const std::string& host = owner->target.host;
  if (is_ip_literal(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(a->ssl), host.c_str());
  } else {
    SSL_set_tlsext_host_name(a->ssl, host.c_str());  // SNI
    SSL_set1_host(a->ssl, host.c_str());             // the certificate must name it
  }
  a->pump_tls();
}

void Reporter::Impl::finished(bool ok, const std::string& why) {
  in_flight = nullptr;
  attempt_timeout.stop();
  if (ok) {
    if (failures > 0) spdlog::info("report: delivered again to {} after {} failed attempts", loggable_url(target), failures);
    failures = 0;
    if (pending) send();
    return;
  }
  if (failures++ == 0) spdlog::warn("report: cannot deliver to {}: {}; retrying with backoff", loggable_url(target), why);
  else spdlog::debug("report: attempt {} failed: {}", failures, why);
  auto cap = std::min<std::chrono::milliseconds>(settings.report_interval, 30s);
  double jitter = std::uniform_real_distribution<double>(0.0, 1.0)(random);
  retry.start(backoff_delay(std::chrono::milliseconds(500), std::max(cap, std::chrono::milliseconds(500)), failures, jitter),
              [this] { attempt(); });
}

Reporter::Reporter(uv_loop_t* loop, const config::Config::Health& settings, Server::SnapshotSource source)
    : impl_(std::make_unique<Impl>(loop, settings, std::move(source))) {}

Reporter::~Reporter() = default;

Status Reporter::start() {
  Impl& im = *impl_;
  auto target = parse_url(im.settings.report_url);
  if (!target) return fail("health.report.url: " + target.error().message);
  im.target = *target;
  if (!im.settings.report_secret_file.empty()) {
    auto secret = fs::read_file(im.settings.report_secret_file, 64 << 10);  // a key, not a file of data
    if (!secret)
      return fail("health.report.secret_file: cannot read " + im.settings.report_secret_file + ": " +
                  strerror(secret.error().code));
    if (!secret->empty() && secret->back() == '\n') secret->pop_back();  // as `echo` leaves it
    if (secret->empty()) return fail("health.report.secret_file: " + im.settings.report_secret_file + " is empty");
    im.secret = *secret;
  }
  if (target->tls) {
    im.tls = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(im.tls, TLS1_2_VERSION);
    SSL_CTX_set_verify(im.tls, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_default_verify_paths(im.tls);
    if (!im.settings.report_ca_file.empty() &&
        SSL_CTX_load_verify_locations(im.tls, im.settings.report_ca_file.c_str(), nullptr) != 1) {
      return fail("health.report.ca_file: cannot load " + im.settings.report_ca_file + ": " + tls_error());
    }
  }
  im.interval.repeat(im.settings.report_interval, [this] { impl_->send(); });
  changed();
  return {};
}

void Reporter::changed() {
  if (!impl_->debounce.pending()) impl_->debounce.start(kDebounce, [this] { impl_->send(); });
}

}  // namespace wsinit::health
