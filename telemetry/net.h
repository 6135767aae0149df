// telemetry/net.h: the workspace's TCP sockets as the kernel lists them (netlink sock_diag, else
// /proc/net/tcp{,6}), who owns each, and what they say about the workspace: the ports it
// listens on and whether anyone is using it (activity).
// Uses common/ only.
#pragma once

namespace wsinit::telemetry {}  // namespace wsinit::telemetry
