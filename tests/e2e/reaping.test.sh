# Orphans released at once are all reaped, as PID 1 and as a child subreaper, and
# nothing outlives wsinit.
source "$(dirname "$0")/lib.sh"

for mode in pid1 subreaper; do
  "start_$mode" -- "$HELPERS/orphan-storm" 1000
  wait_wsinit
  expect_eq "$WS_STATUS" 0 "$mode: orphan-storm status"
  expect_contains "$(cat "$TMP/out")" "reaped 1000 orphans" "$mode: all 1000 orphans reaped"
  ok "$mode: 1000 orphans released at once were all reaped"
done

# A daemon that ignores SIGTERM and left its session: killed when the grace ends, in both modes.
cat >"$TMP/grace.yaml" <<'YAML'
version: 1
shutdown: {grace: 1s}
YAML
for mode in pid1 subreaper; do
  rm -f "$TMP/daemon.pid"
  "start_$mode" --config "$TMP/grace.yaml" -- sh -c \
    "setsid sh -c 'trap \"\" TERM; echo \$\$ >$TMP/daemon.pid; while :; do sleep 0.1; done' &
     while [ ! -s $TMP/daemon.pid ]; do sleep 0.02; done; exit 0"
  wait_until "[ -s $TMP/daemon.pid ]"
  start=$(date +%s%N)
  wait_wsinit
  took_ms=$((($(date +%s%N) - start) / 1000000))
  expect_eq "$WS_STATUS" 0 "$mode: exit status is the main command's"
  daemon=$(cat "$TMP/daemon.pid")
  if [ "$mode" = subreaper ]; then
    [ ! -e "/proc/$daemon" ] || fail "$mode: daemon pid $daemon survived wsinit"
  fi
  [ "$took_ms" -ge 900 ] && [ "$took_ms" -lt 5000 ] || fail "$mode: shutdown took ${took_ms}ms, expected about the 1s grace"
  ok "$mode: a TERM-ignoring daemon was killed at the end of the grace period (${took_ms}ms) and did not survive"
done

# Processes that honour TERM end the shutdown early, without waiting for the grace period.
start_subreaper -- sh -c "sleep 100 & sleep 100 & exit 0"
start=$(date +%s%N)
wait_wsinit
took_ms=$((($(date +%s%N) - start) / 1000000))
[ "$took_ms" -lt 2000 ] || fail "shutdown with cooperative processes took ${took_ms}ms"
ok "cooperative leftovers end the shutdown at once (${took_ms}ms)"
