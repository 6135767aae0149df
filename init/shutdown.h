// Internal to init/: the shutdown's phases and the one rule that moves between them, kept pure
// so every move can be tested on its own (init.cpp runs each phase's work on entering it).
#pragma once

#include <optional>

namespace wsinit::init {

// running: the workspace (or CMD) runs. waiting_for_main: tini mode, CMD got the signal and
// decides; services wait for it to exit. stopping_services: services stop in reverse order.
// terminating_others: every other process got SIGTERM; waiting for the last to be reaped.
// killing: the grace budget is over; SIGKILL to what is left. done: nothing is left.
enum class Phase { running, waiting_for_main, stopping_services, terminating_others, killing, done };

// stop_requested: SIGTERM or SIGINT. main_exited: CMD (tini mode) was reaped. services_stopped:
// the supervisor has every service down. grace_over: the grace budget ended. all_reaped: the
// reaper found no child left.
enum class ShutdownEvent { stop_requested, main_exited, services_stopped, grace_over, all_reaped };

// Where `event` moves `from` (the same phase when it changes nothing); nullopt when the event
// cannot happen in that phase. tini_mode: a main command (CMD) runs, and shutdown waits for it.
std::optional<Phase> next_phase(Phase from, ShutdownEvent event, bool tini_mode);

const char* phase_name(Phase phase);
const char* event_name(ShutdownEvent event);

}  // namespace wsinit::init
