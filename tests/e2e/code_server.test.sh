# The real code-server as the editor (editor.kind: code-server) under wsinit as PID 1, run by
# uid 1000770000 gid 0: it becomes ready through wsinit's HTTP probe and answers on its port.
# scripts/test installs code-server (scripts/install-code-server).
source "$(dirname "$0")/lib.sh"

code_server=${CODE_SERVER:-/opt/code-server/node_modules/.bin/code-server}
[ -x "$code_server" ] || fail "code-server is not installed at $code_server (run scripts/install-code-server)"

setup_workspace_user
ws="$TMP/ws"
export WSINIT_SOCKET="$ws/run/wsinit.sock"
mkdir -p "$ws/project"
chmod 0777 "$ws/project"
echo 'print("hello")' >"$ws/project/hello.py"
port=$(free_port)
workspace_config "$TMP/config.yaml" <<YAML
sshd: {enabled: false}
editor: {kind: code-server, port: $port}
health: {listen: ""}
shutdown: {grace: 10s}
YAML

WS_ENV="PATH=$(dirname "$code_server"):/usr/local/bin:/usr/bin:/bin PROJECT_SOURCE=$ws/project"
start_as_workspace_user --config "$TMP/config.yaml"
wait_status '.services[] | select(.name == "editor") | .state == "ready"' 60
status=$(curl -s -o "$TMP/page" -w '%{http_code}' "http://127.0.0.1:$port/")
case $status in 200 | 302) ;; *) fail "code-server answered $status" ;; esac
curl -sL "http://127.0.0.1:$port/" | grep -qi "code" || fail "code-server's page does not look like the editor"
expect_eq "$(status_json | jq -r .state)" ready "workspace state"
editor_uid=$(awk '/^Uid:/ {print $2}' "/proc/$(host_pid_of "$(service_field editor .pid)")/status")
expect_eq "$editor_uid" "$WS_UID" "code-server's uid"
[ -s "$ws/logs/start-vscode.log" ] || fail "no start-vscode.log"
ok "real code-server: ready through wsinit's probe, answers HTTP $status on its port, runs as uid $WS_UID"

kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
ok "SIGTERM: code-server stopped, exit 0"
