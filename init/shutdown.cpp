// The shutdown's phase transitions (see shutdown.h). The order is DESIGN.md's: services stop in
// reverse order (in tini mode only once CMD is gone: CMD got the signal itself), then every other
// process gets SIGTERM, and SIGKILL when the grace budget ends.
#include "shutdown.h"

namespace wsinit::init {
namespace {

using Event = ShutdownEvent;

std::optional<Phase> from_running(Event event, bool tini_mode) {
  switch (event) {
    case Event::stop_requested: return tini_mode ? Phase::waiting_for_main : Phase::stopping_services;
    case Event::main_exited: return tini_mode ? std::optional(Phase::stopping_services) : std::nullopt;
    case Event::services_stopped: return std::nullopt;  // nothing asked them to stop
    case Event::grace_over: return std::nullopt;        // the budget starts with the shutdown
    case Event::all_reaped: return Phase::running;
  }
  return std::nullopt;
}

std::optional<Phase> from_waiting_for_main(Event event) {
  switch (event) {
    case Event::stop_requested: return Phase::waiting_for_main;  // forwarded to CMD again, nothing more
    case Event::main_exited: return Phase::stopping_services;
    case Event::services_stopped: return std::nullopt;
    case Event::grace_over: return Phase::killing;
    case Event::all_reaped: return Phase::waiting_for_main;
  }
  return std::nullopt;
}

// Once services are stopping, CMD is gone (or there never was one).
std::optional<Phase> from_stopping_services(Event event) {
  switch (event) {
    case Event::stop_requested: return Phase::stopping_services;
    case Event::main_exited: return std::nullopt;
    case Event::services_stopped: return Phase::terminating_others;
    case Event::grace_over: return Phase::killing;
    case Event::all_reaped: return Phase::stopping_services;  // the supervisor says when they are down
  }
  return std::nullopt;
}

std::optional<Phase> from_terminating_others(Event event) {
  switch (event) {
    case Event::stop_requested: return Phase::terminating_others;
    case Event::main_exited: return std::nullopt;
    case Event::services_stopped: return std::nullopt;  // the supervisor says it once
    case Event::grace_over: return Phase::killing;
    case Event::all_reaped: return Phase::done;
  }
  return std::nullopt;
}

// CMD may be reaped while being killed (its services are then asked to stop, as they would have
// been had it exited in time), and that stop may complete: neither moves on from killing.
std::optional<Phase> from_killing(Event event) {
  switch (event) {
    case Event::stop_requested: return Phase::killing;
    case Event::main_exited: return Phase::killing;
    case Event::services_stopped: return Phase::killing;
    case Event::grace_over: return std::nullopt;  // the budget ends once
    case Event::all_reaped: return Phase::done;
  }
  return std::nullopt;
}

std::optional<Phase> from_done(Event event) {
  switch (event) {
    case Event::stop_requested: return Phase::done;  // read in the loop's last turn
    case Event::main_exited: return std::nullopt;    // everything was reaped
    case Event::services_stopped: return Phase::done;
    case Event::grace_over: return std::nullopt;  // its timer is stopped on entering done
    case Event::all_reaped: return Phase::done;
  }
  return std::nullopt;
}

}  // namespace

std::optional<Phase> next_phase(Phase from, ShutdownEvent event, bool tini_mode) {
  switch (from) {
    case Phase::running: return from_running(event, tini_mode);
    case Phase::waiting_for_main: return from_waiting_for_main(event);
    case Phase::stopping_services: return from_stopping_services(event);
    case Phase::terminating_others: return from_terminating_others(event);
    case Phase::killing: return from_killing(event);
    case Phase::done: return from_done(event);
  }
  return std::nullopt;
}

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::running: return "running";
    case Phase::waiting_for_main: return "waiting-for-main";
    case Phase::stopping_services: return "stopping-services";
    case Phase::terminating_others: return "terminating-others";
    case Phase::killing: return "killing";
    case Phase::done: return "done";
  }
  return "?";
}

const char* event_name(ShutdownEvent event) {
  switch (event) {
    case ShutdownEvent::stop_requested: return "stop-requested";
    case ShutdownEvent::main_exited: return "main-exited";
    case ShutdownEvent::services_stopped: return "services-stopped";
    case ShutdownEvent::grace_over: return "grace-over";
    case ShutdownEvent::all_reaped: return "all-reaped";
  }
  return "?";
}

}  // namespace wsinit::init
