// libFuzzer target: the devfile reader takes any YAML without crashing; what it makes are
// oneshot services with valid names, each chained only to an earlier one; and endpoints with a
// name and a port from 1 to 65535, each port once, at most kMaxEndpoints, warnings naming the file.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "workspace/workspace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wsinit;
  std::string text(reinterpret_cast<const char*>(data), size);
  workspace::PostStart p = workspace::post_start_services(text, "devfile.yaml", {{"PROJECT_SOURCE", "/projects/app"}});
  if (!p.errors.empty() && !p.services.empty()) abort();
  std::set<std::string> earlier;
  for (const auto& s : p.services) {
    if (!config::valid_service_name(s.name) || !s.oneshot || s.command.size() != 3) abort();
    for (const auto& dep : s.after_finished) {
      if (!earlier.count(dep)) abort();
    }
    earlier.insert(s.name);
  }
  for (const auto& e : p.errors) {
    if (e.rfind("devfile.yaml", 0) != 0) abort();
  }
  workspace::Endpoints endpoints = workspace::devfile_endpoints(text, "devfile.yaml");
  if (endpoints.endpoints.size() > workspace::kMaxEndpoints) abort();
  std::set<int> ports;
  for (const auto& e : endpoints.endpoints) {
    if (e.name.empty() || e.port < 1 || e.port > 65535 || !ports.insert(e.port).second || e.url) abort();
  }
  for (const auto& w : endpoints.warnings) {
    if (w.rfind("devfile.yaml", 0) != 0) abort();
  }
  return 0;
}
