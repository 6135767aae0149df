// The editor server: GitLab's VS Code fork started as GitLab's postStart script starts it,
// code-server, or any command; supervised like any service, ready when it answers HTTP.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/environment.h"
#include "common/fs.h"
#include "common/json.h"
#include "internal.h"

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

// The edits GitLab's start script makes to product.json, asked for by its variables.
struct ProductJsonEdits {
  std::vector<std::string> settings;      // the variables that asked, for messages
  std::vector<std::string> consequences;  // of not making them
  bool drop_commit = false;
  std::optional<std::string> gallery;  // the extensionsGallery value
};

// The member GitLab's script writes: each URL from GL_VSCODE_EXTENSION_MARKETPLACE_*, else the
// older GL_EDITOR_EXTENSION_MARKETPLACE_*, else GitLab's default (Open VSX).
std::string extensions_gallery(const config::Environment& env) {
  auto url = [&](const std::string& suffix, const char* fallback) {
    std::string newer = "GL_VSCODE_EXTENSION_MARKETPLACE_" + suffix, older = "GL_EDITOR_EXTENSION_MARKETPLACE_" + suffix;
    return first_set(env, {newer.c_str(), older.c_str()}, fallback);
  };
  json::Writer w;
  w.begin_object();
  w.key("serviceUrl").value(url("SERVICE_URL", "https://open-vsx.org/vscode/gallery"));
  w.key("itemUrl").value(url("ITEM_URL", "https://open-vsx.org/vscode/item"));
  w.key("resourceUrlTemplate").value(url("RESOURCE_URL_TEMPLATE", "https://open-vsx.org/api/{publisher}/{name}/{version}/file/{path}"));
  w.end_object();
  return w.str();
}

ProductJsonEdits product_json_edits(const config::Environment& env) {
  ProductJsonEdits edits;
  if (first_set(env, {"GL_VSCODE_IGNORE_VERSION_MISMATCH"}, "") == "true") {
    edits.drop_commit = true;
    edits.settings.push_back("GL_VSCODE_IGNORE_VERSION_MISMATCH");
    edits.consequences.push_back("a browser client of another version may be refused");
  }
  if (first_set(env, {"GL_VSCODE_ENABLE_MARKETPLACE", "GL_EDITOR_ENABLE_MARKETPLACE"}, "") == "true") {
    edits.gallery = extensions_gallery(env);
    bool newer = first_set(env, {"GL_VSCODE_ENABLE_MARKETPLACE"}, "") == "true";
    edits.settings.push_back(newer ? "GL_VSCODE_ENABLE_MARKETPLACE" : "GL_EDITOR_ENABLE_MARKETPLACE");
    edits.consequences.push_back("the editor has no extension marketplace");
  }
  return edits;
}

// The text with every edit made; an error when it is not a JSON object.
// "extensionsGallery" goes in first, after every member of that name is taken out: the one
// GitLab's script put in when it ran first, and ours from an earlier start, so the edit made
// twice changes nothing the second time. When GitLab's script runs after it, replacing line 1
// (`{` alone, see with_first_member) with `{` and its own member, the file holds two: valid
// JSON, and JSON.parse, which the editor reads it with, keeps the last, ours (the same values
// from the same variables).
Result<std::string> edited_product_json(const std::string& text, const ProductJsonEdits& edits) {
  Result<std::string> out = text;
  if (edits.drop_commit) out = without_members(*out, "commit");
  if (out && edits.gallery) out = without_members(*out, "extensionsGallery");
  if (out && edits.gallery) out = with_first_member(*out, "extensionsGallery", *edits.gallery);
  return out;
}

// Reads, edits and, unless `dry_run`, writes product.json: the first original kept as
// product.json.orig, then the file replaced in one rename.
Status edit_product_json(const std::string& path, const ProductJsonEdits& edits, bool dry_run) {
  auto text = fs::read_file(path, 16 << 20);  // GitLab's product.json is about 100 KiB
  if (!text) return text.error();
  auto edited = edited_product_json(*text, edits);
  if (!edited) return fail(path + ": " + edited.error().message);
  if (*edited == *text || dry_run) return {};
  struct stat st {};
  mode_t mode = stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
  if (access((path + ".orig").c_str(), F_OK) != 0) {
    if (auto done = fs::write_atomically(path + ".orig", *text, mode); !done) return done;
  }
  return fs::write_atomically(path, *edited, mode);
}

std::string joined(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : separator) + part;
  return out;
}

// GitLab's start script: "the contents of this file populate GITLAB_WORKFLOW_TOKEN if it is not
// set". The value goes into the editor's environment only: never into a message.
void add_workflow_token(const config::Environment& env, config::Service& editor, std::vector<std::string>& warnings) {
  std::string file = first_set(env, {"GITLAB_WORKFLOW_TOKEN_FILE"}, "");
  if (file.empty() || !first_set(env, {"GITLAB_WORKFLOW_TOKEN"}, "").empty()) return;
  std::string problem;
  auto token = fs::read_file(file, 64 << 10);
  if (!token) {
    problem =
        token.error().code == EFBIG ? "cannot read " + file + ": it holds more than 64 KiB" : token.error().message;
  } else {
    while (!token->empty() && (token->back() == '\n' || token->back() == '\r')) token->pop_back();
    if (token->empty()) problem = file + " is empty";
    else if (token->find('\0') != std::string::npos) problem = file + " holds a NUL byte, which a variable cannot";
  }
  if (!problem.empty()) {
    warnings.push_back("GITLAB_WORKFLOW_TOKEN_FILE: " + problem + "; the editor starts without GITLAB_WORKFLOW_TOKEN");
    return;
  }
  editor.env["GITLAB_WORKFLOW_TOKEN"] = std::move(*token);
}

}  // namespace

Result<supervisor::ServiceSpec> editor_service(const config::Config& config, const config::Environment& env) {
  const auto& e = config.editor;
  if (e.enabled == config::Switch::off) return fail("editor.enabled is false");
  std::vector<std::string> command = e.command;
  if (command.empty()) command = e.kind == "code-server" ? code_server_command(env, e.port) : gitlab_command(env, e.port);
  if (e.enabled == config::Switch::automatic) {
    auto found = find_executable(command[0], first_set(env, {"PATH"}, kDefaultPath));
    int error = !found ? found.error().code : access(found->c_str(), X_OK) != 0 ? errno : 0;  // a path is not looked up
    if (error) return fail("editor.enabled is auto and " + command[0] + " is not there (" + strerror(error) + ")");
  }
  supervisor::ServiceSpec s;
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
  s.oom_score_adj = std::nullopt;  // the user's way in: the OOM killer takes user services first
  return s;
}

void add_editor(const config::Config& config, const config::Environment& env, bool dry_run, Plan& plan) {
  auto editor = editor_service(config, env);
  if (!editor) {
    plan.editor_why_off = editor.error().message;
    return;
  }
  plan.editor_url = editor->ready.http_url;
  bool default_gitlab = config.editor.command.empty() && config.editor.kind == "gitlab";
  ProductJsonEdits edits = product_json_edits(env);
  if (default_gitlab && !edits.settings.empty()) {
    // `wsinit check` (dry_run) reads and edits in memory, to say what is wrong, but writes nothing.
    if (auto done = edit_product_json(tools_dir(env) + "/vscode-reh-web/product.json", edits, dry_run); !done)
      plan.warnings.push_back(joined(edits.settings, ", ") + ": " + done.error().message + "; " +
                              joined(edits.consequences, ", and "));
  }
  add_workflow_token(env, *editor, plan.warnings);
  plan.services.push_back(std::move(*editor));
}

}  // namespace wsinit::workspace
