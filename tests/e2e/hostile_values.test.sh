# Hostile values, as a user meets them: wsinit as PID 1 and the workspace user (uid 1000770000,
# gid 0, no passwd entry), with config values and environment variables made to break the
# files wsinit writes. No value adds a line to /etc/passwd or a directive to sshd_config (real
# sshd -T reads the generated file); an invalid user.* or paths.* value stops wsinit at start
# with exit 2 and file:line:column; names in the log are escaped; a symlinked host key is not
# followed.
source "$(dirname "$0")/lib.sh"

setup_workspace_user
ws="$TMP/ws"
export WSINIT_SOCKET="$ws/run/wsinit.sock"
port=$(free_port)
cp "$TMP/etc/passwd" "$TMP/passwd.before"
cp "$TMP/etc/group" "$TMP/group.before"
FORGED="2030-01-01T00:00:00.000Z wsinit error: forged"

# The settings every run shares: nothing listens but on 127.0.0.1, and sshd is /bin/true (the
# tests read the generated sshd_config with sshd -T themselves; no sshd needs to run).
tail_yaml() {
  printf 'editor: {enabled: false}\nhealth: {listen: ""}\nshutdown: {grace: 5s}\n'
}

# Waits up to $1 seconds for wsinit to exit; WS_STATUS is its status, or "running".
wait_for_exit() {
  local i
  for ((i = 0; i < $1 * 50; i++)); do
    if ! kill -0 "$WS_WAIT_PID" 2>/dev/null; then
      wait_wsinit
      return
    fi
    sleep 0.02
  done
  WS_STATUS=running
}

passwd_untouched() {  # what
  cmp -s "$TMP/passwd.before" "$TMP/etc/passwd" ||
    fail "$1: /etc/passwd changed:$(diff "$TMP/passwd.before" "$TMP/etc/passwd" | sed 's/^/  /')"
  cmp -s "$TMP/group.before" "$TMP/etc/group" || fail "$1: /etc/group changed"
}

# What sshd itself makes of the generated sshd_config (as the workspace user, who owns the keys).
sshd_T() {
  setpriv --reuid=$WS_UID --regid=0 --clear-groups /usr/sbin/sshd -T -f "$ws/run/sshd_config" 2>&1
}

# Starts wsinit with $TMP/config.yaml and expects it to stop at start: exit 2, the error at
# file:line:column ($2), /etc/passwd and /etc/group byte-identical, nothing written.
expect_refused_at_start() {  # what position-and-key
  rm -rf "$ws/run" "$ws/logs" "$ws/data"
  start_as_workspace_user --config "$TMP/config.yaml"
  wait_for_exit 5
  passwd_untouched "$1"
  [ "$WS_STATUS" != running ] || fail "$1: wsinit runs on instead of refusing the config"
  expect_eq "$WS_STATUS" 2 "$1: exit status"
  expect_contains "$(cat "$TMP/err")" "wsinit: $TMP/config.yaml:$2" "$1: the error"
  [ ! -e "$ws/run" ] && [ ! -e "$ws/logs" ] && [ ! -e "$ws/data" ] || fail "$1: something was written"
  ok "$1: exit 2 at $TMP/config.yaml:$2, passwd and group byte-identical, nothing written"
}

# --- user.* and paths.*: config errors with their position, before anything is written. ---

# paths.data becomes the fallback HOME <data>/home when user.home is unusable: a newline in it
# appended "...:<ws>/e" and "root2::0:0::/x/home:/bin/bash" to /etc/passwd.
mkdir -p "$ws/e
root2::0:0::"
chmod 0777 "$ws/e
root2::0:0::"
{ printf 'version: 1\nprofile: gitlab\nuser: {home: /proc/no-such-home}\n'
  printf 'paths: {data: "%s/e\\nroot2::0:0::/x", logs: %s/logs, runtime: %s/run}\n' "$ws" "$ws" "$ws"
  printf 'sshd: {enabled: false}\n'; tail_yaml; } >"$TMP/config.yaml"
expect_refused_at_start "paths.data with a newline" "4:15: paths.data: "
grep -q "holds a newline, CR or NUL" "$TMP/err" || fail "the reason is not given"

# With only a ':' in it the line was unparseable, and appended again at every start.
{ printf 'version: 1\nprofile: gitlab\nuser: {home: /proc/no-such-home}\n'
  printf 'paths: {data: "%s/a:b", logs: %s/logs, runtime: %s/run}\n' "$ws" "$ws" "$ws"
  printf 'sshd: {enabled: false}\n'; tail_yaml; } >"$TMP/config.yaml"
expect_refused_at_start "paths.data with a ':'" "4:15: paths.data: '$ws/a:b' holds ':'"

for key_value in 'name: "bad:name"' 'name: "evil\nroot::0:0::/:/bin/sh"' 'home: home/relative' \
                 'shell: "/bin/sh:/x"' 'shell: "/bin/bash\nroot::0:0::/:/bin/sh"'; do
  key=${key_value%%:*}
  { printf 'version: 1\nprofile: gitlab\nuser: {%s}\n' "$key_value"
    printf 'paths: {data: %s/data, logs: %s/logs, runtime: %s/run}\n' "$ws" "$ws" "$ws"
    printf 'sshd: {enabled: false}\n'; tail_yaml; } >"$TMP/config.yaml"
  expect_refused_at_start "user.$key: $key_value" "3:$((10 + ${#key})): user.$key: "
done

{ printf 'version: 1\nprofile: gitlab\n'
  printf 'paths: {logs: workspace-logs, data: %s/data, runtime: %s/run}\n' "$ws" "$ws"
  printf 'sshd: {enabled: false}\n'; tail_yaml; } >"$TMP/config.yaml"
expect_refused_at_start "a relative paths.logs" "3:15: paths.logs: 'workspace-logs' is not an absolute path"

# health.listen: one parser for listen addresses; "59KiB" was taken as port 60416.
{ printf 'version: 1\nprofile: gitlab\n'
  printf 'paths: {data: %s/data, logs: %s/logs, runtime: %s/run}\n' "$ws" "$ws" "$ws"
  printf 'sshd: {enabled: false}\neditor: {enabled: false}\nhealth: {listen: "127.0.0.1:59KiB"}\n'; } >"$TMP/config.yaml"
expect_refused_at_start "health.listen with a size for a port" "6:18: health.listen: '127.0.0.1:59KiB' is not IP:PORT"

# --- sshd_config: no value adds a directive. ---

# Starts wsinit and waits until it has exited or written sshd_config; if it wrote one, sshd -T
# must show none of the directive ($2) injected.
start_and_read_sshd_config() {  # what injected-directive-pattern
  rm -rf "$ws/run" "$ws/logs"
  start_as_workspace_user --config "$TMP/config.yaml"
  wait_until "[ -e '$ws/run/sshd_config' ] || ! kill -0 $WS_WAIT_PID 2>/dev/null" 10
  if [ -e "$ws/run/sshd_config" ]; then
    local parsed injected
    parsed=$(sshd_T) || fail "$1: sshd -T cannot read the generated sshd_config: $parsed"
    expect_contains "$parsed" "pidfile " "$1: sshd -T's reading of the generated sshd_config"
    injected=$(grep -iE "$2" <<<"$parsed" || true)
    [ -z "$injected" ] || fail "$1: sshd -T shows an injected directive: $injected"
  fi
}

# (a) user.name with newlines was refused for passwd but still written into AllowUsers.
{ printf 'version: 1\nprofile: gitlab\nuser: {name: "evil\\nBanner %s/banner\\nListenAddress 127.0.0.1:%s"}\n' "$TMP" "$port"
  printf 'paths: {data: %s/data, logs: %s/logs, runtime: %s/run}\n' "$ws" "$ws" "$ws"
  printf 'sshd: {binary: /bin/true, listen: ["127.0.0.1:%s"]}\n' "$port"; tail_yaml; } >"$TMP/config.yaml"
start_and_read_sshd_config "user.name" "^banner /"
wait_for_exit 5
expect_eq "$WS_STATUS" 2 "user.name with newlines: exit status"
expect_contains "$(cat "$TMP/err")" "$TMP/config.yaml:3:14: user.name: 'evil\\nBanner" "the error, escaped"
passwd_untouched "user.name with newlines"
ok "a user.name with newlines is a config error (exit 2); no sshd_config with its lines"

# (b) GL_SSH_PORT reaches sshd.listen in the gitlab profile: it is checked where it is read.
{ printf 'version: 1\nprofile: gitlab\n'
  printf 'paths: {data: %s/data, logs: %s/logs, runtime: %s/run}\n' "$ws" "$ws" "$ws"
  printf 'sshd: {binary: /bin/true}\n'; tail_yaml; } >"$TMP/config.yaml"
WS_ENV="'GL_SSH_PORT=$port
Banner $TMP/banner:22'" start_and_read_sshd_config "GL_SSH_PORT" "^banner /"
wait_for_exit 5
expect_eq "$WS_STATUS" 2 "a hostile GL_SSH_PORT: exit status"
expect_contains "$(cat "$TMP/err")" "wsinit: environment: sshd.listen (from GL_SSH_PORT): '0.0.0.0:$port\\nBanner" "the error"
ok "GL_SSH_PORT with a newline is refused at start (environment: ...), sshd never reads it"

# --- One run that works: hostile variable names and file names, and a symlinked host key. ---

# (c) Environment variable names with a newline (a SetEnv line of its own: ForceCommand for
# every session) and an ESC.
WS_ENV="'
ForceCommand=/bin/echo pwned' '$(printf '\033')[31mRED=1'"
rm -rf "$ws/data"
mkdir -p "$ws/vars"
chmod 0777 "$ws/vars"
# A host key that is a symlink to a key elsewhere: never followed, never chmodded through.
mkdir -p "$ws/data/ssh"
ssh-keygen -q -t ed25519 -N '' -f "$TMP/target_key"
chown "$WS_UID:0" "$ws/data" "$ws/data/ssh" "$TMP/target_key"
chmod 0700 "$ws/data/ssh"
chmod 0644 "$TMP/target_key"
cp "$TMP/target_key" "$TMP/target_key.copy"
ln -s "$TMP/target_key" "$ws/data/ssh/ssh_host_ed25519_key"
{ printf 'version: 1\nprofile: gitlab\nuser: {home: %s/home}\n' "$ws"
  printf 'paths: {data: %s/data, logs: %s/logs, runtime: %s/run, variables: %s/vars}\n' "$ws" "$ws" "$ws" "$ws"
  printf 'sshd: {binary: /bin/true, listen: ["127.0.0.1:%s"], host_key_types: [ed25519]}\n' "$port"
  tail_yaml; } >"$TMP/config.yaml"
start_and_read_sshd_config "variable names" "^forcecommand .*pwned|^setenv .*(ForceCommand|\[31mRED)"
expect_eq "$(sshd_T | grep -ic '^forcecommand none$')" 1 "sshd -T: forcecommand"
wait_until "grep -q 'variables: 0 file variables' '$TMP/err'"
expect_contains "$(cat "$TMP/err")" 'sshd: SSH sessions will not see \nForceCommand: ' "the left-out name, escaped"
expect_contains "$(cat "$TMP/err")" 'will not see \x1b[31mRED: ' "the ESC, escaped"
ok "variable names with a newline or ESC: left out of SetEnv (sshd -T: forcecommand none), named escaped in the log"

# A file variable whose name holds an ESC sequence and a forged line.
touch "$ws/vars/$(printf '\033')[2Jgl_evil
$FORGED"
wait_until "grep -q 'forged added' '$TMP/err'"
expect_contains "$(cat "$TMP/err")" "variables: \\x1b[2Jgl_evil\\n$FORGED added" "the file variable's name, escaped"
! grep -q "$(printf '\033')" "$TMP/err" || fail "a raw ESC reached wsinit's log"
! grep -q "^$FORGED" "$TMP/err" || fail "a forged line is in wsinit's log"
! grep -q "^ForceCommand" "$TMP/err" || fail "a name's newline started a line in wsinit's log"
ok "a file variable's name is logged escaped: no raw ESC, no forged line"

expect_eq "$(stat -c %a "$TMP/target_key")" 644 "mode of the symlink's target"
cmp -s "$TMP/target_key" "$TMP/target_key.copy" || fail "the symlink's target changed"
[ -f "$ws/data/ssh/ssh_host_ed25519_key" ] && [ ! -L "$ws/data/ssh/ssh_host_ed25519_key" ] ||
  fail "no new host key in place of the symlink"
aside=$(find "$ws/data/ssh" -name 'ssh_host_ed25519_key.broken-*' -type l)
[ -n "$aside" ] || fail "the symlinked host key was not kept aside"
expect_eq "$(readlink "$aside")" "$TMP/target_key" "the link kept aside"
expect_contains "$(cat "$TMP/err")" "is unusable (a symlink, which is never followed)" "the warning"
ok "a symlinked host key is moved aside, not followed: its target keeps mode 644 and its bytes"

kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 1 "exit status (sshd is /bin/true: never ready)"

# `wsinit check` prints its whole plan through the text log's encoder: a config file name (and
# the devfile path, sshd binary, listen addresses, ...) cannot send a raw control sequence to a
# terminal or start a line of its own.
odd_config="$TMP/"$'odd\e[2J\nFAKE: ok'".yaml"
printf 'version: 1\nprofile: plain\npaths: {logs: %s/logs, runtime: %s/run}\n' "$TMP" "$TMP" >"$odd_config"
WSINIT_CONFIG="$odd_config" "$WSINIT" check >"$TMP/plan" 2>&1 || fail "wsinit check on a valid config: $(cat "$TMP/plan")"
! grep -q $'\e' "$TMP/plan" || fail "wsinit check printed a raw ESC"
! grep -q '^FAKE' "$TMP/plan" || fail "a file name started a line of wsinit check's plan"
expect_contains "$(cat "$TMP/plan")" 'odd\x1b[2J\nFAKE: ok.yaml' "the escaped file name"
ok "wsinit check prints a config file name with ESC and a newline escaped"
