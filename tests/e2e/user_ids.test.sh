# An arbitrary uid (1000770000, gid 0) with no passwd entry, as OpenShift and GitLab run
# workspaces: wsinit, PID 1 of its own namespaces with a scratch /etc/passwd bind-mounted over
# the real one, gives it an entry once, and its services can use whoami, id and ssh-keygen.
source "$(dirname "$0")/lib.sh"

setup_workspace_user
ws="$TMP/ws"
export WSINIT_SOCKET="$ws/run/wsinit.sock"

cat >"$TMP/config.yaml" <<YAML
version: 1
profile: plain
user: {home: $ws/home}
paths: {logs: $ws/logs, runtime: $ws/run, data: $ws/data}
services:
  - name: probe
    shell: >-
      whoami >$ws/whoami; id >$ws/id; echo "\$HOME" >$ws/home.txt; rm -f $ws/key $ws/key.pub;
      ssh-keygen -q -t ed25519 -N '' -f $ws/key && echo made >$ws/keygen
    oneshot: true
    restart: never
YAML

start() {  # extra mount commands for the namespace
  rm -f "$ws/whoami" "$ws/id" "$ws/keygen" "$ws/home.txt"
  WS_MOUNTS=$1 start_as_workspace_user --config "$TMP/config.yaml"
}

for round in 1 2 3; do
  start ""
  wait_status '.services[0].state == "exited" or .services[0].state == "failed"' 15
  expect_eq "$(service_field probe .last_exit)" "exit 0" "round $round: the probe service"
  expect_eq "$(cat "$ws/whoami")" gitlab-workspaces "round $round: whoami"
  expect_contains "$(cat "$ws/id")" "uid=$WS_UID(gitlab-workspaces) gid=0(root)" "round $round: id"
  expect_eq "$(cat "$ws/keygen")" made "round $round: ssh-keygen"
  expect_eq "$(cat "$ws/home.txt")" "$ws/home" "round $round: HOME"
  expect_eq "$(stat -c %u "$ws/home")" "$WS_UID" "round $round: HOME owner"
  expected_entry=$([ $round = 1 ] && echo appended || echo existing)
  expect_eq "$(status_json | jq -r .user.entry)" "$expected_entry" "round $round: how the entry was obtained"
  kill -TERM "$WS_PID"
  wait_wsinit
  expect_eq "$WS_STATUS" 0 "round $round: exit status"
done
expect_eq "$(grep -c ":$WS_UID:" "$TMP/etc/passwd")" 1 "passwd lines for the uid after three starts"
expect_eq "$(grep -c "^gitlab-workspaces::$WS_UID:0:workspace user:$ws/home:/bin/bash\$" "$TMP/etc/passwd")" 1 "the appended line"
diff <(head -n "$(wc -l </etc/passwd)" "$TMP/etc/passwd") /etc/passwd >/dev/null || fail "lines before ours changed"
ok "as uid $WS_UID: entry appended once in three starts; whoami, id, ssh-keygen work in a service; HOME created"

# /etc/passwd read-only, nss_wrapper installed: the entry lives in private copies.
cp /etc/passwd "$TMP/etc/passwd"
start "mount -o remount,bind,ro /etc/passwd && mount -o remount,bind,ro /etc/group &&"
wait_status '.services[0].state == "exited" or .services[0].state == "failed"' 15
expect_eq "$(status_json | jq -r .user.entry)" nss_wrapper "entry with a read-only passwd"
expect_eq "$(cat "$ws/whoami")" gitlab-workspaces "whoami through nss_wrapper"
expect_eq "$(cat "$ws/keygen")" made "ssh-keygen through nss_wrapper"
kill -TERM "$WS_PID"
wait_wsinit
cmp -s /etc/passwd "$TMP/etc/passwd" || fail "the read-only passwd changed"
ok "read-only /etc/passwd: whoami and ssh-keygen work through nss_wrapper; the file is untouched"

# Bad user settings are a config error: wsinit stops at start, before anything is written.
sed -i "s|user: {home: $ws/home}|user: {name: \"bad:name\", home: $ws/home}|" "$TMP/config.yaml"
cp /etc/passwd "$TMP/etc/passwd"
chmod 0664 "$TMP/etc/passwd"
start ""
wait_until "! kill -0 $WS_WAIT_PID 2>/dev/null" 10
wait_wsinit
expect_eq "$WS_STATUS" 2 "exit status with an invalid user.name"
expect_contains "$(cat "$TMP/err")" "$TMP/config.yaml:3:14: user.name: 'bad:name' is not a user name" "the error names the key and its position"
cmp -s /etc/passwd "$TMP/etc/passwd" || fail "passwd changed despite an invalid name"
ok "an invalid user.name stops wsinit at start (exit 2, file:line:column); passwd byte-identical"
