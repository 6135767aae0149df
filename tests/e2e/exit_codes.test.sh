# CMD's exit status passes through; deaths by signal give 128+N; 127 and 126 with one line.
source "$(dirname "$0")/lib.sh"

for code in $(seq 0 255); do
  status=0
  "$WSINIT" -- sh -c "exit $code" || status=$?
  expect_eq "$status" "$code" "exit code $code"
done
ok "exit codes 0..255 pass through"

for sig in HUP INT QUIT KILL SEGV TERM USR1; do
  num=$(kill -l "$sig")
  status=0
  "$WSINIT" -- sh -c "kill -$sig \$\$" || status=$?
  expect_eq "$status" $((128 + num)) "death by SIG$sig"
done
ok "death by signal N gives 128+N"

status=0
"$WSINIT" -- no-such-command-anywhere 2>"$TMP/err" || status=$?
expect_eq "$status" 127 "command not found"
expect_eq "$(wc -l <"$TMP/err")" 1 "one line on stderr for not found"
expect_contains "$(cat "$TMP/err")" "cannot run 'no-such-command-anywhere': No such file or directory" "not-found message"

printf '#!/bin/sh\nexit 0\n' >"$TMP/not-executable"
chmod 644 "$TMP/not-executable"
status=0
"$WSINIT" -- "$TMP/not-executable" 2>"$TMP/err" || status=$?
expect_eq "$status" 126 "found but not executable"
expect_eq "$(wc -l <"$TMP/err")" 1 "one line on stderr for not executable"
expect_contains "$(cat "$TMP/err")" "Permission denied" "not-executable message"

status=0
"$WSINIT" --no-such-flag 2>"$TMP/err" || status=$?
expect_eq "$status" 2 "usage error"
expect_contains "$(cat "$TMP/err")" "Usage:" "usage on stderr"
ok "127, 126 and usage errors"

expect_contains "$("$WSINIT" version)" "wsinit " "version"
expect_contains "$("$WSINIT" --help)" "wsinit [--config FILE] [--] [CMD [ARG...]]" "help"
ok "version and help"
