# Three services with `after` and real TCP and HTTP readiness; a killed service comes back with
# restarts: 1; shutdown stops them in reverse order. Run with wsinit as PID 1 and as subreaper.
source "$(dirname "$0")/lib.sh"

p1=$(free_port)
p2=$(free_port)
plain_config "$TMP/config.yaml" <<YAML
shutdown: {grace: 10s}
services:
  - name: setup
    shell: "echo seeding; sleep 0.2; echo seeded"
    oneshot: true
    restart: never
    after: [web]
  - name: web
    command: [python3, -m, http.server, "$p2", --bind, 127.0.0.1]
    after: [db]
    ready: {http: "http://127.0.0.1:$p2/", interval: 100ms}
    required: true
    backoff: {initial: 100ms}
  - name: db
    command: [python3, -m, http.server, "$p1", --bind, 127.0.0.1]
    ready: {tcp: $p1, interval: 100ms}
    required: true
YAML

start_subreaper --config "$TMP/config.yaml"
wait_status '.state == "ready" and ([.services[] | select(.name == "setup")][0].state == "exited")' 20
err="$TMP/err"
db_ready=$(line_of "$err" "db: ready")
web_started=$(line_of "$err" "web: started")
web_ready=$(line_of "$err" "web: ready")
setup_started=$(line_of "$err" "setup: started")
[ "$db_ready" -gt 0 ] && [ "$db_ready" -lt "$web_started" ] || fail "web started before db was ready"
[ "$web_ready" -gt 0 ] && [ "$web_ready" -lt "$setup_started" ] || fail "setup started before web was ready"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p2/")" 200 "web answers"
expect_eq "$(service_field setup .last_exit)" "exit 0" "oneshot result"
ok "start order follows after: db ready -> web started; web ready -> setup started"

web_pid=$(service_field web .pid)
kill -9 "$web_pid"
wait_status '[.services[] | select(.name == "web")][0] | .restarts == 1 and .state == "ready"' 15
expect_eq "$(service_field web .last_exit)" "signal 9 (KILL)" "last exit of the killed service"
[ "$(service_field web .pid)" != "$web_pid" ] || fail "web has the same pid after restart"
ok "kill -9 web: restarted, restarts: 1, ready again"

kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "workspace-mode exit status"
web_stopping=$(line_of "$err" "web: stopping")
web_stopped=$(line_of "$err" "web: stopped")
db_stopping=$(line_of "$err" "db: stopping")
[ "$web_stopping" -gt 0 ] && [ "$web_stopped" -lt "$db_stopping" ] || fail "db was stopped before web was down"
grep -q "^\[db\] " "$TMP/out" || fail "db's output was not relayed with a [db] prefix"
grep -q "seeded" "$TMP/logs/setup.log" || fail "setup.log misses the oneshot's output"
ok "shutdown in reverse order: web stopped before db was asked to stop; output relayed and logged"

# The same as PID 1 of a PID namespace, and a required service that never gets ready: exit 1.
plain_config "$TMP/never.yaml" <<YAML
services:
  - {name: lazy, command: [sleep, "60"], ready: {tcp: $(free_port), timeout: 30s}, required: true}
YAML
start_pid1 --config "$TMP/never.yaml"
wait_status '.services[0].state == "starting"'
expect_eq "$(status_json | jq -r .state)" starting "overall state while a required service is not ready"
kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 1 "exit status when a required service never became ready"
ok "as PID 1: a required service that never became ready makes the exit status 1"
