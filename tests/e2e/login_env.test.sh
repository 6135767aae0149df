# user.login_env: the login shell's profile (a bash .bash_profile that exports a variable and
# puts a directory of tools in front of PATH) reaches a service and a real SSH session; a profile
# that hangs delays the start only until the timeout, its process group killed and the warning in
# status; SIGHUP reads the profile again for what starts after. As the workspace user (uid
# 1000770000, gid 0, no passwd entry), gitlab profile, real sshd and ssh client. (A busybox-only
# root with no login profile: busybox_workspace.test.sh.)
source "$(dirname "$0")/lib.sh"

command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || { echo "skip: no sshd"; exit 77; }
setup_workspace_user
ws="$TMP/ws"
home="$ws/home"
export WSINIT_SOCKET="$ws/run/wsinit.sock"
port=$(free_port)
ssh-keygen -q -t ed25519 -N '' -f "$TMP/client_key"
mkdir -p "$home/tools"
printf '#!/bin/sh\necho tool-ran\n' >"$home/tools/hello-tool"
chmod 755 "$home/tools/hello-tool"
chown -R "$WS_UID:0" "$home"

profile() {  # the .bash_profile's body
  printf '%s\n' "$1" >"$home/.bash_profile"
}
write_config() {  # extra user settings
  workspace_config "$TMP/config.yaml" <<YAML
sshd:
  listen: ["127.0.0.1:$port"]
  authorized_keys: ["$(cat "$TMP/client_key.pub")"]
editor: {enabled: false}
health: {listen: ""}
shutdown: {grace: 5s}
services:
  - name: show
    shell: 'echo "\$(hello-tool 2>&1)|\$LOGIN_ONLY" > $home/seen; exec sleep 1000'
YAML
  [ -z "$1" ] || sed -i "s|^user: {home: \(.*\)}$|user: {home: \1, $1}|" "$TMP/config.yaml"
}
key_login() {
  ssh -F /dev/null -p "$port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=5 -o LogLevel=ERROR -i "$TMP/client_key" gitlab-workspaces@127.0.0.1 "$@"
}
stop_ws() {
  kill -TERM "$WS_PID"
  wait_wsinit
  expect_eq "$WS_STATUS" 0 "wsinit exit status"
}

# 1. The profile's variable and PATH reach a service and an SSH session; no config key needed.
profile 'export LOGIN_ONLY=from-profile
export PATH="$HOME/tools:$PATH"
sleep 1002 >/dev/null 2>&1 &'
write_config ""
start_as_workspace_user --config "$TMP/config.yaml"
wait_status '.state == "ready"' 30
profile_sleep() {
  local pid
  for pid in $(tree_of "$WS_PID"); do
    [ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" = "sleep 1002 " ] && return 0
  done
  return 1
}
wait_until "! profile_sleep" 5
ok "what the profile started in the background is killed once the dump is read"
wait_until "[ -s $home/seen ]" 10
expect_eq "$(cat "$home/seen")" "tool-ran|from-profile" "what the service saw"
ok "a service runs the profile's tool by bare name and sees its variable"
expect_eq "$(key_login 'hello-tool; echo "$LOGIN_ONLY"' | tr '\n' '|')" "tool-ran|from-profile|" "what the SSH session saw"
ok "an SSH session runs the profile's tool by bare name and sees its variable"
st=$(status_json | jq -c '.user.login_env')
expect_eq "$(jq -r .state <<<"$st")" applied "login_env.state"
expect_eq "$(jq -r '.added | index("LOGIN_ONLY") != null' <<<"$st")" true "LOGIN_ONLY among the names added"
expect_eq "$(jq -r '.changed | index("PATH") != null' <<<"$st")" true "PATH among the names changed"
expect_eq "$(jq -r .shell <<<"$st")" /bin/bash "login_env.shell"
grep -q "from-profile" <<<"$(status_json)" && fail "a value reached the status document"
ok "status names what was added and changed, never a value"
plan=$(nsenter -t "$WS_PID" -m -p setpriv --reuid=$WS_UID --regid=0 --clear-groups "$WSINIT" check --config "$TMP/config.yaml" || true)
expect_contains "$plan" "login environment (/bin/bash -l, " "wsinit check"
expect_contains "$(grep '^login environment' <<<"$plan")" "adds LOGIN_ONLY; changes" "wsinit check"
expect_contains "$(grep '^login environment' <<<"$plan")" "PATH" "wsinit check"
grep -q "from-profile" <<<"$plan" && fail "wsinit check printed a value"
ok "wsinit check runs the login shell and lists the names it adds and changes, never a value"

# 2. SIGHUP reads the profile again: a service started after it, and a new SSH session, see the new value.
profile 'export LOGIN_ONLY=second
export PATH="$HOME/tools:$PATH"'
added_before=$(grep -c "login environment: added" "$TMP/err")
kill -HUP "$WS_PID"
wait_until "[ \$(grep -c 'login environment: added' $TMP/err) -gt $added_before ]" 15
rm -f "$home/seen"
"$WSINIT" restart show >/dev/null
wait_until "[ -s $home/seen ]" 10
expect_eq "$(cat "$home/seen")" "tool-ran|second" "what the service started after SIGHUP saw"
ok "after SIGHUP, a service started from then on sees the profile's new value"
wait_status '[.services[] | select(.name == "sshd")][0] | .state == "ready"' 15
wait_until "[ \"\$(key_login 'echo \$LOGIN_ONLY' 2>/dev/null)\" = second ]" 15
ok "after SIGHUP, sshd was restarted with the new SetEnv and a new session sees the new value"

# 2b. A SIGHUP whose new config turns login_env off acts on that config: the variables go.
write_config "login_env: false"
kill -HUP "$WS_PID"
wait_status '.user.login_env.state == "off"' 15
rm -f "$home/seen"
"$WSINIT" restart show >/dev/null
wait_until "[ -s $home/seen ]" 10
expect_eq "$(cut -d'|' -f2 <"$home/seen")" "" "LOGIN_ONLY as the service started after login_env: false saw it"
ok "a SIGHUP setting login_env: false drops the login variables from what starts next"
wait_until "[ -z \"\$(key_login 'echo \$LOGIN_ONLY' 2>/dev/null)\" ]" 15
ok "after it, sshd's SetEnv no longer carries them"
stop_ws

# 3. A profile that hangs: wsinit starts after the (short) timeout, says so, and the hang is gone.
profile 'sleep 1001'
rm -f "$home/seen"
write_config "login_env_timeout: 1s"
start_as_workspace_user --config "$TMP/config.yaml"
sleeper=""
find_sleeper() {
  local pid
  for pid in $(tree_of "$WS_PID"); do
    [ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" = "sleep 1001 " ] && { sleeper=$pid; return 0; }
  done
  return 1
}
wait_until find_sleeper 10
wait_status '.state == "ready"' 30
expect_eq "$(status_json | jq -r .user.login_env.state)" timeout "login_env.state"
status_json | jq -e '.warnings | any(contains("did not finish within 1s"))' >/dev/null || fail "no warning in status.warnings"
grep -q "did not finish within 1s; its process group was killed" "$TMP/err" || fail "no warning in the log"
wait_until "! kill -0 $sleeper 2>/dev/null" 5
ok "a hanging profile: wsinit started after 1s with the warning, and the profile's sleep (pid $sleeper) is gone"
wait_until "[ -s $home/seen ]" 10
expect_eq "$(cut -d'|' -f2 <"$home/seen")" "" "LOGIN_ONLY as the service saw it"
ok "the service started with the environment as it was (no profile variable)"
stop_ws

# 3b. While the profile hangs, wsinit answers and no service starts; SIGTERM ends the probe's
# group and wsinit at once, not at the timeout.
rm -f "$home/seen"
write_config "login_env_timeout: 60s"
start_as_workspace_user --config "$TMP/config.yaml"
wait_until find_sleeper 10
wait_status '.user.login_env.state == "probing"' 5
expect_eq "$(status_json | jq -r '[.services[] | select(.pid != null and .pid > 0)] | length')" 0 "services running while probing"
[ ! -e "$home/seen" ] || fail "the service started before the login environment was read"
ok "while the login shell runs, status answers (state probing) and no service has started"
t0=$(date +%s%N)
kill -TERM "$WS_PID"
wait_wsinit
took_ms=$((($(date +%s%N) - t0) / 1000000))
expect_eq "$WS_STATUS" 1 "wsinit exit status (sshd, required, never became ready)"
[ "$took_ms" -lt 5000 ] || fail "SIGTERM during the probe took ${took_ms}ms"
kill -0 "$sleeper" 2>/dev/null && fail "the profile's sleep (pid $sleeper) outlived wsinit"
ok "SIGTERM during the probe: wsinit exited in ${took_ms}ms and the profile's sleep is gone"
