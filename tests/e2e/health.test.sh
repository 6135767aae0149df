# The health endpoints with real HTTP clients: /healthz, /readyz through start-up and a crash,
# the /status long poll, /metrics, the status file, bad requests, and 1000 idle connections.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
hp=$(free_port)
plain_config "$TMP/config.yaml" <<YAML
health: {listen: "127.0.0.1:$hp"}
services:
  - name: api
    shell: "sleep 1.5; exec python3 -m http.server $port --bind 127.0.0.1"
    ready: {tcp: $port, interval: 50ms}
    required: true
    backoff: {initial: 1500ms, max: 1500ms}
YAML
start_subreaper --config "$TMP/config.yaml"
url="http://127.0.0.1:$hp"
wait_until "curl -sf $url/healthz >/dev/null" 5
expect_eq "$(curl -s "$url/healthz")" ok "healthz body"
expect_eq "$(curl -s -o "$TMP/readyz" -w '%{http_code}' "$url/readyz")" 503 "readyz while starting"
expect_eq "$(jq -c .not_ready "$TMP/readyz")" '["api"]' "readyz names what is not ready"
ok "/healthz 200; /readyz 503 naming api during start-up"

start=$(date +%s%N)
code=$(curl -s -o "$TMP/poll" -w '%{http_code}' "$url/status?wait=ready&timeout=20s")
took_ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "$code" 200 "long poll status"
expect_eq "$(jq -r .state "$TMP/poll")" ready "long poll document"
[ "$took_ms" -lt 5000 ] || fail "the long poll took ${took_ms}ms"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" 200 "readyz once ready"
ok "/status?wait=ready returned when api became ready (${took_ms}ms); /readyz 200"

kill -9 "$(service_field api .pid)"
wait_until "[ \$(curl -s -o /dev/null -w '%{http_code}' $url/readyz) = 503 ]" 5
expect_eq "$(curl -s "$url/status" | jq -r .state)" degraded "state after the required service died"
wait_until "[ \$(curl -s -o /dev/null -w '%{http_code}' $url/readyz) = 200 ]" 10
curl -s "$url/metrics" >"$TMP/metrics"
grep -qx 'wsinit_service_restarts_total{service="api"} 1' "$TMP/metrics" || fail "restarts metric"
grep -qx 'wsinit_service_last_exit_code{service="api"} 137' "$TMP/metrics" || fail "last exit metric"
grep -qx 'wsinit_ready 1' "$TMP/metrics" || fail "ready metric"
grep -q "^wsinit_build_info{version=" "$TMP/metrics" || fail "build info"
ok "kill -9 api: /readyz 503 and degraded, then 200 after the restart; /metrics counts it"

# Rewritten at most every 100 ms after a change.
wait_until "jq -e '.state == \"ready\" and .services[0].name == \"api\" and .services[0].restarts == 1' $TMP/logs/wsinit-status.json >/dev/null" 2
ok "<logs>/wsinit-status.json holds the current status"

expect_eq "$(curl -s -I -o /dev/null -w '%{http_code}' "$url/healthz")" 200 "HEAD"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/healthz")" 405 "POST"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$url/nope")" 404 "unknown path"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)" "$url/healthz")" 431 "oversized headers"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$url/status?wait=ready&timeout=soon")" 200 "already ready: no wait"
python3 - "$hp" <<'PY'
import socket, sys
port = int(sys.argv[1])

def exchange(request):
    """Sends raw bytes on a new connection and returns all that comes back until it closes."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data

data = exchange(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /readyz HTTP/1.1\r\nHost: a\r\n\r\n"
                b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
assert data.count(b"HTTP/1.1 200 OK") == 3, data
assert data.index(b"ok\n") < data.index(b'"ready":true'), data
headers, _, body = exchange(b"HEAD /status HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").partition(b"\r\n\r\n")
assert b"Content-Length: " in headers and body == b"", headers
assert exchange(b"\x16\x03\x01\x00garbage\r\n\r\n").startswith(b"HTTP/1.1 400"), "garbage"
PY
ok "HEAD (headers, no body), 405, 404, 431, 400 for garbage; three pipelined requests answered in order on one connection"

# More idle connections than wsinit keeps: a new client is still served, and wsinit keeps at
# most its limit (1024, or a quarter of its open-file limit when that is lower).
nofile=$(awk '/^Max open files/ {print $4}' "/proc/$WS_PID/limits")
limit=$(( nofile / 4 < 1024 ? nofile / 4 : 1024 ))
python3 - "$hp" "$url" "$limit" <<'PY' || fail "idle connections"
import resource, socket, subprocess, sys, time
port, url, limit = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, limit + 400), hard))
held = []
for _ in range(limit + 200):
    held.append(socket.create_connection(("127.0.0.1", port)))
time.sleep(0.5)
out = subprocess.run(["curl", "-s", "-m", "5", url + "/healthz"], capture_output=True, text=True)
assert out.stdout == "ok\n", out
established = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True)
count = len(established.stdout.splitlines())
assert count <= limit, f"{count} connections open on the server side (limit {limit})"
print(f"ok: {limit + 200} idle connections: /healthz still answered; {count} kept open by wsinit (limit {limit})")
PY
kill -0 "$WS_PID" || fail "wsinit died"
kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
jq -e '.state == "stopping"' "$TMP/logs/wsinit-status.json" >/dev/null || fail "the status file's last word should be stopping"
