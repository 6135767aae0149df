# Signed push reports to a real receiver over HTTP and over HTTPS (a CA and a certificate made
# here with the openssl CLI), on each change; the latest state arrives after the receiver was down.
source "$(dirname "$0")/lib.sh"
receiver="$(dirname "$0")/../helpers/report_receiver.py"
echo "s3cr3t-key" >"$TMP/secret"

# A CA and a server certificate for localhost and 127.0.0.1.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=wsinit test CA" -keyout "$TMP/ca.key" -out "$TMP/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$TMP/server.key" -out "$TMP/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$TMP/san.ext"
openssl x509 -req -in "$TMP/server.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial -days 2 \
  -extfile "$TMP/san.ext" -out "$TMP/server.pem" 2>/dev/null

start_receiver() {  # port out [tls]
  if [ "${3:-}" = tls ]; then
    python3 "$receiver" "$1" s3cr3t-key "$2" "$TMP/server.pem" "$TMP/server.key" &
  else
    python3 "$receiver" "$1" s3cr3t-key "$2" &
  fi
  RECEIVER=$!
  STARTED+=("$RECEIVER")
  wait_until "(exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null" 5
}

run_scenario() {  # scheme tls-flag
  local scheme=$1 rport sport
  rport=$(free_port)
  sport=$(free_port)
  : >"$TMP/reports"
  start_receiver "$rport" "$TMP/reports" "${2:-}"
  plain_config "$TMP/config.yaml" <<YAML
health:
  report: {url: "$scheme://localhost:$rport/report", interval: 60s, secret_file: $TMP/secret, ca_file: $TMP/ca.pem}
services:
  - {name: api, shell: "sleep 0.5; exec python3 -m http.server $sport --bind 127.0.0.1", ready: {tcp: $sport, interval: 50ms}, required: true, backoff: {initial: 1s}}
YAML
  start_subreaper --config "$TMP/config.yaml"
  wait_until "grep -q '^ready valid$' $TMP/reports" 10
  grep -q '^starting valid$' "$TMP/reports" || fail "$scheme: no report of the start-up"
  ! grep -q INVALID "$TMP/reports" || fail "$scheme: a report with a bad signature"
  ok "$scheme: signed reports arrive on each change (starting, then ready), signatures valid"

  # Receiver down while the state changes, then up again: the latest state arrives.
  kill "$RECEIVER"
  wait "$RECEIVER" 2>/dev/null || true
  kill -9 "$(service_field api .pid)"
  wait_status '.state == "ready" and .services[0].restarts == 1' 10
  : >"$TMP/reports"
  start_receiver "$rport" "$TMP/reports" "${2:-}"
  wait_until "grep -q '^ready valid$' $TMP/reports" 20
  grep -q "report: cannot deliver" "$TMP/err" || fail "$scheme: the failed delivery was not logged"
  ok "$scheme: receiver down then up: the latest state (ready) arrives"
  kill -TERM "$WS_PID"
  wait_wsinit
  kill "$RECEIVER"
  wait "$RECEIVER" 2>/dev/null || true
}

run_scenario http
run_scenario https tls

# A certificate the CA did not sign is refused, and said so.
rport=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost" \
  -keyout "$TMP/other.key" -out "$TMP/other.pem" 2>/dev/null
: >"$TMP/reports"
python3 "$receiver" "$rport" s3cr3t-key "$TMP/reports" "$TMP/other.pem" "$TMP/other.key" &
STARTED+=("$!")
wait_until "(exec 3<>/dev/tcp/127.0.0.1/$rport) 2>/dev/null" 5
plain_config "$TMP/config.yaml" <<YAML
health: {report: {url: "https://localhost:$rport/", ca_file: $TMP/ca.pem, secret_file: $TMP/secret}}
YAML
start_subreaper --config "$TMP/config.yaml"
wait_until "grep -q 'report: cannot deliver to https://localhost:$rport/: certificate: ' $TMP/err" 10
[ ! -s "$TMP/reports" ] || fail "a report went to a server with an untrusted certificate"
kill -TERM "$WS_PID"
wait_wsinit
ok "an untrusted certificate is refused: $(grep -o 'certificate: .*' "$TMP/err" | head -1)"
