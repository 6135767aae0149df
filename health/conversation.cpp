// One HTTP connection's protocol, without I/O: see the table in conversation.h.
#include "conversation.h"

#include <map>

namespace wsinit::health {
namespace {

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

std::string render(const Answer& a) {
  std::string out = "HTTP/1.1 " + std::to_string(a.status) + " " + reason(a.status) + "\r\n";
  out += "Content-Type: " + a.type + "\r\nContent-Length: " + std::to_string(a.body.size()) +
         "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";  // every answer: a 400 echoes a little of the request
  out += a.extra_headers;
  out += a.keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  if (!a.head_only) out += a.body;
  return out;
}

}  // namespace

const char* state_name(Conversation::State s) {
  switch (s) {
    case Conversation::State::reading: return "reading";
    case Conversation::State::writing: return "writing";
    case Conversation::State::parked: return "parked";
    case Conversation::State::closed: return "closed";
  }
  return "?";
}

Conversation::Conversation(Endpoints& endpoints, const Limits& limits, Millis now)
    : endpoints_(endpoints), limits_(limits), deadline_(now + limits.request_time), last_progress_(now) {}

std::size_t Conversation::read_room() const {
  if (state_ == State::writing || state_ == State::closed || peer_done_) return 0;
  return limits_.input_budget - buffered();
}

void Conversation::received(std::string_view bytes, Millis now) {
  if (bytes.size() > read_room()) return close();  // the server read past the room it was given: a bug, said by closing
  if (offset_ > 0) {  // compact once per read, never once per request
    in_.erase(0, offset_);
    offset_ = 0;
  }
  in_.append(bytes);
  if (state_ == State::reading) serve(now);
}

void Conversation::peer_closed(Millis now) {
  if (state_ == State::closed) return;
  peer_done_ = true;
  if (state_ == State::reading) return serve(now);  // answers what came before the end, then closes
  if (state_ == State::parked) close();              // nobody is left to wait for
  // writing: a half-closed client still takes its answers; a gone one fails the write
}

void Conversation::written(bool ok, Millis now) {
  if (state_ == State::closed) return;
  if (state_ != State::writing || !in_flight_) return close();  // nothing was in flight: impossible
  in_flight_ = false;
  if (!ok || close_after_write_) return close();
  last_progress_ = now;
  to_reading(now);
}

void Conversation::tick(Millis now) {
  if (state_ == State::closed || now < deadline_) return;
  if (state_ == State::parked) return release(now, endpoints_.answer_held(hold()));  // says whether ready, or the document
  close();  // no whole request in time, or an answer the client does not take
}

void Conversation::release(Millis now, Answer a) {
  if (state_ != State::parked) return;
  a.head_only = held_head_only_;
  a.keep_alive = held_keep_alive_;
  send(a, now);
}

void Conversation::close() {
  state_ = State::closed;
  out_.reset();
  in_flight_ = false;  // a write still completing is ignored
  in_.clear();
  in_.shrink_to_fit();
  offset_ = 0;
}

std::optional<std::string> Conversation::take_output() {
  if (!out_ || in_flight_) return std::nullopt;
  in_flight_ = true;
  std::optional<std::string> out = std::move(out_);
  out_.reset();
  return out;
}

void Conversation::to_reading(Millis now) {
  state_ = State::reading;
  deadline_ = now + limits_.request_time;
  serve(now);
}

// Takes the next request from the buffer, if a whole one is there.
void Conversation::serve(Millis now) {
  if (state_ != State::reading) return;
  Request request;
  std::size_t consumed = 0;
  int status = 0;
  Parse result = parse_request(std::string_view(in_).substr(offset_), &request, &consumed, &status);
  if (result == Parse::incomplete) {
    if (peer_done_) close();
    return;
  }
  if (result == Parse::bad) {
    offset_ = in_.size();
    Answer bad;
    bad.status = status;
    bad.body = std::string(reason(status)) + "\n";
    bad.keep_alive = false;
    return send(bad, now);
  }
  offset_ += consumed;
  Answer a = endpoints_.answer(request);
  if (a.park_for) return park(a, now);
  send(a, now);
}

void Conversation::send(const Answer& a, Millis now) {
  state_ = State::writing;
  out_ = render(a);
  close_after_write_ = !a.keep_alive;
  deadline_ = now + limits_.write_time;
}

void Conversation::park(const Answer& a, Millis now) {
  state_ = State::parked;
  held_head_only_ = a.head_only;
  held_keep_alive_ = a.keep_alive;
  held_until_ = a.hold.until;
  held_version_ = a.hold.version;
  deadline_ = now + *a.park_for;
}

std::size_t pick_victim(const std::vector<Occupant>& occupants) {
  struct Holding {
    std::size_t count = 0;
    std::size_t stalest = 0;  // index of its connection with the oldest progress
  };
  std::map<std::string_view, Holding> by_peer;
  for (std::size_t i = 0; i < occupants.size(); ++i) {
    auto [it, fresh] = by_peer.try_emplace(occupants[i].peer, Holding{0, i});
    Holding& h = it->second;
    ++h.count;
    if (occupants[i].last_progress < occupants[h.stalest].last_progress) h.stalest = i;
  }
  const Holding* most = nullptr;
  for (const auto& [peer, h] : by_peer) {
    if (!most || h.count > most->count ||
        (h.count == most->count && occupants[h.stalest].last_progress < occupants[most->stalest].last_progress))
      most = &h;
  }
  return most ? most->stalest : 0;
}

}  // namespace wsinit::health
