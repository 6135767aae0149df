# Fault injection: what wsinit's own services depend on is broken. paths.data not writable
# (host keys fall back to $HOME/.wsinit, said in the log and the status); the sshd binary
# missing (sshd's check fails with the reason, the editor still comes up, /readyz 503 naming
# sshd); the editor crash-looping (restarts bounded by backoff, the workspace degraded); the
# report receiver unreachable (wsinit runs on, retries back off).
source "$(dirname "$0")/lib.sh"
stand_in="$(dirname "$0")/../helpers/webide_stand_in.py"

setup_workspace_user
ws="$TMP/ws"
export WSINIT_SOCKET="$ws/run/wsinit.sock"
mkdir -p "$ws/readonly-data"
chmod 0755 "$ws/readonly-data"  # root's: the workspace user cannot write it
ssh_port=$(free_port)
health=$(free_port)
editor=$(free_port)
closed=$(free_port)

# --- paths.data not writable, sshd binary missing, editor up, reports unreachable ---
cat >"$TMP/a.yaml" <<YAML
version: 1
profile: gitlab
user: {home: $ws/home}
paths: {data: $ws/readonly-data/wsinit, logs: $ws/logs, runtime: $ws/run}
sshd: {enabled: true, server: openssh, binary: /nonexistent/sbin/sshd, listen: ["127.0.0.1:$ssh_port"]}
editor: {kind: custom, command: [python3, $stand_in, --host, 127.0.0.1, --port, "$editor"], port: $editor}
health:
  listen: "127.0.0.1:$health"
  report: {url: "http://127.0.0.1:$closed/report", interval: 1s}
YAML
WS_ENV="WSINIT_LOG_LEVEL=debug GL_TOOLS_DIR=$ws" start_as_workspace_user --config "$TMP/a.yaml"
wait_status '.services[] | select(.name == "editor") | .state == "ready"' 20
wait_status '.services[] | select(.name == "sshd-config") | .state == "failed"' 10
expect_eq "$(service_field sshd-config .last_exit)" "failed: exec: No such file or directory" "sshd's check"
expect_eq "$(service_field sshd .state)" waiting "sshd (after its failed check)"
readyz=$(curl -s -w '%{http_code}' "http://127.0.0.1:$health/readyz" | tr -d '\n')
expect_eq "$readyz" '{"ready":false,"state":"degraded","not_ready":["sshd"]}503' "/readyz"
ok "sshd binary missing: its check failed with the reason, the editor is up, /readyz 503 naming sshd"

grep -q "paths.data: cannot create $ws/readonly-data/wsinit: Permission denied; host keys are kept in $ws/home/.wsinit" "$TMP/err" ||
  fail "the data fallback is not said in the log"
expect_contains "$(status_json | jq -r '.sshd.warnings[]')" "host keys are kept in $ws/home/.wsinit" "status sshd.warnings"
[ -s "$ws/home/.wsinit/ssh/ssh_host_ed25519_key" ] || fail "no host key in the fallback"
ok "paths.data not writable: host keys in \$HOME/.wsinit, said in the log and the status"

sleep 5
attempts=$(grep -c "report: attempt [0-9]* failed" "$TMP/err" || true)
# Seconds from wsinit's first log line to its last failed attempt (a loaded machine stretches
# what came before this point, so the count is judged against the time it took).
span=$(python3 -c 'import sys, datetime
stamps = [l.split()[0] for l in open(sys.argv[1]) if l[:4].isdigit()]
tries = [l.split()[0] for l in open(sys.argv[1]) if "report: attempt" in l]
at = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
print(int(at(tries[-1]) - at(stamps[0]) + 1) if tries else 0)' "$TMP/err")
# Backoff from 500 ms, capped at the 1s interval: about one attempt a second after the first
# few; without backoff there would be hundreds.
[ "$attempts" -ge 3 ] || fail "only $attempts report attempts in ${span} s"
[ "$attempts" -le $((span + 4)) ] || fail "$attempts report attempts in ${span} s: no backoff"
grep -q "report: cannot deliver to http://127.0.0.1:$closed/report: .*; retrying with backoff" "$TMP/err" || fail "no word of the failed report"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$health/healthz")" 200 "/healthz"
kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 1 "exit status (a required service never ready)"
ok "report receiver unreachable: said once, $((attempts + 1)) attempts in ${span} s (backing off), wsinit healthy"

# --- the editor crash-looping ---
cat >"$TMP/b.yaml" <<YAML
version: 1
profile: gitlab
user: {home: $ws/home}
paths: {data: $ws/data, logs: $ws/logs, runtime: $ws/run}
sshd: {enabled: false}
editor: {kind: custom, command: [sh, -c, "echo editor cannot start >&2; exit 1"], port: $editor}
health: {listen: "127.0.0.1:$health"}
YAML
start_as_workspace_user --config "$TMP/b.yaml"
wait_status '.state == "degraded"' 5
sleep 6
restarts=$(service_field editor .restarts)
[ "$restarts" -ge 2 ] && [ "$restarts" -le 4 ] || fail "editor restarted $restarts times in about 6 s (backoff 1s, 2s, 4s: 2 to 4)"
expect_eq "$(service_field editor .state)" backoff "editor state"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$health/readyz")" 503 "/readyz"
grep -q "editor cannot start" "$ws/logs/start-vscode.log" || fail "the editor's own words are not in start-vscode.log"
kill -TERM "$WS_PID"
wait_wsinit
ok "editor crash-looping: $restarts restarts in about 6 s (backoff), workspace degraded, /readyz 503"
