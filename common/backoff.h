// The retry delay schedule (service restarts, report deliveries), free of clocks and randomness so
// it can be tested exactly.
#pragma once

#include <chrono>

namespace wsinit {

using Duration = std::chrono::milliseconds;

// Delay before restart number `attempt` (1 = the first restart after a failure): initial * 2^(attempt-1),
// capped at max, then jittered down by up to 20% (never below initial) so services that failed
// together do not restart in lock step. `random01` is uniform in [0, 1).
Duration backoff_delay(Duration initial, Duration max, int attempt, double random01);

// A service that ran at least this long before it exited starts its schedule over.
inline constexpr Duration kStableRun = std::chrono::seconds(10);

// The attempt number of the restart that follows a failure after running for `ran`.
inline int next_attempt(int previous_attempt, Duration ran) { return (ran >= kStableRun ? 0 : previous_attempt) + 1; }

}  // namespace wsinit
