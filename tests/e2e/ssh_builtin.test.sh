# wsinit's built-in SSH server (sshd.server: builtin) under wsinit as PID 1, run by the workspace
# user (uid 1000770000, gid 0) with no passwd entry, driven by real OpenSSH clients and by
# paramiko: logins (empty password, keys from sshd.authorized_keys and ~/.ssh/authorized_keys,
# refusals), host keys shared with OpenSSH mode, exit status and signals, 20 MB through a
# session, a terminal (size, resize, TERM, login shell, SIGHUP on disconnect), the session
# environment, ssh -L, session processes, sshd.server auto/builtin, and sftp and scp of 100 MB.
# SERVER=openssh runs the same checks against OpenSSH's sshd (the checks' own reference).
source "$(dirname "$0")/lib.sh"

SERVER=${SERVER:-builtin}
setup_workspace_user
ws="$TMP/ws"
home="$ws/home"
user=gitlab-workspaces
export WSINIT_SOCKET="$ws/run/wsinit.sock"
port=$(free_port)
http_port=$(free_port)
PY=/usr/bin/python3  # Debian's, which has python3-paramiko
helpers_src="$(cd "$(dirname "$0")/../helpers" && pwd)"
"$PY" -c 'import paramiko' 2>/dev/null || fail "python3-paramiko is missing (scripts/install-deps installs it)"
for k in config home other; do ssh-keygen -q -t ed25519 -N '' -f "$TMP/key_$k"; done
# SetEnv (wsinit's environment) wins over what a client sends, as in OpenSSH: wsinit runs without
# TERM, LANG and LC_* here so that the values the client sends show.
WS_ENV="-u TERM -u LANG -u LC_ALL -u LC_TIME 'MY_VARIABLE=hello world' PATH=/usr/local/bin:/usr/bin:/bin"
mkdir -p "$TMP/www"
echo served >"$TMP/www/index.html"
# ~/.ssh/authorized_keys of the user, in the home wsinit is told to use.
mkdir -p "$home/.ssh"
cat "$TMP/key_home.pub" >"$home/.ssh/authorized_keys"
chmod 700 "$home/.ssh"
chmod 600 "$home/.ssh/authorized_keys"
chown -R "$WS_UID:0" "$home"

write_config() {  # server, extra sshd settings
  workspace_config "$TMP/config.yaml" <<YAML
sshd:
  server: $1
  listen: ["127.0.0.1:$port"]
  authorized_keys: ["$(cat "$TMP/key_config.pub")"]
  $2
editor: {enabled: false}
health: {listen: ""}
shutdown: {grace: 5s}
services:
  - name: web
    command: [$PY, -m, http.server, --bind, 127.0.0.1, --directory, "$TMP/www", "$http_port"]
YAML
  sed -i 's|^user: {home: \(.*\)}$|user: {home: \1, login_env: false}|' "$TMP/config.yaml"
}
ssh_ws() {  # ssh options... -- destination and command
  ssh -F /dev/null -p "$port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=5 -o LogLevel=ERROR "$@"
}
key_opts() { echo "-i $TMP/key_$1 -o IdentitiesOnly=yes -o PasswordAuthentication=no"; }
key_login() { ssh_ws $(key_opts config) "$user@127.0.0.1" "$@"; }
home_key_login() { ssh_ws $(key_opts home) "$user@127.0.0.1" "$@"; }
empty_password_login() { ssh_ws -o PubkeyAuthentication=no -o IdentitiesOnly=yes "$user@127.0.0.1" "$@"; }
start_ws() {
  start_as_workspace_user --config "$TMP/config.yaml"
  wait_status '.state == "ready"' 20
}
stop_ws() {
  kill -TERM "$WS_PID"
  wait_wsinit
  expect_eq "$WS_STATUS" 0 "wsinit exit status"
}
banner() { python3 -c "
import socket
s = socket.create_connection(('127.0.0.1', $port), timeout=5)
print(s.recv(256).split(b'\r\n')[0].decode())"; }
fingerprints() { ssh-keyscan -p "$port" 127.0.0.1 2>/dev/null | ssh-keygen -lf - | awk '{print $2}' | sort; }
# The command line of the sshd service's process.
sshd_command() { tr '\0' ' ' <"/proc/$(host_pid_of "$(service_field sshd .pid)")/cmdline"; }
refused() {  # what, command...: the login must fail with ssh's 255 and "Permission denied"
  local what=$1 status=0
  shift
  "$@" true 2>"$TMP/ssh_err" || status=$?
  expect_eq "$status" 255 "$what"
  expect_contains "$(cat "$TMP/ssh_err")" "Permission denied" "$what"
}
# Runs a command in wsinit's PID namespace (ps, kill of a session's processes).
in_ws() { nsenter -t "$WS_PID" -p -m "$@"; }

# --- The server and its host keys: the same keys for both servers on one data directory. ---
write_config openssh ""
start_ws
openssh_keys=$(fingerprints)
expect_eq "$(echo "$openssh_keys" | wc -l)" 2 "host keys offered by OpenSSH (ed25519, ecdsa)"
stop_ws
write_config "$SERVER" ""
start_ws
if [ "$SERVER" = builtin ]; then
  expect_contains "$(sshd_command)" " ssh-server " "the sshd service of sshd.server: builtin"
  case "$(banner)" in SSH-2.0-OpenSSH*) fail "sshd.server: builtin answers with OpenSSH's banner: $(banner)" ;; esac
fi
expect_eq "$(fingerprints)" "$openssh_keys" "host key fingerprints of $SERVER, after OpenSSH on the same data dir"
expect_eq "$(status_json | jq -r '.sshd.host_keys[].fingerprint' | sort)" "$openssh_keys" "fingerprints in status"
# The key a login itself is shown (ssh's "Server host key: TYPE SHA256:...").
seen=$(empty_password_login -v true 2>&1 | tr -d '\r' | sed -n 's/^debug1: Server host key: [^ ]* //p')
expect_contains "$openssh_keys" "${seen:-none}" "the host key ssh saw at login"
ok "$SERVER offers the host keys status shows, the same OpenSSH offered on the same data dir"

# --- Logins. ---
# With password_less the client's first method, "none", already logs in: the keys themselves
# are tried below with password_less off.
expect_eq "$(empty_password_login whoami)" "$user" "empty-password login"
ok "the empty-password login"
refused "another user" ssh_ws $(key_opts config) root@127.0.0.1
refused "a user that does not exist" ssh_ws -o PubkeyAuthentication=no nosuchuser@127.0.0.1
ok "another user is refused, with a key and with the empty password"

# --- Exit status, signals, data through a session. ---
status=0
key_login 'exit 7' || status=$?
expect_eq "$status" 7 "exit status of 'exit 7'"
status=0
key_login -v 'kill -TERM $$' 2>"$TMP/ssh_err" || status=$?
expect_eq "$status" 255 "exit status of a command killed by SIGTERM"
grep -q "rtype exit-signal" "$TMP/ssh_err" || fail "the client got no exit-signal: $(grep -i exit "$TMP/ssh_err")"
ok "'exit 7' gives 7; a command killed by SIGTERM gives 255 and an exit-signal"
head -c 20M /dev/urandom >"$TMP/20m"
want=$(sha256sum <"$TMP/20m" | cut -d' ' -f1)
expect_eq "$(key_login cat <"$TMP/20m" | sha256sum | cut -d' ' -f1)" "$want" "20 MB piped through cat"
expect_eq "$(key_login cat "$TMP/20m" </dev/null | sha256sum | cut -d' ' -f1)" "$want" "20 MB of output"
ok "20 MB through 'cat' and 20 MB of output arrive byte-identical"

# --- A terminal. ---
# OpenSSH's sshd run by a user cannot hand out a terminal where devpts is mounted without gid=5
# (it must chown the pty to group tty); the built-in server needs no such chown.
pty_checks=yes
[ "$SERVER" = builtin ] || grep -q "^devpts /dev/pts devpts .*gid=5" /proc/mounts || pty_checks=no
if [ "$pty_checks" = yes ]; then
  TERM=screen-256color "$PY" "$helpers_src/ssh_pty.py" 33 101 47 133 -- \
    ssh -tt -F /dev/null -p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR $(key_opts config) "$user@127.0.0.1" >"$TMP/pty" || fail "the terminal session: $(cat "$TMP/pty")"
  pty_field() { sed -n "s/^$1=//p" "$TMP/pty"; }
  expect_eq "$(pty_field size)" "33 101" "stty size in the session"
  expect_eq "$(pty_field resized)" "47 133" "stty size after the client's terminal was resized"
  expect_eq "$(pty_field term)" screen-256color "TERM in the session"
  case "$(pty_field tty)" in /dev/pts/*) ;; *) fail "tty in the session: $(pty_field tty)" ;; esac
  case "$(pty_field zero)" in -*) ;; *) fail "\$0 of the session's shell: $(pty_field zero) (not a login shell)" ;; esac
  expect_eq "$(pty_field login)" yes "shopt login_shell"
  ok "terminal: stty size follows the client's (33x101, then 47x133), TERM, a /dev/pts tty, a login shell"
  shell_pid=$(pty_field shell_pid)
  [ -n "$shell_pid" ] || fail "no shell pid from the terminal session"
  wait_until "! in_ws kill -0 $shell_pid 2>/dev/null" 10
  ok "the shell of a terminal session is gone once its client is killed"
else
  echo "note: no terminal checks with OpenSSH's sshd here: devpts is mounted without gid=5"
fi

# --- The session environment. ---
out=$(LANG=C LC_TIME=C.UTF-8 OTHER_VARIABLE=x \
  key_login -o SendEnv=LANG -o 'SendEnv=LC_*' -o SendEnv=OTHER_VARIABLE \
  'echo "$MY_VARIABLE|$LANG|$LC_TIME|${OTHER_VARIABLE-unset}|$HOME|$(pwd)|$USER"')
expect_eq "$out" "hello world|C|C.UTF-8|unset|$home|$home|$user" "session environment"
ok "environment: the workspace's variable (SetEnv), LANG and LC_* sent by the client (no others), HOME the cwd"

# --- Local port forwarding. ---
lport=$(free_port)
wait_until "curl -sf -o /dev/null http://127.0.0.1:$http_port/" 15
# ssh itself in the background, not the function: $! must be ssh's pid, to stop it by.
ssh -F /dev/null -p "$port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
  -o LogLevel=ERROR $(key_opts config) -N -o ExitOnForwardFailure=yes -L "127.0.0.1:$lport:127.0.0.1:$http_port" \
  "$user@127.0.0.1" &
tunnel=$!
STARTED+=("$tunnel")
wait_until "curl -s -o /dev/null http://127.0.0.1:$lport/" 10
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$lport/")" 200 "HTTP through ssh -L"
kill "$tunnel"
wait "$tunnel" 2>/dev/null || true
wait_until "! (exec 3<>/dev/tcp/127.0.0.1/$lport) 2>/dev/null" 5
ok "ssh -L to the web service inside: curl through the tunnel gets 200"

# --- Session processes. ---
read -r bg_pid shell_pid shell_sid < <(key_login 'sleep 300 >/dev/null 2>&1 </dev/null & echo $! $$ $(ps -o sid= -p $$)')
expect_eq "$shell_sid" "$shell_pid" "the session's shell leads a session of its own"
expect_eq "$(in_ws ps -o sid= -p "$bg_pid" | tr -d ' ')" "$shell_pid" "session of the background sleep after the client left"
server_sid=$(in_ws ps -o sid= -p "$(service_field sshd .pid)" | tr -d ' ')
[ "$server_sid" != "$shell_pid" ] || fail "the session shares the server's session"
in_ws kill "$bg_pid"
ok "a command's background process outlives the client, in the session its shell led, not the server's"

# --- A second client: paramiko (no sftp yet: that comes last). ---
"$PY" "$helpers_src/ssh_paramiko.py" --port "$port" --user "$user" --key "$TMP/key_config" --http-port "$http_port" \
  $([ "$pty_checks" = yes ] || echo --no-pty) ||
  fail "the paramiko client's checks"
stop_ws

# --- Keys, and refusals: a key not authorized, allow_from. ---
write_config "$SERVER" "password_less: false"
start_ws
key_login -v whoami >"$TMP/ssh_out" 2>"$TMP/ssh_err" || fail "key login (sshd.authorized_keys): $(tail -3 "$TMP/ssh_err")"
expect_eq "$(cat "$TMP/ssh_out")" "$user" "login with a key from sshd.authorized_keys"
grep -q "Authenticated to 127.0.0.1 .* using \"publickey\"" "$TMP/ssh_err" || fail "the key login did not use publickey"
home_key_login -v whoami >"$TMP/ssh_out" 2>"$TMP/ssh_err" || fail "key login (~/.ssh/authorized_keys): $(tail -3 "$TMP/ssh_err")"
expect_eq "$(cat "$TMP/ssh_out")" "$user" "login with a key from ~/.ssh/authorized_keys"
grep -q "Authenticated to 127.0.0.1 .* using \"publickey\"" "$TMP/ssh_err" || fail "the key login did not use publickey"
ok "key logins with a key from sshd.authorized_keys and with one from ~/.ssh/authorized_keys"
refused "a key that is not authorized" ssh_ws $(key_opts other) "$user@127.0.0.1"
refused "the empty password with password_less: false" empty_password_login
stop_ws
ok "password_less: false: a key not authorized and the empty password are refused"
write_config "$SERVER" "allow_from: [10.0.0.0/8]"
start_ws
refused "a key login from outside allow_from" key_login
refused "the empty password from outside allow_from" empty_password_login
stop_ws
ok "allow_from without 127.0.0.1 refuses key and empty-password logins"

# --- sshd.server: auto takes OpenSSH where it is, builtin takes wsinit's own anyway. ---
write_config auto ""
start_ws
expect_contains "$(sshd_command)" "sshd -D -e" "the sshd service of sshd.server: auto"
expect_eq "$(status_json | jq -r .sshd.server)" openssh "status .sshd.server with sshd.server: auto"
grep -q "sshd server: openssh (/usr/sbin/sshd)" "$TMP/err" || fail "the log does not say OpenSSH's sshd runs"
case "$(sshd_command)" in *ssh-server*) fail "sshd.server: auto ran the built-in server with OpenSSH present" ;; esac
expect_contains "$(banner)" "SSH-2.0-OpenSSH" "banner of sshd.server: auto"
stop_ws
write_config builtin ""
start_ws
expect_contains "$(sshd_command)" " ssh-server " "the sshd service of sshd.server: builtin"
expect_eq "$(status_json | jq -r .sshd.server)" builtin "status .sshd.server with sshd.server: builtin"
grep -q "sshd server: builtin (" "$TMP/err" || fail "the log does not say the built-in server runs"
case "$(banner)" in SSH-2.0-OpenSSH*) fail "sshd.server: builtin answers with OpenSSH's banner" ;; esac
stop_ws
ok "sshd.server: auto runs OpenSSH's sshd where it is installed; builtin runs wsinit's own anyway"

# --- sftp and scp (the sftp subsystem: wsinit sftp-server in builtin mode). ---
write_config "$SERVER" ""
start_ws
head -c 100M /dev/urandom >"$TMP/100m"
want=$(sha256sum <"$TMP/100m" | cut -d' ' -f1)
printf 'put %s %s/up\nget %s/up %s/down\n' "$TMP/100m" "$home" "$home" "$TMP" >"$TMP/batch"
ssh_sftp() { sftp -F /dev/null -P "$port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
  -o LogLevel=ERROR $(key_opts config) "$@"; }
ssh_sftp -b "$TMP/batch" "$user@127.0.0.1" >"$TMP/sftp_out" 2>&1 || fail "sftp put/get: $(tail -5 "$TMP/sftp_out")"
expect_eq "$(sha256sum <"$home/up" | cut -d' ' -f1)" "$want" "100 MB put by sftp"
expect_eq "$(sha256sum <"$TMP/down" | cut -d' ' -f1)" "$want" "100 MB got by sftp"
expect_eq "$(stat -c %u "$home/up")" "$WS_UID" "owner of the file sftp put"
ok "sftp put and get of 100 MB, byte-identical"
rm -f "$home/up" "$TMP/down"
scp_ws() { scp -F /dev/null -P "$port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
  -o LogLevel=ERROR $(key_opts config) "$@"; }
scp_ws "$TMP/100m" "$user@127.0.0.1:scp-up" 2>"$TMP/scp_err" || fail "scp to the workspace: $(cat "$TMP/scp_err")"
expect_eq "$(sha256sum <"$home/scp-up" | cut -d' ' -f1)" "$want" "100 MB copied by scp to the workspace"
scp_ws "$user@127.0.0.1:scp-up" "$TMP/scp-down" 2>"$TMP/scp_err" || fail "scp from the workspace: $(cat "$TMP/scp_err")"
expect_eq "$(sha256sum <"$TMP/scp-down" | cut -d' ' -f1)" "$want" "100 MB copied by scp from the workspace"
rm -f "$home/scp-up" "$TMP/scp-down"
ok "scp (SFTP protocol) of 100 MB both ways, byte-identical"
"$PY" "$helpers_src/ssh_paramiko.py" --port "$port" --user "$user" --key "$TMP/key_config" --no-pty \
  --big "$TMP/100m" --remote-dir "$home" || fail "the paramiko client's sftp check"
stop_ws
