# workspace.poststart: observe follows a logs folder the workspace user writes to. What is put
# there must never hold up PID 1: a log that never ends (a 100 GB sparse file) is read slice by
# slice while status still answers at once.
source "$(dirname "$0")/lib.sh"

plain_config "$TMP/c.yaml" <<'YAML'
workspace: {poststart: observe}
services:
  - {name: s, shell: "exec sleep 600"}
YAML
start_pid1 --config "$TMP/c.yaml"
wait_status '.state == "ready"' 10
truncate -s 100G "$TMP/logs/poststart-stdout.log"
sleep 1
for i in 1 2 3; do
  timeout 5 "$WSINIT" status --json >/dev/null || fail "status does not answer while a 100 GB log is read"
done
kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
ok "a 100 GB postStart log: status answers, SIGTERM exits"
