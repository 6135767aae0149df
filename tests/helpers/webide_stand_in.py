#!/usr/bin/env python3
"""Stands in for GitLab's gitlab-webide-server where the real editor is not installed.

Takes GitLab's command line (--host H --port P --log L --without-connection-token
--disable-workspace-trust), writes what it was started with (argv, environment, pid, and the
text of ../product.json next to its bin directory, or null) to $GL_TOOLS_DIR/editor-started.json,
and answers every GET with a small page.
"""
import http.server
import json
import os
import sys

args = sys.argv[1:]


def arg(name, default=None):
    return args[args.index(name) + 1] if name in args else default


def product_json():
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "product.json")) as f:
            return f.read()
    except OSError:
        return None


record = os.path.join(os.environ.get("GL_TOOLS_DIR", "/projects/.gl-tools"), "editor-started.json")
try:
    with open(record + ".tmp", "w") as f:
        json.dump({"argv": args, "env": dict(os.environ), "pid": os.getpid(), "uid": os.getuid(),
                   "product_json": product_json()}, f)
    os.rename(record + ".tmp", record)
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


server = http.server.ThreadingHTTPServer((arg("--host", "0.0.0.0"), int(arg("--port", "60001"))), Handler)
print(f"stand-in editor: listening on {arg('--host', '0.0.0.0')}:{arg('--port', '60001')}", flush=True)
server.serve_forever()
