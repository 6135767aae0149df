// `wsinit check`: the config validated and the plan printed, as `wsinit` would run it, without
// writing anything.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "common/log_text.h"
#include "internal.h"
#include "common/environment.h"
#include "supervisor/spawn.h"
#include "supervisor/supervisor.h"
#include "workspace/login_env.h"

namespace wsinit::init {
namespace {

using Clock = std::chrono::steady_clock;

// One line of `wsinit check`'s plan, printf-style, through the text log's encoder as a whole:
// its values come from the config, the environment, a devfile and /etc/passwd.
[[gnu::format(printf, 1, 2)]] void say(const char* format, ...) {
  va_list args, again;
  va_start(args, format);
  va_copy(again, args);
  int length = vsnprintf(nullptr, 0, format, args);
  va_end(args);
  std::string line(length > 0 ? static_cast<size_t>(length) : 0, '\0');
  if (length > 0) vsnprintf(line.data(), line.size() + 1, format, again);
  va_end(again);
  printf("%s\n", log_text::escape(line).c_str());
}

// `wsinit check`'s parts, each printing its share of the plan and returning its problems.
int say_user(const config::Config& config, const user_ids::Identity& id) {
  say("config: %s (profile %s)", config.source.c_str(), config.profile == config::Profile::gitlab ? "gitlab" : "plain");
  say("shutdown grace: %s", config::format_duration(config.shutdown.grace).c_str());
  const char* entry = id.source == user_ids::Source::appended      ? "would be appended"
                      : id.source == user_ids::Source::nss_wrapper ? "would go through nss_wrapper"
                                                                   : user_ids::source_name(id.source);
  say("user: %s (uid %u, gid %u), home %s, shell %s, entry: %s", id.name.c_str(), id.uid, id.gid, id.home.c_str(),
      id.shell.c_str(), entry);
  for (const auto& warning : id.warnings) say("  warning: %s", warning.c_str());
  for (const auto& p : id.persist)
    say("  persist %s: %s (%s)", p.path.c_str(), user_ids::persist_state_name(p.state), p.detail.c_str());
  return 0;
}

int say_sshd(const config::Config& config, const sshd_setup::Setup& sshd) {
  if (!sshd.enabled) {
    say("sshd: off (%s)", sshd.why_off.c_str());
  } else {
    std::string listening;
    for (const auto& l : config.sshd.listen) listening += " " + l;
    if (sshd.server == "builtin") say("sshd: wsinit's built-in SSH server (%s ssh-server), listening on%s", sshd.binary.c_str(), listening.c_str());
    else say("sshd: %s, listening on%s", sshd.binary.c_str(), listening.c_str());
    for (const auto& key : sshd.host_keys) {
      say("  host key %s: %s", key.type.c_str(), key.fingerprint.empty() ? "to be generated" : key.fingerprint.c_str());
    }
  }
  for (const auto& warning : sshd.warnings) say("  warning: %s", warning.c_str());
  for (const auto& error : sshd.errors) say("  problem: %s", error.c_str());
  return static_cast<int>(sshd.errors.size());
}

int say_workspace(const config::Config& config, const workspace::Plan& plan) {
  if (plan.editor_url.empty()) say("editor: off (%s)", plan.editor_why_off.c_str());
  else say("editor: %s", plan.editor_url.c_str());
  if (!config.workspace.devfile.empty()) {
    auto post_start = std::count_if(plan.services.begin(), plan.services.end(), [](const config::Service& s) {
      return s.name.rfind(config::kPostStartPrefix, 0) == 0;
    });
    say("devfile: %s, %ld postStart command%s (postStart: %s)", config.workspace.devfile.c_str(),
        static_cast<long>(post_start), post_start == 1 ? "" : "s", workspace::poststart_mode_name(plan.poststart_mode));
  }
  for (const auto& e : plan.endpoints)
    say("  endpoint %s: port %d%s%s", e.name.c_str(), e.port, e.url ? ", " : "", e.url ? e.url->c_str() : "");
  for (const auto& note : plan.notes) say("  note: %s", note.c_str());
  for (const auto& warning : plan.warnings) say("  warning: %s", warning.c_str());
  for (const auto& error : plan.errors) say("  problem: %s", error.c_str());
  return static_cast<int>(plan.errors.size());
}

// What a service's processes would run with: its oom_score_adj, or wsinit's own (`own`, as
// this process has it: a shell in the workspace inherits it from wsinit).
std::string oom_plan(std::optional<int> wanted, std::optional<int> own) {
  std::string own_text = own ? std::to_string(*own) : "unknown";
  if (!wanted) return "wsinit's own (" + own_text + ")";
  if (supervisor::oom_score_adj_to_write(wanted, own)) return std::to_string(*wanted);
  if (*wanted == *own) return std::to_string(*wanted) + " (wsinit's own)";
  return "wsinit's own, " + own_text + " (it asks for " + std::to_string(*wanted) +
         ", and only a process with CAP_SYS_RESOURCE may lower it)";
}

// Every service in start order, with what it waits for and the program it would run.
int say_services(std::vector<supervisor::ServiceSpec> services, const config::Environment& env) {
  int problems = 0;
  auto order = supervisor::in_start_order(std::move(services));
  say("services, in start order: %zu", order.size());
  std::string path = search_path(env);
  std::optional<int> own_adj = supervisor::current_oom_score_adj();
  for (const auto& spec : order) {
    const config::Service* s = &spec;
    std::string line = "  " + s->name + (s->enabled ? "" : " (disabled)") + ":";
    for (const auto& arg : s->command) line += " " + arg;
    say("%s", line.c_str());
    if (!s->after.empty()) {
      std::string after;
      for (const auto& d : s->after) after += (after.empty() ? "" : ", ") + d;
      say("      after: %s", after.c_str());
    }
    if (!s->enabled) continue;
    std::string service_path = s->env.count("PATH") ? s->env.at("PATH") : path;
    auto found = find_executable(s->command[0], service_path);
    if (!found) {
      say("      problem: %s: %s", s->command[0].c_str(), strerror(found.error().code));
      ++problems;
    } else {
      say("      runs: %s", found->c_str());
    }
    say("      oom_score_adj: %s", oom_plan(s->wanted_oom_score_adj(own_adj), own_adj).c_str());
  }
  return problems;
}

// `wsinit check` is no PID 1 and runs no loop: the login shell runs as its own short-lived child,
// read with poll() and waited for by its pid alone (nothing else of check's is a child), and its
// group killed at the timeout as wsinit would. Only names are said, never values.
struct CheckProbe {
  std::string output, why;
  bool timed_out = false;
  int wait_status = 0;
};

void read_until(int fd, Clock::time_point deadline, CheckProbe& p) {
  char buffer[65536];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      p.timed_out = true;
      return;
    }
    pollfd pfd{fd, POLLIN, 0};
    int ready = poll(&pfd, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    if (p.output.size() + static_cast<size_t>(n) > workspace::kMaxLoginEnvOutput) {
      p.why = "it printed more than 1 MiB";
      return;
    }
    p.output.append(buffer, static_cast<size_t>(n));
  }
}

CheckProbe run_login_shell(const config::Config& config, const user_ids::Identity& id, const std::vector<std::string>& env) {
  CheckProbe p;
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  int fds[2];
  if (len <= 0) {
    p.why = std::string("cannot find wsinit's own binary (/proc/self/exe): ") + strerror(errno);
    return p;
  }
  if (pipe2(fds, O_CLOEXEC) < 0) {
    p.why = std::string("cannot make a pipe: ") + strerror(errno);
    return p;
  }
  supervisor::SpawnRequest request;
  request.argv = workspace::login_env_argv(id.shell, std::string(self, static_cast<size_t>(len)));
  request.env = env;
  request.cwd = access(id.home.c_str(), X_OK) == 0 ? id.home : "/";  // check creates no HOME
  request.stdin_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  request.stdout_fd = fds[1];
  request.stderr_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);  // check prints no profile's noise
  auto spawned = supervisor::spawn(request);
  close(fds[1]);
  for (int fd : {request.stdin_fd, request.stderr_fd}) {
    if (fd >= 0) close(fd);
  }
  if (spawned.pid > 0) {
    read_until(fds[0], Clock::now() + config.user.login_env_timeout, p);
    // The leader is not reaped yet, so its group id is still its own: what the profile left
    // in the background goes with it, as under wsinit.
    kill(-spawned.pid, SIGKILL);
    while (waitpid(spawned.pid, &p.wait_status, 0) < 0 && errno == EINTR) {
    }
  }
  close(fds[0]);
  if (!spawned.ok()) p.why = "cannot start " + id.shell + ": " + spawned.stage + ": " + strerror(spawned.error);
  return p;
}

std::string names(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& n : list) out += (out.empty() ? "" : " ") + n;
  return out.empty() ? "none" : out;
}

// The login environment as wsinit would read it; its problems are warnings (wsinit starts anyway).
void say_login_env(const config::Config& config, const user_ids::Identity& id, const std::vector<std::string>& env) {
  if (!config.user.login_env) return say("login environment: off (user.login_env)");
  if (!workspace::login_shell_usable(id.shell) || access(id.shell.c_str(), X_OK) != 0)
    return say("login environment: skipped: the shell '%s' cannot run as a login shell", id.shell.c_str());
  auto started = Clock::now();
  CheckProbe p = run_login_shell(config, id, env);
  long took = static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
  std::optional<workspace::LoginVariables> vars;
  if (p.timed_out) p.why = "it did not finish within " + config::format_duration(config.user.login_env_timeout);
  else if (p.why.empty()) vars = workspace::parse_login_env_dump(p.output, &p.why);
  if (!vars) return say("  warning: login environment (%s -l): %s; wsinit would start without it", id.shell.c_str(), p.why.c_str());
  auto merge = workspace::merge_login_env(env, *vars);
  say("login environment (%s -l, %ldms): adds %s; changes %s", id.shell.c_str(), took, names(merge.added).c_str(),
      names(merge.changed).c_str());
}

}  // namespace

int check(const Command& command, char** envp) {
  config::Environment env = config::environment_of(envp);
  std::vector<std::string> errors;
  LoadedConfig loaded = load_config(command, env, &errors);
  auto& config = loaded.config;
  if (!config) {
    for (const auto& e : errors) print_error(e);
    fprintf(stderr, "wsinit: %zu error%s\n", errors.size(), errors.size() == 1 ? "" : "s");
    return 1;
  }
  if (loaded.state == ConfigState::waiting_for_clone)
    say("config file %s: not there yet; GitLab's clone is pending, so wsinit starts on the embedded profile and "
        "reads it once the project is cloned", loaded.file.c_str());
  user_ids::Identity id = establish_identity(*config, envp, true);
  int problems = say_user(*config, id);
  say_login_env(*config, id, workspace::service_environment(environment_list(envp), id));
  auto sshd = sshd_setup::prepare(*config, id, workspace::service_environment(environment_list(envp), id), true);
  problems += say_sshd(*config, sshd);
  workspace::Plan plan = workspace::prepare(*config, env, true);
  problems += say_workspace(*config, plan);
  say("logs: %s", config->paths.logs.c_str());
  say("control socket: %s", supervisor::control_socket_path(env, *config).c_str());
  problems += say_services(all_services(sshd, plan, *config), env);
  if (problems) say("%d problem%s", problems, problems == 1 ? "" : "s");
  return problems ? 1 : 0;
}

}  // namespace wsinit::init
