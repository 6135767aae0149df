#!/usr/bin/env bash
# OOM protection and attribution in a real memory-limited cgroup. `oom.test.sh` uses cgroup v1's
# memory controller, `oom.test.sh v2` cgroup v2's (ctest: e2e.oom and e2e.oom_v2); a machine
# without that controller, or where this test cannot make a cgroup below its own, reports the
# case as skipped (exit 77), never as passed.
#
# The test makes a child cgroup of its own (a unique name under the cgroup it runs in), limits
# it to 96 MiB without swap, and starts wsinit in it (a subshell writes its pid to cgroup.procs,
# then execs wsinit). Three runs:
#   1. a keeper with oom_score_adj 0 (sshd's and the editor's default: wsinit's own) holding
#      53 MiB, and a hog (a user service: +500 by default) growing past the limit: the hog is
#      the one killed, shown as oom-killed in status and metrics; the keeper runs on, same pid;
#   2. the same with the hog at oom_score_adj 0: the keeper, bigger, is killed first, so it is
#      the +500 that saved it in run 1;
#   3. the hog as a child of a service's shell: a process deeper in the tree is killed; the
#      service is not oom-killed, the container's count rises and the log says what it was.
# Every process in the cgroup is stopped by pid, and the cgroup removed, on every exit path.
source "$(dirname "$0")/lib.sh"

VERSION=${1:-v1}
skip() {
  echo "SKIP (cgroup $VERSION): $*"
  exit 77
}
[ "$(id -u)" = 0 ] || skip "making a cgroup needs root"
LIMIT_MIB=96
LIMIT=$((LIMIT_MIB << 20))

swap_on() { [ "$(sed 1d /proc/swaps | wc -l)" -gt 0 ]; }

trap 'cleanup; remove_cgroup' EXIT

# Makes $CG: a fresh cgroup below ours, limited to LIMIT bytes of memory and no swap.
make_cgroup() {
  local own parent
  if [ "$VERSION" = v1 ]; then
    own=$(awk -F: '("," $2 ",") ~ /,memory,/ { print $3; exit }' /proc/self/cgroup)
    [ -n "$own" ] || skip "no cgroup v1 memory controller (/proc/self/cgroup has no memory line)"
    parent=$(cgroup_dir cgroup "$own" memory)
    [ -n "$parent" ] && [ -f "$parent/memory.oom_control" ] || skip "the v1 memory hierarchy of $own is not mounted here"
    CG="$parent/wsinit-oom-test-$$-$RANDOM"
    mkdir "$CG" || skip "cannot make a cgroup in $parent"
    echo "$LIMIT" >"$CG/memory.limit_in_bytes"
    if swap_on; then
      # Without a memory+swap limit the hog would swap instead of meeting the OOM killer.
      [ -f "$CG/memory.memsw.limit_in_bytes" ] || skip "swap is on and memory.memsw is not there (swapaccount=0)"
      echo "$LIMIT" >"$CG/memory.memsw.limit_in_bytes"
    fi
    grep -q '^oom_kill ' "$CG/memory.oom_control" || skip "memory.oom_control has no oom_kill counter (kernel before 4.13)"
  else
    own=$(awk -F: '$1 == "0" && $2 == "" { print $3; exit }' /proc/self/cgroup)
    [ -n "$own" ] || skip "no cgroup v2 line in /proc/self/cgroup"
    parent=$(cgroup_dir cgroup2 "$own")
    [ -n "$parent" ] || skip "the cgroup v2 hierarchy of $own is not mounted here"
    grep -qw memory "$parent/cgroup.controllers" 2>/dev/null || skip "no memory controller in $parent (it is cgroup v1's here)"
    if ! grep -qw memory "$parent/cgroup.subtree_control"; then
      echo +memory >"$parent/cgroup.subtree_control" 2>/dev/null ||
        skip "cannot enable the memory controller below $parent (processes live in it)"
    fi
    CG="$parent/wsinit-oom-test-$$-$RANDOM"
    mkdir "$CG" || skip "cannot make a cgroup in $parent"
    echo "$LIMIT" >"$CG/memory.max"
    if [ -f "$CG/memory.swap.max" ]; then echo 0 >"$CG/memory.swap.max"
    elif swap_on; then skip "swap is on and memory.swap.max is not there"
    fi
  fi
  echo "cgroup $VERSION: $CG, limit $LIMIT_MIB MiB, swap $(swap_on && echo limited || echo off)"
}

HOG=$HELPERS/memory-hog
PORT=$(free_port)

# Starts wsinit (a child subreaper) inside $CG with the services on stdin.
start_in_cgroup() {
  rm -rf "$TMP/logs" "$TMP/run" "$TMP/held" "$TMP/go"
  plain_config "$TMP/oom.yaml"
  echo "health: {listen: \"127.0.0.1:$PORT\"}" >>"$TMP/oom.yaml"
  (echo "$BASHPID" >"$CG/cgroup.procs" && exec "$WSINIT" --config "$TMP/oom.yaml") >"$TMP/out" 2>"$TMP/err" &
  WS_PID=$!
  WS_WAIT_PID=$!
  STARTED+=("$WS_PID")
  wait_until "status_json >/dev/null 2>&1" 10
}

stop_wsinit() {
  kill -TERM "$WS_PID"
  local i
  for ((i = 0; i < 150; i++)); do kill -0 "$WS_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$WS_PID" 2>/dev/null && fail "wsinit did not stop within 15 s of SIGTERM"
  wait_wsinit
}

metrics() { curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics"; }
field() { service_field "$1" "$2"; }

make_cgroup

# ---- 1: the keeper, at sshd's adj, holds more than the hog will when the limit is hit ----
keeper_mib=$((LIMIT_MIB * 55 / 100))
# The hog waits for the test's word (at most 30 s), then grows in the same process (exec).
hog_after_go="for i in \$(seq 600); do [ -e $TMP/go ] && break; sleep 0.05; done; exec $HOG 4 - grow"
start_in_cgroup <<EOF
services:
  - name: keeper
    command: [$HOG, "$keeper_mib", "$TMP/held"]
    oom_score_adj: 0
    restart: never
    ready: {exec: [test, -e, "$TMP/held"], interval: 50ms}
  - name: hog
    shell: "$hog_after_go"
    after: [keeper]
    restart: never
EOF
expect_eq "$(status_json | jq -r .resources.cgroup)" "$VERSION" "the cgroup wsinit found"
expect_eq "$(status_json | jq -r .resources.memory_limit_bytes)" "$LIMIT" "resources.memory_limit_bytes"
wait_status '.services[] | select(.name == "keeper") | .state == "ready"' 20
keeper_pid=$(field keeper .pid)
expect_eq "$(cat /proc/$keeper_pid/oom_score_adj)" 0 "the keeper's own /proc oom_score_adj"
expect_eq "$(field keeper .oom_score_adj)" 0 "the keeper's oom_score_adj in status"
expect_eq "$(field hog .oom_score_adj)" 500 "the hog's oom_score_adj in status (a user service's default)"
wait_status '.services[] | select(.name == "hog") | .pid != null' 10
expect_eq "$(cat /proc/$(field hog .pid)/oom_score_adj)" 500 "the hog's own /proc oom_score_adj"
touch "$TMP/go"
wait_status '.services[] | select(.name == "hog") | .state == "failed"' 30
expect_eq "$(field hog .last_exit)" "oom-killed" "the hog's last_exit"
expect_eq "$(field hog .oom_kills)" 1 "the hog's oom_kills"
expect_eq "$(field keeper .state)" "ready" "the keeper's state after the hog's kill"
expect_eq "$(field keeper .pid)" "$keeper_pid" "the keeper's pid after the hog's kill"
expect_eq "$(field keeper .oom_kills)" 0 "the keeper's oom_kills"
expect_eq "$(status_json | jq -r .resources.oom_kills)" 1 "resources.oom_kills"
m=$(metrics)
expect_contains "$m" 'wsinit_service_oom_kills_total{service="hog"} 1' "/metrics"
expect_contains "$m" 'wsinit_service_oom_kills_total{service="keeper"} 0' "/metrics"
expect_contains "$m" 'wsinit_service_last_exit_code{service="hog"} 137' "/metrics"
expect_contains "$m" "wsinit_memory_limit_bytes $LIMIT" "/metrics"
expect_contains "$m" "wsinit_oom_kills_total 1" "/metrics"
expect_contains "$(cat "$TMP/err")" "service hog was killed by the kernel for memory (limit $LIMIT_MIB MiB" "the log"
# The keeper's tree, sampled (every 5 s): its resident memory, at least what it holds.
wait_status ".services[] | select(.name == \"keeper\") | .memory_bytes >= $((keeper_mib << 20))" 12
expect_eq "$(metrics | grep -c '^wsinit_service_memory_bytes{service="keeper"} ')" 1 "the keeper's memory in /metrics"
stop_wsinit
ok "run 1 ($VERSION): the hog (+500) was OOM-killed and shown as such; the keeper (0, bigger) ran on with pid $keeper_pid"

# ---- 2: without the hog's +500, the bigger keeper is the kernel's choice ----
start_in_cgroup <<EOF
services:
  - name: keeper
    command: [$HOG, "$keeper_mib", "$TMP/held"]
    oom_score_adj: 0
    restart: never
    ready: {exec: [test, -e, "$TMP/held"], interval: 50ms}
  - name: hog
    shell: "$hog_after_go"
    oom_score_adj: 0
    after: [keeper]
    restart: never
EOF
wait_status '.services[] | select(.name == "hog") | .pid != null' 10
touch "$TMP/go"
wait_status '.services[] | select(.name == "keeper") | .last_exit == "oom-killed"' 30
expect_eq "$(field keeper .oom_kills)" 1 "the keeper's oom_kills without the hog's protection"
keeper_line=$(line_of "$TMP/err" "service keeper was killed by the kernel for memory")
hog_line=$(line_of "$TMP/err" "service hog was killed by the kernel for memory")
[ "$keeper_line" -gt 0 ] || fail "no log line for the keeper's kill"
[ "$hog_line" = 0 ] || [ "$hog_line" -gt "$keeper_line" ] || fail "the hog was killed before the keeper (lines $hog_line, $keeper_line)"
stop_wsinit
ok "run 2 ($VERSION): with the hog at oom_score_adj 0 the keeper was killed first: the +500 is what saved it"

# ---- 3: a process deeper in a service's tree ----
start_in_cgroup <<EOF
services:
  - name: deep
    shell: "$HOG 4 - grow; exec sleep 60"
    restart: never
EOF
wait_status '.resources.oom_kills == 1' 30
wait_until "grep -q 'a process in the container was killed by the kernel for memory' '$TMP/err'" 10
expect_eq "$(field deep .state)" "running" "the service whose child was killed"
expect_eq "$(field deep .oom_kills)" 0 "the service's own oom_kills"
expect_eq "$(field deep .last_exit)" "null" "the service's last_exit"
expect_contains "$(metrics)" "wsinit_oom_kills_total 1" "/metrics"
stop_wsinit
ok "run 3 ($VERSION): a process below a service's own, OOM-killed, is counted for the container and logged as what it was"
