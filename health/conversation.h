// One HTTP connection of the health server as a pure state machine: bytes, write completions,
// clock ticks and readiness changes in; what to write, whether to read, when to wake and when
// to close out. No I/O and no clock of its own, so every interleaving can be driven by a test
// or a fuzzer. server.cpp binds it to libuv.
//
//   state    | received       | written        | tick past deadline | released      | peer_closed
//   ---------+----------------+----------------+--------------------+---------------+---------------
//   reading  | parse: answer  | (impossible)   | close              | -             | answer what is
//            | -> writing, or |                |                    |               | buffered, then
//            | hold -> parked |                |                    |               | close
//   writing  | (not reading)  | keep-alive:    | close (the client  | -             | finish the
//            |                | -> reading;    | does not take its  |               | answers, then
//            |                | else close     | answer)            |               | close
//   parked   | buffer, up to  | (impossible)   | answer now         | answer now    | close
//            | the budget     |                | -> writing         | -> writing    |
//   closed   | (impossible)   | ignored        | ignored            | ignored       | ignored
//
// A request is parked (held) while it waits for the workspace to be ready (/status?wait=ready)
// or for the status document to change (?wait=change); `released` is the server answering it
// when that happened, or to make room for another held request.
//
// close() ends any state (eviction, shutdown). An impossible pair (bytes past read_room(), a
// completion with nothing in flight) is not silently absorbed: the conversation closes.
//
// Bounds that hold in every state: at most `input_budget` bytes are held unparsed (read_room()
// says how many more may come; 0 means stop reading), one response at a time is in flight, and
// the deadline only moves on progress (a request taken, a response written), never on bytes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "health/health.h"

namespace wsinit::health {

using Millis = std::chrono::milliseconds;  // monotonic time

struct Limits {
  std::size_t input_budget = 12 * 1024;  // unparsed bytes held, in any state (> kMaxHeaderBytes)
  Millis request_time{10'000};           // to send a whole request once one may come
  Millis write_time{10'000};             // for the client to take its answer
};

// What a held request waits for.
struct Hold {
  enum class Until : std::uint8_t { ready, change };
  Until until = Until::ready;
  std::uint64_t version = 0;  // change: the version of the status document the client has
};

// What /status?QUERY asks for, given whether the workspace is ready and the document's version
// now: nullopt, the document at once; else to be held up to `timeout` until `hold` is met. An
// error is the text of the 400 answer, naming the parameter. Parameters that do not matter to
// the answer are not looked at (?wait=ready&timeout=x when ready is answered, as always).
struct Held {
  Hold hold;
  Millis timeout{0};
};
Result<std::optional<Held>> status_wait(std::string_view query, bool ready, std::uint64_t version);

// What a request gets.
struct Answer {
  int status = 200;
  std::string type = "text/plain";
  std::string body;
  std::string extra_headers;  // whole lines, each ending in \r\n
  bool keep_alive = true;
  bool head_only = false;
  std::optional<Millis> park_for;  // hold the request up to this long, until `hold` is met
  Hold hold;
};

// What the conversation asks of the server.
class Endpoints {
 public:
  virtual ~Endpoints() = default;
  virtual Answer answer(const Request& request) = 0;
  // The answer to a held request at its timeout (or released early to make room): waiting for
  // ready, 200 if ready by then, else 503; waiting for a change, 200 with the document as it
  // is. The conversation sets head_only and keep_alive as the request asked.
  virtual Answer answer_held(const Hold& hold) = 0;
};

class Conversation {
 public:
  enum class State { reading, writing, parked, closed };

  Conversation(Endpoints& endpoints, const Limits& limits, Millis now);

  // Events. `bytes` must fit in read_room().
  void received(std::string_view bytes, Millis now);
  void peer_closed(Millis now);           // end of the stream, or a read error
  void written(bool ok, Millis now);      // the last output was written (or failed)
  void tick(Millis now);                  // acts on a deadline that has passed
  void release(Millis now, Answer a);     // a held request is answered now, with `a`
  void close();                           // ends it without another word

  // What the server does next.
  std::size_t read_room() const;          // how many bytes it takes now; 0: stop reading
  std::optional<std::string> take_output();  // the next response to write, once
  State state() const { return state_; }
  Millis deadline() const { return deadline_; }
  Millis last_progress() const { return last_progress_; }
  Hold hold() const { return {held_until_, held_version_}; }  // what a parked request waits for
  std::size_t buffered() const { return in_.size() - offset_; }
  bool output_in_flight() const { return in_flight_; }

 private:
  void serve(Millis now);
  void send(const Answer& a, Millis now);
  void park(const Answer& a, Millis now);
  void to_reading(Millis now);

  Endpoints& endpoints_;
  Limits limits_;
  State state_ = State::reading;
  std::string in_;
  std::size_t offset_ = 0;      // bytes of in_ already consumed; compacted before appending
  std::optional<std::string> out_;
  bool in_flight_ = false;      // out_ was taken and its write has not completed
  bool close_after_write_ = false;
  bool peer_done_ = false;
  bool held_head_only_ = false, held_keep_alive_ = true;
  Hold::Until held_until_ = Hold::Until::ready;  // beside the flags, in what would be padding
  std::uint64_t held_version_ = 0;
  Millis deadline_{0};
  Millis last_progress_{0};
};

const char* state_name(Conversation::State s);

// Room for a newcomer when every slot is taken: the connection to evict, by index into
// `occupants`. The peer address holding the most connections gives one up (so one client
// cannot crowd out another), and among its connections the one that made progress least
// recently (accepted, or last answered longest ago). `occupants` must not be empty.
struct Occupant {
  std::string_view peer;  // the remote address, without the port
  Millis last_progress{0};
};
std::size_t pick_victim(const std::vector<Occupant>& occupants);

}  // namespace wsinit::health
