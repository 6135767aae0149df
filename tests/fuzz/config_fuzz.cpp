// libFuzzer target: the config loader (YAML, ${VAR} expansion, units, validation) must never
// crash, throw, or accept a config that fails its own checks; every error names its source.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wsinit::config;
  std::string text(reinterpret_cast<const char*>(data), size);
  const Environment env = {{"GL_SSH_PORT", "60022"}, {"HOME", "/home/x"}, {"NESTED", "${HOME}"}};
  LoadResult r = load_text(text, "fuzz.yaml", env, Profile::gitlab);
  if (r.config.has_value() == !r.errors.empty()) abort();  // exactly one of the two
  for (const auto& e : r.errors) {
    if (e.rfind("fuzz.yaml", 0) != 0 && e.rfind("environment:", 0) != 0) abort();
  }
  if (r.config) {
    if (!validate(*r.config).empty()) abort();
    if (start_order(*r.config).size() != r.config->services.size()) abort();  // no cycle slipped through
  }
  (void)expand(text, env);
  parse_duration(text);
  parse_size(text);
  parse_signal(text);
  parse_port(text);
  return 0;
}
