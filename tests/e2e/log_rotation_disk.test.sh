# Log rotation never holds PID 1's loop on the disk. Freeing a rotated-out file's blocks can wait
# on the device (ext4 mounted with `discard` discards synchronously; a rename over an existing
# file flushes the renamed one first): seconds on a busy disk, while the health port, reaping
# and the control socket wait. Here wsinit runs in a cgroup v1 blkio group whose writes to the
# logs' disk are throttled to 2 a second, and a service floods a log of 4 KiB files: `wsinit
# status` answers within 2 s each time (before, it waited over 10 s on discards and on the
# status file's fsync), and once the throttle is lifted the logs directory holds
# max_files files and wsinit no descriptor of a removed one.
# The cgroup is made below the test's own and removed, its processes stopped by pid, on every exit.
source "$(dirname "$0")/lib.sh"

skip() {
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" = 0 ] || skip "making a cgroup needs root"

trap 'cleanup; remove_cgroup' EXIT

own=$(awk -F: '("," $2 ",") ~ /,blkio,/ { print $3; exit }' /proc/self/cgroup)
[ -n "$own" ] || skip "no cgroup v1 blkio controller"
parent=$(cgroup_dir cgroup "$own" blkio)
[ -n "$parent" ] && [ -f "$parent/blkio.throttle.write_iops_device" ] || skip "the v1 blkio hierarchy of $own is not mounted here"
device=$(findmnt -no MAJ:MIN -T "$TMP" | tr -d ' ')
[ -n "$device" ] || skip "no device under $TMP"
CG="$parent/wsinit-rotation-test-$$-$RANDOM"
mkdir "$CG" || skip "cannot make a cgroup in $parent"
echo "$device 2" >"$CG/blkio.throttle.write_iops_device" 2>/dev/null || skip "cannot throttle device $device (not a whole disk?)"

plain_config "$TMP/config.yaml" <<YAML
log: {max_size: 4KiB, max_files: 3}
services:
  - name: flood
    shell: "while [ ! -e $TMP/flood.go ]; do sleep 0.1; done; while [ ! -e $TMP/flood.stop ]; do seq 1 1000; sleep 0.02; done; exec sleep 300"
YAML
(echo "$BASHPID" >"$CG/cgroup.procs" && exec "$WSINIT" --config "$TMP/config.yaml") >"$TMP/out" 2>"$TMP/err" &
WS_PID=$!
STARTED+=("$WS_PID")
wait_until "status_json >/dev/null 2>&1" 10
grep -qx "$WS_PID" "$CG/cgroup.procs" || fail "wsinit is not in the throttled cgroup"

touch "$TMP/flood.go"
sleep 1
slowest=0
for i in $(seq 1 10); do
  start=$(date +%s%N)
  timeout 10 "$WSINIT" status >/dev/null || fail "wsinit status failed or took over 10 s while the log rotated (try $i)"
  elapsed=$((($(date +%s%N) - start) / 1000000))
  [ "$elapsed" -gt "$slowest" ] && slowest=$elapsed
  sleep 0.3
done
rotated=$(ls "$TMP/logs")
[ "$slowest" -le 2000 ] || fail "wsinit status took ${slowest} ms while the log rotated on a throttled disk"
touch "$TMP/flood.stop"
ok "wsinit status answered within ${slowest} ms each time while a flood rotated its log on a disk throttled to 2 writes/s"

echo "$device 0" >"$CG/blkio.throttle.write_iops_device"
wait_until "[ \$(ls -l /proc/$WS_PID/fd | grep -c '(deleted)') -eq 0 ]" 20
expect_eq "$(ls "$TMP/logs" | tr '\n' ' ')" "flood.log flood.log.1 flood.log.2 wsinit-status.json " "files in the logs directory"
kill -0 "$WS_PID" || fail "wsinit is gone"
ok "once the disk kept up: three log files and no descriptor of a removed one (during the flood: $(echo $rotated))"
