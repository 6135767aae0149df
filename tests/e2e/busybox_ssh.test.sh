# SSH into an image that has no OpenSSH: a busybox-only root as uid 1000770000 gid 0 with no
# passwd entry, wsinit as its PID 1 in the gitlab profile, which (sshd.server auto, no sshd
# anywhere) runs wsinit's built-in SSH server. Real OpenSSH clients from outside the root, in
# the pod's network namespace: the empty-password login GitLab's proxy makes and a key login,
# the host key status reports, `exit 7`, a terminal with the client's size and its change, sftp
# put/get of 100 MB, `ssh -L` to a service inside, and python3-paramiko doing the same. The
# static build only (an ASan build is dynamic: the root has no libc).
source "$(dirname "$0")/lib.sh"

/usr/bin/python3 -c 'import paramiko' 2>/dev/null || fail "python3-paramiko is missing (scripts/install-deps installs it)"
uid=1000770000
user=gitlab-workspaces
port=60022
chroot=$(command -v chroot)
root="$TMP/root"
busybox_root "$root" cat stty tty ls sleep ps id env
[ -z "$(find "$root" -name 'sshd*' -type f)" ] || fail "the root holds an sshd"
ssh-keygen -q -t ed25519 -N '' -C e2e -f "$TMP/key"
cat >"$root/etc/wsinit/wsinit.yaml" <<YAML
version: 1
profile: gitlab
sshd:
  authorized_keys: ["$(cat "$TMP/key.pub")"]
services:
  - name: web
    shell: "exec /bin/busybox httpd -f -p 127.0.0.1:8080 -h /www"
    ready: {http: "http://127.0.0.1:8080/", interval: 100ms}
    required: true
YAML

in_root() { env -i PATH=/bin "$chroot" --userspec=$uid:0 --groups=0 "$root" "$@"; }
in_pod() { nsenter --net="/proc/$WS_PID/ns/net" "$@"; }
# The devpts the terminals come from, and /dev/null and the like, as a container runtime gives them.
unshare --mount --net --pid --fork --kill-child sh -ec "
  ip link set lo up
  mount -t proc proc $root/proc
  mount -t tmpfs -o mode=755 dev $root/dev
  for d in null zero random urandom tty; do touch $root/dev/\$d; mount --bind /dev/\$d $root/dev/\$d; done
  mkdir $root/dev/pts
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts $root/dev/pts
  ln -s pts/ptmx $root/dev/ptmx
  exec env -i PATH=/bin $chroot --userspec=$uid:0 --groups=0 $root /wsinit" >"$TMP/out" 2>"$TMP/err" &
adopt_namespace $!
wait_until "[ -S '$root/tmp/wsinit-$uid/wsinit.sock' ]" 10
rc=0
in_root /wsinit wait ready --timeout 30s >"$TMP/wait" 2>&1 || rc=$?
expect_eq "$rc" 0 "wsinit wait ready (it said: $(cat "$TMP/wait"); sshd log: $(cat "$root/projects/workspace-logs/start-sshd.log" 2>/dev/null | tail -n 5))"
doc=$(in_root /wsinit status --json)
expect_eq "$(jq -r .sshd.server <<<"$doc")" builtin "the SSH server chosen where there is no OpenSSH"
expect_eq "$(jq -r '.services[] | select(.name == "sshd") | .state' <<<"$doc")" ready "the sshd service"
expect_eq "$(jq -r .user.name <<<"$doc")" "$user" "the workspace user"
ok "gitlab profile in a busybox-only root: the built-in SSH server is the sshd service, ready"

ssh_ws() {  # ssh options... -- command
  in_pod ssh -F /dev/null -p "$port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -o ConnectTimeout=10 "$@"
}
key_opts=(-o PreferredAuthentications=publickey -o IdentitiesOnly=yes -i "$TMP/key")
none_opts=(-o PubkeyAuthentication=no -o IdentitiesOnly=yes -o IdentityFile=/dev/null)

fingerprint=$(jq -r '.sshd.host_keys[] | select(.type == "ed25519") | .fingerprint' <<<"$doc")
seen=$(in_pod ssh-keyscan -t ed25519 -p "$port" 127.0.0.1 2>/dev/null | ssh-keygen -lf - | awk '{print $2}')
expect_eq "$seen" "$fingerprint" "the ed25519 host key a client sees"
ok "the host key the client sees is the one status reports ($fingerprint)"

expect_eq "$(ssh_ws "${none_opts[@]}" "$user@127.0.0.1" 'echo in as $(id -u):$(id -g) in $PWD')" \
  "in as $uid:0 in /home/$user" "the empty-password login"
sshd_log="$root/projects/workspace-logs/start-sshd.log"
wait_until "grep -q 'accepted none (empty password) for $user' '$sshd_log'" 5
rc=0; ssh_ws "${none_opts[@]}" "root@127.0.0.1" true 2>/dev/null || rc=$?
expect_eq "$rc" 255 "a login as another user"
rc=0; ssh_ws "${key_opts[@]}" "$user@127.0.0.1" 'exit 7' || rc=$?
expect_eq "$rc" 7 "ssh host 'exit 7'"
ok "ssh: the empty password as $user (uid $uid, gid 0, HOME as cwd), root refused, exit 7 gives 7"

# Without password_less only keys get in (OpenSSH's client tries "none" first, which the
# empty-password login answers): a reload restarts the server with the new sshd_config.
sed -i 's/^sshd:$/sshd:\n  password_less: false/' "$root/etc/wsinit/wsinit.yaml"
kill -HUP "$WS_PID"
wait_until "! ssh_ws \"\${none_opts[@]}\" '$user@127.0.0.1' true 2>/dev/null" 15
wait_until "in_root /wsinit wait sshd --timeout 1s >/dev/null 2>&1" 15
expect_eq "$(ssh_ws "${key_opts[@]}" "$user@127.0.0.1" 'echo key')" key "the key login"
wait_until "grep -q 'accepted publickey for $user' '$sshd_log'" 5
ssh-keygen -q -t ed25519 -N '' -f "$TMP/other"
rc=0; ssh_ws -o PreferredAuthentications=publickey -o IdentitiesOnly=yes -i "$TMP/other" "$user@127.0.0.1" true 2>/dev/null || rc=$?
expect_eq "$rc" 255 "a key that is not authorized"
ok "password_less off (after SIGHUP): the key gets in, no key or another key does not"

# A terminal: the client's size, then a change of it, and a login shell.
cat >"$TMP/drive_terminal.py" <<'PY'
import os, pty, select, signal, struct, sys, termios, fcntl, time
argv = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
def read_until(marker, limit=10):
    out, end = b"", time.time() + limit
    while marker not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out.decode(errors="replace")
os.write(fd, b"echo ready-$((6*7))\n"); read_until(b"ready-42")
os.write(fd, b"echo size1=$(stty size)=; echo zero=$0=; tty\n"); print(read_until(b"/dev/pts/"))
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 44, 120, 0, 0))
os.kill(pid, signal.SIGWINCH)
time.sleep(0.5)
os.write(fd, b"echo size2=$(stty size)=; echo end-$((40+2))\n"); print(read_until(b"end-42"))
os.write(fd, b"exit 3\n"); read_until(b"\x00", 3)
_, status = os.waitpid(pid, 0)
print("exit=%d" % os.waitstatus_to_exitcode(status))
PY
out=$(nsenter --net="/proc/$WS_PID/ns/net" python3 "$TMP/drive_terminal.py" ssh -F /dev/null -p "$port" -o StrictHostKeyChecking=no \
  -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "${key_opts[@]}" -tt "$user@127.0.0.1")
expect_contains "$out" "size1=33 101=" "stty size in the session"
expect_contains "$out" "size2=44 120=" "stty size after the client's window changed"
expect_contains "$out" "zero=-sh=" "\$0 of a login shell"
expect_contains "$out" "/dev/pts/" "the session's tty"
expect_contains "$out" "exit=3" "the terminal session's exit code"
ok "a terminal: 33x101, then 44x120 after the client's window changed; a login shell; exit 3 gives 3"

head -c $((100 << 20)) /dev/urandom >"$TMP/up.bin"
printf 'put %s up.bin\nget up.bin %s\n' "$TMP/up.bin" "$TMP/down.bin" >"$TMP/batch"
in_pod sftp -F /dev/null -P "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
  "${key_opts[@]}" -b "$TMP/batch" "$user@127.0.0.1" >"$TMP/sftp.out" 2>&1 || fail "sftp: $(tail -n 5 "$TMP/sftp.out")"
cmp "$TMP/up.bin" "$root/home/$user/up.bin" || fail "the file sftp put differs"
cmp "$TMP/up.bin" "$TMP/down.bin" || fail "the file sftp got differs"
ok "sftp: put and get of 100 MB, byte-identical"

ssh_ws "${key_opts[@]}" -N -L "127.0.0.1:18080:127.0.0.1:8080" "$user@127.0.0.1" &
tunnel=$!
STARTED+=("$tunnel")
wait_until "in_pod curl -sf http://127.0.0.1:18080/ >/dev/null" 10
expect_eq "$(in_pod curl -s http://127.0.0.1:18080/index.html)" served "the page through ssh -L"
kill "$tunnel"
ok "ssh -L: the service on 127.0.0.1:8080 inside, through the tunnel"

in_pod /usr/bin/python3 "$(dirname "$0")/../helpers/ssh_paramiko.py" --port "$port" --user "$user" --key "$TMP/key" \
  --no-password-less --http-port 8080 --big "$TMP/up.bin" --remote-dir "/home/$user" >"$TMP/paramiko.out" 2>&1 ||
  fail "paramiko: $(tail -n 15 "$TMP/paramiko.out")"
ok "paramiko: $(tr '\n' ';' <"$TMP/paramiko.out")"

kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
ok "stopped"
