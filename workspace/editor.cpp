// The editor server: GitLab's VS Code fork started as GitLab's postStart script starts it,
// code-server, or any command; supervised like any service, ready when it answers HTTP.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fs.h"
#include "supervisor/spawn.h"
#include "workspace/internal.h"

namespace wsinit::workspace {
namespace {

// The first of `names` that is set and not empty, else `fallback`: GitLab renamed its
// variables (GL_EDITOR_* before GL_VSCODE_*) and sets either generation.
std::string first_set(const config::Environment& env, std::initializer_list<const char*> names, std::string fallback) {
  for (const char* name : names) {
    if (auto it = env.find(name); it != env.end() && !it->second.empty()) return it->second;
  }
  return fallback;
}

std::string tools_dir(const config::Environment& env) {
  return first_set(env, {"GL_TOOLS_DIR"}, config::projects_root(env) + "/.gl-tools");
}

std::vector<std::string> gitlab_command(const config::Environment& env, int port) {
  return {tools_dir(env) + "/vscode-reh-web/bin/gitlab-webide-server",
          "--host", "0.0.0.0",
          "--port", std::to_string(port),
          "--log", first_set(env, {"GL_VSCODE_LOG_LEVEL", "GL_EDITOR_LOG_LEVEL"}, "info"),
          "--without-connection-token",
          "--disable-workspace-trust"};
}

std::vector<std::string> code_server_command(const config::Environment& env, int port) {
  return {"code-server", "--bind-addr", "0.0.0.0:" + std::to_string(port), "--auth", "none", "--disable-telemetry",
          "--disable-update-check", config::project_source(env)};
}

// Keeps the first original as product.json.orig, then replaces the file in one rename.
std::optional<std::string> drop_commit_from_product_json(const std::string& path) {
  auto text = fs::read_file(path, 16 << 20);  // GitLab's product.json is about 100 KiB
  if (!text) return "cannot read " + path + ": " + strerror(errno);
  std::string error;
  auto edited = without_members(*text, "commit", &error);
  if (!edited) return path + ": " + error;
  if (*edited == *text) return std::nullopt;
  struct stat st {};
  mode_t mode = stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
  if (access((path + ".orig").c_str(), F_OK) != 0) {
    if (auto problem = fs::write_atomically(path + ".orig", *text, mode)) return problem;
  }
  return fs::write_atomically(path, *edited, mode);
}

}  // namespace

std::optional<config::Service> editor_service(const config::Config& config, const config::Environment& env,
                                              std::string* why_off) {
  const auto& e = config.editor;
  if (e.enabled == config::Switch::off) {
    *why_off = "editor.enabled is false";
    return std::nullopt;
  }
  std::vector<std::string> command = e.command;
  if (command.empty()) command = e.kind == "code-server" ? code_server_command(env, e.port) : gitlab_command(env, e.port);
  if (e.enabled == config::Switch::automatic) {
    supervisor::Lookup found = supervisor::find_executable(command[0], first_set(env, {"PATH"}, "/usr/local/bin:/usr/bin:/bin"));
    if (!found.error && access(found.path.c_str(), X_OK) != 0) found.error = errno;  // a path is not looked up
    if (found.error) {
      *why_off = "editor.enabled is auto and " + command[0] + " is not there (" + strerror(found.error) + ")";
      return std::nullopt;
    }
  }
  config::Service s;
  s.name = "editor";
  s.command = std::move(command);
  s.restart = config::Restart::always;
  s.required = true;
  s.ready.kind = config::Readiness::Kind::http;
  s.ready.http_url = "http://127.0.0.1:" + std::to_string(e.port) + "/";
  s.ready.http_ready_below = 500;  // a login page or a redirect is an editor that answers
  s.ready.timeout = std::chrono::seconds(60);
  s.external_port = e.port;
  s.origin = "(wsinit's editor)";
  s.log_name = "start-vscode";  // where GitLab's own script writes the editor's output
  return s;
}

void add_editor(const config::Config& config, const config::Environment& env, bool dry_run, Plan& plan) {
  auto editor = editor_service(config, env, &plan.editor_why_off);
  if (!editor) return;
  plan.editor_url = editor->ready.http_url;
  bool default_gitlab = config.editor.command.empty() && config.editor.kind == "gitlab";
  if (!dry_run && default_gitlab && first_set(env, {"GL_VSCODE_IGNORE_VERSION_MISMATCH"}, "") == "true") {
    if (auto problem = drop_commit_from_product_json(tools_dir(env) + "/vscode-reh-web/product.json"))
      plan.warnings.push_back("GL_VSCODE_IGNORE_VERSION_MISMATCH: " + *problem +
                              "; a browser client of another version may be refused");
  }
  plan.services.push_back(std::move(*editor));
}

}  // namespace wsinit::workspace
