# CMD starts clean even when wsinit inherited a dirty state: empty signal mask, default
# dispositions, its own process group, no fd >= 3; with a terminal it is the foreground group.
source "$(dirname "$0")/lib.sh"

for mode in pid1 subreaper; do
  # wsinit inherits ignored USR1 and HUP and open fds 5 and 7.
  (
    trap '' USR1 HUP
    exec 5</dev/null 7>/dev/null
    if [ $mode = pid1 ]; then
      exec unshare --pid --fork --mount-proc "$WSINIT" -- "$HELPERS/child-state"
    else
      exec "$WSINIT" -- "$HELPERS/child-state"
    fi
  ) >"$TMP/out" 2>"$TMP/err" </dev/null
  read -r _ mask _ ignored _ fds <"$TMP/out"
  expect_eq "$mask" 0000000000000000 "$mode: blocked mask"
  expect_eq "$ignored" 0000000000000000 "$mode: ignored signals"
  expect_contains "$(cat "$TMP/out")" "fds 0 1 2 pid" "$mode: inherited fds"
  pid=$(sed 's/.* pid \([0-9]*\) .*/\1/' "$TMP/out")
  expect_contains "$(cat "$TMP/out")" "pgid $pid " "$mode: CMD leads its own process group"
  ok "$mode: CMD has an empty mask, no ignored signals, fds 0 1 2 only, its own group"
done

# The mask wsinit inherits does not reach CMD either (blocked USR1 and USR2 through a helper).
python3 -c 'import signal, os, sys; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGUSR2}); os.execv(sys.argv[1], sys.argv[1:])' \
  "$WSINIT" -- "$HELPERS/child-state" >"$TMP/out"
read -r _ mask _ <"$TMP/out"
expect_eq "$mask" 0000000000000000 "mask inherited by wsinit"
ok "a blocked mask inherited by wsinit is cleared for CMD"

# Under a pseudo-terminal CMD's group is the terminal's foreground group.
script -qec "$WSINIT -- $HELPERS/child-state" /dev/null >"$TMP/tty" </dev/null
line=$(tr -d '\r' <"$TMP/tty")
pgid=$(sed 's/.* pgid \([0-9]*\) .*/\1/' <<<"$line")
expect_contains "$line" "tpgid $pgid" "terminal foreground group"
ok "with a terminal, CMD is in the foreground process group ($line)"
