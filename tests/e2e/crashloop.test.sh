# A crash-looping service is restarted on the backoff schedule and never spins the CPU; a
# missing binary is reported and backed off without taking wsinit down.
source "$(dirname "$0")/lib.sh"

plain_config "$TMP/config.yaml" <<YAML
services:
  - {name: crash, shell: "echo spawned; exit 3", backoff: {initial: 100ms, max: 400ms}}
  - {name: ghost, command: [no-such-binary-anywhere], backoff: {initial: 200ms, max: 200ms}}
YAML
start_subreaper --config "$TMP/config.yaml"
wait_until "[ -s $TMP/logs/crash.log ]"
t0=$(date +%s%N)
cpu0=$(awk '{print $14 + $15}' /proc/$WS_PID/stat)
sleep 3
spawns=$(grep -c spawned "$TMP/logs/crash.log")
cpu1=$(awk '{print $14 + $15}' /proc/$WS_PID/stat)
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
# Delays 100, 200, 400, 400 ms ... less up to 20% jitter: in 3 s that is at least 8 and at
# most 13 spawns (the first one is counted too).
[ "$spawns" -ge 7 ] && [ "$spawns" -le 14 ] || fail "$spawns spawns in ${elapsed_ms}ms; the schedule allows 8 to 13"
cpu_ms=$(((cpu1 - cpu0) * 1000 / $(getconf CLK_TCK)))
[ "$cpu_ms" -lt 300 ] || fail "wsinit used ${cpu_ms}ms of CPU in 3s of crash loop"
ok "crash loop: $spawns spawns in ${elapsed_ms}ms (schedule: 8 to 13), wsinit CPU ${cpu_ms}ms"

expect_eq "$(service_field ghost .last_exit)" "failed: exec: No such file or directory" "missing binary in status"
expect_contains "$(service_field ghost .state)" "backoff" "missing binary backs off"
[ "$(service_field ghost .restarts)" -ge 3 ] || fail "missing binary was not retried"
grep -q "ghost: cannot run 'no-such-binary-anywhere': exec: No such file or directory" "$TMP/err" || fail "no error line for the missing binary"
kill -0 "$WS_PID" || fail "wsinit died"
ok "missing binary: 'failed: exec: No such file or directory', backing off, wsinit alive"

kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
