# Timed and run-once steps (plain profile): a oneshot over its `timeout` is stopped with its
# children and fails with last_exit `timeout` (the workspace degraded, what comes after it not
# run); a service not ready within its `timeout` is stopped and restarted as a failure; a
# `once: true` step runs at the first start, is skipped at the next ones, and runs again when
# its command changes; a failing once step runs again at every start. The same in the gitlab
# profile as the workspace user. (In a busybox-only root: busybox_workspace.test.sh.)
source "$(dirname "$0")/lib.sh"

export PROJECTS_ROOT="$TMP/projects"  # paths.data: $PROJECTS_ROOT/.wsinit
mkdir -p "$PROJECTS_ROOT"

# --- timeout ---
port=$(free_port)
plain_config "$TMP/timeout.yaml" <<YAML
services:
  - name: hang
    shell: "echo \$\$ > $TMP/hang.pid; sleep 1000 & echo \$! > $TMP/hang-child.pid; wait"
    oneshot: true
    restart: never
    timeout: 1s
    stop_timeout: 2s
  - name: after-hang
    shell: "touch $TMP/after-hang.ran"
    oneshot: true
    after: [hang]
  - name: lazy
    shell: "echo \$\$ > $TMP/lazy.pid; exec sleep 1000"
    ready: {tcp: $port, timeout: 60s}
    timeout: 1s
    required: true
    backoff: {initial: 30s}
YAML
started=$(date +%s%N)
start_subreaper --config "$TMP/timeout.yaml"
# The pids from the processes themselves: a status read may come after the 1 s timeouts on a
# loaded machine, when both have been stopped already.
wait_until "[ -s $TMP/hang-child.pid ] && [ -s $TMP/lazy.pid ]" 5
hang_pid=$(cat "$TMP/hang.pid")
child_pid=$(cat "$TMP/hang-child.pid")
lazy_pid=$(cat "$TMP/lazy.pid")
wait_status '[.services[] | select(.name == "hang")][0].state == "failed"' 8
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
[ "$elapsed_ms" -ge 1000 ] && [ "$elapsed_ms" -lt 5000 ] || fail "hang failed after ${elapsed_ms} ms (expected 1 s to 5 s)"
expect_eq "$(service_field hang .last_exit)" "timeout" "last_exit of the oneshot over its timeout"
wait_until "! kill -0 $hang_pid 2>/dev/null && ! kill -0 $child_pid 2>/dev/null" 3
grep -q "hang: still running after its timeout of 1s; stopping it (SIGTERM" "$TMP/err" || fail "the timeout is not in the log"
ok "a oneshot over its 1s timeout: stopped after ${elapsed_ms} ms, last_exit timeout, the shell and its sleep gone"

wait_status '[.services[] | select(.name == "lazy")][0] | .state == "backoff" and .last_exit == "timeout"' 8
wait_until "! kill -0 $lazy_pid 2>/dev/null" 3
expect_eq "$(status_json | jq -r .state)" degraded "the workspace with a oneshot and a required service timed out"
expect_eq "$(service_field after-hang .state)" waiting "what comes after a oneshot that timed out"
[ ! -e "$TMP/after-hang.ran" ] || fail "after-hang ran after hang timed out"
"$WSINIT" status | grep -E "^hang +failed .* timeout$" >/dev/null || fail "wsinit status does not show hang failed with timeout"
ok "a required service not ready within its timeout: stopped, last_exit timeout, backoff; workspace degraded; after: waits"
kill -TERM "$WS_PID"
wait_wsinit

# --- once ---
# setup: once; next: after setup (runs at every start, so it shows setup counted as a success);
# flaky: once but failing, so it runs at every start.
once_config() {  # $1: setup's command line
  plain_config "$TMP/once.yaml" <<YAML
services:
  - name: setup
    shell: "$1"
    oneshot: true
    once: true
  - name: next
    shell: "echo x >> $TMP/next.count"
    oneshot: true
    after: [setup]
  - name: flaky
    shell: "echo x >> $TMP/flaky.count; exit 3"
    oneshot: true
    once: true
    restart: never
YAML
}
count() { if [ -e "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
start_once() {  # starts, waits until all three are done, leaves the status in $TMP/status.*
  start_subreaper --config "$TMP/once.yaml"
  wait_status '([.services[] | select(.name == "setup" or .name == "next")] | all(.state == "exited")) and
               ([.services[] | select(.name == "flaky")][0].state == "failed")' 10
  status_json >"$TMP/status.json"
  "$WSINIT" status >"$TMP/status.txt"
  kill -TERM "$WS_PID"
  wait_wsinit
}
setup_exit() { jq -r '.services[] | select(.name == "setup") | .last_exit' "$TMP/status.json"; }

once_config "echo x >> $TMP/setup.count"
start_once
expect_eq "$(setup_exit)" "exit 0" "setup's first run"
expect_eq "$(count "$TMP/setup.count")" 1 "runs of setup after the first start"
markers=$(ls "$PROJECTS_ROOT/.wsinit/once")
expect_eq "$(echo "$markers" | wc -l | tr -d ' ')" 1 "markers (the failing step leaves none)"
[[ "$markers" =~ ^[0-9a-f]{64}$ ]] || fail "the marker's name is not a SHA-256: $markers"
grep -qx "name setup" "$PROJECTS_ROOT/.wsinit/once/$markers" || fail "the marker does not name setup"
ok "first start: setup ran (exit 0), its marker $markers written"

for start in 2 3; do
  start_once
  [[ "$(setup_exit)" =~ ^skipped\ \(already\ ran\ at\ 20[0-9-]+T[0-9:.]+Z\)$ ]] || fail "start $start: setup's last_exit: $(setup_exit)"
  grep -E "^setup +exited .* skipped \(already ran at " "$TMP/status.txt" >/dev/null || fail "start $start: wsinit status: $(cat "$TMP/status.txt")"
  expect_eq "$(count "$TMP/setup.count")" 1 "runs of setup after start $start"
  expect_eq "$(count "$TMP/next.count")" "$start" "runs of next (after: setup) after start $start"
  expect_eq "$(count "$TMP/flaky.count")" "$start" "runs of the failing once step after start $start"
  ok "start $start: setup $(setup_exit); next ran after it; the failing once step ran again"
done

once_config "echo x >> $TMP/setup.count; true"
start_once
expect_eq "$(setup_exit)" "exit 0" "setup after its command changed"
expect_eq "$(count "$TMP/setup.count")" 2 "runs of setup after its command changed"
expect_eq "$(ls "$PROJECTS_ROOT/.wsinit/once" | wc -l | tr -d ' ')" 2 "markers after the change"
ok "a changed command: setup ran again"

# paths.data that cannot be used (no parent): markers under \$HOME/.wsinit, as host keys are.
export PROJECTS_ROOT="$TMP/no/such/projects" HOME="$TMP/home"
mkdir -p "$HOME"
start_once
expect_eq "$(setup_exit)" "exit 0" "setup with its markers in \$HOME/.wsinit"
[ "$(ls "$HOME/.wsinit/once" | wc -l)" -eq 1 ] || fail "no marker under \$HOME/.wsinit/once"
start_once
[[ "$(setup_exit)" == skipped* ]] || fail "setup with its marker in \$HOME/.wsinit was not skipped: $(setup_exit)"
ok "paths.data unusable: the marker is kept in \$HOME/.wsinit/once and honoured"

# --- the gitlab profile, as the workspace user (uid 1000770000, gid 0) ---
unset PROJECTS_ROOT
setup_workspace_user
mkdir -p "$TMP/ws/variables"
export WSINIT_SOCKET="$TMP/ws/run/wsinit.sock"
workspace_config "$TMP/gitlab.yaml" "variables: $TMP/ws/variables" <<YAML
sshd: {enabled: false}
editor: {enabled: false}
health: {listen: ""}
services:
  - name: prepare
    shell: "echo x >> $TMP/ws/prepare.count"
    oneshot: true
    once: true
  - name: stuck
    command: [sleep, "1000"]
    oneshot: true
    restart: never
    timeout: 1s
YAML
start_gitlab() {
  start_as_workspace_user --config "$TMP/gitlab.yaml"
  wait_status '([.services[] | select(.name == "prepare")][0].state == "exited") and
               ([.services[] | select(.name == "stuck")][0].state == "failed")' 10
  expect_eq "$(service_field stuck .last_exit)" "timeout" "gitlab profile: stuck's last_exit"
  prepare_exit=$(service_field prepare .last_exit)
  kill -TERM "$WS_PID"
  wait_wsinit
}
start_gitlab
expect_eq "$prepare_exit" "exit 0" "gitlab profile: prepare's first run"
[ "$(ls "$TMP/ws/data/once" | wc -l)" -eq 1 ] || fail "gitlab profile: no marker in paths.data/once"
start_gitlab
[[ "$prepare_exit" == "skipped (already ran at "* ]] || fail "gitlab profile: prepare was not skipped: $prepare_exit"
expect_eq "$(wc -l <"$TMP/ws/prepare.count" | tr -d ' ')" 1 "gitlab profile: runs of prepare"
ok "gitlab profile as the workspace user: the timed-out step says timeout, the once step ran once and was skipped next"
