// Internal to workspace/: the pieces prepare() puts together.
#pragma once

#include "workspace/workspace.h"

namespace wsinit::workspace {

// Adds the editor service (or the reason there is none) to `plan`.
void add_editor(const config::Config& config, const config::Environment& env, bool dry_run, Plan& plan);
// Adds the devfile's postStart services (or why the devfile is unusable) to `plan`.
void add_post_start(const config::Config& config, const config::Environment& env, Plan& plan);
// Adds the devfile's endpoints, with their URLs (or why there are none), to `plan`.
void add_endpoints(const config::Config& config, const config::Environment& env, Plan& plan);

}  // namespace wsinit::workspace
