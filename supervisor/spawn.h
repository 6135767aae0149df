// Our own fork+exec (DESIGN.md rule 3). Public to init/, which starts tini mode's CMD with it;
// the reaper, not this, collects exit statuses.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace wsinit::supervisor {

// A process's signal mask and the signals it has set to SIG_IGN: what tini mode hands on to
// CMD, as tini does, from what wsinit itself was started with (`nohup`, shells and CI runners
// start a command with some signals ignored or blocked and expect it to keep them).
struct SignalState {
  sigset_t blocked;
  sigset_t ignored;
};
// The calling process's own state; nullopt (errno set) when it cannot be read.
std::optional<SignalState> current_signal_state();

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH from `env` unless it has a '/'
  std::vector<std::string> env;   // "NAME=value"
  std::string cwd;                // empty: inherit ours
  // new_session: setsid (services). foreground: own process group that takes the terminal's
  // foreground when stdin is one (tini mode's CMD, so Ctrl-C and job control reach it).
  enum class Grouping { new_session, foreground } grouping = Grouping::new_session;
  int stdin_fd = -1;  // -1: inherit ours
  int stdout_fd = -1;
  int stderr_fd = -1;
  // The child's signals. nullopt: an empty mask and every disposition the default (services).
  // Set: this mask, these signals ignored and the others the default (tini mode's CMD).
  std::optional<SignalState> signals;
  // Written to the child's /proc/self/oom_score_adj before exec (-1000 to 1000); nullopt:
  // nothing written, the child keeps ours. A failure does not stop the child: it is reported.
  std::optional<int> oom_score_adj;
};

struct SpawnResult {
  pid_t pid = -1;     // > 0 whenever a child was forked, even if its exec then failed
  int error = 0;      // errno of the failure, 0 on success
  std::string stage;  // what failed: "fork", "lookup", "signals", "chdir", "exec", ...
  int oom_score_adj_error = 0;  // errno of writing oom_score_adj; the child ran on regardless
  bool ok() const { return error == 0; }
};

// The calling process's oom_score_adj (children inherit it); nullopt when it cannot be read.
std::optional<int> current_oom_score_adj(const char* path = "/proc/self/oom_score_adj");

// What a process that wants `wanted` and inherits `inherited` is given to write: `wanted` when it
// raises the value (lowering needs CAP_SYS_RESOURCE, which wsinit does not ask for), else nothing.
// An unknown `inherited` does not stop the attempt.
std::optional<int> oom_score_adj_to_write(std::optional<int> wanted, std::optional<int> inherited);

// Forks and execs. A failed exec still leaves a child (already exited) for the reaper.
SpawnResult spawn(const SpawnRequest& request);

// Exit status a shell would give for a command that could not start (127 not found, 126 otherwise).
int exit_code_for_spawn_error(int error);

// The status a shell reports for a wait() status: the code, or 128+N for death by signal N.
int exit_status_of(int wait_status);

}  // namespace wsinit::supervisor
