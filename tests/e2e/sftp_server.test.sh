# sftp_server: `wsinit sftp-server` under OpenSSH's own sftp client (`sftp -D` runs the server
# command over pipes, as sshd does for the sftp subsystem): a 100 MB random file put and got back
# byte for byte, resumed transfers, recursive ones, the file commands, the errors a user sees,
# scp in its SFTP mode;
# the same operations through python3-paramiko; and a stream that breaks the protocol ends the
# server with a line on stderr.
source "$(dirname "$0")/lib.sh"
paramiko_helper=$(cd "$(dirname "$0")/../helpers" && pwd)/sftp_paramiko.py

command -v sftp >/dev/null || { echo "skip: no sftp client"; exit 77; }
work="$TMP/work"
mkdir -p "$work"
cd "$work"

# Runs sftp's batch file $TMP/batch against the server in $work; its output in $TMP/out and $TMP/err.
batch() {
  printf '%s\n' "$@" >"$TMP/batch"
  (cd "$work" && timeout 120 sftp -b "$TMP/batch" -D "$WSINIT sftp-server") >"$TMP/out" 2>"$TMP/err"
}

head -c 100000000 /dev/urandom >"$TMP/src.bin"
batch "put $TMP/src.bin big.bin" "get big.bin $TMP/back.bin" "ls -l"
cmp "$TMP/src.bin" "$work/big.bin" || fail "put: the 100 MB file differs"
cmp "$TMP/src.bin" "$TMP/back.bin" || fail "get: the 100 MB file differs"
expect_contains "$(cat "$TMP/out")" " 100000000 " "ls -l shows the size"
expect_contains "$(grep ' big.bin$' "$TMP/out")" "-rw-r--r--" "ls -l shows the mode"
ok "100 MB put and get, byte for byte"

# Resumed transfers: the parts already there are kept (marked, so a full copy would show), the
# rest is appended.
head -c 30000000 "$TMP/src.bin" >"$work/half.bin"
head -c 40000000 "$TMP/src.bin" >"$TMP/half-back.bin"
printf 'KEPT' | dd of="$work/half.bin" bs=1 seek=1000 conv=notrunc status=none
printf 'KEPT' | dd of="$TMP/half-back.bin" bs=1 seek=1000 conv=notrunc status=none
batch "reput $TMP/src.bin half.bin" "reget big.bin $TMP/half-back.bin"
resumed() {  # FILE KEPT_BYTES: the marked prefix kept, the rest the source's
  expect_eq "$(stat -c %s "$1")" 100000000 "$1: size after resuming"
  expect_eq "$(head -c 1004 "$1" | tail -c 4)" KEPT "$1: the part already there was kept"
  cmp <(tail -c +$(($2 + 1)) "$1") <(tail -c +$(($2 + 1)) "$TMP/src.bin") || fail "$1: the rest differs"
}
resumed "$work/half.bin" 30000000
resumed "$TMP/half-back.bin" 40000000
ok "reput and reget resume"

# Trees, both ways.
mkdir -p "$TMP/tree/a/b" "$TMP/tree/empty"
echo one >"$TMP/tree/one.txt"
head -c 300000 /dev/urandom >"$TMP/tree/a/b/blob"
batch "put -r $TMP/tree tree" "get -r tree $TMP/tree-back"
diff -r "$TMP/tree" "$work/tree" || fail "put -r: the trees differ"
diff -r "$TMP/tree" "$TMP/tree-back" || fail "get -r: the trees differ"
ok "put -r and get -r"

# The file commands.
rm -f "$work/half.bin"
batch "mkdir made" "rename big.bin made/moved.bin" "chmod 640 made/moved.bin" "symlink made/moved.bin sym" \
  "ln made/moved.bin hard" "ls -l made" "df" "pwd" "mkdir gone" "rmdir gone"
[ -f "$work/made/moved.bin" ] && [ ! -e "$work/big.bin" ] || fail "rename did not move the file"
expect_eq "$(stat -c %a "$work/made/moved.bin")" 640 "chmod"
expect_eq "$(readlink "$work/sym")" made/moved.bin "symlink's target"
expect_eq "$(stat -c %h "$work/made/moved.bin")" 2 "the hard link's count"
[ ! -e "$work/gone" ] || fail "rmdir left the directory"
expect_contains "$(cat "$TMP/out")" "-rw-r-----" "ls -l after chmod"
expect_contains "$(cat "$TMP/out")" "Avail" "df (statvfs@openssh.com)"
expect_contains "$(cat "$TMP/out")" "Remote working directory: $(realpath "$work")" "pwd is the cwd"
batch "rm hard" "rm sym" "rm made/moved.bin" "rmdir made"
[ ! -e "$work/made" ] && [ ! -e "$work/hard" ] && [ ! -L "$work/sym" ] || fail "rm and rmdir left files"
ok "mkdir, rename, chmod, symlink, ln, ls -l, df, pwd, rm, rmdir"

# What a user sees when something is missing or refused ('-' keeps the batch going).
batch "-get nothere $TMP/x" "-rmdir tree" "-ls nothere" "-chmod 600 nothere"
err=$(cat "$TMP/err")
expect_contains "$err" "nothere\" not found" "get of a missing file"
expect_contains "$err" "Failure" "rmdir of a directory that is not empty"
expect_contains "$err" "No such file" "chmod of a missing file"
ok "errors on missing files"

# scp (SFTP mode, OpenSSH 9): its -S program stands in for ssh and runs the server in $work, as
# an SSH server runs it in HOME; scp takes "~/" as that directory.
printf '#!/bin/sh\ncd "%s" && exec "%s" sftp-server\n' "$work" "$WSINIT" >"$TMP/fake-ssh"
chmod +x "$TMP/fake-ssh"
head -c 3000000 /dev/urandom >"$TMP/scp.bin"
timeout 60 scp -q -S "$TMP/fake-ssh" "$TMP/scp.bin" host:scp-copy.bin 2>"$TMP/err" || fail "scp put"
timeout 60 scp -q -S "$TMP/fake-ssh" host:scp-copy.bin "$TMP/scp-back.bin" 2>"$TMP/err" || fail "scp get"
timeout 60 scp -q -S "$TMP/fake-ssh" "$TMP/scp.bin" 'host:~/in-home.bin' 2>"$TMP/err" || fail "scp put to ~/"
cmp "$TMP/scp.bin" "$work/scp-copy.bin" && cmp "$TMP/scp.bin" "$TMP/scp-back.bin" || fail "scp: the copies differ"
cmp "$TMP/scp.bin" "$work/in-home.bin" || fail "scp: ~/ is not the directory the server started in"
if timeout 60 scp -q -S "$TMP/fake-ssh" host:no-such.bin "$TMP/x" 2>"$TMP/err"; then fail "scp of a missing file succeeded"; fi
expect_contains "$(cat "$TMP/err")" "No such file" "scp of a missing file"
ok "scp put, get, ~/ and a missing file"

# The protocol's bounds: a packet over 256 KiB, and a request before INIT, end the session.
set +e
printf '\x7f\xff\xff\xff' | "$WSINIT" sftp-server >/dev/null 2>"$TMP/err1"
rc1=$?
printf '\x00\x00\x00\x09\x11\x00\x00\x00\x01\x00\x00\x00\x00' | "$WSINIT" sftp-server >/dev/null 2>"$TMP/err2"
rc2=$?
"$WSINIT" sftp-server </dev/null >/dev/null 2>"$TMP/err3"
rc3=$?
set -e
expect_eq "$rc1" 1 "exit status after a packet over the bound"
expect_contains "$(cat "$TMP/err1")" "the bound is" "the line on stderr"
expect_eq "$rc2" 1 "exit status after a request before INIT"
expect_contains "$(cat "$TMP/err2")" "before INIT" "the line on stderr"
expect_eq "$rc3:$(wc -c <"$TMP/err3")" "0:0" "an empty input: status 0, nothing on stderr"
ok "protocol errors end the session with one line on stderr"

# The same operations through paramiko, where it is installed.
python=
for p in /usr/bin/python3 python3; do
  if "$p" -c 'import paramiko' 2>/dev/null; then python=$p; break; fi
done
if [ -n "$python" ]; then
  mkdir -p "$TMP/pmk"
  timeout 120 "$python" "$paramiko_helper" "$WSINIT" "$TMP/pmk" >"$TMP/pmk.out" 2>&1 \
    || { cat "$TMP/pmk.out" >&2; fail "paramiko"; }
  ok "paramiko: $(grep -c '^ok:' "$TMP/pmk.out") checks"
else
  echo "note: python3-paramiko is not installed; its checks were not run"
fi
