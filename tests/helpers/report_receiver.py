"""report-receiver PORT SECRET OUT [CERT KEY]: accepts wsinit's status reports, checks the
HMAC signature (X-Wsinit-Signature over "<X-Wsinit-Timestamp>.<body>"), and appends one line
per report to OUT: "<state> <valid|INVALID>". With CERT and KEY it serves HTTPS."""
import hashlib, hmac, http.server, json, ssl, sys

port, secret, out = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        stamp = self.headers.get("X-Wsinit-Timestamp", "")
        wanted = "sha256=" + hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(wanted, self.headers.get("X-Wsinit-Signature", ""))
        with open(out, "a") as f:
            f.write(f"{json.loads(body)['state']} {'valid' if valid else 'INVALID'}\n")
        self.send_response(204 if valid else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", port), Handler)
if len(sys.argv) > 5:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[4], sys.argv[5])
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
