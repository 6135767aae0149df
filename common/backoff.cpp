#include "common/backoff.h"

#include <algorithm>

namespace wsinit {

Duration backoff_delay(Duration initial, Duration max, int attempt, double random01) {
  if (initial.count() <= 0 && max.count() <= 0) return Duration(0);
  double base = static_cast<double>(std::max<long>(initial.count(), 1));
  for (int i = 1; i < attempt && base < static_cast<double>(max.count()); ++i) base *= 2;
  base = std::min(base, static_cast<double>(max.count()));
  double jittered = base * (1.0 - 0.2 * std::clamp(random01, 0.0, 1.0));
  return Duration(static_cast<long>(std::max(jittered, static_cast<double>(initial.count()))));
}

}  // namespace wsinit
