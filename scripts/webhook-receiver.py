#!/usr/bin/env python3
"""A webhook receiver for scripts/scale-out.sh: checks each Realname-Signature
(t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>) and appends one JSON line per request
(event id, verification id, type, whether the signature verified) to a log file.

    webhook-receiver.py PORT SECRET LOG
"""
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, SECRET, LOG = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = dict(p.split("=", 1) for p in self.headers.get("Realname-Signature", "").split(",") if "=" in p)
        expected = hmac.new(SECRET, parts.get("t", "").encode() + b"." + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(expected, parts.get("v1", ""))
        try:
            event = json.loads(body)
        except ValueError:
            event = {}
        line = {
            "event_id": self.headers.get("Realname-Event-Id"),
            "body_id": event.get("id"),
            "verification_id": event.get("data", {}).get("verification_id"),
            "type": event.get("type"),
            "outcome": event.get("data", {}).get("outcome"),
            "signature_ok": ok,
        }
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        self.send_response(200 if ok else 400)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
