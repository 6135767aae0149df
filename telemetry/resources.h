// telemetry/resources.h: what the workspace's processes cost: the memory cgroup wsinit runs in
// (limit, usage, OOM kills; cgroup v1 and v2) and the memory and CPU of each service's process tree.
// Uses common/ only.
#pragma once

namespace wsinit::telemetry {}  // namespace wsinit::telemetry
