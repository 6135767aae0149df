# status.activity as a user checks it. wsinit's sshd (a stand-in that sends the first bytes of its
# banner at once and the end of it 7 s later) and an editor-like service on an activity.ports port
# (answering wsinit's HTTP readiness probe 7 s after the request) keep each of wsinit's own probes
# connected, having carried bytes, across a reading of the connections (every 5 s): those are not
# activity (last_active stays null, idle_s grows, `idle` comes at activity.idle_after). Traffic on
# the editor's port moves last_active and ends `idle`; an SSH session counts as one; without
# traffic `idle` comes back. Each flip is said once in the log; /metrics has the figures.
# wsinit runs in a network namespace of its own (only its loopback is up).
source "$(dirname "$0")/lib.sh"

PY=$(python3 -c 'import sys; print(sys.executable)')

# sshd's stand-in: `-t` checks the config (fine); otherwise listens where sshd_config says.
cat >"$TMP/fake-sshd" <<PY
#!$PY
import socket, sys, threading, time
args = sys.argv[1:]
if "-t" in args:
    sys.exit(0)
config = args[args.index("-f") + 1]
port = next(int(line.split()[1].rsplit(":", 1)[1]) for line in open(config) if line.startswith("ListenAddress"))
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(16)
def serve(c):
    try:
        c.sendall(b"SSH-2.0-stand")  # the banner's first bytes at once, its end later
        time.sleep(7)
        c.sendall(b"-in\r\n")
        while True:
            data = c.recv(4096)
            if not data:
                break
            c.sendall(data)
    except OSError:
        pass
    finally:
        c.close()
while True:
    c, _ = server.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
chmod 755 "$TMP/fake-sshd"

# The editor-like service: answers an HTTP request 7 s late; echoes anything else.
cat >"$TMP/ide.py" <<'PY'
import socket, sys, threading, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(16)
def serve(c):
    try:
        data = c.recv(4096)
        if data.startswith(b"GET "):
            time.sleep(7)
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            return
        while data:
            c.sendall(data)
            data = c.recv(4096)
    except OSError:
        pass
    finally:
        c.close()
while True:
    c, _ = server.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY

# client.py PORT SECONDS: connected for SECONDS, sending a few bytes every 0.2 s and reading them back.
cat >"$TMP/client.py" <<'PY'
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)  # every step bounded
end = time.time() + float(sys.argv[2])
while time.time() < end:
    c.sendall(b"typing\n")
    c.recv(4096)
    time.sleep(0.2)
c.close()
PY

plain_config "$TMP/config.yaml" <<YAML
paths: {data: $TMP/data}
health: {listen: "127.0.0.1:60080"}
sshd: {enabled: true, binary: $TMP/fake-sshd, listen: ["127.0.0.1:2222"], host_key_types: [ed25519]}
activity: {ports: [8888], idle_after: 10s}
services:
  - name: ide
    command: [$PY, $TMP/ide.py, "8888"]
    ready: {http: "http://127.0.0.1:8888/"}
YAML
unshare --net --pid --fork --mount-proc --kill-child \
  sh -c 'ip link set lo up && exec "$0" "$@"' "$WSINIT" --config "$TMP/config.yaml" >"$TMP/out" 2>"$TMP/err" &
adopt_namespace $!

activity() { status_json | jq -r ".activity.$1"; }

# Both probes stay connected about 7 s: the connections are read at least once meanwhile.
wait_status '[.services[] | select(.name == "sshd" or .name == "ide") | .ready] == [true, true]' 15
expect_eq "$(activity last_active)" null "last_active after wsinit's tcp probe of sshd and http probe of the editor"
expect_eq "$(activity ssh_sessions) $(activity editor_connections)" "0 0" "connections once the probes are done"
i1=$(activity idle_s)
sleep 1
i2=$(activity idle_s)
python3 -c "import sys; sys.exit(0 if $i2 >= $i1 + 0.9 else 1)" || fail "idle_s did not grow without traffic: $i1, then $i2"
ok "wsinit's own probes are not activity: last_active null, idle_s grows ($i1 -> $i2)"

wait_status '.activity.idle == true' 6
expect_eq "$(activity last_active)" null "last_active once idle"
expect_eq "$(grep -c 'workspace idle: no SSH or editor traffic for' "$TMP/err")" 1 "the log says idle once"
ok "idle after activity.idle_after (10s) without traffic, said once"

# The connections are read every 5 s: the client types for 24 s, over four readings or more.
in_pod "$PY" "$TMP/client.py" 8888 24 &
client=$!
STARTED+=("$client")
wait_status '.activity.idle == false and .activity.last_active != null and .activity.editor_connections == 1' 7
first=$(activity last_active)
wait_until "[[ \"\$(activity last_active)\" > '$first' ]]" 7
second=$(activity last_active)
expect_eq "$(grep -c 'workspace active again after' "$TMP/err")" 1 "the log says active again once"
ok "traffic on the editor's port moves last_active ($first -> $second) and ends idle"

in_pod "$PY" "$TMP/client.py" 2222 7 &
STARTED+=("$!")
wait_status '.activity.ssh_sessions == 1 and .activity.editor_connections == 1' 7
in_pod curl -s http://127.0.0.1:60080/metrics >"$TMP/metrics"
for m in "wsinit_ssh_sessions 1" "wsinit_editor_connections 1" "wsinit_idle_seconds "; do
  expect_contains "$(cat "$TMP/metrics")" "$m" "/metrics"
done
ok "an SSH session counts as one; /metrics has the sessions, connections and idle seconds"

wait "$client" || fail "the editor client failed"
wait_status '.activity.idle == true and .activity.ssh_sessions == 0 and .activity.editor_connections == 0' 20
expect_eq "$(grep -c 'workspace idle: no SSH or editor traffic for' "$TMP/err")" 2 "the log says idle again, once"
ok "idle again 10s after the last traffic"
