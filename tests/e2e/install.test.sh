# `wsinit install DIR`, the injector init container's job: an atomic copy of the running
# binary, mode 0755, that works; a directory it cannot write is a clear error with nothing left.
source "$(dirname "$0")/lib.sh"

out=$("$WSINIT" install "$TMP/volume/bin")
expect_contains "$out" "installed wsinit" "install output"
installed="$TMP/volume/bin/wsinit"
expect_eq "$(stat -c %a "$installed")" 755 "mode"
cmp -s "$WSINIT" "$installed" || fail "the installed binary differs from the running one"
expect_eq "$("$installed" version)" "$("$WSINIT" version)" "installed version"
status=0
unshare --pid --fork --mount-proc --kill-child "$installed" -- sh -c 'exit 7' || status=$?
expect_eq "$status" 7 "the installed binary as PID 1"
ok "install copies a working binary, mode 0755"

# Installing over a running copy (a restarted init container) replaces the file, not its inode.
"$installed" -- sleep 5 >/dev/null 2>&1 &
running=$!
STARTED+=("$running")
inode=$(stat -c %i "$installed")
"$installed" install "$TMP/volume/bin" >/dev/null
[ "$(stat -c %i "$installed")" != "$inode" ] || fail "install wrote into the old file instead of renaming a new one"
kill -0 "$running" || fail "the running copy died"
kill -TERM "$running"
expect_eq "$(ls -A "$TMP/volume/bin")" wsinit "files in the target directory (no temporary left)"
ok "installing again while a copy runs: a new file renamed into place"

mkdir -p "$TMP/locked"
chmod 0555 "$TMP/locked"
status=0
err=$(setpriv --reuid="$WS_UID" --regid=0 --clear-groups "$WSINIT" install "$TMP/locked/bin" 2>&1) || status=$?
expect_eq "$status" 1 "exit status into an unwritable directory"
expect_contains "$err" "$TMP/locked/bin" "error names the directory"
expect_contains "$err" "Permission denied" "error says why"
expect_eq "$(ls -A "$TMP/locked")" "" "nothing left behind"
status=0
err=$("$WSINIT" install 2>&1) || status=$?
expect_eq "$status" 2 "install without DIR"
ok "unwritable target: exit 1 naming the directory and the reason, nothing written; no DIR: usage error"
