# One end-to-end scenario under valgrind memcheck, on a dynamically linked, unsanitized build
# (valgrind cannot follow a static glibc): services that start, crash-loop and get probed over
# HTTP, health requests, control requests, a reload, a readiness long poll, then SIGTERM.
# memcheck must report zero errors and no definite leak.
source "$(dirname "$0")/lib.sh"
command -v valgrind >/dev/null || fail "valgrind is not installed (scripts/install-deps installs it)"

source_dir="$(dirname "$0")/../.."
build="${VALGRIND_BUILD:?VALGRIND_BUILD must name a build directory}"
cmake -S "$source_dir" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWSINIT_STATIC=OFF -DWSINIT_TESTS=OFF >/dev/null
cmake --build "$build" --target wsinit -j "$(nproc)" >/dev/null
binary="$build/wsinit"

health=$(free_port)
web=$(free_port)
plain_config "$TMP/config.yaml" <<YAML
health: {listen: "127.0.0.1:$health"}
services:
  - {name: web, shell: "exec python3 -m http.server $web --bind 127.0.0.1", ready: {http: "http://127.0.0.1:$web/"}, required: true}
  - {name: flaky, shell: "echo a line; exit 3", backoff: {initial: 100ms, max: 200ms}}
  - {name: setup, shell: "echo done", oneshot: true, restart: never}
YAML
valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --log-file="$TMP/valgrind.log" \
  "$binary" --config "$TMP/config.yaml" >"$TMP/out" 2>"$TMP/err" &
WS_PID=$!
WS_WAIT_PID=$!
STARTED+=("$WS_PID")
wait_until "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$health/readyz)\" = 200 ]" 60
for path in /healthz /status /metrics '/status?wait=ready&timeout=1s' /nope; do
  curl -s -o /dev/null "http://127.0.0.1:$health$path"
done
"$WSINIT" status --json >/dev/null
"$WSINIT" restart web >/dev/null
"$WSINIT" status nonsense >/dev/null 2>&1 || true
echo '  - {name: added, shell: "exec sleep 30"}' >>"$TMP/config.yaml"
kill -HUP "$WS_PID"
wait_status '.services[] | select(.name == "added") | .state == "running"' 20
wait_status '.services[] | select(.name == "flaky") | .restarts >= 3' 20
kill -TERM "$WS_PID"
wait_wsinit
[ -s "$TMP/valgrind.log" ] && cat "$TMP/valgrind.log" >&2
expect_eq "$WS_STATUS" 0 "wsinit's exit status under valgrind (99: memcheck found errors)"
ok "valgrind memcheck: zero errors, no definite leak, across start, restarts, HTTP, control, reload and shutdown"
