# An ordinary image made a good workspace, with nothing in it but Debian's busybox-static: the
# gitlab profile (its defaults for user.persist and user.login_env; no OpenSSH, so the built-in
# SSH server; no editor) as uid 1000770000 gid 0 with no passwd entry, as wsinit's PID 1 in a
# chroot of its own. A `once`
# step, a step over its timeout, a service followed with `wsinit logs -f`, `wsinit wait` for each
# target, no login profile (said once, also after SIGHUP); then a second start with HOME wiped:
# history and a config dir survive, the once step is skipped. The static build only (an ASan
# build is dynamic: the root has no libc).
source "$(dirname "$0")/lib.sh"

uid=1000770000
chroot=$(command -v chroot)
root="$TMP/root"
busybox_root "$root"
cat >"$root/etc/wsinit/wsinit.yaml" <<'YAML'
version: 1
profile: gitlab
services:
  - name: setup
    shell: "echo ran >> /projects/setup.count; echo 'ls -la' >> $HOME/.bash_history; mkdir -p $HOME/.config/tool; echo v1 > $HOME/.config/tool/settings"
    oneshot: true
    once: true
    timeout: 30s
  - name: hang
    command: [/bin/busybox, sleep, "1000"]
    oneshot: true
    restart: never
    timeout: 1s
  - name: ticker
    shell: "i=0; while :; do i=$((i+1)); echo tick $i; if [ -e /tmp/say ]; then cat /tmp/say; rm -f /tmp/say; fi; sleep 1; done"
    after: [setup]
  - name: web
    shell: "sleep 1; exec /bin/busybox httpd -f -p 127.0.0.1:8080 -h /www"
    after: [setup]
    ready: {http: "http://127.0.0.1:8080/", interval: 100ms}
    required: true
YAML
[ -z "$(find "$root" -name 'lib*.so*')" ] || fail "the root holds shared libraries"

# A command in the root as the workspace user, with an environment of nothing but PATH.
in_root() { env -i PATH=/bin "$chroot" --userspec=$uid:0 --groups=0 "$root" "$@"; }

start_workspace() {
  unshare --mount --net --pid --fork --kill-child sh -ec "
    ip link set lo up
    mount -t proc proc $root/proc
    exec env -i PATH=/bin $chroot --userspec=$uid:0 --groups=0 $root /wsinit" >"$TMP/out" 2>"$TMP/err" &
  adopt_namespace $!
  # `wait` answers 3 while no instance listens: the control socket comes first.
  wait_until "[ -S '$root/tmp/wsinit-$uid/wsinit.sock' ]" 10
  local rc=0
  in_root /wsinit wait web --timeout 20s >"$TMP/wait" 2>&1 || rc=$?
  expect_eq "$rc" 0 "wsinit wait web (it said: $(cat "$TMP/wait"))"
}
status_in_root() { in_root /wsinit status --json; }
stop_workspace() {
  kill -TERM "$WS_PID"
  wait_wsinit
  expect_eq "$WS_STATUS" 0 "exit status"
}

# --- first start ---
start_workspace
expect_eq "$(awk '/^Uid:/ {print $2}' "/proc/$WS_PID/status")" "$uid" "wsinit's uid"
expect_eq "$(awk '/^NSpid:/ {print $NF}' "/proc/$WS_PID/status")" 1 "wsinit's pid in its namespace"
doc=$(status_in_root)
expect_eq "$(jq -r .user.entry <<<"$doc")" appended "the user's passwd entry"
expect_eq "$(jq -r .user.home <<<"$doc")" /home/gitlab-workspaces "HOME"
expect_eq "$(jq -r '.user.persist[] | select(.path == ".config/") | .state' <<<"$doc")" created ".config/ on the first start"
expect_eq "$(jq -r .user.login_env.state <<<"$doc")" unchanged "login_env in a root with no login profile"
expect_eq "$(jq -r '[.services[].name] | sort | join(",")' <<<"$doc")" "hang,setup,sshd,sshd-config,ticker,web" "services (the built-in sshd, no editor here)"
expect_eq "$(jq -r .sshd.server <<<"$doc")" builtin "the SSH server in an image without OpenSSH"
kill -HUP "$WS_PID"
wait_until "grep -q 'SIGHUP: reading the login environment' '$TMP/err'" 5
sleep 0.5
expect_eq "$(grep -c "login profile sets nothing new" "$TMP/err")" 1 "times the empty login profile is said"
ok "gitlab profile in a busybox-only root: user appended, HOME entries linked to the data volume, no login profile said once"

wait_until "in_root /wsinit status --json | jq -e '.services[] | select(.name == \"hang\") | .state == \"failed\"' >/dev/null" 10
expect_eq "$(status_in_root | jq -r '.services[] | select(.name == "hang") | .last_exit')" timeout "the step over its timeout"
expect_eq "$(status_in_root | jq -r .state)" degraded "the workspace with a timed-out oneshot"
rc=0; in_root /wsinit wait ready --timeout 20s >"$TMP/wait" 2>&1 || rc=$?
expect_eq "$rc" 1 "wsinit wait ready with a failed oneshot"
ok "a oneshot over its 1s timeout: last_exit timeout, the workspace degraded, wait ready says 1 at once"

rc=0; in_root /wsinit wait setup --timeout 5s >/dev/null || rc=$?
expect_eq "$rc" 0 "wait for the once step"
rc=0; in_root /wsinit wait port 8080 --timeout 5s >/dev/null || rc=$?
expect_eq "$rc" 0 "wait port 8080"
expect_eq "$(nsenter --net="/proc/$WS_PID/ns/net" curl -s http://127.0.0.1:8080/)" served "the page behind port 8080"
start=$(date +%s%N)
rc=0; in_root /wsinit wait port 9 --timeout 1s >/dev/null 2>&1 || rc=$?
took=$((($(date +%s%N) - start) / 1000000))
expect_eq "$rc" 1 "wait port 9 with nothing there"
((took >= 900 && took < 5000)) || fail "wait --timeout 1s took ${took}ms"
ok "wsinit wait: the once step, port 8080 (0); port 9 after its 1s timeout (1)"

wait_until "[ \"\$(in_root /wsinit logs -n 2 ticker | grep -c tick)\" = 2 ]" 10
in_root /wsinit logs -f -n 0 ticker >"$TMP/follow" 2>&1 &
follower=$!
STARTED+=("$follower")
sleep 0.5
in_root /bin/busybox sh -c 'echo said-after-the-follow-began > /tmp/say'
wait_until "grep -q said-after-the-follow-began '$TMP/follow'" 10
kill -TERM "$follower"
wait "$follower" 2>/dev/null || true
kill -0 "$WS_PID" || fail "wsinit went away with its follower"
ok "wsinit logs: the last 2 lines, and -f shows a line written after it started"
stop_workspace

# --- second start, HOME wiped (GitLab keeps only the projects volume) ---
rm -rf "$root/home/gitlab-workspaces"
start_workspace
expect_contains "$(in_root /bin/busybox cat /home/gitlab-workspaces/.bash_history)" "ls -la" "the history after HOME was wiped"
expect_eq "$(in_root /bin/busybox cat /home/gitlab-workspaces/.config/tool/settings)" v1 "a config dir's file after HOME was wiped"
expect_eq "$(in_root /bin/busybox readlink /home/gitlab-workspaces/.config)" /projects/.wsinit/home/.config "~/.config"
last=$(status_in_root | jq -r '.services[] | select(.name == "setup") | .last_exit')
[[ "$last" == "skipped (already ran at "* ]] || fail "the once step on the second start: $last"
expect_eq "$(wc -l <"$root/projects/setup.count" | tr -d ' ')" 1 "runs of the once step"
ok "second start with HOME wiped: history and ~/.config survive, the once step is skipped"
stop_workspace
