# sshd edge cases: the port already served by another sshd (GitLab's own postStart may start
# one), and password_less with an 'x' entry and an unreadable /etc/shadow.
source "$(dirname "$0")/lib.sh"

setup_workspace_user
ws="$TMP/ws"
export WSINIT_SOCKET="$ws/run/wsinit.sock"
port=$(free_port)
workspace_config "$TMP/config.yaml" <<YAML
sshd: {listen: ["127.0.0.1:$port"]}
editor: {enabled: false}
health: {listen: ""}
YAML

# Something that speaks SSH's banner is already on the port.
python3 -c "
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $port)); s.listen(8)
while True:
    c, _ = s.accept(); c.sendall(b'SSH-2.0-OpenSSH_other\r\n'); c.close()
" &
other=$!
STARTED+=("$other")
wait_until "(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null"
start_as_workspace_user --config "$TMP/config.yaml"
wait_status '[.services[] | select(.name == "sshd")][0] | .state == "external" and .ready' 15
sleep 1
expect_eq "$(service_field sshd .restarts)" 0 "no crash loop while the port is taken"
expect_eq "$(status_json | jq -r .state)" ready "workspace ready with the external sshd answering"
grep -q "sshd: port $port is already served by another process" "$TMP/err" || fail "no log line about the taken port"
ok "port already served: sshd shows 'external', probed and ready, no crash loop"

kill "$other"
wait "$other" 2>/dev/null || true
wait_status '[.services[] | select(.name == "sshd")][0] | .state == "ready" and .pid != null' 15
expect_contains "$(ssh-keyscan -p "$port" 127.0.0.1 2>/dev/null)" "ssh-ed25519" "our sshd answers"
ok "once the other one is gone, wsinit starts its own sshd on the port"
kill -TERM "$WS_PID"
wait_wsinit

# An image entry with 'x' and a shadow the user cannot read: the proxy's login cannot work.
cp /etc/passwd "$TMP/etc/passwd"
echo "gitlab-workspaces:x:$WS_UID:0::$ws/home:/bin/bash" >>"$TMP/etc/passwd"
out=$(WS_MOUNTS="" unshare --mount sh -c "mount --bind $TMP/etc/passwd /etc/passwd && mount --bind $TMP/etc/shadow /etc/shadow &&
  exec setpriv --reuid=$WS_UID --regid=0 --clear-groups $WSINIT check --config $TMP/config.yaml")
expect_contains "$out" "sshd.password_less cannot work: the passwd entry of gitlab-workspaces has 'x' as its password and /etc/shadow is not readable" "check"
start_as_workspace_user --config "$TMP/config.yaml"
wait_status '.state == "ready"' 15
expect_contains "$(status_json | jq -r '.sshd.warnings[]')" "sshd.password_less cannot work" "status"
kill -TERM "$WS_PID"
wait_wsinit
ok "password_less with an 'x' entry and an unreadable shadow: check and status say it cannot work"
