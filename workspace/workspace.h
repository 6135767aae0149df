// workspace/: what makes wsinit a GitLab workspace: the editor server, the environment every
// process gets, the variables mount (with GitLab's reconciled state), and a devfile's postStart
// commands as oneshot services.
// Uses config/ and user_ids/; inside, common/ and yaml-cpp. Never supervisor/: it only describes services.
#pragma once

#include <uv.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "supervisor/service_spec.h"
#include "user_ids/user_ids.h"

namespace wsinit::workspace {

// A devfile endpoint (components[].container.endpoints[]): the port a container serves, and the
// URL it is reached at through the workspace proxy when one can be made.
struct Endpoint {
  std::string name;
  int port = 0;  // targetPort
  std::string component;
  // exposure public (the default) over http, https, ws or wss (http by default): it has a URL
  bool web = true;
  std::optional<std::string> url;  // endpoint_url(), when web and the template makes one
  std::string origin;              // "file:line:column"
};
// Every container component's endpoints, at most kMaxEndpoints. An endpoint that cannot be used
// (no name, a targetPort that is no port) is left out with a warning naming file:line:column:
// endpoints only inform the status, so they never keep a workspace from starting. A targetPort
// declared twice is kept once (the first). URLs are not made here (endpoint_url).
struct Endpoints {
  std::vector<Endpoint> endpoints;
  std::vector<std::string> warnings;
};

// The services the workspace adds to the config: "editor", then "poststart-*" in order.
struct Plan {
  std::vector<supervisor::ServiceSpec> services;
  std::string editor_url;      // http://127.0.0.1:PORT/ when there is an editor
  std::string editor_why_off;  // when there is none
  std::vector<std::string> notes;     // worth knowing (postStart commands of other containers)
  std::vector<std::string> warnings;  // worth fixing
  std::vector<std::string> errors;    // an unusable devfile: wsinit does not start
  // Who runs the devfile's postStart commands: nobody (no devfile), wsinit, or GitLab's runner
  // while wsinit follows its log.
  enum class PostStartMode { off, run, observe } poststart_mode = PostStartMode::off;
  bool devfile_pending = false;  // workspace.devfile is not there yet and the clone is pending
  std::vector<Endpoint> endpoints;  // the devfile's (read in every postStart mode), with their URLs
};
const char* poststart_mode_name(Plan::PostStartMode mode);
// Works out the editor (GITLAB_WORKFLOW_TOKEN from GITLAB_WORKFLOW_TOKEN_FILE when unset) and
// reads the devfile; unless `dry_run`, also applies GitLab's GL_VSCODE_IGNORE_VERSION_MISMATCH
// and GL_VSCODE_ENABLE_MARKETPLACE edits to the editor's product.json.
Plan prepare(const config::Config& config, const config::Environment& env, bool dry_run);

// The editor service of editor.kind (or editor.command); the reason it is off as the error.
Result<supervisor::ServiceSpec> editor_service(const config::Config& config, const config::Environment& env);

// Edits of a JSON object's top-level members that keep every other byte of the text (the
// editor's product.json: without "commit" when GL_VSCODE_IGNORE_VERSION_MISMATCH=true, so a
// newer browser client may talk to this server; with "extensionsGallery" for the marketplace).
// Each refuses, saying why, a text that is not one JSON object (RFC 8259, strictly).
// The members as written: key with its quotes, value as it stands.
struct JsonMember {
  std::string_view key, value;
};
Result<std::vector<JsonMember>> json_object_members(std::string_view json);
// Without every member whose key (escapes undone) is `key`; each goes with the whitespace
// before it and one comma. The same text when there is none.
Result<std::string> without_members(std::string_view json, std::string_view key);
// With `"key": value` put in as the first member, on a line of its own: the text starts with
// `{` alone on line 1 (whitespace before it dropped), so GitLab's start script, which replaces
// line 1 with `{` and its own member, leaves valid JSON. `value` must be JSON (json::Writer's).
Result<std::string> with_first_member(std::string_view json, std::string_view key, std::string_view value);

// A devfile 2.2's postStart exec commands for the main component, as oneshot services that
// run one after the other. The main component is the one GitLab injects the editor into
// (attribute gl/inject-editor: true), else the only container component.
struct PostStart {
  std::vector<supervisor::ServiceSpec> services;
  std::vector<std::string> notes;   // commands left out and why (another component's)
  std::vector<std::string> errors;  // "file:line:column: what"
};
// Bounds on unfolding composite commands: how deep composites may nest, and how many command
// references postStart may unfold to in all (each one counts, composite or exec).
inline constexpr int kMaxCompositeDepth = 16;
inline constexpr size_t kMaxPostStartCommands = 1000;
PostStart post_start_services(std::string_view devfile_text, const std::string& source, const config::Environment& env);

inline constexpr size_t kMaxEndpoints = 256;
Endpoints devfile_endpoints(std::string_view devfile_text, const std::string& source);

// The URL of a port through GitLab's workspace proxy, from GL_WORKSPACE_DOMAIN_TEMPLATE
// ("${PORT}-<workspace>.<domain>"): https://<the template with ${PORT} replaced>/. Refused, saying
// why, unless the template holds ${PORT} exactly once and the result is a sane host name (labels
// of letters, digits and '-', not starting or ending with '-', 1 to 63 bytes each, at least two,
// the last not all digits, 253 bytes in all).
Result<std::string> endpoint_url(std::string_view domain_template, int port);

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

// GitLab's postStart runner, observed rather than run twice. GitLab's hook runs each step as
// `/workspace-scripts/<id> || true` and writes around it, into poststart-stdout.log:
//   <date -Iseconds>: Running /workspace-scripts/<id>...
//   <date -Iseconds>: Finished running /workspace-scripts/<id>.
// (exit codes are never written). The log is `<logs>/poststart-stdout.log` (flat layout), or
// `<logs>/<component>/poststart-stdout.log` (per-component layout), where the main component's
// hook also writes `<date>: Running internal blocking poststart commands script...`.

// One run of one script. `component` is "" in the flat layout. Times are unix milliseconds.
struct PostStartStep {
  std::string id, component;
  std::int64_t started_unix_ms = 0;
  std::optional<std::int64_t> finished_unix_ms;  // nullopt while it runs
  bool operator==(const PostStartStep&) const = default;
};

// Reads the runner's lines out of the log as it grows; everything else in it (the commands' own
// output) is ignored. No I/O. Bounds, whatever is fed:
// - a line (without its newline) longer than kMaxLine bytes is dropped, up to its newline, so
//   at most kMaxLine bytes are held per component;
// - at most kMaxComponents components are followed; chunks of others are dropped;
// - at most kMaxSteps steps are kept; further starts are counted in dropped_steps();
// - an id is 1 to kMaxId bytes, not "." or "..", with no '/' and no control byte (a script's
//   file name); a line naming another is ignored, as is a date prefix longer than kMaxDate
//   bytes or holding a blank.
// A date that does not parse (`date -Iseconds` forms: 2026-11-30T19:50:14+00:00, +0000, Z, an
// optional fraction) counts as `now_unix_ms` of the chunk that ended the line.
class PostStartLog {
 public:
  static constexpr std::size_t kMaxLine = 4096;
  static constexpr std::size_t kMaxComponents = 64;
  static constexpr std::size_t kMaxSteps = 256;
  static constexpr std::size_t kMaxId = 255;
  static constexpr std::size_t kMaxDate = 64;

  // `component`: "" for the flat layout, else the folder's name.
  void feed(std::string_view chunk, std::string_view component, std::int64_t now_unix_ms);
  // The component's log file was made anew (GitLab recreates it at each start): its partial
  // line, its steps and its main mark are forgotten.
  void restart(std::string_view component);

  // In order of start (the date on the Running line; ties in the order read). The same id
  // Running again after its Finished is a new step; Running while it runs changes nothing.
  std::vector<PostStartStep> steps() const;
  // The first component whose hook said it runs the internal blocking script (never "").
  std::optional<std::string> main_component() const;
  std::size_t dropped_steps() const { return dropped_steps_; }
  std::size_t buffered_bytes() const;  // partial lines held, all components together
  // Goes up with every change to steps() or main_component().
  std::uint64_t changes() const { return changes_; }

 private:
  struct Component {
    std::string partial;     // the line so far, at most kMaxLine bytes
    bool skipping = false;   // inside a line too long to keep, until its newline
    std::uint64_t main_mark = 0;  // order in which it said it is the main one; 0: never
  };
  void line(std::string_view text, const std::string& component, Component& state, std::int64_t now_unix_ms);
  void started(std::string_view id, const std::string& component, std::int64_t at);
  void finished(std::string_view id, const std::string& component, std::int64_t at);

  std::vector<std::pair<std::string, Component>> components_;
  std::vector<PostStartStep> steps_;  // in the order read
  std::size_t dropped_steps_ = 0;
  std::uint64_t changes_ = 0, main_marks_ = 0;
};

// Follows `<logs_dir>/poststart-stdout.log` and `<logs_dir>/<component>/poststart-stdout.log`
// with libuv fs events on the folder and on each component folder (a devfile component name:
// lowercase letters, digits and '-', at most 63; at most kMaxComponentDirs of them). A folder
// that is not there yet is looked for every 2 s. Each file is read from where the last read
// stopped, at most kReadSlice bytes per file per turn (the rest on the next turn); a file that
// shrank, got a new inode or a new beginning is read from 0 and its component restarted.
// `on_change` is called when the steps changed, and every second while a step runs.
class PostStartObserver {
 public:
  static constexpr std::size_t kReadSlice = 64 * 1024;
  static constexpr std::size_t kMaxComponentDirs = PostStartLog::kMaxComponents - 1;

  PostStartObserver(uv_loop_t* loop, std::string logs_dir, std::function<void()> on_change);
  ~PostStartObserver();
  PostStartObserver(const PostStartObserver&) = delete;
  PostStartObserver& operator=(const PostStartObserver&) = delete;

  void start();
  const std::string& logs_dir() const;
  std::vector<PostStartStep> steps() const;
  std::optional<std::string> main_component() const;
  std::size_t dropped_steps() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

inline constexpr const char* kPostStartLogName = "poststart-stdout.log";

// True when `scripts_dir` holds GitLab's postStart runner: a file whose name contains "gl-run-"
// and "poststart" (gl-run-internal-blocking-poststart-commands.sh, gl-run-non-blocking-...,
// <component>-gl-run-non-blocking-..., the older gl-run-poststart-commands.sh).
bool gitlab_runner_present(const std::string& scripts_dir);

}  // namespace wsinit::workspace
