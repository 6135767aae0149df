// The shutdown's phase table, one test per move (shutdown.h): the order DESIGN.md gives, and
// the events that cannot happen in a phase refused.
#include <gtest/gtest.h>

#include "init/shutdown.h"

using wsinit::init::next_phase;
using wsinit::init::Phase;
using Event = wsinit::init::ShutdownEvent;

namespace {
constexpr bool kTini = true;
constexpr bool kWorkspace = false;
}  // namespace

// running
TEST(ShutdownPhase, WorkspaceStopRequestStopsServices) {
  EXPECT_EQ(next_phase(Phase::running, Event::stop_requested, kWorkspace), Phase::stopping_services);
}
TEST(ShutdownPhase, TiniStopRequestWaitsForMain) {
  EXPECT_EQ(next_phase(Phase::running, Event::stop_requested, kTini), Phase::waiting_for_main);
}
TEST(ShutdownPhase, TiniMainExitWhileRunningStopsServices) {
  EXPECT_EQ(next_phase(Phase::running, Event::main_exited, kTini), Phase::stopping_services);
}
TEST(ShutdownPhase, WorkspaceHasNoMainToExit) {
  EXPECT_EQ(next_phase(Phase::running, Event::main_exited, kWorkspace), std::nullopt);
}
TEST(ShutdownPhase, RunningRefusesServicesStopped) {
  EXPECT_EQ(next_phase(Phase::running, Event::services_stopped, kWorkspace), std::nullopt);
  EXPECT_EQ(next_phase(Phase::running, Event::services_stopped, kTini), std::nullopt);
}
TEST(ShutdownPhase, RunningRefusesGraceOver) {
  EXPECT_EQ(next_phase(Phase::running, Event::grace_over, kWorkspace), std::nullopt);
  EXPECT_EQ(next_phase(Phase::running, Event::grace_over, kTini), std::nullopt);
}
TEST(ShutdownPhase, RunningStaysWhenAllReaped) {
  EXPECT_EQ(next_phase(Phase::running, Event::all_reaped, kWorkspace), Phase::running);
  EXPECT_EQ(next_phase(Phase::running, Event::all_reaped, kTini), Phase::running);
}

// waiting_for_main (tini mode only)
TEST(ShutdownPhase, WaitingForMainStaysOnAnotherStopRequest) {
  EXPECT_EQ(next_phase(Phase::waiting_for_main, Event::stop_requested, kTini), Phase::waiting_for_main);
}
TEST(ShutdownPhase, WaitingForMainStopsServicesOnceMainExited) {
  EXPECT_EQ(next_phase(Phase::waiting_for_main, Event::main_exited, kTini), Phase::stopping_services);
}
TEST(ShutdownPhase, WaitingForMainRefusesServicesStopped) {
  EXPECT_EQ(next_phase(Phase::waiting_for_main, Event::services_stopped, kTini), std::nullopt);
}
TEST(ShutdownPhase, WaitingForMainKillsWhenGraceIsOver) {
  EXPECT_EQ(next_phase(Phase::waiting_for_main, Event::grace_over, kTini), Phase::killing);
}
TEST(ShutdownPhase, WaitingForMainStaysWhenAllReaped) {
  EXPECT_EQ(next_phase(Phase::waiting_for_main, Event::all_reaped, kTini), Phase::waiting_for_main);
}

// stopping_services
TEST(ShutdownPhase, StoppingServicesStaysOnAnotherStopRequest) {
  EXPECT_EQ(next_phase(Phase::stopping_services, Event::stop_requested, kWorkspace), Phase::stopping_services);
}
TEST(ShutdownPhase, StoppingServicesRefusesMainExited) {
  EXPECT_EQ(next_phase(Phase::stopping_services, Event::main_exited, kTini), std::nullopt);
}
TEST(ShutdownPhase, StoppingServicesTerminatesOthersOnceServicesStopped) {
  EXPECT_EQ(next_phase(Phase::stopping_services, Event::services_stopped, kWorkspace), Phase::terminating_others);
  EXPECT_EQ(next_phase(Phase::stopping_services, Event::services_stopped, kTini), Phase::terminating_others);
}
TEST(ShutdownPhase, StoppingServicesKillsWhenGraceIsOver) {
  EXPECT_EQ(next_phase(Phase::stopping_services, Event::grace_over, kWorkspace), Phase::killing);
}
TEST(ShutdownPhase, StoppingServicesWaitsForTheSupervisorWhenAllReaped) {
  EXPECT_EQ(next_phase(Phase::stopping_services, Event::all_reaped, kWorkspace), Phase::stopping_services);
}

// terminating_others
TEST(ShutdownPhase, TerminatingOthersStaysOnAnotherStopRequest) {
  EXPECT_EQ(next_phase(Phase::terminating_others, Event::stop_requested, kWorkspace), Phase::terminating_others);
}
TEST(ShutdownPhase, TerminatingOthersRefusesMainExited) {
  EXPECT_EQ(next_phase(Phase::terminating_others, Event::main_exited, kTini), std::nullopt);
}
TEST(ShutdownPhase, TerminatingOthersRefusesServicesStoppedTwice) {
  EXPECT_EQ(next_phase(Phase::terminating_others, Event::services_stopped, kWorkspace), std::nullopt);
}
TEST(ShutdownPhase, TerminatingOthersKillsWhenGraceIsOver) {
  EXPECT_EQ(next_phase(Phase::terminating_others, Event::grace_over, kWorkspace), Phase::killing);
}
TEST(ShutdownPhase, TerminatingOthersIsDoneWhenAllReaped) {
  EXPECT_EQ(next_phase(Phase::terminating_others, Event::all_reaped, kWorkspace), Phase::done);
}

// killing
TEST(ShutdownPhase, KillingStaysOnAStopRequest) {
  EXPECT_EQ(next_phase(Phase::killing, Event::stop_requested, kWorkspace), Phase::killing);
}
TEST(ShutdownPhase, KillingStaysWhenMainExits) {
  EXPECT_EQ(next_phase(Phase::killing, Event::main_exited, kTini), Phase::killing);
}
TEST(ShutdownPhase, KillingStaysWhenServicesStopped) {
  EXPECT_EQ(next_phase(Phase::killing, Event::services_stopped, kTini), Phase::killing);
}
TEST(ShutdownPhase, KillingRefusesASecondGraceOver) {
  EXPECT_EQ(next_phase(Phase::killing, Event::grace_over, kWorkspace), std::nullopt);
}
TEST(ShutdownPhase, KillingIsDoneWhenAllReaped) {
  EXPECT_EQ(next_phase(Phase::killing, Event::all_reaped, kWorkspace), Phase::done);
}

// done
TEST(ShutdownPhase, DoneStaysOnALateStopRequest) {
  EXPECT_EQ(next_phase(Phase::done, Event::stop_requested, kWorkspace), Phase::done);
}
TEST(ShutdownPhase, DoneRefusesMainExited) {
  EXPECT_EQ(next_phase(Phase::done, Event::main_exited, kTini), std::nullopt);
}
TEST(ShutdownPhase, DoneStaysWhenServicesStopped) {
  EXPECT_EQ(next_phase(Phase::done, Event::services_stopped, kTini), Phase::done);
}
TEST(ShutdownPhase, DoneRefusesGraceOver) {
  EXPECT_EQ(next_phase(Phase::done, Event::grace_over, kWorkspace), std::nullopt);
}
TEST(ShutdownPhase, DoneStaysWhenAllReaped) {
  EXPECT_EQ(next_phase(Phase::done, Event::all_reaped, kWorkspace), Phase::done);
}

// The whole order of a workspace's shutdown, and of tini mode's when CMD takes its time.
TEST(ShutdownPhase, WorkspaceOrder) {
  Phase p = Phase::running;
  for (auto [event, want] : {std::pair{Event::stop_requested, Phase::stopping_services},
                             std::pair{Event::services_stopped, Phase::terminating_others},
                             std::pair{Event::all_reaped, Phase::done}}) {
    auto next = next_phase(p, event, kWorkspace);
    ASSERT_EQ(next, want) << wsinit::init::event_name(event) << " in " << wsinit::init::phase_name(p);
    p = *next;
  }
}
TEST(ShutdownPhase, TiniOrderUntilKilled) {
  Phase p = Phase::running;
  for (auto [event, want] : {std::pair{Event::stop_requested, Phase::waiting_for_main},
                             std::pair{Event::grace_over, Phase::killing}, std::pair{Event::main_exited, Phase::killing},
                             std::pair{Event::all_reaped, Phase::done}}) {
    auto next = next_phase(p, event, kTini);
    ASSERT_EQ(next, want) << wsinit::init::event_name(event) << " in " << wsinit::init::phase_name(p);
    p = *next;
  }
}
