# Every catchable signal but CHLD and the job-control stops reaches CMD, whoever sends it.
source "$(dirname "$0")/lib.sh"

forwarded="HUP INT QUIT USR1 USR2 PIPE ALRM STKFLT CONT WINCH URG XCPU XFSZ VTALRM PROF IO PWR"
for n in $(seq "$(kill -l RTMIN)" "$(kill -l RTMAX)"); do forwarded+=" $n"; done
# SIGINT must not end the test early: a config with a long grace keeps wsinit waiting for CMD.
cat >"$TMP/config.yaml" <<'YAML'
version: 1
shutdown: {grace: 20s}
YAML

for mode in pid1 subreaper; do
  rm -f "$TMP/ready"
  "start_$mode" --config "$TMP/config.yaml" -- "$HELPERS/signal-recorder" "$TMP/ready"
  wait_until "[ -e $TMP/ready ]"
  expected=""
  for sig in $forwarded; do
    kill -s "$sig" "$WS_PID" 2>/dev/null || kill "-$sig" "$WS_PID"
    num=$( [[ $sig =~ ^[0-9]+$ ]] && echo "$sig" || kill -l "$sig")
    expected+="$num"$'\n'
    # one at a time, so none is merged with an identical one still pending
    wait_until "grep -qx $num $TMP/out" 5
  done
  # Job-control stops are not forwarded (they would stop CMD behind the user's back).
  for sig in TSTP TTIN TTOU; do kill -s "$sig" "$WS_PID"; done
  kill -s TERM "$WS_PID"
  wait_wsinit
  expect_eq "$WS_STATUS" 0 "$mode: status after TERM"
  got=$(sort -n "$TMP/out")
  want=$(printf '%s15\n' "$expected" | sort -n)
  expect_eq "$got" "$want" "$mode: signals received by CMD"
  ok "$mode: all $(echo "$want" | wc -l) forwarded signals reached CMD, TSTP TTIN TTOU did not"
done

# Sent from inside the namespace to PID 1 (kill 1 in a container shell): still forwarded.
rm -f "$TMP/ready"
start_pid1 --config "$TMP/config.yaml" -- "$HELPERS/signal-recorder" "$TMP/ready"
wait_until "[ -e $TMP/ready ]"
nsenter --target "$WS_PID" --pid --mount -- kill -USR1 1
wait_until "grep -qx 10 $TMP/out" 5
kill -s TERM "$WS_PID"
wait_wsinit
ok "a signal sent to PID 1 from inside the namespace reaches CMD's group"

# The signal goes to CMD's whole process group: a child of CMD sees it too.
start_subreaper --config "$TMP/config.yaml" -- sh -c \
  "trap 'echo parent-got-usr1' USR1; (trap 'echo child-got-usr1; exit 0' USR1; while :; do sleep 0.05; done) & echo started; wait; wait"
wait_until "grep -q started $TMP/out"
sleep 0.2
kill -s USR1 "$WS_PID"
wait_wsinit  # both handle USR1; the child then exits, and with it the parent
expect_contains "$(cat "$TMP/out")" "parent-got-usr1" "CMD got the signal"
expect_contains "$(cat "$TMP/out")" "child-got-usr1" "CMD's child got the signal"
ok "forwarded signals reach CMD's whole process group"

# A CMD that ignores TERM is killed when the grace period ends: status 128+9.
cat >"$TMP/short.yaml" <<'YAML'
version: 1
shutdown: {grace: 1s}
YAML
start_pid1 --config "$TMP/short.yaml" -- sh -c "trap '' TERM; echo up; while :; do sleep 0.05; done"
wait_until "grep -q up $TMP/out"
start=$(date +%s%N)
kill -s TERM "$WS_PID"
wait_wsinit
took_ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "$WS_STATUS" 137 "TERM-ignoring CMD killed"
[ "$took_ms" -ge 900 ] && [ "$took_ms" -lt 5000 ] || fail "grace took ${took_ms}ms, expected about 1s"
ok "a CMD ignoring TERM gets KILL after the 1s grace (${took_ms}ms, status 137)"
