# CMD starts clean: none of wsinit's own blocked signals (its signalfd's), default dispositions,
# its own process group, no fd >= 3; with a terminal it is the foreground group. (CMD of a wsinit
# started with signals blocked or ignored gets those: signal_inheritance.test.sh.)
source "$(dirname "$0")/lib.sh"

for mode in pid1 subreaper; do
  # wsinit inherits open fds 5 and 7, and no blocked or ignored signal.
  (
    exec 5</dev/null 7>/dev/null
    if [ $mode = pid1 ]; then
      exec env --default-signal unshare --pid --fork --mount-proc "$WSINIT" -- "$HELPERS/child-state"
    else
      exec env --default-signal "$WSINIT" -- "$HELPERS/child-state"
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

# Under a pseudo-terminal CMD's group is the terminal's foreground group.
script -qec "$WSINIT -- $HELPERS/child-state" /dev/null >"$TMP/tty" </dev/null
line=$(tr -d '\r' <"$TMP/tty")
pgid=$(sed 's/.* pgid \([0-9]*\) .*/\1/' <<<"$line")
expect_contains "$line" "tpgid $pgid" "terminal foreground group"
ok "with a terminal, CMD is in the foreground process group ($line)"
