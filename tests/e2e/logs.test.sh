# The log relay: rotation, long lines split, partial lines flushed, a backgrounded grandchild
# holding the pipe loses nothing and stalls nothing, a slow stdout never blocks a service.
source "$(dirname "$0")/lib.sh"

plain_config "$TMP/config.yaml" <<YAML
log: {max_size: 4KiB, max_files: 3}
services:
  - name: chatty
    shell: "for i in \$(seq 1 400); do echo line-\$i-padding-padding; done; printf 'no newline at the end'"
    oneshot: true
    restart: never
  - name: long
    shell: "head -c 70000 /dev/zero | tr '\\\\0' x; echo"
    oneshot: true
    restart: never
  - name: parent
    shell: "(sleep 1; echo from-grandchild) & echo from-parent"
    oneshot: true
    restart: never
YAML
start_subreaper --config "$TMP/config.yaml"
wait_status 'all(.services[]; .state == "exited")'
ls "$TMP/logs/chatty.log" "$TMP/logs/chatty.log.1" "$TMP/logs/chatty.log.2" >/dev/null || fail "rotated files missing"
[ ! -e "$TMP/logs/chatty.log.3" ] || fail "more files than max_files"
for f in "$TMP"/logs/chatty.log*; do
  [ "$(stat -c %s "$f")" -le 4096 ] || fail "$f is larger than max_size"
done
tail -n1 "$TMP/logs/chatty.log" | grep -q "no newline at the end$" || fail "partial last line not flushed"
expect_eq "$(grep -c '^\[chatty\] line-' "$TMP/out")" 400 "all lines relayed to stdout"
ok "rotation at 4KiB keeps 3 files; a partial last line is flushed"

expect_eq "$(grep '^\[long\] ' "$TMP/out" | awk '{print length($2)}' | tr '\n' ' ')" "65536 4464 " "long line split at 64 KiB"
ok "a 70000-byte line is split at 64 KiB, nothing dropped"

wait_until "grep -q from-grandchild $TMP/logs/parent.log" 5
grep -q "^\[parent\] from-grandchild" "$TMP/out" || fail "grandchild line missing on stdout"
ok "a backgrounded grandchild keeps writing after its parent exited; its line arrives"
kill -TERM "$WS_PID"
wait_wsinit

# stdout is a pipe nobody reads: the service must still run at full speed.
plain_config "$TMP/fast.yaml" <<YAML
log: {max_size: 100MiB}
services:
  - name: fast
    shell: "seq 1 200000; touch $TMP/fast.done; exec sleep 300"
YAML
mkfifo "$TMP/stdout.fifo"
exec 9<>"$TMP/stdout.fifo"  # held open, never read
"$WSINIT" --config "$TMP/fast.yaml" >"$TMP/stdout.fifo" 2>"$TMP/err" &
WS_PID=$!
WS_WAIT_PID=$!
STARTED+=("$WS_PID")
wait_until "[ -e $TMP/fast.done ]" 10
wait_until "[ \$(wc -l <$TMP/logs/fast.log) -eq 200000 ]" 10
wait_status '.services[0].dropped_lines > 0'
dropped=$(service_field fast .dropped_lines)
ok "with a stuck stdout the service wrote 200000 lines unblocked; the log file has all; $dropped dropped from stdout and counted"
kill -TERM "$WS_PID"
wait_wsinit
exec 9<&-
expect_eq "$WS_STATUS" 0 "exit status with a stuck stdout"

# log.format: json: every line on stdout and stderr is a JSON object.
plain_config "$TMP/json.yaml" <<YAML
log: {format: json, level: info}
services:
  - {name: quoting, shell: "printf 'say \"hi\"\\\\tand\\\\\\\\more\\\\n'", oneshot: true, restart: never}
YAML
start_subreaper --config "$TMP/json.yaml"
wait_status '.services[0].state == "exited"'
kill -TERM "$WS_PID"
wait_wsinit
jq -e . "$TMP/out" >/dev/null || fail "stdout is not JSON lines"
jq -e . "$TMP/err" >/dev/null || fail "stderr is not JSON lines"
expect_eq "$(jq -r 'select(.service == "quoting") | .line' "$TMP/out")" $'say "hi"\tand\\more' "line round trip"
[ "$(jq -r 'select(.message | startswith("quoting: started")) | .source' "$TMP/err")" = wsinit ] || fail "wsinit's own line missing"
jq -e '.line' "$TMP/logs/quoting.log" >/dev/null || fail "log file is not JSON lines"
ok "log.format json: service lines and wsinit's own lines are JSON, quotes and tabs intact"
