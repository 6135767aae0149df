// libFuzzer target: the health server's connection as a door, not only its parser. The input is
// a script of events in any order (bytes arriving in any split, writes completing or failing,
// the clock jumping, readiness changing, the status document changing (what /status?wait=change
// waits for), the peer leaving), played against the real state
// machine of health/conversation.h, with its bounds checked after every event:
//   - never more than the input budget held, in any state;
//   - nothing read while an answer is in flight, one answer in flight at a time;
//   - bytes never move the deadline; a deadline that passes always ends the state it guards;
//   - a closed conversation holds nothing and says nothing;
//   - a held request waits for what its answer asked (ready, or a change from its version), and
//     is released only into writing.
// Then the admission policy: the victim is in range and belongs to a biggest holder.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "health/conversation.h"

namespace {

using namespace wsinit::health;
using namespace std::chrono_literals;

struct Endpoints_ : Endpoints {
  bool ready = false;
  std::uint64_t version = 0;  // the status document's
  Hold last_hold;             // what the last held answer asked for
  Answer answer(const Request& r) override {
    Answer a;
    a.body = std::string(r.path.size() % 7, 'x');
    a.keep_alive = r.keep_alive;
    a.head_only = r.method == "HEAD";
    if (r.path.size() % 3 == 0) {
      a.park_for = Millis(static_cast<long>(r.path.size()) * 100);
      if (r.query.find("wait=change") != std::string::npos) a.hold = Hold{Hold::Until::change, version};
      last_hold = a.hold;
    }
    return a;
  }
  Answer answer_held(const Hold& hold) override {
    Answer a;
    a.status = ready || hold.until == Hold::Until::change ? 200 : 503;
    return a;
  }
};

void check(bool ok) {
  if (!ok) abort();
}

void check_bounds(const Conversation& c, const Limits& limits) {
  using S = Conversation::State;
  check(c.buffered() <= limits.input_budget);
  check(c.read_room() <= limits.input_budget - c.buffered());
  if (c.state() == S::writing) check(c.read_room() == 0);
  if (c.state() == S::closed) check(c.buffered() == 0 && c.read_room() == 0 && !c.output_in_flight());
}

// Requests the script's bytes are cut from, so that whole ones are common.
const std::string kPieces[] = {"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", "GET /abc HTTP/1.1\r\nHost: a\r\n\r\n",
                               "GET /st?wait=change&version=0 HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\n\r\n",
                               "HEAD /s HTTP/1.0\r\n\r\n", "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                               "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", "\r\n"};

void play(std::string_view script) {
  Endpoints_ endpoints;
  Limits limits;
  limits.input_budget = 1024 + script.size() % 4096;  // small budgets reach the edges
  limits.request_time = 1000ms;
  limits.write_time = 500ms;
  Millis now{0};
  Conversation c(endpoints, limits, now);
  bool in_flight = false;
  size_t at = 0;
  auto next = [&]() -> uint8_t { return at < script.size() ? static_cast<uint8_t>(script[at++]) : 0; };
  for (int steps = 0; steps < 2000 && at < script.size(); ++steps) {
    uint8_t op = next();
    uint8_t arg = next();
    switch (op % 9) {
      case 0: {  // raw bytes from the script
        size_t n = std::min<size_t>({arg, c.read_room(), script.size() - at});
        Millis before = c.deadline();
        auto state = c.state();
        c.received(script.substr(at, n), now);
        at += n;
        if (c.state() == state && state == Conversation::State::reading) check(c.deadline() == before);
        break;
      }
      case 1: {  // a piece of a well-formed request
        const std::string& piece = kPieces[arg % std::size(kPieces)];
        size_t n = std::min(piece.size(), c.read_room());
        c.received(std::string_view(piece).substr(0, n), now);
        break;
      }
      case 2:
      case 3:
        if (!in_flight) {
          auto out = c.take_output();
          if (out) {
            check(!out->empty() && out->rfind("HTTP/1.1 ", 0) == 0);
            check(!c.take_output());  // one at a time
            in_flight = true;
          }
        } else {
          c.written(op % 9 == 2 || arg % 4 != 0, now);
          in_flight = false;
        }
        break;
      case 4: now += Millis(arg); c.tick(now); break;
      case 5: {  // the clock reaches the deadline: what it guards ends
        auto state = c.state();
        now = std::max(now, c.deadline());
        c.tick(now);
        if (state == Conversation::State::parked) check(c.state() == Conversation::State::writing);
        if (state == Conversation::State::reading || state == Conversation::State::writing)
          check(c.state() == Conversation::State::closed);
        break;
      }
      case 6: {
        bool released = false;
        if (arg % 4 < 2) {  // readiness changes: a wait for ready is answered once ready
          endpoints.ready = arg % 2;
          released = endpoints.ready && c.hold().until == Hold::Until::ready;
        } else {  // the document changes: a wait for a change from another version is answered
          ++endpoints.version;
          released = c.hold().until == Hold::Until::change && c.hold().version != endpoints.version;
        }
        if (!released) break;
        auto state = c.state();
        c.release(now, endpoints.answer_held(c.hold()));
        if (state == Conversation::State::parked) check(c.state() == Conversation::State::writing);
        else check(c.state() == state);  // only a held request is released
        break;
      }
      case 7: if (arg % 8 == 0) c.peer_closed(now); break;
      case 8: if (arg == 0xff) c.close(); break;
    }
    check(c.output_in_flight() == in_flight || c.state() == Conversation::State::closed);
    if (c.state() == Conversation::State::parked)
      check(c.hold().until == endpoints.last_hold.until && c.hold().version == endpoints.last_hold.version);
    if (c.state() == Conversation::State::closed) in_flight = false;
    check_bounds(c, limits);
  }
}

void admit(std::string_view script) {
  static const std::string kPeers[] = {"a", "b", "c", "d", "e"};
  std::vector<Occupant> occupants;
  for (size_t i = 0; i + 1 < script.size() && occupants.size() < 300; i += 2)
    occupants.push_back({kPeers[static_cast<uint8_t>(script[i]) % 5], Millis(static_cast<uint8_t>(script[i + 1]))});
  if (occupants.empty()) return;
  size_t v = pick_victim(occupants);
  check(v < occupants.size());
  std::map<std::string_view, size_t> count;
  for (const auto& o : occupants) ++count[o.peer];
  for (const auto& [peer, n] : count) check(n <= count[occupants[v].peer]);
  for (const auto& o : occupants)
    if (o.peer == occupants[v].peer) check(o.last_progress >= occupants[v].last_progress);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view script(reinterpret_cast<const char*>(data), size);
  play(script);
  admit(script);
  return 0;
}
