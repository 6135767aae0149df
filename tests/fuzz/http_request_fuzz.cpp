// libFuzzer target: the HTTP request parser of health/ must never crash, read out of bounds,
// loop, or claim more bytes than it was given, whatever arrives on the socket. Its headers
// (Accept among them) and /status's query (wait, version, timeout) are read as the server reads them.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "health/conversation.h"
#include "health/health.h"

namespace {

void check(bool ok) {
  if (!ok) abort();
}

// /status's query, for each combination of ready and version the server can be in: an error
// names its parameter and stays short (it is echoed in a 400); a hold is bounded by 5 minutes and
// waits for exactly the version the client sent.
void check_status_wait(std::string_view query) {
  using namespace wsinit::health;
  for (std::uint64_t version : {std::uint64_t{0}, std::uint64_t{7}, UINT64_MAX}) {
    for (bool ready : {false, true}) {
      auto wait = status_wait(query, ready, version);
      if (!wait) {
        const std::string& message = wait.error().message;
        check(message.rfind("version: ", 0) == 0 || message.rfind("timeout: ", 0) == 0);
        check(message.size() < 200);
        continue;
      }
      if (!*wait) continue;
      const Held& held = **wait;
      check(held.timeout >= Millis(0) && held.timeout <= Millis(5 * 60'000));
      if (held.hold.until == Hold::Until::change) check(held.hold.version == version);
      else check(!ready);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wsinit::health;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (int requests = 0; requests < 1000; ++requests) {  // pipelined requests, one at a time
    Request request;
    size_t used = 0;
    int status = 0;
    Parse result = parse_request(in, &request, &used, &status);
    if (result == Parse::bad && status != 400 && status != 431 && status != 505) abort();
    if (result != Parse::done) break;
    if (used == 0 || used > in.size() || request.path.empty() || request.path[0] != '/') abort();
    query_value(request.query, "wait");
    query_value(request.query, "timeout");
    check_status_wait(request.query);
    in.remove_prefix(used);
  }
  return 0;
}
