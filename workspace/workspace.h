// workspace/: what makes wsinit a GitLab workspace: the editor server, the environment every
// process gets, the variables mount (with GitLab's reconciled state), and a devfile's postStart
// commands as oneshot services.
#pragma once

#include <uv.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "user_ids/user_ids.h"

namespace wsinit::workspace {

// The services the workspace adds to the config: "editor", then "poststart-*" in order.
struct Plan {
  std::vector<config::Service> services;
  std::string editor_url;      // http://127.0.0.1:PORT/ when there is an editor
  std::string editor_why_off;  // when there is none
  std::vector<std::string> notes;     // worth knowing (postStart commands of other containers)
  std::vector<std::string> warnings;  // worth fixing
  std::vector<std::string> errors;    // an unusable devfile: wsinit does not start
  // Who runs the devfile's postStart commands: nobody (no devfile), wsinit, or GitLab's runner
  // while wsinit follows its log.
  enum class PostStartMode { off, run, observe } poststart_mode = PostStartMode::off;
  bool devfile_pending = false;  // workspace.devfile is not there yet and the clone is pending
};
const char* poststart_mode_name(Plan::PostStartMode mode);
// Works out the editor (GITLAB_WORKFLOW_TOKEN from GITLAB_WORKFLOW_TOKEN_FILE when unset) and
// reads the devfile; unless `dry_run`, also applies GitLab's GL_VSCODE_IGNORE_VERSION_MISMATCH
// and GL_VSCODE_ENABLE_MARKETPLACE edits to the editor's product.json.
Plan prepare(const config::Config& config, const config::Environment& env, bool dry_run);

// The editor service of editor.kind (or editor.command); nullopt with the reason when off.
std::optional<config::Service> editor_service(const config::Config& config, const config::Environment& env,
                                              std::string* why_off);

// Edits of a JSON object's top-level members that keep every other byte of the text (the
// editor's product.json: without "commit" when GL_VSCODE_IGNORE_VERSION_MISMATCH=true, so a
// newer browser client may talk to this server; with "extensionsGallery" for the marketplace).
// Each refuses (nullopt with `error`) a text that is not one JSON object (RFC 8259, strictly).
// The members as written: key with its quotes, value as it stands.
struct JsonMember {
  std::string_view key, value;
};
std::optional<std::vector<JsonMember>> json_object_members(std::string_view json, std::string* error);
// Without every member whose key (escapes undone) is `key`; each goes with the whitespace
// before it and one comma. The same text when there is none.
std::optional<std::string> without_members(std::string_view json, std::string_view key, std::string* error);
// With `"key": value` put in as the first member, on a line of its own: the text starts with
// `{` alone on line 1 (whitespace before it dropped), so GitLab's start script, which replaces
// line 1 with `{` and its own member, leaves valid JSON. `value` must be JSON (json::Writer's).
std::optional<std::string> with_first_member(std::string_view json, std::string_view key, std::string_view value,
                                             std::string* error);

// A devfile 2.2's postStart exec commands for the main component, as oneshot services that
// run one after the other. The main component is the one GitLab injects the editor into
// (attribute gl/inject-editor: true), else the only container component.
struct PostStart {
  std::vector<config::Service> services;
  std::vector<std::string> notes;   // commands left out and why (another component's)
  std::vector<std::string> errors;  // "file:line:column: what"
};
// Bounds on unfolding composite commands: how deep composites may nest, and how many command
// references postStart may unfold to in all (each one counts, composite or exec).
inline constexpr int kMaxCompositeDepth = 16;
inline constexpr size_t kMaxPostStartCommands = 1000;
PostStart post_start_services(std::string_view devfile_text, const std::string& source, const config::Environment& env);

// What every service (and, less a few names, every SSH session) starts with: wsinit's own
// environment less names meaningless to a child, with the identity's HOME, USER, ... applied.
std::vector<std::string> service_environment(const std::vector<std::string>& env, const user_ids::Identity& identity);

// Watches the file-variables directory with libuv fs events (Kubernetes swaps a `..data`
// symlink when the secret changes): logs the names of variables that changed, never values,
// and follows gl_workspace_reconciled_actual_state.txt.
class Variables {
 public:
  // `on_running` is told whether the reconciled state is "Running" whenever that changes.
  Variables(uv_loop_t* loop, std::string dir, std::function<void(bool running)> on_running);
  ~Variables();
  Variables(const Variables&) = delete;
  Variables& operator=(const Variables&) = delete;

  void start();
  const std::string& dir() const;
  std::optional<std::string> reconciled_state() const;  // the file's text, trimmed; nullopt when absent
  std::size_t file_count() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

inline constexpr const char* kReconciledStateFile = "gl_workspace_reconciled_actual_state.txt";

// GitLab's project clone. GitLab 18.x clones in the main container's postStart hook, after PID 1
// started, with <paths.scripts>/gl-clone-project-command, and marks success with
// <PROJECTS_ROOT>/.gl_project_cloning_successful (older GitLab cloned in an init container, so
// the marker was there before PID 1 started).
inline constexpr const char* kCloneMarker = ".gl_project_cloning_successful";
inline constexpr const char* kCloneScript = "gl-clone-project-command";
// none: no GitLab cloner (nothing to wait for); pending: the cloner is there and the marker not yet.
enum class Clone { none, pending, done };
Clone clone_state(const std::string& projects_root, const std::string& scripts_dir);
std::string clone_marker(const std::string& projects_root);

// Follows a pending clone: `on_cloned` runs once, when the marker appears (libuv fs events on
// the projects directory; every 2 s while it is missing or cannot be watched).
class ProjectClone {
 public:
  ProjectClone(uv_loop_t* loop, std::string projects_root, std::string scripts_dir, std::function<void()> on_cloned);
  ~ProjectClone();
  ProjectClone(const ProjectClone&) = delete;
  ProjectClone& operator=(const ProjectClone&) = delete;

  void start();  // reads the state; follows it when pending
  Clone state() const;
  bool cloned() const { return state() != Clone::pending; }
  std::optional<double> waited_s() const;  // from start() to the marker, when there was a wait

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// GitLab's postStart runner in `scripts_dir` (gl-run-*poststart* scripts): GitLab runs the
// devfile's postStart commands itself.
bool gitlab_runner_present(const std::string& scripts_dir);

}  // namespace wsinit::workspace
