# workspace.poststart: observe follows a logs folder the workspace user writes to. What is put
# there must never hold up PID 1: a log that never ends (a 100 GB sparse file) is read slice by
# slice while status still answers at once; a component folder that is a link to a folder
# elsewhere never gets the links to the editor's and sshd's logs wsinit makes (as root here).
source "$(dirname "$0")/lib.sh"

plain_config "$TMP/c.yaml" <<'YAML'
workspace: {poststart: observe}
services:
  - {name: s, shell: "exec sleep 600"}
YAML
mkdir -p "$TMP/elsewhere"
ln -s "$TMP/elsewhere" "$TMP/logs/tooling"
echo "$(date -Iseconds): Running internal blocking poststart commands script..." >"$TMP/elsewhere/poststart-stdout.log"
start_pid1 --config "$TMP/c.yaml"
wait_status '.state == "ready"' 10
sleep 1
[ ! -e "$TMP/elsewhere/start-vscode.log" ] && [ ! -L "$TMP/elsewhere/start-vscode.log" ] ||
  fail "wsinit made a link in $TMP/elsewhere, through the logs folder's link tooling"
ok "a component folder that is a link: nothing written through it"
truncate -s 100G "$TMP/logs/poststart-stdout.log"
sleep 1
for i in 1 2 3; do
  timeout 5 "$WSINIT" status --json >/dev/null || fail "status does not answer while a 100 GB log is read"
done
kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
ok "a 100 GB postStart log: status answers, SIGTERM exits"
