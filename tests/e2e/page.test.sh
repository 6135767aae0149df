# The workspace page (GET / from a browser) in headless Chromium: what a person sees of the
# services and the workspace, markup from the workspace shown as text, a change shown without a
# reload and without a polling storm, "disconnected" once wsinit is gone; the fields being added
# to the document (ports, activity, resources) rendered from a document that has them. Then the
# long poll the page follows (/status?wait=change), with curl.
# PAGE_SCREENSHOT=FILE keeps a screenshot of the page on that document (docs/status-page.png).
source "$(dirname "$0")/lib.sh"
command -v chromium >/dev/null || fail "chromium is missing (scripts/install-deps installs it)"
BROWSER_PY="$(cd "$(dirname "$0")/../helpers" && pwd)"

hp=$(free_port)
while [ "$hp" = 10080 ]; do hp=$(free_port); done  # the one port of that range Chromium refuses
url="http://127.0.0.1:$hp"
# A devfile in the project that is still missing once the clone is done: a warning whose text
# holds the path, markup and all.
mkdir -p "$TMP/logs" "$TMP/projects" "$TMP/scripts"
printf '#!/bin/sh\nexit 0\n' >"$TMP/scripts/gl-clone-project-command"
chmod +x "$TMP/scripts/gl-clone-project-command"
cat >"$TMP/config.yaml" <<YAML
version: 1
profile: plain
paths: {logs: $TMP/logs, runtime: $TMP/run, scripts: $TMP/scripts}
health: {listen: "127.0.0.1:$hp"}
workspace: {devfile: "$TMP/projects/<b>x</b>.yaml"}
services:
  - {name: web, command: [sleep, "300"], stop_timeout: 2s}
  - {name: migrate, shell: "echo '<b>log</b>'; exit 3", restart: never, required: true}
YAML
export PROJECTS_ROOT="$TMP/projects"
start_subreaper --config "$TMP/config.yaml"
wait_until "curl -sf $url/healthz >/dev/null" 5
touch "$TMP/projects/.gl_project_cloning_successful"
wait_status '.state == "degraded" and (.warnings | length) == 1 and ([.services[].state] == ["running", "failed"])'

# --- the page as served ---
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$url/")" 404 "/ without Accept: text/html, as before"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: */*' "$url/")" 404 "/ for */*"
curl -s -D "$TMP/page.headers" -o "$TMP/index.html" -H 'Accept: text/html,*/*;q=0.8' "$url/"
headers=$(tr -d '\r' <"$TMP/page.headers")
expect_contains "$headers" "HTTP/1.1 200 OK" "page status"
expect_contains "$headers" "Content-Type: text/html; charset=utf-8" "page type"
expect_contains "$headers" "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';" "CSP"
expect_contains "$headers" "X-Content-Type-Options: nosniff" "nosniff"
expect_contains "$headers" "Referrer-Policy: no-referrer" "referrer policy"
expect_contains "$headers" "Cache-Control: no-store" "no caching"
grep -qi "unsafe-inline" <<<"$headers" && fail "the CSP allows inline code"
# A 400 echoes a little of the request as text: no browser may take it for anything else.
bad_headers=$(curl -s -D - -o /dev/null "$url/status?wait=change&version=%3Cscript%3E" | tr -d '\r')
expect_contains "$bad_headers" "HTTP/1.1 400" "a bad version"
expect_contains "$bad_headers" "X-Content-Type-Options: nosniff" "nosniff on a 400"
grep -qiE "<script>|<style>| on[a-z]+=|style=" "$TMP/index.html" && fail "the page has inline script or style, which its CSP refuses"
grep -qiE "(src|href)=\"(https?:)?//" "$TMP/index.html" && fail "the page loads something from elsewhere"
curl -s -o "$TMP/page.js" -w '%{content_type}\n' "$url/page.js" | grep -qx "text/javascript; charset=utf-8" || fail "page.js type"
curl -s -o "$TMP/page.css" -w '%{content_type}\n' "$url/page.css" | grep -qx "text/css; charset=utf-8" || fail "page.css type"
size=$(cat "$TMP/index.html" "$TMP/page.js" "$TMP/page.css" | wc -c)
[ "$size" -lt 32768 ] || fail "the page is $size bytes in all (limit 32 KiB)"
ok "GET / with Accept: text/html is the page ($size bytes with its script and style), with a strict CSP and no inline code; / for curl is 404 as before"

# --- in the browser: wsinit's own document ---
export WSINIT BROWSER_PY
python3 - "$url" "$TMP" "$WS_PID" <<'PY' || fail "the page in the browser (above)"
import json, os, re, subprocess, sys, time, urllib.request
sys.path.insert(0, os.environ["BROWSER_PY"])
from page_browser import Browser

url, tmp, ws_pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
SEEN = """JSON.stringify({
  state: document.getElementById('state').textContent,
  link: document.getElementById('link').textContent,
  services: [...document.querySelectorAll('#services tbody tr')].map(tr => [...tr.cells].map(td => td.textContent)),
  warnings: [...document.querySelectorAll('#warnings li')].map(li => li.textContent),
  warningsShown: !document.getElementById('warnings-section').hidden,
  elementsInWarnings: document.querySelectorAll('#warnings li *').length,
  boldAnywhere: document.querySelectorAll('b').length,
  marker: window.pageTestMarker || null,
  statusRequests: performance.getEntriesByType('resource').filter(e => e.name.includes('/status')).length,
})"""

def seen(b):
    return json.loads(b.eval(SEEN))

def check(ok, what, got):
    if not ok:
        raise SystemExit(f"FAIL: {what}: {json.dumps(got)}")

os.makedirs(f"{tmp}/chromium", exist_ok=True)
with Browser(f"{tmp}/chromium") as b:
    b.open(url + "/")
    b.wait_for("document.querySelectorAll('#services tbody td.name').length == 2", 15)
    s = seen(b)
    rows = {r[0]: r for r in s["services"]}
    check(set(rows) == {"web", "migrate"}, "the services' names", s)
    check(rows["web"][1] == "running" and rows["migrate"][1] == "failed", "the services' states", s)
    check(rows["migrate"][7] == "exit 3", "migrate's last exit", s)
    # web's memory and CPU: a dash until wsinit's first resource sample, then figures; which
    # of the two the browser read first depends on the machine's load (the dash for an absent
    # figure is checked below on a document made for it).
    mem, cpu = rows["web"][5], rows["web"][6]
    check((mem == "—" and cpu == "—") or (re.fullmatch(r"[0-9.]+ (B|KiB|MiB|GiB|TiB)", mem) and
          re.fullmatch(r"[0-9.]+ s", cpu)), "web's memory and CPU, a dash or figures", s)
    check(s["state"] == "degraded", "the workspace state", s)
    check(s["link"] == "live", "the link to wsinit", s)
    check(s["warningsShown"] and len(s["warnings"]) == 1, "the warning", s)
    check(f"{tmp}/projects/<b>x</b>.yaml" in s["warnings"][0], "markup in a warning shown as its text", s)
    check(s["elementsInWarnings"] == 0 and s["boldAnywhere"] == 0, "markup in a warning made no element", s)
    print("ok: the page shows web running, migrate failed (exit 3), the workspace degraded, the warning's <b>x</b> as text")

    # No polling storm: a request is held 5 s at a time while nothing changes, and a change
    # (a resource sample, a port) costs one more: at most 2 in 4 s, plus one per new version.
    def version():
        with urllib.request.urlopen(url + "/status", timeout=5) as r:
            return json.load(r)["version"]
    b.eval("window.pageTestMarker = 'the same page'")
    before, v_before = seen(b)["statusRequests"], version()
    time.sleep(4)
    after, v_after = seen(b)["statusRequests"], version()
    check(after - before <= 2 + (v_after - v_before), "requests in 4 s, against the document's changes",
          {"requests": [before, after], "versions": [v_before, v_after]})

    # A change shows without a reload.
    started = time.monotonic()
    out = subprocess.run([os.environ["WSINIT"], "stop", "web"], capture_output=True, text=True, timeout=10)
    check(out.stdout.strip() == "web: stopped", "wsinit stop web", out.stdout + out.stderr)
    b.wait_for("[...document.querySelectorAll('#services tbody tr')].some(tr => tr.cells[0].textContent == 'web' && tr.cells[1].textContent == 'stopped')", 8)
    took = time.monotonic() - started
    s = seen(b)
    check(s["marker"] == "the same page", "the page was not reloaded", s)
    check(took < 3, f"the change took {took:.1f} s to show", s)
    print(f"ok: wsinit stop web: the page shows web stopped {took:.1f} s later, without a reload; "
          f"{after - before} requests in 4 s while nothing changed")

    # wsinit gone: the page says so.
    os.kill(ws_pid, 15)
    b.wait_for("document.getElementById('link').textContent.startsWith('disconnected')", 10)
    print("ok: wsinit stopped: the page says " + repr(seen(b)["link"]))
PY
wait_wsinit

# --- in the browser: a document with the fields being added (ports, activity, resources) ---
python3 - "$TMP" "${PAGE_SCREENSHOT:-}" <<'PY' || fail "the page on a full document (above)"
import http.server, json, os, sys, threading
sys.path.insert(0, os.environ["BROWSER_PY"])
from page_browser import Browser

tmp, screenshot = sys.argv[1], sys.argv[2]
files = {"/": ("index.html", "text/html; charset=utf-8"), "/page.js": ("page.js", "text/javascript; charset=utf-8"),
         "/page.css": ("page.css", "text/css; charset=utf-8")}
GiB, MiB = 1 << 30, 1 << 20
svc = lambda name, state, **kw: {"name": name, "state": state, "pid": None, "ready": state in ("ready", "running"),
                                 "required": False, "oneshot": False, "restarts": 0, "last_exit": None,
                                 "since": "2025-01-01T10:00:00.000Z", "uptime_s": 0, "dropped_lines": 0,
                                 "log_file_dropped_lines": 0, **kw}
doc = {
    "state": "ready", "version": 12, "uptime_s": 9240, "user": {"name": "gitlab-workspaces"},
    "warnings": ["sshd: password_less is on and /etc/shadow is not readable"],
    "workspace": {"editor_url": "http://127.0.0.1:60001/?folder=/projects/shop"},
    "not_ready": [],
    "services": [
        svc("sshd", "ready", pid=31, required=True, uptime_s=9239, memory_bytes=6 * MiB, cpu_s=0.4, oom_kills=0),
        svc("editor", "ready", pid=32, required=True, uptime_s=9236, memory_bytes=412 * MiB, cpu_s=187.2, oom_kills=0),
        svc("db", "ready", pid=58, uptime_s=9200, memory_bytes=96 * MiB, cpu_s=12.9, oom_kills=0),
        svc("web", "backoff", restarts=3, last_exit="exit 1", memory_bytes=None, cpu_s=None, oom_kills=1),
        svc("migrate", "exited", oneshot=True, last_exit="exit 0", memory_bytes=None, cpu_s=None, oom_kills=0),
    ],
    "ports": [
        {"port": 5432, "address": "127.0.0.1", "loopback_only": True, "service": "db", "pid": 58, "process": "postgres",
         "since": "2025-01-01T10:00:41.000Z", "declared": False, "url": None},
        {"port": 60001, "address": "0.0.0.0", "loopback_only": False, "service": "editor", "pid": 32,
         "process": "code-server", "since": "2025-01-01T10:00:04.000Z", "declared": True,
         "url": "https://60001-shop.workspaces.example/"},
        {"port": 8080, "address": "0.0.0.0", "loopback_only": False, "service": None, "pid": 990,
         "process": "<img src=x id=injected>", "since": "2025-01-01T11:02:00.000Z", "declared": False,
         "url": "javascript:alert(1)"},
    ],
    "activity": {"last_active": "2025-01-01T12:33:10.000Z", "idle_s": 50, "idle": False, "ssh_sessions": 1,
                 "editor_connections": 2},
    "resources": {"memory_bytes": 512 * MiB, "memory_limit_bytes": 2 * GiB, "memory_peak_bytes": 1.5 * GiB,
                  "oom_kills": 1, "cpu_throttled_s": None},
}

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/status":
            body, kind = json.dumps(doc).encode(), "application/json"
        elif path in files:
            body, kind = open(f"{tmp}/{files[path][0]}", "rb").read(), files[path][1]
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
try:
    with Browser(f"{tmp}/chromium") as b:
        b.open(f"http://127.0.0.1:{server.server_address[1]}/")
        b.wait_for("document.querySelectorAll('#ports tbody td').length > 1", 15)
        got = json.loads(b.eval("""JSON.stringify({
          ports: [...document.querySelectorAll('#ports tbody tr')].map(tr => [...tr.cells].map(td => td.textContent)),
          links: [...document.querySelectorAll('#ports a, #editor a')].map(a => a.getAttribute('href')),
          loopbackMarks: [...document.querySelectorAll('#ports tbody tr')].map(tr => tr.querySelectorAll('.badge').length),
          injected: document.querySelectorAll('#injected, #ports img').length,
          services: [...document.querySelectorAll('#services tbody tr')].map(tr => [...tr.cells].map(td => td.textContent)),
          facts: Object.fromEntries([...document.querySelectorAll('dd')].map(dd => [dd.id, dd.textContent])),
        })"""))

        def check(ok, what):
            if not ok:
                raise SystemExit(f"FAIL: {what}: {json.dumps(got)}")

        check([r[0] for r in got["ports"]] == ["5432", "60001", "8080"], "the ports")
        check(got["loopbackMarks"] == [1, 0, 0] and "loopback only" in got["ports"][0][1], "the loopback-only marker")
        check(sorted(got["links"]) == ["http://127.0.0.1:60001/?folder=/projects/shop", "https://60001-shop.workspaces.example/"],
              "links only for http(s) URLs")
        check(got["ports"][2][4] == "javascript:alert(1)", "a URL that is not http(s), as text")
        check(got["ports"][2][3] == "<img src=x id=injected> (990)" and got["injected"] == 0, "a process name's markup as text")
        check(got["ports"][2][2] == "—", "no service")
        web = next(r for r in got["services"] if r[0] == "web")
        check(web[5] == "—" and web[6] == "—" and "OOM kills: 1" in web[7], "web's absent memory and CPU, its OOM kill")
        editor = next(r for r in got["services"] if r[0] == "editor")
        check(editor[5] == "412 MiB" and editor[6] == "187.2 s", "the editor's memory and CPU")
        f = got["facts"]
        check(f["memory"] == "512 MiB / 2 GiB (25%)" and f["memory-peak"] == "1.5 GiB" and f["oom-kills"] == "1",
              "container resources")
        check(f["cpu-throttled"] == "—", "a null figure as a dash")
        check(f["ssh-sessions"] == "1" and f["editor-connections"] == "2" and f["idle"] == "no" and f["idle-s"] == "50s",
              "activity")
        check(f["uptime"] == "2h 34m" and f["user"] == "gitlab-workspaces", "uptime and user")
        check(f["last-active"] == "2025-01-01 12:33:10 UTC", "the last activity's time")
        # The page follows the document: a process on port 8080 that a person would expect.
        doc["ports"][2].update(process="node", url="https://8080-shop.workspaces.example/")
        doc["version"] = 13
        b.wait_for("[...document.querySelectorAll('#ports td')].some(td => td.textContent == 'node (990)')", 5)
        if screenshot:
            b.eval("document.getElementById('updated').textContent = 'updated 12:34:00 · version 13'")
            b.screenshot(screenshot)
        print("ok: a full document: ports with the loopback-only marker, links only for http(s), a process name's "
              "markup as text; activity, resources, per-service memory and CPU; absent figures as a dash; a new document shown")
finally:
    server.shutdown()
PY

# --- the long poll, with curl ---
cat >"$TMP/config2.yaml" <<YAML
version: 1
profile: plain
paths: {logs: $TMP/logs, runtime: $TMP/run}
health: {listen: "127.0.0.1:$hp"}
services:
  - {name: web, command: [sleep, "300"], stop_timeout: 2s}
YAML
# In a network namespace of its own: a port another test opens meanwhile would be a change of
# the document (its ports) and move the version these checks hold still.
unshare --net sh -c 'ip link set lo up && exec "$0" --config "$1"' "$WSINIT" "$TMP/config2.yaml" >"$TMP/out" 2>"$TMP/err" &
WS_PID=$!
WS_WAIT_PID=$!
STARTED+=("$WS_PID")
in_ns() { nsenter --net="/proc/$WS_PID/ns/net" "$@"; }
wait_until "in_ns curl -sf $url/healthz >/dev/null" 5
wait_status '.services[0].state == "running"'
v=$(in_ns curl -s "$url/status" | jq -e .version) || fail "the document has no version"
expect_eq "$(status_json | jq .version)" "$v" "the version of status --json"
wait_until "jq -e '.version == $v' $TMP/logs/wsinit-status.json >/dev/null" 2

start=$(date +%s%N)
code=$(in_ns curl -s -o "$TMP/held" -w '%{http_code}' "$url/status?wait=change&version=$v&timeout=1s")
took_ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "$code" 200 "a change-wait at its timeout"
expect_eq "$(jq .version "$TMP/held")" "$v" "the version at the timeout"
[ "$took_ms" -ge 900 ] && [ "$took_ms" -lt 3000 ] || fail "a change-wait with timeout=1s answered after ${took_ms}ms"
ok "wait=change with the current version and timeout=1s: held ${took_ms}ms, then 200 with the same version"

in_ns curl -s -o "$TMP/changed" -w '%{http_code}' "$url/status?wait=change&version=$v&timeout=20s" >"$TMP/changed.code" &
poll=$!
sleep 0.5
kill -0 "$poll" 2>/dev/null || fail "the change-wait was answered before anything changed"
start=$(date +%s%N)
expect_eq "$("$WSINIT" stop web)" "web: stopped" "stop reply"
wait "$poll"
took_ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "$(cat "$TMP/changed.code")" 200 "a change-wait answered on a change"
[ "$(jq .version "$TMP/changed")" -gt "$v" ] || fail "the version did not move: $(jq .version "$TMP/changed") after $v"
[ "$took_ms" -lt 2000 ] || fail "the change-wait was answered ${took_ms}ms after the change"
v2=$(in_ns curl -s "$url/status" | jq .version)
expect_eq "$(in_ns curl -s -o /dev/null -w '%{http_code}' -m 5 "$url/status?wait=change&version=$v&timeout=20s")" 200 "an old version"
ok "wait=change held until wsinit stop web, answered ${took_ms}ms after it with version $(jq .version "$TMP/changed") (> $v); an old version is answered at once"

expect_eq "$(in_ns curl -s -o "$TMP/bad" -w '%{http_code}' "$url/status?wait=change&version=seven")" 400 "a bad version"
expect_contains "$(cat "$TMP/bad")" "version: 'seven' is not a version" "the 400 names the parameter"
expect_eq "$(in_ns curl -s -o "$TMP/bad" -w '%{http_code}' "$url/status?wait=change")" 400 "no version"
expect_contains "$(cat "$TMP/bad")" "version: missing" "the 400 names the parameter"
expect_eq "$(in_ns curl -s -o /dev/null -w '%{http_code}' "$url/status?wait=change&version=$v2&timeout=soon")" 400 "a bad timeout"
ok "a bad or missing version, and a bad timeout, are 400s naming the parameter"

# Change-waits share the bound of held requests with wait=ready: past 64 the stalest is
# answered at once, with the document.
in_ns python3 - "$hp" "$v2" <<'PY' || fail "the held-request bound"
import socket, sys, time
port, version = int(sys.argv[1]), sys.argv[2]
request = f"GET /status?wait=change&version={version}&timeout=60s HTTP/1.1\r\nHost: a\r\n\r\n".encode()
held = []
for _ in range(64):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request)
    held.append(s)
    time.sleep(0.005)  # accepted one after the other: the first is the stalest
time.sleep(0.3)
held[0].settimeout(0.3)
try:
    early = held[0].recv(100)
    raise SystemExit(f"FAIL: one of 64 change-waits was answered early: {early!r}")
except socket.timeout:
    pass
newcomer = socket.create_connection(("127.0.0.1", port))
newcomer.sendall(request)
held[0].settimeout(5)
answer = held[0].recv(100)
assert answer.startswith(b"HTTP/1.1 200"), answer
for s in held[1:]:
    s.settimeout(0.05)
    try:
        raise SystemExit(f"FAIL: another change-wait was answered: {s.recv(100)!r}")
    except socket.timeout:
        pass
for s in held + [newcomer]:
    s.close()
print("ok: 64 change-waits held; a 65th makes the stalest answered at once (200), the others stay held")
PY

kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
