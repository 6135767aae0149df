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
};
// Works out the editor and reads the devfile; unless `dry_run`, also applies GitLab's
// GL_VSCODE_IGNORE_VERSION_MISMATCH edit to the editor's product.json.
Plan prepare(const config::Config& config, const config::Environment& env, bool dry_run);

// The editor service of editor.kind (or editor.command); nullopt with the reason when off.
std::optional<config::Service> editor_service(const config::Config& config, const config::Environment& env,
                                              std::string* why_off);

// product.json without its top-level "commit" member (what GitLab's start script does when
// GL_VSCODE_IGNORE_VERSION_MISMATCH=true, so a newer browser client may talk to this server).
// nullopt with `error` when the text is not a JSON object; the same text when there is none.
std::optional<std::string> without_commit_member(std::string_view json, std::string* error);

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

}  // namespace wsinit::workspace
