# Tini mode with configured services: CMD runs as the main service beside them; when it exits
# the services are stopped and wsinit exits with CMD's status.
source "$(dirname "$0")/lib.sh"

mkdir -p "$TMP/logs"
port=$(free_port)
cat >"$TMP/config.yaml" <<YAML
version: 1
paths: {logs: $TMP/logs, runtime: $TMP/run}
log: {level: info}
services:
  - {name: api, command: [python3, -m, http.server, "$port", --bind, 127.0.0.1], ready: {tcp: $port}}
YAML
start_pid1 --config "$TMP/config.yaml" -- sh -c "
  until curl -s -o /dev/null http://127.0.0.1:$port/; do sleep 0.05; done
  echo main-saw-api; exit 5"
wait_wsinit
expect_eq "$WS_STATUS" 5 "exit status is CMD's"
grep -q main-saw-api "$TMP/out" || fail "CMD's output missing (it keeps wsinit's stdout)"
grep -q "api: stopping (SIGTERM" "$TMP/err" || fail "api was not stopped"
[ "$(line_of "$TMP/err" "main command ended")" -lt "$(line_of "$TMP/err" "api: stopping")" ] || fail "api was stopped before CMD ended"
ok "CMD ran beside a configured service, exited 5; the service was stopped; wsinit exited 5"

printf 'version: 1\nservices:\n  - {name: main, command: [x]}\n' >"$TMP/bad.yaml"
status=0
"$WSINIT" --config "$TMP/bad.yaml" -- true 2>"$TMP/err2" || status=$?
expect_eq "$status" 2 "a service named main in tini mode"
expect_contains "$(cat "$TMP/err2")" "service name 'main' is taken by the main command" "message"
ok "the name 'main' is refused in tini mode"
