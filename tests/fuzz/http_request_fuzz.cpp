// libFuzzer target: the HTTP request parser of health/ must never crash, read out of bounds,
// loop, or claim more bytes than it was given, whatever arrives on the socket.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "health/health.h"

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
    in.remove_prefix(used);
  }
  return 0;
}
