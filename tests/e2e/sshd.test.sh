# Real OpenSSH sshd under wsinit as PID 1, run by the workspace user (uid 1000770000, gid 0)
# with no passwd entry in the image: key and empty-password logins, the workspace environment
# in sessions, host keys kept across restarts, allow_from, recovery after kill -9.
source "$(dirname "$0")/lib.sh"

setup_workspace_user
ws="$TMP/ws"
export WSINIT_SOCKET="$ws/run/wsinit.sock"
port=$(free_port)
ssh-keygen -q -t ed25519 -N '' -f "$TMP/client_key"
WS_ENV="GIT_CONFIG_COUNT=3 'MY_VARIABLE=hello world' PATH=/opt/custom/bin:/usr/local/bin:/usr/bin:/bin"

write_config() {  # extra sshd settings
  workspace_config "$TMP/config.yaml" <<YAML
sshd:
  listen: ["127.0.0.1:$port"]
  authorized_keys: ["$(cat "$TMP/client_key.pub")"]
  $1
editor: {enabled: false}
health: {listen: ""}
shutdown: {grace: 5s}
YAML
  # The session environment as wsinit hands it on, not as this machine's login profile changes
  # it (user.login_env: tests/e2e/login_env.test.sh).
  sed -i 's|^user: {home: \(.*\)}$|user: {home: \1, login_env: false}|' "$TMP/config.yaml"
}

ssh_ws() {  # ssh options... -- command
  ssh -F /dev/null -p "$port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=5 -o LogLevel=ERROR "$@"
}
key_login() { ssh_ws -i "$TMP/client_key" gitlab-workspaces@127.0.0.1 "$@"; }
empty_password_login() {
  ssh_ws -o PubkeyAuthentication=no -o IdentitiesOnly=yes gitlab-workspaces@127.0.0.1 "$@"
}
start_ws() {
  start_as_workspace_user --config "$TMP/config.yaml"
  wait_status '.state == "ready"' 20
}
stop_ws() {
  kill -TERM "$WS_PID"
  wait_wsinit
  expect_eq "$WS_STATUS" 0 "wsinit exit status"
}

write_config ""
start_ws
out=$(key_login 'echo "$GIT_CONFIG_COUNT|$MY_VARIABLE|$PATH|$(whoami)|$HOME"')
expect_eq "$out" "3|hello world|/opt/custom/bin:/usr/local/bin:/usr/bin:/bin|gitlab-workspaces|$ws/home" "session environment"
ok "key login runs a command that sees GIT_CONFIG_COUNT, a user variable and wsinit's PATH"

expect_eq "$(empty_password_login whoami)" gitlab-workspaces "empty-password login"
grep -q "Accepted none for gitlab-workspaces" "$ws/logs/start-sshd.log" || fail "start-sshd.log does not show the empty-password login"
expect_eq "$(stat -c %a "$TMP/etc/shadow")" 640 "shadow mode untouched"
ok "empty-password login (the GitLab proxy's) works with /etc/shadow root:shadow 0640"

expect_eq "$(stat -c '%a %u' "$ws/data/ssh")" "700 $WS_UID" "host key directory"
for f in "$ws"/data/ssh/ssh_host_*_key; do
  expect_eq "$(stat -c '%a %u' "$f")" "600 $WS_UID" "mode of $f"
done
fingerprints() { ssh-keyscan -p "$port" 127.0.0.1 2>/dev/null | ssh-keygen -lf - | awk '{print $2}' | sort; }
before=$(fingerprints)
expect_eq "$(echo "$before" | wc -l)" 2 "host keys offered (ed25519, ecdsa)"
expect_eq "$(status_json | jq -r '.sshd.host_keys[].fingerprint' | sort)" "$before" "fingerprints in status"
ok "host keys 0600 in a 0700 dir owned by the user; status shows the fingerprints sshd offers"

# kill -9 sshd while a session runs: sshd comes back, logins work, the orphans are reaped.
key_login 'sleep 2' &
session=$!
sleep 0.5
sshd_pid=$(service_field sshd .pid)
nsenter -t "$WS_PID" -p -m kill -9 "$sshd_pid"
wait_status '[.services[] | select(.name == "sshd")][0] | .restarts == 1 and .state == "ready"' 15
expect_eq "$(key_login echo again)" again "login after sshd was killed"
wait "$session" || true
sleep 0.5
zombies=$(nsenter -t "$WS_PID" -p -m ps -eo stat= | grep -c '^Z' || true)
expect_eq "$zombies" 0 "zombies after the orphaned session ended"
[ "$(status_json | jq .orphans_reaped)" -ge 1 ] || fail "no orphan was reaped"
ok "kill -9 sshd: restarted (restarts: 1), logins work again, the orphaned session was reaped"
stop_ws

start_ws
expect_eq "$(fingerprints)" "$before" "fingerprints after a restart of wsinit"
grep -q "(reused)" "$TMP/err" || fail "the log does not say the keys were reused"
stop_ws
ok "a restart of wsinit keeps the host key fingerprints"

write_config "allow_from: [10.0.0.0/8]"
start_ws
status=0
key_login true 2>"$TMP/ssh_err" || status=$?
expect_eq "$status" 255 "login from outside allow_from"
expect_contains "$(cat "$TMP/ssh_err")" "Permission denied" "refusal"
stop_ws
ok "allow_from without 127.0.0.1 refuses the login"

# password_less off: the entry gets 'x' and the empty-password login is refused.
cp /etc/passwd "$TMP/etc/passwd"
write_config "password_less: false"
start_ws
grep -q "^gitlab-workspaces:x:$WS_UID:" "$TMP/etc/passwd" || fail "the entry should have 'x' as its password"
status=0
empty_password_login true 2>"$TMP/ssh_err" || status=$?
expect_eq "$status" 255 "empty-password login with password_less off"
expect_eq "$(key_login echo key)" key "key login with password_less off"
stop_ws
ok "password_less: false refuses the empty-password login; keys still work"
