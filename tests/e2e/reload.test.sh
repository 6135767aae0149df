# SIGHUP re-reads the config: added services start, removed ones stop, changed ones restart,
# unchanged ones keep running; an invalid file is reported and the running config stays.
source "$(dirname "$0")/lib.sh"

write_config() {  # services yaml
  cat >"$TMP/config.yaml" <<YAML
version: 1
profile: plain
paths: {logs: $TMP/logs, runtime: $TMP/run}
services:
$1
YAML
}
mkdir -p "$TMP/logs"
write_config "  - {name: keep, command: [sleep, '300']}
  - {name: change, command: [sleep, '300']}
  - {name: drop, command: [sleep, '300']}"
start_subreaper --config "$TMP/config.yaml"
wait_status '[.services[].state] == ["running", "running", "running"]'
keep_pid=$(service_field keep .pid)
change_pid=$(service_field change .pid)
drop_pid=$(service_field drop .pid)

write_config "  - {name: keep, command: [sleep, '300']}
  - {name: change, command: [sleep, '301']}
  - {name: add, command: [sleep, '300']}"
kill -HUP "$WS_PID"
wait_status '[.services[].name] == ["keep", "change", "add"] and all(.services[]; .state == "running")'
expect_eq "$(service_field keep .pid)" "$keep_pid" "unchanged service keeps its process"
[ "$(service_field change .pid)" != "$change_pid" ] || fail "changed service was not restarted"
wait_until "[ ! -e /proc/$drop_pid ]"
wait_until "[ ! -e /proc/$change_pid ]"
grep -q "reload: adding add" "$TMP/err" || fail "no log line for the added service"
grep -q "reload: removing drop" "$TMP/err" || fail "no log line for the removed service"
ok "SIGHUP: added started, removed stopped, changed restarted, unchanged untouched"

cp "$TMP/config.yaml" "$TMP/good.yaml"
printf 'version: 1\nservices:\n  - {name: broken, command: [x], restart: sometimes}\n' >"$TMP/config.yaml"
kill -HUP "$WS_PID"
wait_until "grep -q 'is invalid; keeping the running config' $TMP/err"
grep -q "reload: $TMP/config.yaml:3:43: services.broken.restart: 'sometimes' is not a restart policy" "$TMP/err" ||
  fail "the reload error does not name file:line:column"
expect_eq "$(status_json | jq -c '[.services[] | [.name, .state]]')" '[["keep","running"],["change","running"],["add","running"]]' "services after a bad reload"
echo 'garbage: [unclosed' >"$TMP/config.yaml"
kill -HUP "$WS_PID"
wait_until "[ \$(grep -c 'is invalid; keeping the running config' $TMP/err) -eq 2 ]"
expect_eq "$(service_field keep .pid)" "$keep_pid" "services untouched by a garbage file"
ok "an invalid or garbage config on SIGHUP is reported with its position; the running one stays"

kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
