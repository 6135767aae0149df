# wsinit logs [-f] [-n N] and wsinit wait ready|SERVICE|port N, as a person in a terminal uses them.
source "$(dirname "$0")/lib.sh"

PORT=$(free_port)
UNUSED=$(free_port)
# Each line of rot is 100 bytes in its file (a 24-byte stamp and a space, 74 bytes, the newline):
# 40 fit in 4 KiB, so 81 lines leave 40 in .2, 40 in .1 and one in the current file.
# slow takes a second to stop; $1 is what a reload changes of it ($2: its ready probe, $3: required).
write_config() {
plain_config "$TMP/config.yaml" <<YAML
log: {max_size: 4KiB, max_files: 3}
services:
  - name: rot
    shell: "for i in \$(seq 1 81); do printf 'line-%04d-%s\\\\n' \$i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done"
    oneshot: true
    restart: never
  - name: ticker
    shell: "echo ticker-started; while :; do if [ -e $TMP/trigger ]; then rm -f $TMP/trigger; echo triggered-line; fi; sleep 0.05; done"
  - name: late
    shell: "sleep 2; exec python3 -c 'import socket,time; s=socket.socket(); s.bind((\"127.0.0.1\", $PORT)); s.listen(); time.sleep(300)'"
  # Its counter is overwritten in place (1<>), never truncated: on ext4 closing a truncated
  # file flushes it, and on a busy disk that slowed the service by itself.
  - name: flood
    shell: "while [ ! -e $TMP/flood.go ]; do sleep 0.1; done; i=0; while [ ! -e $TMP/flood.stop ]; do seq 1 1000; i=\$((i+1)); echo \$i 1<>$TMP/flood.count; done; exec sleep 300"
  - name: bad
    shell: "while [ ! -e $TMP/bad.go ]; do sleep 0.1; done; exit 3"
    oneshot: true
    restart: never
    required: false
  - name: slow
    shell: "trap 'sleep 1; exit 0' TERM; echo slow-${1:-0}; while :; do sleep 0.1; done"
    required: ${3:-false}
    ${2:-}
YAML
}
write_config
start_subreaper --config "$TMP/config.yaml"
wait_until "[ -S $WSINIT_SOCKET ]" 5

# wait port: the service listens two seconds after it started.
start=$(date +%s%N)
status=0
"$WSINIT" wait port "$PORT" --timeout 15s >"$TMP/wait.out" 2>&1 || status=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
expect_eq "$status" 0 "wait port $PORT exit status ($(cat "$TMP/wait.out"))"
python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 2).close()" || fail "wait port returned, nothing listens on $PORT"
[ "$elapsed" -ge 1000 ] || fail "wait port returned after ${elapsed}ms, before the service could listen"
ok "wait port $PORT returned 0 once the service listened (after ${elapsed}ms)"

status=0
"$WSINIT" wait ready --timeout 15s >"$TMP/wait.out" 2>&1 || status=$?
expect_eq "$status" 0 "wait ready exit status ($(cat "$TMP/wait.out"))"
expect_eq "$(status_json | jq -r .state)" ready "state after wait ready"
status=0
"$WSINIT" wait ticker >"$TMP/wait.out" 2>&1 || status=$?
expect_eq "$status" 0 "wait ticker exit status ($(cat "$TMP/wait.out"))"
expect_contains "$(cat "$TMP/wait.out")" "ticker is ready" "wait ticker says"
ok "wait ready and wait SERVICE return 0 once ready"

start=$(date +%s%N)
status=0
"$WSINIT" wait port "$UNUSED" --timeout 1s 2>"$TMP/wait.err" || status=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
expect_eq "$status" 1 "wait port on an unused port"
expect_contains "$(cat "$TMP/wait.err")" "timed out after 1s: nothing listens on port $UNUSED" "timeout message"
[ "$elapsed" -ge 900 ] && [ "$elapsed" -le 3000 ] || fail "wait --timeout 1s took ${elapsed}ms"
ok "wait port on an unused port with --timeout 1s returns 1 after ${elapsed}ms"

# A raw client: a wait that comes with the end of the stream (no newline) is refused, as wsinit
# could not see its client go; a newline and then a half-close (nc -N) still gets the answer.
python3 - "$WSINIT_SOCKET" "$UNUSED" <<'PY' || fail "the half-closed raw waits' check failed"
import socket, sys
path, port = sys.argv[1], sys.argv[2]
def ask(line):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    s.sendall(line)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        data = s.recv(4096)
        if not data:
            return got
        got += data
got = ask(b"wait port %s 0" % port.encode())
if not got.startswith(b"error\n") or b"needs an open connection" not in got:
    sys.exit("a wait with no newline and then EOF: %r" % got)
got = ask(b"wait port %s 1000\n" % port.encode())
if not got.startswith(b"error\ntimed out after 1s"):
    sys.exit("a wait with a newline and then a half-close: %r" % got)
PY
ok "a wait sent without a newline and then EOF is refused; one half-closed after its newline is answered"

status=0
WSINIT_SOCKET="$TMP/none.sock" "$WSINIT" wait ready 2>/dev/null || status=$?
expect_eq "$status" 3 "wait without an instance"
status=0
WSINIT_SOCKET="$TMP/none.sock" "$WSINIT" logs ticker 2>/dev/null || status=$?
expect_eq "$status" 3 "logs without an instance"
status=0
"$WSINIT" wait port 0 2>/dev/null || status=$?
expect_eq "$status" 2 "wait port 0 is a usage error"
"$WSINIT" logs --help | grep -q "Usage: wsinit logs" || fail "logs --help"
"$WSINIT" wait --help | grep -q "Exit status" || fail "wait --help"
ok "no instance: 3; usage errors: 2; --help"

# logs -n 3 after rotation: the lines span the rotated file and the current one.
wait_status '(.services[] | select(.name == "rot") | .state) == "exited"'
expect_eq "$(wc -l <"$TMP/logs/rot.log")" 1 "lines in the current rot.log (the layout this test assumes)"
[ -e "$TMP/logs/rot.log.2" ] || fail "rot.log.2 missing"
out=$("$WSINIT" logs -n 3 rot)
expect_eq "$(sed 's/^[^ ]* //' <<<"$out" | cut -c1-9 | tr '\n' ' ')" "line-0079 line-0080 line-0081 " "logs -n 3 rot"
expect_eq "$("$WSINIT" logs rot | wc -l)" 10 "logs rot: 10 lines by default"
expect_eq "$("$WSINIT" logs -n 100 rot | wc -l)" 81 "logs -n 100 rot: every line of the three files"
status=0
"$WSINIT" logs nosuch 2>"$TMP/logs.err" || status=$?
expect_eq "$status" 1 "logs of an unknown service"
expect_contains "$(cat "$TMP/logs.err")" "no service 'nosuch' (services: rot, ticker, late, flood, bad, slow)" "unknown service message"
ok "logs -n 3 spans the rotated files; unknown service: 1 with the names"

# logs -f: a line the service writes after the follow started arrives, once, within 5s.
"$WSINIT" logs -f -n 1 ticker >"$TMP/follow.out" 2>"$TMP/follow.err" &
FOLLOW=$!
STARTED+=("$FOLLOW")
wait_until "grep -q ticker-started $TMP/follow.out" 5
touch "$TMP/trigger"
wait_until "grep -q triggered-line $TMP/follow.out" 5
expect_eq "$(grep -c ticker-started "$TMP/follow.out")" 1 "the tail's line, once"
ok "logs -f printed the line the service wrote after it started"
kill -TERM "$FOLLOW"
wait "$FOLLOW" 2>/dev/null || true
kill -0 "$WS_PID" || fail "wsinit is gone after its follower was killed"
touch "$TMP/trigger"
wait_until "[ \$(grep -c triggered-line $TMP/logs/ticker.log) -eq 2 ]" 5
"$WSINIT" status >/dev/null || fail "status after the follower was killed"
ok "the follower killed by pid: wsinit and the service go on"

# A wait is judged after the change, not inside it: a restart passes through stopped, and a
# reload takes services out of the table one by one; neither is an answer.
"$WSINIT" restart slow >/dev/null 2>&1 &
RESTART=$!
STARTED+=("$RESTART")
wait_status '(.services[] | select(.name == "slow") | .state) == "stopping"' 5
status=0
"$WSINIT" wait slow --timeout 20s >"$TMP/wait.out" 2>&1 || status=$?
expect_eq "$status" 0 "wait slow across wsinit restart slow ($(cat "$TMP/wait.out"))"
wait "$RESTART" || fail "wsinit restart slow failed"
ok "a wait held across wsinit restart SERVICE returns 0 once it runs again"

write_config 1 "ready: {exec: [test, -e, $TMP/slow.ok], timeout: 60s}" true
kill -HUP "$WS_PID"
wait_status '.state == "starting" and ((.services[] | select(.name == "slow") | .state) == "starting")' 10
"$WSINIT" wait ready --timeout 30s >"$TMP/wait.out" 2>&1 &
WAITER=$!
STARTED+=("$WAITER")
sleep 0.5
kill -0 "$WAITER" 2>/dev/null || fail "wait ready returned before the reload ($(cat "$TMP/wait.out"))"
write_config 2 "ready: {exec: [test, -e, $TMP/slow.ok], timeout: 60s}" true
kill -HUP "$WS_PID"
sleep 2
kill -0 "$WAITER" 2>/dev/null || fail "wait ready returned during a reload while slow was not ready ($(cat "$TMP/wait.out"))"
touch "$TMP/slow.ok"
status=0
wait "$WAITER" || status=$?
expect_eq "$status" 0 "wait ready once slow is ready ($(cat "$TMP/wait.out"))"
expect_eq "$(service_field slow .state)" ready "slow when wait ready returned"
ok "a wait ready held across a reload that restarts a required service returns 0 only once it is ready"

# A follow of a service a reload removes ends with 0, saying so.
rm -f "$TMP/follow.out"  # an earlier follow's
"$WSINIT" logs -f -n 1 ticker >"$TMP/follow.out" 2>"$TMP/follow.err" &
FOLLOW=$!
STARTED+=("$FOLLOW")
wait_until "[ -s $TMP/follow.out ]" 10  # its last line printed: the follow holds (a sleep raced a slow start)
sed -i '/- name: ticker/,+1d' "$TMP/config.yaml"
kill -HUP "$WS_PID"
wait_until "! kill -0 $FOLLOW 2>/dev/null || grep -q 'Z' /proc/$FOLLOW/stat 2>/dev/null" 10
status=0
wait "$FOLLOW" || status=$?
expect_eq "$status" 0 "the follower's exit status when its service was removed"
expect_contains "$(cat "$TMP/follow.err")" "ticker was removed from the config" "the follower says why it ended"
ok "a follow of a service a reload removed ends with 0, saying so"

# A follower that does not read while the service floods: the service is not slowed, wsinit
# answers, and once the follower reads it is told how many lines it missed.
python3 - "$WSINIT_SOCKET" "$TMP" <<'PY' || fail "the stalled follower's check failed"
import os, socket, sys, time
path, tmp = sys.argv[1], sys.argv[2]
def count():  # the service rewrites the file: an empty read is retried
    for _ in range(100):
        try:
            return int(open(tmp + "/flood.count").read())
        except (OSError, ValueError):
            time.sleep(0.01)
    return 0
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(path)
s.sendall(b"logs flood 0 follow\n")
head = s.recv(3)
if head != b"ok\n":
    sys.exit("no follow: %r" % head)
open(tmp + "/flood.go", "w").close()
deadline = time.time() + 10
while count() < 50 and time.time() < deadline:
    time.sleep(0.05)
first = count()
time.sleep(2)  # not reading: the socket and wsinit's queue for it fill in well under a second
second = count()
print("flood batches while the follower stalled: %d -> %d" % (first, second))
if second - first < 20:
    sys.exit("the service was slowed by a follower that does not read: %d -> %d" % (first, second))
got = b""
deadline = time.time() + 10
while b"note [wsinit: " not in got and time.time() < deadline:
    got += s.recv(1 << 20)
    got = got[-(4 << 20):]
open(tmp + "/flood.stop", "w").close()
if b"note [wsinit: " not in got:
    sys.exit("no dropped-lines marker once the follower read again")
s.close()
PY
"$WSINIT" status >/dev/null || fail "status after the flood"
ok "a follower that does not read does not slow a flooding service; it is told the lines it missed"

# A oneshot that failed: wait returns 1 at once with the reason, and so does wait ready.
touch "$TMP/bad.go"
wait_status '(.services[] | select(.name == "bad") | .last_exit) == "exit 3"'
start=$(date +%s%N)
status=0
"$WSINIT" wait bad --timeout 30s 2>"$TMP/wait.err" || status=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
expect_eq "$status" 1 "wait for a failed oneshot"
expect_contains "$(cat "$TMP/wait.err")" "bad failed (exit 3)" "failed oneshot reason"
[ "$elapsed" -le 2000 ] || fail "wait for a failed oneshot took ${elapsed}ms"
status=0
"$WSINIT" wait ready --timeout 30s 2>"$TMP/wait.err" || status=$?
expect_eq "$status" 1 "wait ready with a failed oneshot"
ok "a failed oneshot: wait SERVICE and wait ready return 1 at once ($(cat "$TMP/wait.err"))"

# wsinit shutting down ends a follow with 0, and says so.
"$WSINIT" logs -f -n 0 late >"$TMP/follow.out" 2>"$TMP/follow.err" &
FOLLOW=$!
STARTED+=("$FOLLOW")
wait_until "[ \$(status_json | jq '.services | length') -gt 0 ]" 5
sleep 0.3
kill -TERM "$WS_PID"
wait_wsinit
status=0
wait "$FOLLOW" || status=$?
expect_eq "$status" 0 "the follower's exit status when wsinit shut down"
expect_contains "$(cat "$TMP/follow.err")" "wsinit is shutting down" "the follower says why it ended"
ok "wsinit shutting down ends logs -f with 0"

# A reply the client does not take: its connection is closed after 10s, newcomers take the place
# of such connections meanwhile, and wsinit stops at once with one still open.
plain_config "$TMP/big.yaml" <<YAML
log: {max_size: 8MiB, max_files: 2}
services:
  - name: big
    shell: "python3 -c 'import sys; [sys.stdout.write(\"big-%06d-%s\\\\n\" % (i, \"x\" * 88)) for i in range(40000)]'; exec sleep 300"
YAML
start_subreaper --config "$TMP/big.yaml"
wait_until "[ -S $WSINIT_SOCKET ] && [ \$(wc -l <$TMP/logs/big.log) -ge 40000 ]" 10
python3 - "$WSINIT_SOCKET" "$WSINIT" "$WS_PID" <<'PY' || fail "the check of clients that do not read failed"
import os, socket, subprocess, sys, time
path, wsinit, pid = sys.argv[1], sys.argv[2], sys.argv[3]
fds = lambda: len(os.listdir("/proc/%s/fd" % pid))
before = fds()
clients = []
for _ in range(32):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b"logs big 100000\n")
    clients.append(s)
time.sleep(1)
r = subprocess.run([wsinit, "status"], capture_output=True, timeout=10)
if r.returncode != 0:
    sys.exit("wsinit status beside 32 clients that do not read: %d %r" % (r.returncode, r.stderr))
time.sleep(10.5)
if fds() > before + 2:
    sys.exit("wsinit still holds %d descriptors more than before the clients came" % (fds() - before))
for s in clients:
    s.settimeout(5)
    got = 0
    try:
        while True:
            data = s.recv(1 << 20)
            if not data:
                break
            got += len(data)
    except ConnectionResetError:
        pass
    if got >= 4000000:
        sys.exit("a client that did not read for 11s still got the whole reply (%d bytes)" % got)
    s.close()
print("32 clients that did not read: status answered, their connections closed after the deadline")
PY
ok "replies not taken within 10s are dropped; they do not lock out wsinit status"
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"logs big 100000\n"); time.sleep(30)' "$WSINIT_SOCKET" &
STALLED=$!
STARTED+=("$STALLED")
sleep 0.5
kill -TERM "$WS_PID"
wait_until "[ ! -e /proc/$WS_PID ] || grep -q '^State:.*Z' /proc/$WS_PID/status" 5
wait_wsinit
kill "$STALLED" 2>/dev/null || true
ok "wsinit stopped at once with a client that does not read its reply"
