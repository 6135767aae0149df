// libFuzzer target: the reader of GitLab's postStart runner log, fed any bytes in any chunks for
// four components in any order, with restarts between. Its bounds hold after every chunk (at
// most 4 KiB held per component, 256 steps, ids that are script names, a main component that
// was fed); and how the text was cut changes nothing: each component's text since its last
// restart, fed whole to a fresh reader, gives the same steps and holds the same bytes. What is
// held after each chunk is exactly each component's unended line, or nothing once it is too long.
//
// Input: a byte `op` (low 2 bits: the component; the rest, k: 63 restarts it, else the next
// 2*k*k bytes, or what is left, are its next chunk), then the chunk; repeated.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "workspace/workspace.h"

namespace {

using wsinit::workspace::PostStartLog;
using wsinit::workspace::PostStartStep;

const std::string kComponents[] = {"", "tooling-container", "database", "x"};
constexpr std::int64_t kNow = 1796068214000;

bool script_name(const std::string& id) {
  if (id.empty() || id.size() > PostStartLog::kMaxId || id == "." || id == "..") return false;
  for (unsigned char c : id) {
    if (c == '/' || c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::vector<PostStartStep> of(const std::vector<PostStartStep>& steps, const std::string& component) {
  std::vector<PostStartStep> mine;
  for (const auto& s : steps) {
    if (s.component == component) mine.push_back(s);
  }
  return mine;
}

void check_steps(const PostStartLog& log) {
  auto steps = log.steps();
  if (steps.size() > PostStartLog::kMaxSteps) abort();
  for (size_t i = 0; i < steps.size(); ++i) {
    if (!script_name(steps[i].id)) abort();
    if (i > 0 && steps[i].started_unix_ms < steps[i - 1].started_unix_ms) abort();  // in order of start
  }
  if (auto main = log.main_component()) {
    if (main->empty() || (*main != kComponents[1] && *main != kComponents[2] && *main != kComponents[3])) abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PostStartLog log;
  std::string text[4];  // each component's text since its last restart
  size_t tail[4] = {};  // the length of its last, unended line
  std::uint64_t changes = 0;
  size_t pos = 0;
  while (pos < size) {
    size_t component = data[pos] & 3, k = data[pos] >> 2;
    ++pos;
    if (k == 63) {
      check_steps(log);
      log.restart(kComponents[component]);
      text[component].clear();
      tail[component] = 0;
    } else {
      size_t n = std::min(2 * k * k, size - pos);
      std::string_view chunk(reinterpret_cast<const char*>(data + pos), n);
      pos += n;
      log.feed(chunk, kComponents[component], kNow);
      text[component] += chunk;
      size_t newline = chunk.rfind('\n');
      tail[component] = newline == std::string_view::npos ? tail[component] + n : n - newline - 1;
    }
    // Held: each component's unended line, unless it is already too long to keep.
    size_t held = 0;
    for (size_t c = 0; c < 4; ++c) held += tail[c] <= PostStartLog::kMaxLine ? tail[c] : 0;
    if (log.buffered_bytes() != held) abort();
    if (log.changes() < changes) abort();
    changes = log.changes();
  }
  check_steps(log);

  // Each component alone, whole: at most 4 KiB held, and together what the chunked reader holds.
  size_t held = 0;
  PostStartLog whole;
  for (size_t c = 0; c < 4; ++c) {
    PostStartLog alone;
    alone.feed(text[c], kComponents[c], kNow);
    if (alone.buffered_bytes() > PostStartLog::kMaxLine) abort();
    held += alone.buffered_bytes();
    whole.feed(text[c], kComponents[c], kNow);
  }
  if (held != log.buffered_bytes() || whole.buffered_bytes() != held) abort();
  if (log.dropped_steps() == 0 && whole.dropped_steps() == 0) {
    auto chunked = log.steps(), at_once = whole.steps();
    if (chunked.size() != at_once.size()) abort();
    for (const auto& c : kComponents) {
      if (of(chunked, c) != of(at_once, c)) abort();
    }
    if (log.main_component().has_value() != whole.main_component().has_value()) abort();
  }
  return 0;
}
