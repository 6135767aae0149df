# The static binary needs nothing from the image: in a root filesystem holding only Debian's
# busybox-static, /etc/passwd, /etc/group, /etc/hosts and wsinit (no libc, no NSS modules),
# wsinit as PID 1 runs busybox httpd as a service, answers /healthz and /readyz, and pushes
# signed reports to http://localhost:PORT, which proves name resolution (getaddrinfo) works in
# the static binary there. The root gets network and PID namespaces of its own.
source "$(dirname "$0")/lib.sh"

busybox=/bin/busybox
file -L "$busybox" | grep -q "statically linked" || fail "$busybox is not Debian's busybox-static"
file -L "$WSINIT" | grep -q "statically linked" || fail "$WSINIT is not the static build"
root="$TMP/root"
mkdir -p "$root/bin" "$root/etc" "$root/www" "$root/tmp" "$root/proc"
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$WSINIT" "$root/wsinit"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
printf 'served by busybox httpd under wsinit\n' >"$root/www/index.html"
printf 'report-key\n' >"$root/etc/report-secret"
cat >"$root/etc/wsinit.yaml" <<'YAML'
version: 1
profile: plain
paths: {logs: /tmp/logs, runtime: /tmp/run, data: /tmp/data}
health:
  listen: "127.0.0.1:8081"
  report: {url: "http://localhost:9090/report", interval: 60s, secret_file: /etc/report-secret}
services:
  - name: web
    command: [/bin/busybox, httpd, -f, -p, "127.0.0.1:8080", -h, /www]
    ready: {http: "http://127.0.0.1:8080/", interval: 50ms}
    required: true
YAML
[ -z "$(find "$root" -name 'lib*.so*')" ] || fail "the root holds shared libraries"

unshare --mount --net --pid --fork --kill-child sh -ec "
  ip link set lo up
  mount -t proc proc $root/proc
  exec chroot $root /wsinit --config /etc/wsinit.yaml" >"$TMP/out" 2>"$TMP/err" &
adopt_namespace $!
: >"$TMP/reports"
nsenter --net="/proc/$WS_PID/ns/net" python3 "$(dirname "$0")/../helpers/report_receiver.py" 9090 report-key "$TMP/reports" &
STARTED+=($!)

in_root() { nsenter --net="/proc/$WS_PID/ns/net" "$@"; }
wait_until "[ \"\$(in_root curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8081/readyz)\" = 200 ]" 10
expect_eq "$(in_root curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8081/healthz)" 200 "/healthz"
expect_eq "$(in_root curl -s http://127.0.0.1:8080/)" "served by busybox httpd under wsinit" "busybox httpd's page"
expect_eq "$(awk '/^NSpid:/ {print $NF}' "/proc/$WS_PID/status")" 1 "wsinit's pid in its namespace"
ok "busybox-only root: wsinit as PID 1 runs busybox httpd, /healthz and /readyz answer 200"

wait_until "grep -q '^ready valid$' '$TMP/reports'" 10
ok "signed reports reach http://localhost:9090 (getaddrinfo in the static binary, no NSS modules)"

kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
ok "SIGTERM: exit 0"
