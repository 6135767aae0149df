# Hostile input meets a stated bound or a clear refusal, as a user would see it; each part
# below says what it sends and what must hold.
source "$(dirname "$0")/lib.sh"
here="$(cd "$(dirname "$0")" && pwd)"
# An ASan build reserves terabytes of address space and keeps freed memory in quarantine: the
# memory limits and RSS bounds below hold for the release build only (as bench/soak's do).
asan=false
if is_asan_build; then asan=true; fi
rss_within() {  # kB what: fails when the release build's peak RSS is not under 32 MiB
  $asan || [ "$1" -lt 32768 ] || fail "wsinit's peak RSS $2 is $1 kB"
}

# --- scripts/build: a compile error fails the build, and the old binary is not reported as built.
# A tree of its own (the real script, a one-file project that does not compile, and a stale
# static build/wsinit from an earlier build), so it takes a second, not a full build.
tree="$TMP/tree"
mkdir -p "$tree/scripts" "$tree/build"
cp "$here/../../scripts/build" "$tree/scripts/build"
cat >"$tree/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(broken LANGUAGES CXX)
add_executable(wsinit broken.cpp)
CMAKE
printf 'int main() { return not_declared_anywhere; }\n' >"$tree/broken.cpp"
cp "$WSINIT" "$tree/build/wsinit"
build_status=0
timeout 60 "$tree/scripts/build" >"$TMP/build.out" 2>&1 || build_status=$?
[ "$build_status" -ne 0 ] || fail "scripts/build exited 0 on a compile error: $(tail -n 3 "$TMP/build.out")"
grep -q "not_declared_anywhere" "$TMP/build.out" || fail "the compiler's error is not shown: $(cat "$TMP/build.out")"
! grep -q "bytes, static, stripped" "$TMP/build.out" || fail "the stale build/wsinit was reported as built"
grep -q "build: the build failed" "$TMP/build.out" || fail "scripts/build did not stop at the failed compile: $(tail -n 3 "$TMP/build.out")"
ok "scripts/build exits $build_status on a compile error, shows it, and does not report the old binary"

# --- A 1.2 KB devfile of 22 levels of `cN: [cN-1, cN-1]` (4 million commands once unfolded) is
# refused by `wsinit check` at once, naming the command and where it is. Memory and time are
# bounded here, so a wsinit without the bound fails this test instead of the machine.
{ printf 'schemaVersion: 2.2.0\ncomponents: [{name: tools, container: {image: x}}]\ncommands:\n'
  printf "  - {id: c0, exec: {component: tools, commandLine: 'true'}}\n"
  for level in $(seq 1 22); do
    printf '  - {id: c%d, composite: {commands: [c%d, c%d]}}\n' "$level" $((level - 1)) $((level - 1))
  done
  printf 'events: {postStart: [c22]}\n'; } >"$TMP/bomb.devfile.yaml"
[ "$(stat -c %s "$TMP/bomb.devfile.yaml")" -lt 1500 ] || fail "the devfile is not small"
plain_config "$TMP/bomb.yaml" <<YAML
workspace: {devfile: $TMP/bomb.devfile.yaml}
YAML
check_status=0
started=$(date +%s%N)
memory_limit=1000000  # KiB
if $asan; then memory_limit=unlimited; fi
(ulimit -v "$memory_limit"; exec timeout 10 "$WSINIT" check --config "$TMP/bomb.yaml") >"$TMP/check.out" 2>&1 || check_status=$?
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
expect_eq "$check_status" 1 "wsinit check's status for the 22-level devfile ($(tail -n 2 "$TMP/check.out"))"
# 1 s for the release build; the ASan build's start alone took 1.3 s beside another test (the
# bomb unbounded is 4 million expansions, far past either).
limit_ms=1000
if $asan; then limit_ms=3000; fi
[ "$elapsed_ms" -lt "$limit_ms" ] || fail "wsinit check took ${elapsed_ms} ms (bound ${limit_ms} ms)"
expect_contains "$(cat "$TMP/check.out")" \
  "$TMP/bomb.devfile.yaml:10:5: composite command 'c6' is nested more than 16 composites deep under postStart command 'c22'" \
  "the refusal"
ok "wsinit check refuses the 22-level devfile in ${elapsed_ms} ms: $(grep -o "composite command 'c6'.*" "$TMP/check.out")"

# --- A readiness URL wsinit cannot probe (a host name) is a config error with file:line:column.
plain_config "$TMP/ready.yaml" <<YAML
services:
  - name: web
    command: [sleep, "300"]
    ready: {http: "http://example.com:8080/"}
YAML
check_status=0
"$WSINIT" check --config "$TMP/ready.yaml" >"$TMP/ready.out" 2>&1 || check_status=$?
expect_eq "$check_status" 1 "wsinit check's status for a readiness URL with a host name"
expect_contains "$(cat "$TMP/ready.out")" \
  "$TMP/ready.yaml:7:19: services.web.ready.http: host 'example.com' must be an IP address or localhost" "the refusal"
ok "wsinit check refuses ready.http with a host name: $(grep -o 'services.web.ready.http: .*' "$TMP/ready.out")"

# --- A report receiver that streams bytes with no line break: the attempt fails once 16 KiB
# came without a status line, said once with the URL but not its query (a token lives there),
# and wsinit's memory stays small. The receiver records the Host header it got.
rport=$(free_port)
cat >"$TMP/streamer.py" <<'PY'
import socket, sys, time
port, record, listening = int(sys.argv[1]), sys.argv[2], sys.argv[3]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(4)
server.settimeout(30)
open(listening, "w").close()
chunk = b"x" * 65536
end = time.monotonic() + 60
while time.monotonic() < end:
    try:
        conn, _ = server.accept()
    except socket.timeout:
        break
    conn.settimeout(5)
    head = b""
    try:
        while b"\r\n\r\n" not in head and len(head) < 65536:
            data = conn.recv(4096)
            if not data:
                break
            head += data
    except OSError:
        pass
    host = next((l.decode() for l in head.split(b"\r\n") if l.lower().startswith(b"host:")), "no Host header")
    sent, started = 0, time.monotonic()
    try:
        while time.monotonic() - started < 15:
            sent += conn.send(chunk)
    except OSError:
        pass
    conn.close()
    with open(record, "a") as f:
        f.write(f"{host} | {sent} bytes sent in {time.monotonic() - started:.1f}s\n")
PY
python3 "$TMP/streamer.py" "$rport" "$TMP/streamed" "$TMP/streamer-listening" &
streamer=$!
STARTED+=("$streamer")
wait_until "[ -e '$TMP/streamer-listening' ]" 5
plain_config "$TMP/stream.yaml" <<YAML
health: {report: {url: "http://127.0.0.1:$rport/report?token=hunter2-s3cret", interval: 60s}}
YAML
start_subreaper --config "$TMP/stream.yaml"
wait_until "grep -q 'report: cannot deliver' '$TMP/err'" 5
wait_until "[ \$(grep -c '^Host:' '$TMP/streamed' 2>/dev/null) -ge 2 ]" 10  # a retry met the same
peak_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$WS_PID/status")
rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$WS_PID/status")
rss_within "$peak_kb" "with a receiver streaming bytes"
expect_contains "$(cat "$TMP/err")" "report: cannot deliver to http://127.0.0.1:$rport/report: the answer has no status line within its first 16 KiB" \
  "the failed delivery"
! grep -q hunter2 "$TMP/err" || fail "the report URL's query reached the log: $(grep hunter2 "$TMP/err")"
expect_eq "$(head -n 1 "$TMP/streamed" | cut -d' ' -f1-2)" "Host: 127.0.0.1:$rport" "the Host header"
kill -TERM "$WS_PID"
wait_wsinit
kill "$streamer" 2>/dev/null || true
wait "$streamer" 2>/dev/null || true
ok "a receiver streaming without a line break: delivery failed and logged ($(grep -o 'the answer has no status line[^;]*' "$TMP/err" | head -1)), RSS $rss_kb kB (peak $peak_kb kB), Host: 127.0.0.1:$rport, no token in the log; per attempt: $(head -n 1 "$TMP/streamed" | cut -d'|' -f2)"

# --- 300 idle connections to the control socket under nofile=256: at most 32 are kept (the
# oldest idle one makes room), so /healthz still answers and `wsinit restart` still works.
hport=$(free_port)
plain_config "$TMP/flood.yaml" <<YAML
health: {listen: "127.0.0.1:$hport"}
services:
  - {name: sleeper, shell: "exec sleep 300"}
YAML
start_subreaper --config "$TMP/flood.yaml"
wait_status '.services[0].state == "running"' 10
prlimit --pid "$WS_PID" --nofile=256:256
first_pid=$(service_field sleeper .pid)
cat >"$TMP/flood.py" <<'PY'
import socket, sys, time
path, count, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
held, refused, deadline = [], 0, time.monotonic() + 10
while len(held) + refused < count and time.monotonic() < deadline:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
        held.append(s)
    except BlockingIOError:  # the listen backlog is full: wsinit has not accepted yet
        s.close()
        time.sleep(0.002)
    except OSError:
        refused += 1
        s.close()
with open(ready, "w") as f:
    f.write(f"{len(held)} connected, {refused} refused\n")
time.sleep(30)
PY
python3 "$TMP/flood.py" "$WSINIT_SOCKET" 300 "$TMP/flooded" &
flood=$!
STARTED+=("$flood")
wait_until "[ -s '$TMP/flooded' ]" 15
fds=$(ls "/proc/$WS_PID/fd" | wc -l)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$hport/healthz" || true)
expect_eq "$code" 200 "/healthz under the flood ($fds fds open in wsinit)"
restart_status=0
timeout 10 "$WSINIT" restart sleeper >"$TMP/restart.out" 2>&1 || restart_status=$?
expect_eq "$restart_status" 0 "wsinit restart under the flood ($(cat "$TMP/restart.out"))"
wait_status ".services[0].state == \"running\" and .services[0].pid != $first_pid" 10
[ "$fds" -lt 100 ] || fail "wsinit holds $fds fds under the flood"
expect_contains "$(cat "$TMP/err")" "control socket: 32 connections are open, the most there may be" "the cap's log line"
kill "$flood" 2>/dev/null || true
wait "$flood" 2>/dev/null || true
kill -TERM "$WS_PID"
wait_wsinit
ok "300 idle control connections under nofile=256 ($(cat "$TMP/flooded")): wsinit holds $fds fds, /healthz 200, restart works"

# --- An existing directory named as the control socket's keeps its mode; one other users can
# write to is refused (the control socket is off, said why) and left as it was.
mkdir "$TMP/home" "$TMP/open"
chmod 0755 "$TMP/home"
chmod 0777 "$TMP/open"
plain_config "$TMP/sock.yaml" </dev/null
export WSINIT_SOCKET="$TMP/home/wsinit.sock"
start_subreaper --config "$TMP/sock.yaml"
wait_until "[ -S '$TMP/home/wsinit.sock' ]" 5
status_json >/dev/null || fail "wsinit status does not answer on $WSINIT_SOCKET"
expect_eq "$(stat -c %a "$TMP/home")" 755 "the existing directory's mode"
expect_eq "$(stat -c %a "$TMP/home/wsinit.sock")" 600 "the socket's mode"
kill -TERM "$WS_PID"
wait_wsinit
export WSINIT_SOCKET="$TMP/open/wsinit.sock"
start_subreaper --config "$TMP/sock.yaml"
wait_until "grep -q 'control socket off' '$TMP/err'" 5
expect_contains "$(cat "$TMP/err")" "control socket off: $TMP/open can be written by other users (mode 0777" "the refusal"
expect_eq "$(stat -c %a "$TMP/open")" 777 "the refused directory's mode"
[ ! -e "$TMP/open/wsinit.sock" ] || fail "a socket was made in $TMP/open"
kill -TERM "$WS_PID"
wait_wsinit
export WSINIT_SOCKET="$TMP/run/wsinit.sock"
ok "an existing socket directory keeps its mode (755); one others can write is refused: $(grep -o 'control socket off: .*' "$TMP/err" | cut -c1-120)..."

# --- A service that writes 512 KiB of empty lines at once, with a 63-character name and JSON
# lines: each read becomes many times its size in records, but the relay writes its batches on
# at 1 MiB, so wsinit's memory stays small.
long_name=$(printf 'l%.0s' $(seq 1 63))
plain_config "$TMP/burst.yaml" <<YAML
log: {format: json}
services:
  - name: $long_name
    command: [python3, -c, "import os, time; os.write(1, b'\\\\n' * 524288); print('burst done', flush=True); time.sleep(300)"]
YAML
"$WSINIT" --config "$TMP/burst.yaml" >/dev/null 2>"$TMP/err" &
WS_PID=$!
WS_WAIT_PID=$!
STARTED+=("$WS_PID")
wait_until "grep -q 'burst done' '$TMP/logs/$long_name.log' 2>/dev/null" 30
peak_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$WS_PID/status")
rss_within "$peak_kb" "relaying 512 KiB of empty lines"
kill -TERM "$WS_PID"
wait_wsinit
ok "512 KiB of empty lines (JSON, a 63-character name) relayed with a peak RSS of $peak_kb kB"
