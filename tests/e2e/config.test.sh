# A bad config is refused before anything runs, with file:line:column.
source "$(dirname "$0")/lib.sh"

cat >"$TMP/bad.yaml" <<'YAML'
version: 1
shutdown:
  grace: forever
log:
  colour: true
YAML
status=0
"$WSINIT" --config "$TMP/bad.yaml" -- touch "$TMP/ran" 2>"$TMP/err" || status=$?
expect_eq "$status" 2 "status for a bad config"
[ ! -e "$TMP/ran" ] || fail "CMD ran despite a bad config"
expect_contains "$(cat "$TMP/err")" "$TMP/bad.yaml:3:10: shutdown.grace: 'forever' is not a duration" "bad value"
expect_contains "$(cat "$TMP/err")" "$TMP/bad.yaml:5:3: unknown key 'colour' in log" "unknown key"
ok "bad config refused with file:line:column for every error"

status=0
"$WSINIT" --config "$TMP/missing.yaml" -- true 2>"$TMP/err" || status=$?
expect_eq "$status" 2 "status for a missing config"
expect_contains "$(cat "$TMP/err")" "missing.yaml: cannot read config file: No such file or directory" "missing file"
ok "a missing config file is an error"

printf 'version: 1\nshutdown: {grace: 2s}\n' >"$TMP/good.yaml"
status=0
WSINIT_CONFIG="$TMP/good.yaml" "$WSINIT" -- true || status=$?
expect_eq "$status" 0 "config from WSINIT_CONFIG"
printf 'version: 1\nshutdown: {grace: "${GRACE:-2s}"}\n' >"$TMP/env.yaml"
status=0
GRACE=bad "$WSINIT" --config "$TMP/env.yaml" -- true 2>"$TMP/err" || status=$?
expect_eq "$status" 2 "expanded value is validated"
expect_contains "$(cat "$TMP/err")" "'bad' is not a duration" "expanded value message"
ok "WSINIT_CONFIG and \${VAR} expansion"
