#!/usr/bin/env python3
"""Stands in for GitLab's gitlab-webide-server where the real editor is not installed.

Takes GitLab's command line (--host H --port P --log L --without-connection-token
--disable-workspace-trust), and once it holds its port writes what it was started with (argv,
environment, pid, ppid, uid, and the text of ../product.json beside its bin directory, as the
real server reads it, or null) to $GL_TOOLS_DIR/editor-started.json; then answers every GET with
a small page. A second copy that finds the port taken exits without touching the record.
"""
import http.server
import json
import os
import sys

args = sys.argv[1:]


def arg(name, default=None):
    return args[args.index(name) + 1] if name in args else default


def product_json():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "product.json")
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def write_record(product):
    record = os.path.join(os.environ.get("GL_TOOLS_DIR", "/projects/.gl-tools"), "editor-started.json")
    tmp = f"{record}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            json.dump({"argv": args, "env": dict(os.environ), "pid": os.getpid(), "ppid": os.getppid(),
                       "uid": os.getuid(), "product_json": product}, f)
        os.rename(tmp, record)
    except OSError as e:
        print(f"stand-in editor: cannot write {record}: {e}", file=sys.stderr)


PAGE = b"""<!doctype html><title>editor stand-in</title>
<p>This is wsinit's stand-in for the editor server. Run scripts/install-code-server, then the
demo again, for the real VS Code in the browser.</p>
"""


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, fmt, *a):
        sys.stderr.write("stand-in editor: " + (fmt % a) + "\n")


# product.json is read before the port is taken, as the real server reads it before it listens.
started_with = product_json()
host, port = arg("--host", "0.0.0.0"), int(arg("--port", "60001"))
try:
    server = http.server.ThreadingHTTPServer((host, port), Handler)
except OSError as e:
    print(f"stand-in editor: cannot listen on {host}:{port}: {e}", file=sys.stderr)
    sys.exit(1)
write_record(started_with)
print(f"stand-in editor: listening on {host}:{port}", flush=True)
server.serve_forever()
