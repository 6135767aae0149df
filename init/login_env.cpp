// user.login_env in the PID-1 core: the login shell is run once before services start (and again
// at each SIGHUP), and what its profile adds or changes goes into the environment of every
// process started from then on, SSH sessions included (sshd's SetEnv, which restarts sshd when it
// changes). The probe itself is login_probe.cpp; the dump and the merge workspace/login_env.cpp.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "core.h"

namespace wsinit::init {
namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

// What a probe that did not give an environment says, for the log and status.warnings.
std::string failure_text(const LoginProbe::Result& r, const std::string& shell, const std::string& why) {
  if (WIFEXITED(r.wait_status) && WEXITSTATUS(r.wait_status) != 0)
    return why + " (it exited with status " + std::to_string(WEXITSTATUS(r.wait_status)) + ")";
  if (WIFSIGNALED(r.wait_status)) return why + " (it died of signal " + std::to_string(WTERMSIG(r.wait_status)) + ")";
  return why + " (" + shell + ")";
}

}  // namespace

// Only in workspace mode: tini mode's CMD starts at once, as under tini.
bool Init::probe_login_env(const std::string& why, const config::Config& settings, std::function<void()> then) {
  login_env_.shell = identity_.shell;
  if (!settings.user.login_env || tini_mode()) return login_env_off("off");
  if (!workspace::login_shell_usable(identity_.shell) || access(identity_.shell.c_str(), X_OK) != 0) {
    spdlog::info("login environment: the user's shell '{}' cannot run as a login shell; skipped", identity_.shell);
    return login_env_off("skipped");
  }
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  int readlink_error = errno;
  LoginProbeRun run{base_environment(), Clock::now(), settings.user.login_env_timeout,
                    settings.paths.logs + "/login-env.log"};
  if (auto dir = fs::usable_dir_in_existing_parent(settings.paths.logs, 0750); !dir) run.log_file.clear();  // not kept
  std::string log_file = run.log_file.empty() ? "/dev/null" : run.log_file;
  std::string failed;
  if (!login_probe_) login_probe_ = std::make_unique<LoginProbe>(&loop_);
  auto done = [this, run, then](LoginProbe::Result r) { on_login_env(std::move(r), run, then); };
  if (n <= 0) failed = std::string("cannot find wsinit's own binary (/proc/self/exe): ") + strerror(readlink_error);
  else if (login_probe_->start(workspace::login_env_argv(identity_.shell, std::string(self, static_cast<size_t>(n))), run.base,
                               access(identity_.home.c_str(), X_OK) == 0 ? identity_.home : "/", log_file, run.timeout, done, &failed))
    failed.clear();
  if (!failed.empty()) {
    login_env_.state = "failed";
    warn("login environment: " + failed + "; services start with the environment as it was");
    return false;
  }
  login_env_.state = "probing";
  spdlog::info("{}: reading the login environment ({} -l, at most {})", why, identity_.shell,
               config::format_duration(run.timeout));
  return true;
}

// No probe (`state` off or skipped): what an earlier one gave is dropped, and the supervisor's
// environment follows at once (the caller applies the config, which carries it to sshd).
bool Init::login_env_off(const char* state) {
  login_env_.state = state;
  login_env_.added.clear();
  login_env_.changed.clear();
  if (!login_overrides_.empty()) {
    login_overrides_.clear();
    spdlog::info("login environment: {}; the variables it gave are dropped", state);
    supervisor_->set_environment(session_environment());
  }
  return false;
}

// The probe is over: its result taken (or said), then what waited for it, unless wsinit is
// shutting down meanwhile.
void Init::on_login_env(LoginProbe::Result result, const LoginProbeRun& run, const std::function<void()>& then) {
  login_env_.took_ms = std::chrono::duration<double, std::milli>(Clock::now() - run.started).count();
  if (phase_ != Phase::running) {  // its group was killed by the shutdown: nothing to say
    login_env_.state = "failed";
    spdlog::debug("login environment: the login shell was stopped by the shutdown");
    return;
  }
  bool changed = take_login_env(result, run);
  on_services_changed();  // the status document shows it
  if (changed) supervisor_->set_environment(session_environment());
  then();
}

// Reads the result into login_overrides_ and login_env_; whether the overrides changed.
bool Init::take_login_env(const LoginProbe::Result& r, const LoginProbeRun& run) {
  std::string why;
  std::optional<workspace::LoginVariables> vars;
  if (r.kind == LoginProbe::Result::Kind::exited) vars = workspace::parse_login_env_dump(r.output, &why);
  if (!vars) {
    login_env_.state = r.kind == LoginProbe::Result::Kind::timed_out ? "timeout" : "failed";
    std::string what = r.kind == LoginProbe::Result::Kind::timed_out
                           ? identity_.shell + " -l did not finish within " +
                                 config::format_duration(run.timeout) + "; its process group was killed"
                       : r.kind == LoginProbe::Result::Kind::failed ? r.why
                                                                    : failure_text(r, identity_.shell, why);
    std::string errors = run.log_file.empty() ? "" : " (its errors: " + run.log_file + ")";
    warn("login environment: " + what + "; services start with the environment as it was" + errors);
    return false;  // a failed probe keeps what the last one gave
  }
  auto merge = workspace::merge_login_env(run.base, *vars);
  login_env_.added = merge.added;
  login_env_.changed = merge.changed;
  login_env_.state = merge.overrides.empty() ? "unchanged" : "applied";
  if (merge.left_out) spdlog::warn("login environment: {} more variables left out (at most {})", merge.left_out,
                                   workspace::kMaxLoginEnvChanges);
  if (merge.overrides.empty() && !login_env_empty_said_) {
    login_env_empty_said_ = true;
    spdlog::info("login environment: {}'s login profile sets nothing new; carrying on without it", identity_.shell);
  } else if (!merge.overrides.empty()) {
    spdlog::info("login environment: added {}; changed {} (took {:.0f}ms)", joined(merge.added), joined(merge.changed),
                 *login_env_.took_ms);
  }
  bool changed = merge.overrides != login_overrides_;
  login_overrides_ = std::move(merge.overrides);
  return changed;
}

int login_env_dump(char** envp) {
  std::string dump = workspace::login_env_dump(envp);
  std::string_view rest = dump;
  while (!rest.empty()) {
    ssize_t n = write(STDOUT_FILENO, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 1;
    rest.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

}  // namespace wsinit::init
