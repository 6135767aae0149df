// Internal to health/: the push reporter. POSTs the status document to health.report.url on
// change (debounced) and every interval, signed with HMAC-SHA256; http or https (OpenSSL over
// the loop's TCP through memory BIOs). One report in flight; the latest state wins.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "health/health.h"

namespace wsinit::health {

// The receiver's answer as it arrives. Only its status line counts: nothing after it is read,
// each byte is looked at once, and at most kMaxStatusLine bytes are kept, so a receiver that
// streams bytes without a line break gets a failed delivery, not a growing buffer.
class ReplyStatus {
 public:
  static constexpr size_t kMaxStatusLine = 16 * 1024;
  enum class State { incomplete, complete, too_long };
  State feed(std::string_view bytes);
  State state() const { return state_; }
  int code() const { return code_; }  // complete: the status code, or -1 when the line is not HTTP

 private:
  std::string line_;
  State state_ = State::incomplete;
  int code_ = -1;
};

std::string hmac_sha256_hex(const std::string& key, const std::string& data);
// "sha256=<hex of HMAC-SHA256(key, timestamp + "." + body)>"
std::string signature(const std::string& key, const std::string& timestamp, const std::string& body);

}  // namespace wsinit::health
