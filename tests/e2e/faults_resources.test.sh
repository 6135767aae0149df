# Fault injection: resources run out. A full logs directory (a 64 KiB tmpfs) keeps wsinit and
# its services running, the lines the files could not take counted; fork failing under
# RLIMIT_NPROC leaves wsinit up and retrying until processes may be made again; a hundred
# processes SIGKILLed at once are all reaped, none left a zombie.
source "$(dirname "$0")/lib.sh"

# --- logs directory full ---
plain_config "$TMP/config.yaml" <<'YAML'
services:
  - {name: chatty, shell: 'i=0; while :; do i=$((i+1)); echo "line $i of a service that talks a lot"; done'}
  - {name: steady, shell: 'exec sleep 60', required: true}
YAML
unshare --mount --pid --fork --mount-proc --kill-child sh -c "
  mount -t tmpfs -o size=64k tmpfs $TMP/logs && exec $WSINIT --config $TMP/config.yaml" >"$TMP/out" 2>"$TMP/err" &
adopt_namespace $!
wait_status '.services[] | select(.name == "chatty") | .log_file_dropped_lines > 1000' 20
sleep 1
expect_eq "$(service_field chatty .state) $(service_field chatty .restarts)" "running 0" "chatty, with the disk full"
expect_eq "$(service_field steady .state)" running "steady, with the disk full"
expect_eq "$(status_json | jq -r .state)" ready "workspace state"
grep -q "chatty: cannot write .*chatty.log: No space left on device" "$TMP/err" || fail "no word of the full disk"
before=$(wc -c <"$TMP/out")
sleep 0.5
[ "$(wc -c <"$TMP/out")" -gt "$before" ] || fail "stdout relaying stopped with the disk full"
lost=$(service_field chatty .log_file_dropped_lines)
kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
ok "logs dir full: services and relaying go on, $lost lines the file could not take counted, clean exit"

# --- fork fails: RLIMIT_NPROC 2 for the workspace user, one slot taken by another of its
# processes (raising a limit of another user's process needs CAP_SYS_RESOURCE, so the slot is
# freed instead). RLIMIT_NPROC counts every process of the uid on the machine, so this part
# uses a uid no other test runs as ---
WS_UID=1000770111
setup_workspace_user
export WSINIT_SOCKET="$TMP/ws/run/wsinit.sock"
workspace_config "$TMP/nproc.yaml" <<'YAML'
sshd: {enabled: false}
editor: {enabled: false}
health: {listen: ""}
services:
  - {name: worker, shell: 'exec sleep 60', backoff: {initial: 200ms, max: 400ms}}
YAML
setpriv --reuid="$WS_UID" --regid=0 --clear-groups sleep 300 &
blocker=$!
STARTED+=("$blocker")
WS_MOUNTS='prlimit --pid $$ --nproc=2:2 &&' start_as_workspace_user --config "$TMP/nproc.yaml"
wait_status '.services[] | select(.name == "worker") | .restarts >= 3' 10
expect_eq "$(service_field worker .last_exit)" "failed: fork: Resource temporarily unavailable" "worker's last exit"
expect_eq "$(service_field worker .state)" backoff "worker's state"
kill -0 "$WS_PID" || fail "wsinit died when fork failed"
kill -KILL "$blocker"
wait "$blocker" 2>/dev/null || true
wait_status '.services[] | select(.name == "worker") | .state == "running"' 5
kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
ok "fork failing under RLIMIT_NPROC: wsinit up, the service backing off with the reason, running once a slot came free"

# --- a hundred processes SIGKILLed at once ---
export WSINIT_SOCKET="$TMP/run/wsinit.sock"
plain_config "$TMP/family.yaml" <<'YAML'
services:
  - {name: family, shell: 'for i in $(seq 100); do sleep 60 & done; wait', backoff: {initial: 100ms}}
YAML
start_pid1 --config "$TMP/family.yaml"
wait_until "[ \$(tree_of $WS_PID | wc -l) -ge 102 ]" 10
victims=$(tree_of "$WS_PID" | grep -vx "$WS_PID")
kill -KILL $victims
wait_status '.services[] | select(.name == "family") | .restarts == 1' 10
zombies() { for p in $(tree_of "$WS_PID"); do awk '/^State:/ {print $2}' "/proc/$p/status" 2>/dev/null; done | grep -c Z || true; }
wait_until "[ \$(zombies) -eq 0 ]" 2
wait_until "[ \$(tree_of $WS_PID | wc -l) -ge 102 ]" 10  # the family is back, a hundred strong
kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
ok "101 processes SIGKILLed at once: all reaped, no zombie, the service restarted once"
