# A devfile's postStart commands as oneshots, in order, as the workspace user: a failing one
# shows its real exit code and degrades the workspace, nothing is swallowed, the next still
# runs (as GitLab runs them). A service `after: [workspace-running]` starts within a second of
# GitLab's reconciled state file saying Running.
source "$(dirname "$0")/lib.sh"

setup_workspace_user
ws="$TMP/ws"
export WSINIT_SOCKET="$ws/run/wsinit.sock"
mkdir -p "$ws/app" "$ws/variables"
chmod 0777 "$ws/app"
echo Starting >"$ws/variables/gl_workspace_reconciled_actual_state.txt"
chmod -R a+rwX "$ws/variables"

cat >"$ws/devfile.yaml" <<'YAML'
schemaVersion: 2.2.0
metadata: {name: demo}
variables:
  marker: from-devfile
components:
  - name: tooling
    attributes: {gl/inject-editor: true}
    container:
      image: registry.gitlab.com/example/tooling:latest
      env: [{name: COMPONENT_VAR, value: "{{marker}}"}]
  - name: db
    container: {image: postgres:16}
commands:
  - id: prepare
    exec: {component: tooling, commandLine: 'pwd > step1; echo "$COMPONENT_VAR" >> step1; echo prepared', workingDir: "${PROJECT_SOURCE}"}
  - id: broken
    exec: {component: tooling, commandLine: 'echo about to fail >&2; exit 3', workingDir: "${PROJECT_SOURCE}"}
  - id: seed-db
    exec: {component: db, commandLine: psql -f seed.sql}
  - id: finish
    exec: {component: tooling, commandLine: 'touch step3', workingDir: "$PROJECT_SOURCE"}
events:
  postStart: [prepare, broken, seed-db, finish]
YAML

workspace_config "$TMP/config.yaml" "variables: $ws/variables" <<YAML
sshd: {enabled: false}
editor: {enabled: false}
health: {listen: ""}
workspace: {devfile: $ws/devfile.yaml}
services:
  - name: user-start
    shell: 'date +%s%N > $ws/user-start; exec sleep 60'
    after: [workspace-running]
YAML

WS_ENV="PROJECT_SOURCE=$ws/app"
start_as_workspace_user --config "$TMP/config.yaml"
wait_status '.services[] | select(.name == "poststart-3-finish") | .state == "exited"' 10
expect_eq "$(status_json | jq -r '[.services[] | select(.oneshot) | .name + "=" + .state] | join(" ")')" \
  "poststart-1-prepare=exited poststart-2-broken=failed poststart-3-finish=exited" "postStart services"
expect_eq "$(service_field poststart-2-broken .last_exit)" "exit 3" "the failing command's exit"
expect_eq "$(status_json | jq -r .state)" degraded "workspace state"
expect_eq "$(cat "$ws/app/step1")" "$ws/app
from-devfile" "first command: its workingDir and the component's env"
[ -e "$ws/app/step3" ] || fail "the command after the failing one did not run"
grep -q "poststart-2-broken: exit 3; not restarting" "$TMP/err" || fail "wsinit's log does not name the failure"
grep -q "about to fail" "$ws/logs/poststart-2-broken.log" || fail "the failing command's output is not in its log"
grep -q "postStart command 'seed-db' runs in component 'db'" "$TMP/err" || fail "the other component's command is not mentioned"
"$WSINIT" status | grep -q "^poststart-2-broken *failed .*exit 3" || fail "wsinit status does not show the failure"
ok "postStart: in order, in workingDir with the component's env; exit 3 shown, workspace degraded, next one still ran"

sleep 1
expect_eq "$(service_field user-start .state)" waiting "service after workspace-running while Starting"
before=$(date +%s%N)
echo Running >"$ws/variables/gl_workspace_reconciled_actual_state.txt.new"
mv "$ws/variables/gl_workspace_reconciled_actual_state.txt.new" "$ws/variables/gl_workspace_reconciled_actual_state.txt"
wait_until "[ -s '$ws/user-start' ]" 1
took_ms=$((($(cat "$ws/user-start") - before) / 1000000))
[ "$took_ms" -lt 1000 ] || fail "the waiting service started $took_ms ms after Running (limit 1000)"
expect_eq "$(status_json | jq -r .workspace.reconciled_state)" Running "reconciled state in /status"
ok "a service after workspace-running started $took_ms ms after the state file said Running"

kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
ok "SIGTERM: exit 0"
