# wsinit status / start / stop / restart over the control socket, and bad requests.
source "$(dirname "$0")/lib.sh"

plain_config "$TMP/config.yaml" <<YAML
services:
  - {name: web, command: [sleep, "300"], stop_timeout: 2s}
  - {name: worker, shell: "trap 'echo got TERM; exit 0' TERM; while :; do sleep 0.1; done"}
YAML
start_subreaper --config "$TMP/config.yaml"
wait_status '[.services[].state] == ["running", "running"]'

expect_eq "$(stat -c %a "$TMP/run")" 700 "control socket directory mode"
expect_eq "$(stat -c %a "$TMP/run/wsinit.sock")" 600 "control socket mode"
table=$("$WSINIT" status)
expect_contains "$table" "NAME" "status table header"
expect_contains "$(grep '^web ' <<<"$table")" "running" "status table row"
ok "socket 0600 in a 0700 dir; status table"

pid=$(service_field web .pid)
expect_eq "$("$WSINIT" stop web)" "web: stopped" "stop reply"
expect_eq "$(service_field web .state)" stopped "state after stop"
[ ! -e /proc/$pid ] || [ "$(awk '{print $3}' /proc/$pid/stat)" = Z ] || fail "web still runs after stop"
sleep 0.3
expect_eq "$(service_field web .state)" stopped "a stopped service is not restarted"
expect_eq "$("$WSINIT" start web)" "web: running" "start reply"
pid2=$(service_field web .pid)
[ "$pid2" != "$pid" ] || fail "start did not start a new process"
expect_contains "$("$WSINIT" restart worker)" "worker: restarted" "restart reply"
wait_until "grep -q 'got TERM' $TMP/logs/worker.log"
expect_eq "$(service_field worker .restarts)" 1 "restarts after restart"
ok "stop, start, restart"

status=0
"$WSINIT" stop nosuch 2>"$TMP/cerr" || status=$?
expect_eq "$status" 1 "exit status for an unknown service"
expect_eq "$(cat "$TMP/cerr")" "no service named 'nosuch'" "unknown service message"

ask() {  # request as hex -> the raw reply
  python3 - "$WSINIT_SOCKET" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
data = b""
try:
    s.sendall(bytes.fromhex(sys.argv[2]))
    s.shutdown(socket.SHUT_WR)
except OSError:
    pass  # the server answered before reading it all
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except OSError:
    pass
print(data.decode(errors="replace"), end="")
PY
}
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
expect_contains "$(ask "$(hex $'frobnicate\n')")" $'error\nunknown request' "unknown request"
expect_contains "$(ask 00ff1b5b41000a)" $'error\nunknown request' "binary garbage"
expect_contains "$(ask "$(head -c 10000 /dev/zero | tr '\0' a | od -An -v -tx1 | tr -d ' \n')")" $'error\nrequest longer than 4096 bytes' "oversized request"
expect_contains "$(ask "$(hex status)")" "NAME" "request without a newline"
kill -0 "$WS_PID" || fail "wsinit died on bad requests"
ok "malformed requests get an error reply; wsinit stays up"

kill -TERM "$WS_PID"
wait_wsinit
[ ! -e "$TMP/run/wsinit.sock" ] || fail "socket left behind"
status=0
"$WSINIT" status 2>"$TMP/cerr" || status=$?
expect_eq "$status" 3 "status with no instance"
expect_contains "$(cat "$TMP/cerr")" "no running wsinit answers on $TMP/run/wsinit.sock" "no instance message"
ok "socket removed at exit; clients say clearly that nothing runs"
