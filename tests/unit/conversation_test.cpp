// The health server's per-connection state machine, transition by transition, and the
// admission policy.
#include <gtest/gtest.h>

#include <optional>

#include "health/conversation.h"

namespace wsinit::health {
namespace {

using namespace std::chrono_literals;
using State = Conversation::State;

const std::string kGet = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
const std::string kWait = "GET /wait HTTP/1.1\r\nHost: a\r\n\r\n";
const std::string kChange = "GET /change HTTP/1.1\r\nHost: a\r\n\r\n";

// /wait is held up to 5 s until ready, /change up to 3 s until the version moves from 7;
// everything else answers "ok".
struct FakeEndpoints : Endpoints {
  int answered = 0, held_answers = 0;
  bool ready = false;
  std::optional<Hold> asked;  // what the last answer_held was for
  Answer answer(const Request& r) override {
    ++answered;
    Answer a;
    a.body = "ok\n";
    a.keep_alive = r.keep_alive;
    a.head_only = r.method == "HEAD";
    if (r.path == "/wait") a.park_for = 5000ms;
    if (r.path == "/change") {
      a.park_for = 3000ms;
      a.hold = Hold{Hold::Until::change, 7};
    }
    return a;
  }
  Answer answer_held(const Hold& hold) override {
    ++held_answers;
    asked = hold;
    Answer a;
    a.status = ready || hold.until == Hold::Until::change ? 200 : 503;
    a.body = hold.until == Hold::Until::change ? "document\n" : "held\n";
    a.keep_alive = false;  // the conversation puts back what the request asked for
    return a;
  }
};

struct ConversationTest : ::testing::Test {
  FakeEndpoints endpoints;
  Limits limits;
  Conversation talk{endpoints, limits, 0ms};

  // Writes what is pending, as the server would, and completes the write.
  std::string flush(Millis now) {
    auto out = talk.take_output();
    if (!out) return "";
    talk.written(true, now);
    return *out;
  }
};

TEST_F(ConversationTest, AnswersARequestAndReadsTheNext) {
  talk.received(kGet, 1ms);
  EXPECT_EQ(talk.state(), State::writing);
  EXPECT_EQ(talk.read_room(), 0u) << "a connection with an answer in flight is not read";
  std::string out = flush(2ms);
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_EQ(talk.state(), State::reading);
  EXPECT_EQ(talk.last_progress(), 2ms);
  EXPECT_EQ(talk.deadline(), 2ms + limits.request_time);
}

TEST_F(ConversationTest, PipelinedRequestsAreAnsweredOneAtATimeInOrder) {
  std::string three = kGet + kGet + kGet;
  talk.received(three, 0ms);
  int answers = 0;
  while (auto out = talk.take_output()) {
    EXPECT_FALSE(talk.take_output()) << "one answer in flight at a time";
    ++answers;
    talk.written(true, 1ms);
  }
  EXPECT_EQ(answers, 3);
  EXPECT_EQ(talk.buffered(), 0u);
  EXPECT_EQ(talk.state(), State::reading);
}

TEST_F(ConversationTest, InputNeverExceedsTheBudgetWhileAnAnswerIsNotTaken) {
  // A client that pipelines and never reads: after the first answer, nothing more is read.
  std::string many;
  while (many.size() < limits.input_budget) many += kGet;
  many.resize(limits.input_budget);
  talk.received(many, 0ms);
  EXPECT_EQ(talk.state(), State::writing);
  EXPECT_EQ(talk.read_room(), 0u) << "nothing more is taken while the first answer is not";
  ASSERT_TRUE(talk.take_output());
  talk.tick(limits.write_time - 1ms);
  EXPECT_EQ(talk.state(), State::writing);
  talk.tick(limits.write_time);
  EXPECT_EQ(talk.state(), State::closed) << "a client that does not take its answer is dropped";
  EXPECT_EQ(talk.buffered(), 0u);
}

TEST_F(ConversationTest, BytesBeyondTheRoomGivenCloseIt) {
  talk.received(kGet, 0ms);  // writing: room 0
  talk.received("x", 0ms);
  EXPECT_EQ(talk.state(), State::closed);
}

TEST_F(ConversationTest, SlowBytesDoNotExtendTheDeadline) {
  std::string partial = "GET /healthz HTTP/1.1\r\nHo";
  for (size_t i = 0; i < partial.size(); ++i) {
    talk.received(partial.substr(i, 1), Millis(static_cast<long>(i) * 300));
    EXPECT_EQ(talk.deadline(), limits.request_time);
  }
  talk.tick(limits.request_time);
  EXPECT_EQ(talk.state(), State::closed);
}

TEST_F(ConversationTest, OversizedHeadersGet431AndClose) {
  std::string big = "GET /healthz HTTP/1.1\r\nX: " + std::string(kMaxHeaderBytes, 'a');
  talk.received(big.substr(0, limits.input_budget), 0ms);
  auto out = talk.take_output();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->rfind("HTTP/1.1 431", 0), 0u);
  talk.written(true, 1ms);
  EXPECT_EQ(talk.state(), State::closed);
}

TEST_F(ConversationTest, HeldRequestIsAnsweredWhenReadyOrAtItsTimeout) {
  talk.received(kWait, 0ms);
  EXPECT_EQ(talk.state(), State::parked);
  EXPECT_EQ(talk.deadline(), 5000ms);
  EXPECT_GT(talk.read_room(), 0u) << "a held connection is read, so a client that leaves is seen";
  talk.tick(4999ms);
  EXPECT_EQ(talk.state(), State::parked);
  talk.tick(5000ms);
  auto out = talk.take_output();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->rfind("HTTP/1.1 503", 0), 0u);

  FakeEndpoints ready_endpoints;
  ready_endpoints.ready = true;
  Conversation other(ready_endpoints, limits, 0ms);
  other.received(kWait, 0ms);
  other.release(10ms, ready_endpoints.answer_held(Hold{}));
  auto ready_out = other.take_output();
  ASSERT_TRUE(ready_out);
  EXPECT_EQ(ready_out->rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_NE(ready_out->find("Connection: keep-alive"), std::string::npos) << "as the held request asked";

  // A held HEAD gets the headers of the answer, without its body.
  Conversation head(ready_endpoints, limits, 0ms);
  head.received("HEAD /wait HTTP/1.1\r\nHost: a\r\n\r\n", 0ms);
  head.release(10ms, ready_endpoints.answer_held(Hold{}));
  auto head_out = head.take_output();
  ASSERT_TRUE(head_out);
  EXPECT_NE(head_out->find("Content-Length: 5\r\n"), std::string::npos) << *head_out;
  EXPECT_EQ(head_out->find("held"), std::string::npos) << *head_out;
}

// A change-wait (/status?wait=change) is parked like a wait for ready, keeps what it waits
// for, and is answered with the document when released or at its timeout.
TEST_F(ConversationTest, ChangeWaitIsHeldUntilReleased) {
  talk.received(kChange, 0ms);
  EXPECT_EQ(talk.state(), State::parked);
  EXPECT_EQ(talk.hold().until, Hold::Until::change);
  EXPECT_EQ(talk.hold().version, 7u);
  EXPECT_EQ(talk.deadline(), 3000ms);
  EXPECT_FALSE(talk.take_output()) << "nothing is said while held";
  talk.tick(2999ms);
  EXPECT_EQ(talk.state(), State::parked);
  Answer changed;
  changed.body = "new document\n";
  changed.keep_alive = false;  // the conversation puts back what the request asked for
  talk.release(100ms, changed);
  std::string out = flush(101ms);
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_NE(out.find("Connection: keep-alive"), std::string::npos) << out;
  EXPECT_NE(out.find("new document"), std::string::npos) << out;
  EXPECT_EQ(endpoints.held_answers, 0) << "released with the answer given, not one asked for";
  EXPECT_EQ(talk.state(), State::reading) << "keep-alive: the next request may come";
  EXPECT_EQ(talk.deadline(), 101ms + limits.request_time);
}

TEST_F(ConversationTest, ChangeWaitAtItsTimeoutGetsTheDocumentAsItIs) {
  talk.received(kChange, 0ms);
  talk.tick(3000ms);
  ASSERT_TRUE(endpoints.asked);
  EXPECT_EQ(endpoints.asked->until, Hold::Until::change) << "the endpoints learn what the request waited for";
  EXPECT_EQ(endpoints.asked->version, 7u);
  std::string out = flush(3001ms);
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_NE(out.find("document"), std::string::npos) << out;
}

// One connection's requests, one after the other: a change-wait, then a wait for ready; each
// is held for what it asked, never for what the one before asked.
TEST_F(ConversationTest, EachHeldRequestWaitsForItsOwnThing) {
  talk.received(kChange + kWait, 0ms);
  EXPECT_EQ(talk.hold().until, Hold::Until::change);
  talk.release(10ms, Answer{});
  flush(11ms);
  EXPECT_EQ(talk.state(), State::parked) << "the pipelined /wait";
  EXPECT_EQ(talk.hold().until, Hold::Until::ready);
  talk.tick(11ms + 5000ms);
  ASSERT_TRUE(endpoints.asked);
  EXPECT_EQ(endpoints.asked->until, Hold::Until::ready);
  EXPECT_EQ(flush(5012ms).rfind("HTTP/1.1 503", 0), 0u) << "not ready at its timeout";
}

TEST_F(ConversationTest, PeerLeavingDuringAChangeWaitCloses) {
  talk.received(kChange, 0ms);
  talk.peer_closed(1ms);
  EXPECT_EQ(talk.state(), State::closed);
  EXPECT_EQ(endpoints.held_answers, 0);
  talk.release(2ms, Answer{});
  EXPECT_FALSE(talk.take_output()) << "a closed conversation says nothing";
}

TEST_F(ConversationTest, HeldConnectionBuffersOnlyUpToTheBudget) {
  talk.received(kWait, 0ms);
  std::string more(talk.read_room(), 'a');
  talk.received(more, 1ms);
  EXPECT_EQ(talk.read_room(), 0u);
  EXPECT_EQ(talk.buffered(), limits.input_budget);
  EXPECT_EQ(talk.state(), State::parked);
}

TEST_F(ConversationTest, PeerLeavingWhileHeldCloses) {
  talk.received(kWait, 0ms);
  talk.peer_closed(1ms);
  EXPECT_EQ(talk.state(), State::closed);
  EXPECT_EQ(endpoints.held_answers, 0);
}

TEST_F(ConversationTest, PeerClosingAfterSendingStillGetsItsAnswers) {
  talk.received(kGet + kGet, 0ms);
  talk.peer_closed(0ms);
  EXPECT_TRUE(talk.take_output());
  talk.written(true, 1ms);
  EXPECT_TRUE(talk.take_output()) << "the second request is answered";
  talk.written(true, 2ms);
  EXPECT_EQ(talk.state(), State::closed);
}

TEST_F(ConversationTest, ConnectionCloseEndsAfterTheAnswer) {
  talk.received("GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0ms);
  ASSERT_TRUE(talk.take_output());
  talk.written(true, 1ms);
  EXPECT_EQ(talk.state(), State::closed);
}

TEST_F(ConversationTest, FailedWriteCloses) {
  talk.received(kGet, 0ms);
  ASSERT_TRUE(talk.take_output());
  talk.written(false, 1ms);
  EXPECT_EQ(talk.state(), State::closed);
}

// Found by the http_conversation fuzzer: a write deadline passing with the answer in flight
// left the closed conversation claiming an answer was still in flight.
TEST_F(ConversationTest, ClosedWhileAnAnswerIsInFlightHoldsNothing) {
  talk.received(kGet, 0ms);
  ASSERT_TRUE(talk.take_output());
  talk.tick(limits.write_time);
  EXPECT_EQ(talk.state(), State::closed);
  EXPECT_FALSE(talk.output_in_flight());
  talk.written(true, limits.write_time);  // the cancelled write completes later: ignored
  EXPECT_EQ(talk.state(), State::closed);
}

TEST_F(ConversationTest, ImpossibleCompletionClosesInsteadOfGoingOn) {
  talk.written(true, 0ms);  // nothing was in flight
  EXPECT_EQ(talk.state(), State::closed);
  talk.received(kGet, 0ms);
  talk.tick(1h);
  talk.release(1h, Answer{});
  EXPECT_EQ(talk.state(), State::closed);
  EXPECT_FALSE(talk.take_output());
}

TEST(PickVictim, TheBiggestHolderGivesUpItsStalestConnection) {
  std::vector<Occupant> occupants = {
      {"10.0.0.1", 5ms},  // the probe: alone, and the stalest of all
      {"10.0.0.9", 50ms}, {"10.0.0.9", 20ms}, {"10.0.0.9", 30ms},
      {"10.0.0.2", 10ms}, {"10.0.0.2", 40ms},
  };
  EXPECT_EQ(pick_victim(occupants), 2u);
}

TEST(PickVictim, TiesBetweenHoldersGoToTheStalest) {
  std::vector<Occupant> occupants = {{"a", 30ms}, {"b", 20ms}, {"a", 40ms}, {"b", 25ms}};
  EXPECT_EQ(pick_victim(occupants), 1u);
}

TEST(PickVictim, AmongEqualsTheEarliestAccepted) {
  std::vector<Occupant> occupants = {{"a", 7ms}, {"a", 7ms}, {"a", 7ms}};
  EXPECT_EQ(pick_victim(occupants), 0u);
}

}  // namespace
}  // namespace wsinit::health
