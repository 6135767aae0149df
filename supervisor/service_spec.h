// supervisor/: what the supervisor runs. A service as configured, plus what wsinit sets for the
// services it adds itself (sshd_setup/ and workspace/ build those; config/ knows none of it).
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace wsinit::supervisor {

// The definition (the user's YAML, or wsinit's own written the same way) and the rest.
struct ServiceSpec : config::Service {
  // The port wsinit's own sshd or editor serves. When it is already served at start (GitLab's own
  // postStart may have started one), run nothing and only probe it: state "external". 0: always start.
  int external_port = 0;
  // Start once these oneshots have finished, successfully or not (devfile postStart commands:
  // GitLab runs each of them whatever the previous one did).
  std::vector<std::string> after_finished;
  // The name of its log file under paths.logs, without ".log" (empty: the service's name). The
  // editor and sshd write where GitLab's own scripts would.
  std::string log_name;
  // Where a tcp readiness probe connects.
  std::string probe_host = "127.0.0.1";
  // What the process reads that its definition does not show (sshd: its sshd_config), as a
  // digest: when it changes, a reload restarts the service.
  std::string inputs;

  bool operator==(const ServiceSpec&) const = default;
};

// The specs of configured services, as they are.
std::vector<ServiceSpec> specs_of(const std::vector<config::Service>& services);
// `services` each after what its `after` names (config::start_order; ties keep their order).
std::vector<ServiceSpec> in_start_order(std::vector<ServiceSpec> services);

}  // namespace wsinit::supervisor
