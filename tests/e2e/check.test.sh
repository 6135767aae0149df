# wsinit check: the plan (services in start order with resolved commands) or every error.
source "$(dirname "$0")/lib.sh"

cat >"$TMP/config.yaml" <<YAML
version: 1
profile: plain
paths: {logs: $TMP/logs, runtime: $TMP/run}
services:
  - {name: web, command: [python3, -m, http.server], after: [db]}
  - {name: db, shell: "exec sleep 300"}
  - {name: off, command: [nothing-here], enabled: false}
YAML
out=$("$WSINIT" check --config "$TMP/config.yaml")
expect_contains "$out" "config: $TMP/config.yaml (profile plain)" "config line"
expect_contains "$out" "sshd: off (sshd.enabled is false)" "sshd line"
expect_contains "$out" "services, in start order: 3" "count"
[ "$(line_of <(echo "$out") "  db:")" -lt "$(line_of <(echo "$out") "  web:")" ] || fail "db is not listed before web"
expect_contains "$out" "runs: $(command -v python3)" "resolved command"
expect_contains "$out" "off (disabled)" "disabled service"
expect_contains "$out" "control socket: $TMP/run/wsinit.sock" "socket"
ok "check prints the plan in start order with resolved commands"

printf 'version: 1\nservices:\n  - {name: a, command: [no-such-program]}\n' >"$TMP/missing.yaml"
status=0
out=$("$WSINIT" check --config "$TMP/missing.yaml") || status=$?
expect_eq "$status" 1 "check status with a missing program"
expect_contains "$out" "problem: no-such-program: No such file or directory" "missing program"

printf 'version: 1\nservices:\n  - {name: A, command: [x]}\n  - {name: b, command: [x], after: [c]}\nlog: {max_files: 0}\n' >"$TMP/bad.yaml"
status=0
"$WSINIT" check --config "$TMP/bad.yaml" 2>"$TMP/cerr" || status=$?
expect_eq "$status" 1 "check status for a bad file"
expect_contains "$(cat "$TMP/cerr")" "bad.yaml:5:18: log.max_files: '0' is not a count" "value error"
printf 'version: 1\nservices:\n  - {name: A, command: [x]}\n  - {name: b, command: [x], after: [c]}\n' >"$TMP/bad2.yaml"
"$WSINIT" check --config "$TMP/bad2.yaml" 2>"$TMP/cerr" || true
expect_contains "$(cat "$TMP/cerr")" "bad2.yaml:3:5: service name 'A' is invalid" "name error"
expect_contains "$(cat "$TMP/cerr")" "bad2.yaml:4:5: service 'b' comes after unknown service 'c'" "after error"
expect_contains "$(cat "$TMP/cerr")" "2 errors" "error count"
ok "check reports every error with file:line:column and exits 1"
