# GitLab 18.x starts PID 1 before the project exists: its postStart hook clones it afterwards and
# marks success with /projects/.gl_project_cloning_successful. A pod whose config lives in the
# project (WSINIT_CONFIG names a file the clone brings) comes up on the embedded profile at once
# (sshd, editor, health), never exits, and runs the project's config within a second of the
# marker: its services (whose cwd the clone creates) start then, and GitLab's own runner, being
# present, is left to run the devfile's postStart commands (wsinit does not run them twice).
# A config file still missing after the clone leaves the embedded profile running with a
# warning; a missing config file with no clone pending is an error, as before.
source "$(dirname "$0")/lib.sh"

setup_workspace_user
export WSINIT_SOCKET="$TMP/ws/run/wsinit.sock"
tools="$TMP/projects/.gl-tools"
mkdir -p "$tools/vscode-reh-web/bin" "$TMP/scripts"
cp "$(dirname "$0")/../helpers/webide_stand_in.py" "$tools/vscode-reh-web/bin/gitlab-webide-server"
printf '{\n  "nameShort": "GitLab VS Code"\n}\n' >"$tools/vscode-reh-web/product.json"
chmod -R g+w "$tools"
# GitLab's scripts as its ConfigMap mounts them (what they do is not run here: the test plays
# the clone and the runner's log itself, step by step).
for script in gl-clone-project-command gl-start-sshd-command gl-init-tools-command \
  gl-run-internal-blocking-poststart-commands.sh gl-run-non-blocking-poststart-commands.sh; do
  printf '#!/bin/sh\nexit 0\n' >"$TMP/scripts/$script"
done
chmod -R a+rx "$TMP/scripts"

WS_POD_MOUNTS="$TMP/scripts:/workspace-scripts"
WS_ENV="PROJECTS_ROOT=/projects PROJECT_SOURCE=/projects GL_WORKSPACE_LOGS_DIR=/projects/workspace-logs \
WSINIT_CONFIG=/projects/my-project/.wsinit.yaml XDG_RUNTIME_DIR=$TMP/ws/xdg"
start_in_pod
wait_status '.state == "ready"' 30
status=$(status_json)
expect_eq "$(echo "$status" | jq -r '.config.state + " " + .config.file')" \
  "waiting-for-clone /projects/my-project/.wsinit.yaml" "config before the clone"
expect_eq "$(echo "$status" | jq -r '.workspace.project_cloned')" false "project_cloned before the clone"
expect_eq "$(echo "$status" | jq -r '[.services[].name] | join(",")')" "sshd-config,sshd,editor" "services before the clone"
expect_eq "$(in_pod curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:60080/readyz)" 200 "/readyz before the clone"
grep -q "does not exist yet and GitLab's clone is pending" "$TMP/err" || fail "the log does not say why the embedded profile runs"
ok "config file not there yet, clone pending: sshd, editor and health up on the embedded profile"

# The clone: the project arrives (the service's cwd with it), then the marker.
project="$TMP/projects/my-project"
mkdir -p "$project/app"
# The project's devfile (kept to be cloned again below): one postStart command that says where it ran.
cat >"$TMP/devfile.yaml" <<'YAML'
schemaVersion: 2.2.0
components:
  - name: tooling
    attributes: {gl/inject-editor: true}
    container: {image: example/tooling}
commands:
  - id: install
    exec: {component: tooling, commandLine: 'echo ran >> /projects/install-runs; pwd >> /projects/install-runs'}
events:
  postStart: [install]
YAML
cp "$TMP/devfile.yaml" "$project/.devfile.yaml"
cat >"$project/.wsinit.yaml" <<'YAML'
version: 1
profile: gitlab
workspace: {devfile: /projects/my-project/.devfile.yaml, poststart_slow_after: 2s}
services:
  - name: app
    shell: 'date +%s%N > started; exec sleep 600'
    cwd: /projects/my-project/app
YAML
chmod -R a+rwX "$project"
sleep 1
marked=$(date +%s%N)
touch "$TMP/projects/.gl_project_cloning_successful"
wait_status '.services[] | select(.name == "app") | .state == "running"' 5
started=$(cat "$project/app/started")
took_ms=$(((started - marked) / 1000000))
[ "$took_ms" -lt 1000 ] || fail "the project's service started ${took_ms} ms after the marker (expected within 1 s)"
status=$(status_json)
expect_eq "$(echo "$status" | jq -r '.config.state')" loaded "config after the clone"
expect_eq "$(echo "$status" | jq -r '.workspace.project_cloned')" true "project_cloned after the clone"
expect_eq "$(echo "$status" | jq -r '.workspace.clone_s > 0')" true "clone_s"
expect_eq "$(echo "$status" | jq -r '.workspace.poststart_mode')" observe "postStart mode with GitLab's runner present"
expect_eq "$(echo "$status" | jq -r '[.services[].name] | join(",")')" "sshd-config,sshd,editor,app" "services after the clone"
expect_eq "$(echo "$status" | jq -r '[.services[] | select(.name == "sshd" or .name == "editor") | .restarts] | join(",")')" \
  "0,0" "sshd and editor kept running through the reload"
expect_eq "$(in_pod curl -s http://127.0.0.1:60080/metrics | grep '^wsinit_project_cloned ')" "wsinit_project_cloned 1" "metric"
sleep 1
[ ! -e "$TMP/projects/install-runs" ] || fail "wsinit ran a postStart command GitLab's runner runs"
kill -0 "$WS_PID" || fail "wsinit exited"
ok "marker: the project's config loaded, its service started ${took_ms} ms after the marker, postStart left to GitLab"

# GitLab's runner at work, as its log shows it (per-component layout): wsinit follows it.
logs="$TMP/projects/workspace-logs"
mkdir -p "$logs/tooling"
chmod 0777 "$logs/tooling"
step() { echo "$(date -Iseconds): $1 /workspace-scripts/$2$3" >>"$logs/tooling/poststart-stdout.log"; }
# The volume keeps the last start's log, and GitLab's hook appends to it: those steps are not shown.
echo "$(date -Iseconds -d '-1 hour'): Running /workspace-scripts/gl-clone-project-command..." >"$logs/tooling/poststart-stdout.log"
echo "$(date -Iseconds -d '-1 hour'): Finished running /workspace-scripts/gl-clone-project-command." >>"$logs/tooling/poststart-stdout.log"
echo "$(date -Iseconds): Running internal blocking poststart commands script..." >>"$logs/tooling/poststart-stdout.log"
step Running gl-clone-project-command ...
echo "Cloning into '/projects/my-project'..." >>"$logs/tooling/poststart-stdout.log"
step "Finished running" gl-clone-project-command .
step Running install ...
wait_status '[.workspace.poststart[] | .id + "=" + .state] == ["gl-clone-project-command=finished", "install=running"]' 3
expect_eq "$(status_json | jq -r '.workspace.poststart[0].component')" tooling "the step's component"
wait_status '.workspace.poststart[1].slow' 5
wait_until "grep -q 'postStart step install has been running for' '$TMP/err'" 2
expect_eq "$(in_pod curl -s http://127.0.0.1:60080/metrics | grep '^wsinit_poststart_steps_slow ')" "wsinit_poststart_steps_slow 1" "slow metric"
step "Finished running" install .
wait_status '.workspace.poststart[1].state == "finished" and .workspace.poststart[1].duration_s >= 2' 3
expect_eq "$(grep -c 'postStart step install' "$TMP/err")" 1 "slow-step warnings"
expect_eq "$(readlink "$logs/tooling/start-vscode.log")" ../start-vscode.log "the per-component layout's editor log"
ok "GitLab's runner followed: steps with component, state and duration in status; a slow one flagged and said once"

kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
ok "SIGTERM: clean exit 0"

# A clone that does not bring the config file: the embedded profile stays, with a warning.
rm -rf "$project" "$TMP/projects/.gl_project_cloning_successful" "$TMP/ws/run"
start_in_pod
wait_status '.state == "ready"' 30
touch "$TMP/projects/.gl_project_cloning_successful"
wait_status '.config.state == "missing"' 5
expect_contains "$(status_json | jq -r '.warnings[]')" "/projects/my-project/.wsinit.yaml is not in the cloned project" "warning"
expect_eq "$(status_json | jq -r .state)" ready "state with the config file missing"
mkdir -p "$project"
printf 'version: 1\nprofile: gitlab\nservices:\n  - {name: late, shell: "exec sleep 600"}\n' >"$project/.wsinit.yaml"
chmod -R a+rwX "$project"
kill -HUP "$WS_PID"
wait_status '.config.state == "loaded" and (.warnings | length == 0) and any(.services[]; .name == "late")' 5
kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
ok "a clone without the config file: embedded profile kept, warning in status; the file added later runs on SIGHUP"

# A clone whose config file has errors: the embedded profile stays; fixed, SIGHUP runs it.
rm -rf "$TMP/projects/.gl_project_cloning_successful" "$TMP/ws/run" "$project/.wsinit.yaml"
start_in_pod
wait_status '.state == "ready"' 30
printf 'version: 1\nprofile: gitlab\nbogus: 1\n' >"$project/.wsinit.yaml"
touch "$TMP/projects/.gl_project_cloning_successful"
wait_status '.config.state == "embedded" and (.warnings[0] | contains("cannot be used"))' 5
printf 'version: 1\nprofile: gitlab\nservices:\n  - {name: late, shell: "exec sleep 600"}\n' >"$project/.wsinit.yaml"
kill -HUP "$WS_PID"
wait_status '.config.state == "loaded" and (.warnings | length == 0) and any(.services[]; .name == "late")' 5
kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
rm -rf "$project"
ok "a clone whose config file has errors: embedded profile kept; fixed, SIGHUP runs it"

# No GitLab runner (wsinit runs postStart): a config outside the project whose devfile and a
# service's cwd are in it. Both wait for the clone; then the postStart command runs once, in
# PROJECT_SOURCE (GitLab's default for main-component commands), and the service starts.
rm -f "$TMP/scripts"/gl-run-*
rm -rf "$TMP/projects/.gl_project_cloning_successful" "$TMP/ws/run" "$project"
cat >"$TMP/projects/wsinit.yaml" <<'YAML'
version: 1
profile: gitlab
workspace: {devfile: /projects/my-project/.devfile.yaml}
services:
  - name: app
    shell: 'exec sleep 600'
    cwd: /projects/my-project/app
YAML
chmod a+r "$TMP/projects/wsinit.yaml"
WS_ENV="PROJECTS_ROOT=/projects PROJECT_SOURCE=/projects/my-project GL_WORKSPACE_LOGS_DIR=/projects/workspace-logs \
WSINIT_CONFIG=/projects/wsinit.yaml XDG_RUNTIME_DIR=$TMP/ws/xdg"
start_in_pod
wait_status '.state == "ready"' 30
expect_eq "$(service_field app .state)" waiting "a service whose cwd the clone brings, before the clone"
expect_eq "$(status_json | jq -r .workspace.poststart_mode)" run "postStart mode without GitLab's runner"
mkdir -p "$project/app"
cp "$TMP/devfile.yaml" "$project/.devfile.yaml"
chmod -R a+rwX "$project"
rm -f "$TMP/projects/install-runs"
touch "$TMP/projects/.gl_project_cloning_successful"
wait_status '(.services[] | select(.name == "app") | .state == "running") and
  (.services[] | select(.name == "poststart-1-install") | .state == "exited")' 5
expect_eq "$(cat "$TMP/projects/install-runs")" "ran
/projects/my-project" "the postStart command: run once, in PROJECT_SOURCE"
kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
ok "no GitLab runner: devfile and cwd in the project wait for the clone; postStart ran once in PROJECT_SOURCE"

# No clone pending (GitLab's cloner absent): a missing config file is an error, as always.
rm "$TMP/scripts/gl-clone-project-command" "$TMP/projects/.gl_project_cloning_successful"
rm -rf "$TMP/ws/run"
WS_ENV="PROJECTS_ROOT=/projects WSINIT_CONFIG=/projects/my-project/.wsinit.yaml XDG_RUNTIME_DIR=$TMP/ws/xdg"
start_in_pod
wait_wsinit
expect_eq "$WS_STATUS" 2 "exit status with a missing config file and no clone pending"
grep -q "/projects/my-project/.wsinit.yaml: cannot read config file" "$TMP/err" || fail "no clear error: $(cat "$TMP/err")"
ok "no clone pending: a missing config file is still exit 2 with the file named"
