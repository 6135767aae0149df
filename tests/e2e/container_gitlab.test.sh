# A GitLab 18.x workspace pod as GitLab makes it, on the workspace-base image (with python3 added
# for the editor stand-in) as uid 5001 gid 0: GitLab's scripts (tests/fixtures/gitlab/, shaped
# as GitLab writes them) mounted read-only at /workspace-scripts, a /projects volume holding the
# injected editor (.gl-tools/vscode-reh-web: the stand-in as bin/gitlab-webide-server and a
# multi-line product.json whose line 1 is `{`), the variables mount with the reconciled-state file
# (the test writes `Running` two seconds in), GitLab's environment, and WSINIT_CONFIG naming a
# file of the project, which only the clone brings. The clone (gl-clone-project-command) takes
# 5 s, then clones a bare repository of the test's over file://.
#
# Two rounds, each on a fresh /projects:
#   1. the postStart hook (flat log layout) run with `podman exec` right after the container
#      started, as the kubelet runs it;
#   2. the hook (per-component log layout) started before wsinit binds its ports: the entrypoint
#      is `sh -c 'sh hook & exec wsinit'`, so wsinit is still PID 1.
# In both: wsinit never exits (Kubernetes would restart the container); sshd and the editor are
# ready before the clone's marker exists; the project's service (from the config the clone
# brings) is ready within 1 s of the marker; each user postStart command ran exactly once, and
# every step is in /status `.workspace.poststart[]`; the editor wsinit runs started with a
# product.json that parses as JSON and holds GitLab's extensionsGallery values; start-vscode.log
# and start-sshd.log under GL_WORKSPACE_LOGS_DIR hold the editor's and sshd's output; and
# product.json still parses after GitLab's own sed has edited it too.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/containers.sh"

setup_podman
ensure_base_image
build_image "$WORKSPACE_IMAGE" --target workspace-base "$SOURCE_DIR"
# The stand-in editor is Python (GitLab's editor brings its own runtime in .gl-tools).
IMAGE=localhost/wsinit-workspace-python:test
printf 'FROM %s\nUSER root\nRUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*\nUSER 5001:0\n' \
  "$WORKSPACE_IMAGE" >"$TMP/Containerfile.python"
build_image "$IMAGE" -f "$TMP/Containerfile.python" "$TMP"

FIXTURES="$SOURCE_DIR/tests/fixtures/gitlab"
CLONE_MARKER=.gl_project_cloning_successful
STEPS="count-one count-two gl-clone-project-command gl-init-tools-command gl-sleep-until-container-is-running-command gl-start-sshd-command"

# The project's repository, bare, owned by the workspace user (git refuses another owner's).
git init -q -b main "$TMP/repo"
cp "$FIXTURES/project/.wsinit.yaml" "$FIXTURES/project/.devfile.yaml" "$TMP/repo/"
echo "# my-project" >"$TMP/repo/README.md"
git -C "$TMP/repo" add -A
git -C "$TMP/repo" -c user.name=test -c user.email=test@example.invalid commit -q -m "my project"
git clone -q --bare "$TMP/repo" "$TMP/project.git"
chown -R 5001:0 "$TMP/project.git"

# A fresh /projects ($P) with the injected editor, and the variables mount ($V), for round $1.
prepare_round() {
  P="$TMP/projects-$1"
  V="$TMP/variables-$1"
  local vscode="$P/.gl-tools/vscode-reh-web"
  mkdir -p "$vscode/bin" "$V"
  cp "$SOURCE_DIR/tests/helpers/webide_stand_in.py" "$vscode/bin/gitlab-webide-server"
  printf '{\n\t"nameShort": "GitLab Web IDE",\n\t"commit": "0123abc",\n\t"quality": "stable"\n}\n' >"$vscode/product.json"
  chmod 0775 "$P"
  chmod -R g+w "$P/.gl-tools"  # the tools injector writes it as the workspace user (gid 0)
  chmod 0755 "$vscode/bin/gitlab-webide-server" "$V"
  printf Starting >"$V/gl_workspace_reconciled_actual_state.txt"
  chmod 0644 "$V/gl_workspace_reconciled_actual_state.txt"
  health_port=$(free_port)
  ssh_port=$(free_port)
  editor_port=$(free_port)
}

# The container of a round; its arguments come after the image's.
start_workspace() {
  run_container --passwd=false --user 5001:0 \
    -p "127.0.0.1:$health_port:60080" -p "127.0.0.1:$ssh_port:60022" -p "127.0.0.1:$editor_port:60001" \
    -v "$P:/projects" -v "$V:/.workspace-data/variables/file:ro" \
    -v "$FIXTURES/workspace-scripts:/workspace-scripts:ro" -v "$TMP/project.git:/srv/project.git:ro" \
    -e PROJECTS_ROOT=/projects -e PROJECT_SOURCE=/projects -e GL_TOOLS_DIR=/projects/.gl-tools \
    -e GL_WORKSPACE_LOGS_DIR=/projects/workspace-logs -e GL_SSH_PORT=60022 -e GL_VSCODE_PORT=60001 \
    -e GL_VSCODE_ENABLE_MARKETPLACE=true -e WSINIT_CONFIG=/projects/my-project/.wsinit.yaml "$@"
  STARTED_MS=$(date +%s%3N)
  WSINIT_HOST_PID=$(podman inspect "$CONTAINER" --format '{{.State.Pid}}')
}

status_now() { curl -s --max-time 2 "http://127.0.0.1:$health_port/status"; }
status_has() { status_now | jq -e "$1" >/dev/null 2>&1; }

container_logs_to_err() { podman logs --tail 40 "$CONTAINER" >"$TMP/err" 2>&1 || true; }

# PID 1 gone means the container ended: Kubernetes would restart it.
expect_wsinit_alive() {  # what
  [ "$WSINIT_HOST_PID" != 0 ] && [ -d "/proc/$WSINIT_HOST_PID" ] && return 0
  container_logs_to_err
  fail "$1: wsinit (PID 1) exited with status $(podman inspect "$CONTAINER" --format '{{.State.ExitCode}}'), so the container would be restarted"
}

# Runs COMMAND... every 100 ms for up to LIMIT seconds until it succeeds; fails naming WHAT, at
# once if wsinit is gone.
pod_wait() {  # limit what command...
  local limit=$1 what=$2 i
  shift 2
  for ((i = 0; i < limit * 10; i++)); do
    "$@" && return 0
    expect_wsinit_alive "$what"
    sleep 0.1
  done
  container_logs_to_err
  fail "$what: not within ${limit}s; status: $(status_now | jq -c '{state, not_ready, config, workspace}' 2>/dev/null)"
}

ms_of_iso() { date -d "$1" +%s%3N; }
ms_of_mtime() { stat -c %.3Y "$1" | tr -d .; }

# Every assertion of a round; $1 names it, $2 is the directory of GitLab's postStart logs under
# GL_WORKSPACE_LOGS_DIR, $3 the component /status should give the steps ("null" when flat).
check_round() {
  local round=$1 poststart_logs="$P/workspace-logs/$2" component=$3
  pod_wait 4 "$round: sshd and the editor ready" status_has \
    '[.services[] | select((.name == "sshd" or .name == "editor") and .ready)] | length == 2'
  [ ! -e "$P/$CLONE_MARKER" ] || fail "$round: sshd and the editor were ready only after the clone finished"
  ok "$round: sshd and the editor ready $(($(date +%s%3N) - STARTED_MS)) ms after start, before the clone's marker"

  local until_running=$((STARTED_MS + 2000 - $(date +%s%3N)))
  [ "$until_running" -le 0 ] || sleep "$((until_running / 1000)).$(printf %03d $((until_running % 1000)))"
  printf Running >"$V/.state.tmp" && mv "$V/.state.tmp" "$V/gl_workspace_reconciled_actual_state.txt"

  pod_wait 20 "$round: the clone's marker" test -e "$P/$CLONE_MARKER"
  pod_wait 5 "$round: the project's service ready" status_has \
    '.services[] | select(.name == "project-app") | .ready'
  local since marker delta
  since=$(status_now | jq -r '.services[] | select(.name == "project-app") | .since')
  marker=$(ms_of_mtime "$P/$CLONE_MARKER")
  delta=$(($(ms_of_iso "$since") - marker))
  [ "$delta" -le 1000 ] || fail "$round: project-app ready ${delta} ms after the clone's marker (at most 1000)"
  expect_eq "$(status_now | jq -r '.config.state + " " + .config.file')" "loaded /projects/my-project/.wsinit.yaml" "$round: config"
  ok "$round: the config the clone brought is loaded; project-app ready ${delta} ms after the marker"

  pod_wait 20 "$round: GitLab's runner finishing count-two" \
    grep -q "Finished running /workspace-scripts/count-two\.$" "$poststart_logs/poststart-stdout.log"
  sleep 1  # a second run, by wsinit, would have come by now
  expect_eq "$(grep -cx count-one "$P/poststart-runs.txt")" 1 "$round: runs of count-one"
  expect_eq "$(grep -cx count-two "$P/poststart-runs.txt")" 1 "$round: runs of count-two"
  pod_wait 3 "$round: count-two finished in /status .workspace.poststart" status_has \
    '.workspace.poststart | map(select(.id == "count-two" and .state == "finished")) | length == 1'
  local steps
  steps=$(status_now | jq -c '.workspace')
  expect_eq "$(echo "$steps" | jq -r '.poststart_mode')" observe "$round: workspace.poststart_mode"
  expect_eq "$(echo "$steps" | jq -r '[(.poststart // [])[].id] | sort | join(" ")')" "$STEPS" "$round: steps in workspace.poststart"
  expect_eq "$(echo "$steps" | jq -r '[(.poststart // [])[] | select(.state != "finished" or .finished == null)] | length')" 0 \
    "$round: steps not finished"
  expect_eq "$(echo "$steps" | jq -r "[(.poststart // [])[] | select(.component != $component)] | length")" 0 \
    "$round: steps whose component is not $component"
  ok "$round: each user postStart command ran once (GitLab's runner), every step finished in /status"

  local record="$P/.gl-tools/editor-started.json"
  [ -s "$record" ] || fail "$round: the editor left no record of its start"
  expect_eq "$(jq -r .pid "$record")" "$(status_now | jq -r '.services[] | select(.name == "editor") | .pid')" \
    "$round: the editor that holds the port is wsinit's service"
  jq -r .product_json "$record" >"$TMP/product-$round.json"
  python3 -m json.tool "$TMP/product-$round.json" >/dev/null 2>&1 ||
    fail "$round: the editor started with a product.json that is not JSON: $(cat "$TMP/product-$round.json")"
  expect_eq "$(jq -r '.extensionsGallery | [.serviceUrl, .itemUrl, .resourceUrlTemplate] | join(" ")' "$TMP/product-$round.json")" \
    "https://open-vsx.org/vscode/gallery https://open-vsx.org/vscode/item https://open-vsx.org/api/{publisher}/{name}/{version}/file/{path}" \
    "$round: extensionsGallery of the product.json the editor started with"
  ok "$round: the editor started with a product.json that parses and holds GitLab's extensionsGallery"

  grep -q "stand-in editor: listening on 0.0.0.0:60001" "$P/workspace-logs/start-vscode.log" 2>/dev/null ||
    fail "$round: the editor's output is not in start-vscode.log: $(tail -n 5 "$P/workspace-logs/start-vscode.log" 2>&1)"
  grep -q "Server listening on 0.0.0.0 port 60022" "$P/workspace-logs/start-sshd.log" 2>/dev/null ||
    fail "$round: sshd's output is not in start-sshd.log: $(tail -n 5 "$P/workspace-logs/start-sshd.log" 2>&1)"
  ok "$round: start-vscode.log and start-sshd.log hold the editor's and sshd's output"

  expect_wsinit_alive "$round: at the end"
  expect_eq "$(podman inspect "$CONTAINER" --format '{{.State.Pid}} {{.RestartCount}}')" "$WSINIT_HOST_PID 0" \
    "$round: PID 1 and restarts"
  python3 -m json.tool "$P/.gl-tools/vscode-reh-web/product.json" >/dev/null 2>&1 ||
    fail "$round: after GitLab's sed, product.json is not JSON (an editor restarted now would not start): $(cat "$P/.gl-tools/vscode-reh-web/product.json")"
  local took
  took=$(stop_within_grace)
  ok "$round: wsinit was PID 1 throughout, no restart; product.json still JSON; podman stop: exit 0 after ${took} ms"
}

# --- Round 1: the kubelet's way, the hook right after the container started. ---
prepare_round 1
start_workspace "$IMAGE"
hook="$FIXTURES/poststart-hook.sh"
podman exec "$CONTAINER" /bin/sh -c "$(cat "$hook")" >"$TMP/hook.out" 2>&1 &
hook_pid=$!
STARTED+=("$hook_pid")
check_round "hook after start" "" null
hook_status=0
wait "$hook_pid" || hook_status=$?
expect_eq "$hook_status" 0 "the postStart hook's exit status (the kubelet kills the container otherwise)"

# --- Round 2: the hook before wsinit binds its ports (per-component log layout). ---
prepare_round 2
start_workspace -v "$FIXTURES/poststart-hook-per-component.sh:/hook.sh:ro" \
  --entrypoint '["/bin/sh", "-c", "/bin/sh /hook.sh & exec /usr/local/bin/wsinit"]' "$IMAGE"
check_round "hook before wsinit" tooling '"tooling"'
