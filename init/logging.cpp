// How wsinit's own lines are written: the text and JSON formats, both through one encoder each,
// and errors printed before logging is set up.
#include <cstdio>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include "common/json.h"
#include "common/log_text.h"
#include "internal.h"

namespace wsinit::init {
namespace {

// %*: the message through one format's encoder (the text log's escape, or a JSON string).
template <std::string (*encode)(std::string_view)>
class EncodedMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string encoded = encode(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(encoded.data(), encoded.data() + encoded.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<EncodedMessageFlag>(); }
};
using TextMessageFlag = EncodedMessageFlag<log_text::escape>;
using JsonMessageFlag = EncodedMessageFlag<json::quote>;

}  // namespace

std::unique_ptr<spdlog::formatter> text_log_formatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<TextMessageFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ wsinit %l: %*");
  return formatter;
}

void print_error(const std::string& error) { fprintf(stderr, "wsinit: %s\n", log_text::escape(error).c_str()); }

void apply_log_settings(const config::Config& config, const config::Environment& env, bool tini_mode) {
  if (config.log.format == config::LogFormat::json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","source":"wsinit","level":"%l","message":%*})");
    spdlog::set_formatter(std::move(formatter));
  }
  std::string level = config.log.level.empty() ? (tini_mode ? "warn" : "info") : config.log.level;
  if (auto it = env.find("WSINIT_LOG_LEVEL"); it != env.end() && !it->second.empty()) level = it->second;
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace wsinit::init
