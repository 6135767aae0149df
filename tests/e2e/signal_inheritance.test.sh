# tini mode hands CMD the signal mask and ignored signals wsinit was started with, as tini does
# (its own test: INT, TTOU and SEGV ignored, TTIN, ILL and TERM blocked); services start from
# defaults. With TERM blocked in CMD, a forwarded SIGTERM waits until CMD unblocks it, and the
# grace period still ends a CMD that never does.
source "$(dirname "$0")/lib.sh"
# On a sanitizer build, ASan's runtime puts its own handler over an inherited SIG_IGN for SEGV
# (BUS, FPE) when wsinit starts: here it must leave them as wsinit was given them.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0:handle_sigbus=0:handle_sigfpe=0"

# The SigBlk / SigIgn value /proc/PID/status shows for these signals.
proc_field() {
  local bits=0 sig
  for sig; do bits=$((bits | 1 << ($(kill -l "$sig") - 1))); done
  printf '%016x' "$bits"
}
BLOCKED=$(proc_field TTIN ILL TERM)
IGNORED=$(proc_field INT TTOU SEGV)
# Runs a command with exactly that state: every other signal unblocked and at its default.
INHERITED=(env --default-signal --ignore-signal=INT,TTOU,SEGV --block-signal=TTIN,ILL,TERM)
status_field() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null; }
term_pending() {
  local pending
  pending=$(status_field "$1" ShdPnd)
  [ -n "$pending" ] && (((0x$pending & 0x$(proc_field TERM)) != 0))
}

# CMD gets exactly that state, as PID 1 and as a subreaper.
for mode in pid1 subreaper; do
  if [ $mode = pid1 ]; then
    timeout 20 "${INHERITED[@]}" unshare --pid --fork --mount-proc --kill-child "$WSINIT" -- "$HELPERS/child-state" \
      >"$TMP/out" 2>"$TMP/err"
  else
    timeout 20 "${INHERITED[@]}" "$WSINIT" -- "$HELPERS/child-state" >"$TMP/out" 2>"$TMP/err"
  fi
  read -r _ mask _ ignored _ <"$TMP/out"
  expect_eq "$mask" "$BLOCKED" "$mode: CMD's blocked signals"
  expect_eq "$ignored" "$IGNORED" "$mode: CMD's ignored signals"
  ok "$mode: CMD is started with TTIN, ILL, TERM blocked and INT, TTOU, SEGV ignored, as wsinit was"
done

# Workspace mode: a service starts with nothing blocked or ignored, and SIGTERM still stops wsinit.
plain_config "$TMP/workspace.yaml" <<YAML
services:
  - {name: probe, command: ["$HELPERS/child-state"], oneshot: true, restart: never}
YAML
"${INHERITED[@]}" "$WSINIT" --config "$TMP/workspace.yaml" >"$TMP/out" 2>"$TMP/err" &
WS_PID=$! WS_WAIT_PID=$!
STARTED+=("$WS_PID")
wait_until "grep -q '^\[probe\] mask' $TMP/out"
expect_contains "$(cat "$TMP/out")" "[probe] mask 0000000000000000 ignored 0000000000000000 " "workspace mode: the service's signals"
kill -s TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "workspace mode: status after TERM"
ok "workspace mode: the service starts with defaults although wsinit was started with TERM blocked"

# tini mode with a service, as PID 1: CMD (sleep) has the inherited state, the service defaults.
# SIGTERM reaches CMD's group but stays pending there (CMD keeps TERM blocked), so the grace
# period ends it: status 128+9.
plain_config "$TMP/tini.yaml" <<YAML
shutdown: {grace: 2s}
services:
  - {name: probe, command: ["$HELPERS/child-state"], oneshot: true, restart: never}
YAML
"${INHERITED[@]}" unshare --pid --fork --mount-proc --kill-child "$WSINIT" --config "$TMP/tini.yaml" -- sleep 60 \
  >"$TMP/out" 2>"$TMP/err" &
adopt_namespace $!
wait_until "grep -q '^\[probe\] mask' $TMP/out"
expect_contains "$(cat "$TMP/out")" "[probe] mask 0000000000000000 ignored 0000000000000000 " "tini mode: the service's signals"
wait_until "pgrep -P $WS_PID -x sleep >/dev/null"
cmd=$(pgrep -P "$WS_PID" -x sleep)
expect_eq "$(status_field "$cmd" SigBlk)" "$BLOCKED" "tini mode: CMD's blocked signals"
expect_eq "$(status_field "$cmd" SigIgn)" "$IGNORED" "tini mode: CMD's ignored signals"
start=$(date +%s%N)
kill -s TERM "$WS_PID"
wait_until "term_pending $cmd" 2
wait_wsinit
took_ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "$WS_STATUS" 137 "tini mode: CMD keeping TERM blocked is killed at the end of the grace"
[ "$took_ms" -ge 1800 ] && [ "$took_ms" -lt 6000 ] || fail "grace took ${took_ms}ms, expected about 2s"
ok "tini mode: service with defaults, CMD with the inherited state; TERM pending in CMD, KILL after the grace (${took_ms}ms, 137)"

# A CMD that unblocks TERM once it is pending dies of it: wsinit exits 128+15, as under tini.
cat >"$TMP/unblock.py" <<'PY'
import signal, sys, time
if signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, []):
    sys.exit(5)  # CMD did not inherit the blocked TERM: this part would prove nothing
open(sys.argv[1], "w").close()
for _ in range(1000):
    if signal.SIGTERM in signal.sigpending():
        break
    time.sleep(0.01)
else:
    sys.exit(3)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
sys.exit(4)
PY
printf 'version: 1\nshutdown: {grace: 20s}\n' >"$TMP/grace.yaml"
"${INHERITED[@]}" "$WSINIT" --config "$TMP/grace.yaml" -- python3 "$TMP/unblock.py" "$TMP/ready" >"$TMP/out" 2>"$TMP/err" &
WS_PID=$! WS_WAIT_PID=$!
STARTED+=("$WS_PID")
wait_until "[ -e $TMP/ready ]"
kill -s TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 143 "a CMD that unblocks the forwarded TERM"
ok "the forwarded TERM is delivered once CMD unblocks it: status 143"

# Started with SIGCHLD ignored (the kernel would then reap wsinit's children unseen), wsinit still
# sees CMD exit and passes its status on; CMD gets SIGCHLD ignored, as it was asked.
for mode in pid1 subreaper; do
  launch=(timeout -k 1 10)
  # (unshare --fork gives its child SIGCHLD at the default again, so env comes after it.)
  [ $mode = pid1 ] && launch+=(unshare --pid --fork --mount-proc --kill-child)
  launch+=(env --default-signal --ignore-signal=CHLD)
  status=0
  "${launch[@]}" "$WSINIT" -- sh -c 'exit 3' 2>"$TMP/err" || status=$?
  expect_eq "$status" 3 "$mode: CMD's status when wsinit was started with SIGCHLD ignored"
  "${launch[@]}" "$WSINIT" -- "$HELPERS/child-state" >"$TMP/out" 2>"$TMP/err"
  read -r _ mask _ ignored _ <"$TMP/out"
  expect_eq "$ignored" "$(proc_field CHLD)" "$mode: CMD's ignored signals"
  ok "$mode: started with SIGCHLD ignored, wsinit sees CMD exit (status 3); CMD has SIGCHLD ignored"
done
