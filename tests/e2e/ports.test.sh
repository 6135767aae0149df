# status.ports as a user checks it: a service that binds 127.0.0.1 and one that binds 0.0.0.0 are
# listed with the right service within 2 s of their bind (a sample every 500 ms, later when
# sampling took more than its 1% of CPU time, as on a loaded machine: 1.16 s was seen); the
# loopback one carries the warning (in status.warnings and once in the log) and the other none;
# wsinit's own health port is listed as wsinit's, without a warning; a devfile endpoint carries
# its URL from GL_WORKSPACE_DOMAIN_TEMPLATE; /metrics counts the ports; a port closing is seen
# and said, and its warning goes.
# wsinit runs in a network namespace of its own (only its loopback is up), so binding 0.0.0.0
# there reaches no one outside and no other test's port shows up.
source "$(dirname "$0")/lib.sh"

PY=$(python3 -c 'import sys; print(sys.executable)')

# bind.py HOST PORT MARKER DELAY: after DELAY seconds, listens on HOST:PORT, then writes the time
# (unix seconds) into MARKER and sleeps.
cat >"$TMP/bind.py" <<'PY'
import os, socket, sys, time
host, port, marker, delay = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
time.sleep(delay)
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(8)
with open(marker + ".tmp", "w") as f:
    f.write("%.6f" % time.time())
os.rename(marker + ".tmp", marker)
while True:
    time.sleep(3600)
PY
cat >"$TMP/devfile.yaml" <<'YAML'
schemaVersion: 2.2.0
components:
  - name: tooling
    container:
      image: example
      endpoints:
        - {name: web, targetPort: 8080}
YAML
plain_config "$TMP/config.yaml" <<YAML
health: {listen: "127.0.0.1:60080"}
workspace: {devfile: $TMP/devfile.yaml}
services:
  - {name: vite, command: [$PY, $TMP/bind.py, 127.0.0.1, "5173", $TMP/vite.bound, "1.3"]}
  - {name: web, command: [$PY, $TMP/bind.py, 0.0.0.0, "8080", $TMP/web.bound, "1.7"]}
YAML

GL_WORKSPACE_DOMAIN_TEMPLATE='${PORT}-workspace-1.workspaces.example.com' \
  unshare --net --pid --fork --mount-proc --kill-child \
  sh -c 'ip link set lo up && exec "$0" "$@"' "$WSINIT" --config "$TMP/config.yaml" >"$TMP/out" 2>"$TMP/err" &
adopt_namespace $!

port_field() {  # PORT JQ-EXPRESSION
  status_json | jq -r --argjson p "$1" ".ports[] | select(.port == \$p) | $2"
}
# Seconds from the service's marker (written right after it listened) to `since`, when wsinit
# first saw the port listen.
detection_delay() {  # PORT MARKER
  local since
  since=$(port_field "$1" .since)
  python3 -c 'import sys, datetime
seen = datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00")).timestamp()
print("%.3f" % (seen - float(open(sys.argv[2]).read())))' "$since" "$2"
}

wait_status '.ports | any(.port == 5173 and .service == "vite")' 10
wait_status '.ports | any(.port == 8080 and .service == "web")' 5
# The ASan build samples 2 to 3 times slower, so its 1% budget defers it as much: 3.1 s was
# seen on a loaded machine. It gets 5 s; the release build is held to 2 s.
bound=2
if is_asan_build; then bound=5; fi
for p in "5173 vite" "8080 web"; do
  set -- $p
  delay=$(detection_delay "$1" "$TMP/$2.bound")
  python3 -c "import sys; sys.exit(0 if float('$delay') <= $bound else 1)" ||
    fail "port $1 was seen ${delay}s after the service listened (expected within $bound s)"
  ok "port $1: seen ${delay}s after service $2 listened"
done

expect_eq "$(port_field 5173 .address)" 127.0.0.1 "5173's address"
expect_eq "$(port_field 5173 .loopback_only)" true "5173 is loopback only"
expect_eq "$(port_field 5173 .pid)" "$(service_field vite .pid)" "5173's pid is service vite's"
expect_contains "$(port_field 5173 .process)" python "5173's process"
expect_eq "$(port_field 5173 .declared)" false "5173 is no devfile endpoint"
expect_eq "$(port_field 5173 .url)" null "5173 has no URL"
expect_eq "$(port_field 8080 .address)" 0.0.0.0 "8080's address"
expect_eq "$(port_field 8080 .loopback_only)" false "8080 reaches beyond loopback"
expect_eq "$(port_field 8080 .declared)" true "8080 is the devfile's endpoint"
expect_eq "$(port_field 8080 .url)" "https://8080-workspace-1.workspaces.example.com/" "8080's URL"
expect_eq "$(port_field 60080 .service)" wsinit "the health port is wsinit's own"
ok "status.ports: 5173 (vite, loopback only), 8080 (web, declared, with its URL), 60080 (wsinit)"

warning="port 5173 (service vite) listens on 127.0.0.1 only: the workspace proxy cannot reach it; bind 0.0.0.0"
expect_eq "$(status_json | jq -c .warnings)" "$(jq -cn --arg w "$warning" '[$w]')" "status.warnings (none for 8080 or wsinit's 60080)"
expect_contains "$(cat "$TMP/err")" "port 5173 opened: service vite (pid $(port_field 5173 .pid), python" "the log says 5173 opened"
sleep 1.5  # three more samples: the warning is not said again
expect_eq "$(grep -c -F "$warning" "$TMP/err")" 1 "the loopback warning in the log, once"
ok "the loopback warning: in status.warnings while it lasts, once in the log"

in_pod curl -s http://127.0.0.1:60080/metrics >"$TMP/metrics"
expect_contains "$(cat "$TMP/metrics")" "wsinit_listening_ports 3" "/metrics counts the ports"
ok "/metrics: wsinit_listening_ports 3"

"$WSINIT" stop vite >/dev/null
wait_status '.ports | all(.port != 5173)' 2
expect_eq "$(status_json | jq -c .warnings)" "[]" "the warning goes with the port"
wait_until "grep -q 'port 5173 closed: service vite' '$TMP/err'" 2
ok "closing: 5173 gone from status once vite stopped, its warning with it, and said in the log"
