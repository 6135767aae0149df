#include "telemetry/resources.h"
