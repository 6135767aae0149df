#include "telemetry/net.h"
