"""A webhook receiver that verifies every request with the `standardwebhooks` package from PyPI
(nothing of behalf's own). Paths: /<secretKey>/<behaviour>/<tag>; behaviours:
  ok         verify; 204 when it verifies, else 400
  flaky      1st request 500, 2nd hangs past the sender's timeout, 3rd 429 Retry-After: 2, then ok
  gone       410 Gone
  slowfirst  the first request of each webhook-id waits 5 s before answering; then ok
  redirect   302 to the URL in the query string (?to=...), which a sender must not follow
Every request is one JSON line in the log file. Secrets: RECEIVER_SECRETS (JSON, key → whsec_).
Usage: receiver.py PORT LOGFILE"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PORT = int(sys.argv[1])
LOG = sys.argv[2]
SECRETS = json.loads(os.environ["RECEIVER_SECRETS"])
lock = threading.Lock()
counts: dict = {}
seen: set = set()
slow_done: set = set()


def log(entry: dict) -> None:
    with lock, open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def answer(self, status: int, headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        key, behaviour = (parts + ["", ""])[:2]
        headers = {k.lower(): v for k, v in self.headers.items()}
        entry = {"recv": "py", "path": self.path, "id": headers.get("webhook-id"),
                 "timestamp": headers.get("webhook-timestamp"),
                 "signature": headers.get("webhook-signature"),
                 "body": body.decode("utf-8", "replace"), "t": time.time()}
        try:
            Webhook(SECRETS[key]).verify(body, headers)
            entry["verified"], entry["error"] = True, None
        except (WebhookVerificationError, KeyError, ValueError) as e:
            entry["verified"], entry["error"] = False, f"{type(e).__name__}: {e}"
        with lock:
            n = counts[self.path] = counts.get(self.path, 0) + 1
        if not entry["verified"]:
            entry["status"] = 400
            log(entry)
            return self.answer(400)
        if behaviour == "redirect":
            entry["status"] = 302
            log(entry)
            return self.answer(302, {"location": self.path.split("?to=", 1)[-1]})
        if behaviour == "gone":
            entry["status"] = 410
            log(entry)
            return self.answer(410)
        if behaviour == "flaky" and n <= 3:
            entry["status"] = {1: 500, 2: "hang", 3: 429}[n]
            log(entry)
            if n == 1:
                return self.answer(500)
            if n == 2:
                time.sleep(3)
                return self.answer(204)
            return self.answer(429, {"retry-after": "2"})
        if behaviour == "slowfirst" and entry["id"] not in slow_done:
            slow_done.add(entry["id"])
            entry["status"] = "slow"
            log(entry)
            time.sleep(5)
            with lock:
                seen.add(entry["id"])
            return self.answer(204)
        with lock:
            entry["duplicate"] = entry["id"] in seen
            seen.add(entry["id"])
        entry["status"] = 204
        log(entry)
        return self.answer(204)


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
print("ready", flush=True)
server.serve_forever()
