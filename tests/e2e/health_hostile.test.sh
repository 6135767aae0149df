# The health port against hostile clients, as anything on the pod network could be: 1,000
# connections of each kind (and 1,500, past the connection limit) (pipelining without reading, trickling, long polls, slowloris, idle,
# and a mix), reconnecting whenever they are closed. A fresh client must get /healthz 200
# within 1 s every time, the control socket must still answer (the loop is not starved), and
# wsinit's peak RSS must stay under 32 MiB. Then a 20 MB pipeline that is read must not cost
# quadratic time.
source "$(dirname "$0")/lib.sh"

hp=$(free_port)
plain_config "$TMP/config.yaml" <<YAML
health: {listen: "127.0.0.1:$hp"}
services:
  - name: never-ready           # keeps the workspace not ready, so long polls are held
    shell: "exec sleep 100000"
    ready: {tcp: 1, interval: 1s, timeout: 1h}
    required: true
YAML
start_subreaper --config "$TMP/config.yaml"
url="http://127.0.0.1:$hp"
wait_until "curl -sf $url/healthz >/dev/null" 5

# The release build must answer within 1 s. An ASan build (2 to 3 times slower, there to catch
# memory errors under this load) gets 3 s.
limit=1
if is_asan_build; then limit=3; fi

# probe WHAT: 8 fresh clients while the attack runs; each must get 200 within the limit.
probe() {
  local i result worst=0
  for i in 1 2 3 4 5 6 7 8; do
    result=$(curl -s -m "$limit" -o /dev/null -w '%{http_code} %{time_total}' "$url/healthz" || true)
    [ "${result% *}" = 200 ] || fail "$1: a fresh /healthz client got '${result}' (attempt $i, limit ${limit}s)"
    worst=$(python3 -c "print(max($worst, ${result#* }))")
    sleep 0.2
  done
  timeout 2 "$WSINIT" status >/dev/null || fail "$1: the control socket did not answer within 2 s"
  echo "$worst"
}

# attack KIND SOURCE [COUNT]: the attacker runs for up to 30 s; the probes must all happen while
# it does (it is still alive after them, and it opened every connection), then it is stopped.
attack() {
  local count=${3:-1000}
  "$HELPERS/hostile-clients" "$hp" "$1" "$count" 30 "$2" >"$TMP/attack.out" &
  local attacker=$!
  STARTED+=("$attacker")
  wait_until "[ \$(ss -Htn state established '( sport = :$hp )' | wc -l) -ge $(( count < 1024 ? count : 1024 )) ]" 10
  local worst
  worst=$(probe "$1 from $2")
  kill -0 "$attacker" 2>/dev/null || fail "$1 from $2: the attacker ended before the probes did: $(cat "$TMP/attack.out")"
  kill -TERM "$attacker"
  wait "$attacker" 2>/dev/null || true
  ok "$1 x$count from $2: every fresh /healthz 200 while held, slowest ${worst}s; control socket answers"
}

for kind in pipeline trickle longpoll slowloris idle mix; do
  attack "$kind" 127.0.0.2   # another host on the pod network
done
attack mix 127.0.0.1         # the prober's own address
attack mix 127.0.0.2 1500    # more than wsinit keeps (1024): newcomers push out the flood's stalest
attack mix 127.0.0.1 1500

# A 20 MB pipeline that is read as it is answered: linear, not quadratic, in the input.
python3 - "$hp" <<'PY' || fail "the 20 MB pipeline"
import socket, sys, threading, time
port = int(sys.argv[1])
request = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
count = 20 * 1024 * 1024 // len(request)
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(30)
start = time.monotonic()
threading.Thread(target=lambda: s.sendall(request * count), daemon=True).start()
got, tail = 0, b""
answer = b"HTTP/1.1 200 OK\r\n"
while got < count and time.monotonic() - start < 60:
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    data = tail + chunk
    got += data.count(answer)
    tail = data[-(len(answer) - 1):]
took = time.monotonic() - start
print(f"{count} pipelined requests answered: {got} in {took:.1f}s")
assert got == count, f"only {got} of {count} answered"
assert took < 30, f"took {took:.1f}s"
PY
ok "a 20 MB pipeline that is read is answered in full, in linear time"

# The bound holds for the release build, through every attack and the pipeline above; an ASan
# build's quarantine keeps freed memory by design.
peak=$(awk '/VmHWM/ {print $2}' "/proc/$WS_PID/status")
if is_asan_build; then
  ok "wsinit's peak RSS through every attack: ${peak} kB (ASan build: not held to the 32 MiB bound)"
else
  [ "$peak" -lt 32768 ] || fail "wsinit's peak RSS was ${peak} kB under attack (limit 32 MiB)"
  ok "wsinit's peak RSS through every attack: ${peak} kB"
fi

