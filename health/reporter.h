// Internal to health/: the push reporter. POSTs the status document to health.report.url on
// change (debounced) and every interval, signed with HMAC-SHA256; http or https (OpenSSL over
// the loop's TCP through memory BIOs). One report in flight; the latest state wins.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "config/config.h"
#include "health/health.h"

namespace wsinit::health {

std::string hmac_sha256_hex(const std::string& key, const std::string& data);
// "sha256=<hex of HMAC-SHA256(key, timestamp + "." + body)>"
std::string signature(const std::string& key, const std::string& timestamp, const std::string& body);

}  // namespace wsinit::health
