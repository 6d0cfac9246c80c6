"""Signed webhooks end to end, against receivers nobody here wrote the verifier of: one verifies
with the `standardwebhooks` package from PyPI (receiver.py), one with the `standardwebhooks`
package from npm (receiver.mjs). Every wait is bounded; every address is 127.0.0.1.

Run: python test_webhooks.py   (BEHALF_BIN: the behalf binary; default target/debug/behalf)"""

import base64
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
BEHALF = os.environ.get("BEHALF_BIN") or str(ROOT / "target" / "debug" / "behalf")
PYTHON = sys.executable


def secret(seed: str) -> str:
    return "whsec_" + base64.b64encode(seed.encode().ljust(24, b"#")[:24]).decode()


SECRETS = {
    "py": secret("py-receiver-secret"),
    "node": secret("node-receiver-secret"),
    "rotold": secret("rotation-old-secret"),
    "rotnew": secret("rotation-new-secret"),
}
ENV = {
    **os.environ,
    "PY_SECRET": SECRETS["py"],
    "NODE_SECRET": SECRETS["node"],
    "ROT": SECRETS["rotold"],
    "ROT_2": SECRETS["rotnew"],
    # Fast, bounded delivery for the tests.
    "BEHALF_WEBHOOK_TIMEOUT_MS": "1000",
    "BEHALF_WEBHOOK_BACKOFF_MS": "200",
    "BEHALF_WEBHOOK_BACKOFF_MAX_MS": "1000",
    "BEHALF_WEBHOOK_POLL_MS": "100",
    "RECEIVER_SECRETS": json.dumps(SECRETS),
}
for k in ("BEHALF_NOW", "BEHALF_POLICY", "BEHALF_STATE_DIR", "HTTP_PROXY", "http_proxy"):
    ENV.pop(k, None)

POLICY = {
    "version": 1,
    "passports": [{
        "id": "passport_bot",
        "agent": "agent_bot",
        "permissions": [
            {"id": "deploy_staging", "action": "deploy", "vendor": "vercel.com",
             "when": {"env": "staging"}},
            {"id": "deploy_prod", "action": "deploy", "vendor": "vercel.com",
             "when": {"env": "production"}, "effect": "require_approval"},
            {"id": "ping", "action": "ping"},
        ],
    }],
}

PROCS: list = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Receiver:
    def __init__(self, kind: str, port: int | None = None):
        self.kind = kind
        self.port = port or free_port()
        self.log = Path(tempfile.mkstemp(prefix=f"recv-{kind}-", suffix=".jsonl")[1])
        self.proc = None

    def start(self):
        cmd = ([PYTHON, str(HERE / "receiver.py")] if self.kind == "py"
               else ["node", str(HERE / "receiver.mjs")])
        self.proc = subprocess.Popen(cmd + [str(self.port), str(self.log)], env=ENV,
                                     stdout=subprocess.PIPE, text=True, cwd=HERE)
        PROCS.append(self.proc)
        line = wait_line(self.proc, 15, f"{self.kind} receiver to start")
        assert line.strip() == "ready", line
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def entries(self, path: str | None = None) -> list:
        # The receiver may be appending while this reads: a line counts only once its
        # newline is written, so the text after the last newline is left for next time.
        out = []
        for line in self.log.read_bytes().split(b"\n")[:-1]:
            e = json.loads(line)
            if path is None or e["path"] == path:
                out.append(e)
        return out


def wait_line(proc, timeout: float, what: str) -> str:
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")
    return proc.stdout.readline()


class Project:
    def __init__(self, name: str):
        self.dir = Path(tempfile.mkdtemp(prefix=f"behalf-wh-{name}-"))
        (self.dir / "behalf.json").write_text(json.dumps(POLICY, indent=2) + "\n")

    def run(self, *args: str, env: dict | None = None, ok=(0,), input: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        p = subprocess.run([BEHALF, *args], cwd=self.dir, env={**ENV, **(env or {})},
                           capture_output=True, text=True, input=input, timeout=timeout)
        if ok is not None and p.returncode not in ok:
            raise AssertionError(f"behalf {' '.join(args)} exited {p.returncode}\n"
                                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def spawn(self, *args: str, env: dict | None = None, stdin=None) -> subprocess.Popen:
        p = subprocess.Popen([BEHALF, *args], cwd=self.dir, env={**ENV, **(env or {})},
                             stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
        PROCS.append(p)
        return p

    def verify(self, action="deploy", env_param=None, extra=()) -> dict:
        args = ["verify", "--agent", "agent_bot", "--action", action, "--json"]
        if action == "deploy":
            args += ["--vendor", "vercel.com", "--param", f"env={env_param}"]
        p = self.run(*args, *extra, ok=(0, 1, 2))
        return json.loads(p.stdout)

    def db(self):
        return sqlite3.connect(self.dir / ".behalf" / "state.db", timeout=30)

    def audit(self) -> list:
        with self.db() as c:
            return [(seq, h, json.loads(r)) for seq, h, r in
                    c.execute("SELECT seq, hash, record FROM audit ORDER BY seq")]

    def outbox(self) -> list:
        with self.db() as c:
            c.row_factory = sqlite3.Row
            return [dict(r) for r in c.execute("SELECT * FROM webhook_outbox ORDER BY id")]

    def status(self) -> dict:
        return json.loads(self.run("webhooks", "status", "--json", "--limit", "5000").stdout)

    def endpoint(self, name: str) -> dict:
        return next(e for e in self.status()["endpoints"] if e["id"] == name)


def msg_id(hash_: str) -> str:
    return "msg_" + hash_[:32]


def post(url: str, body: str, headers: dict) -> int:
    req = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


# --- the tests -------------------------------------------------------------------------------

PY = Receiver("py")
NODE = Receiver("node")


def test_commands_edit_behalf_json_in_place():
    p = Project("cmd")
    before = (p.dir / "behalf.json").read_text()
    out = p.run("webhooks", "add", "audit", "--url", "https://hooks.example.com/behalf",
                "--event", "decision.denied,approval.denied", "--description", "SIEM").stdout
    assert "export BEHALF_WEBHOOK_SECRET_AUDIT=whsec_" in out, out
    doc = json.loads((p.dir / "behalf.json").read_text())
    assert list(doc) == ["version", "passports", "webhooks"], list(doc)
    assert doc["passports"] == POLICY["passports"]
    assert doc["webhooks"] == [{"id": "audit", "url": "https://hooks.example.com/behalf",
                                "events": ["decision.denied", "approval.denied"],
                                "secretEnv": "BEHALF_WEBHOOK_SECRET_AUDIT",
                                "description": "SIEM"}], doc["webhooks"]
    # Invalid edits are refused and change nothing.
    text = (p.dir / "behalf.json").read_text()
    bad = p.run("webhooks", "add", "x", "--url", "ftp://nope", ok=(78,))
    assert "bad_webhook" in bad.stderr, bad.stderr
    p.run("webhooks", "add", "y", "--url", "https://a.example", "--event", "decision.maybe",
          ok=(78,))
    p.run("webhooks", "add", "audit", "--url", "https://a.example", ok=(64,))
    assert (p.dir / "behalf.json").read_text() == text
    # Rotation: secretEnv names the new variable, previousSecretEnv the old, in place.
    out = p.run("webhooks", "rotate", "audit").stdout
    assert "BEHALF_WEBHOOK_SECRET_AUDIT_2" in out, out
    w = json.loads((p.dir / "behalf.json").read_text())["webhooks"][0]
    assert list(w) == ["id", "url", "events", "secretEnv", "previousSecretEnv", "description"], w
    assert (w["secretEnv"], w["previousSecretEnv"]) == (
        "BEHALF_WEBHOOK_SECRET_AUDIT_2", "BEHALF_WEBHOOK_SECRET_AUDIT")
    p.run("webhooks", "rotate", "audit", ok=(64,))  # one rotation at a time
    p.run("check")
    listed = json.loads(p.run("webhooks", "list", "--json").stdout)
    assert listed[0]["previousSecretEnv"] == "BEHALF_WEBHOOK_SECRET_AUDIT", listed
    p.run("webhooks", "rotate", "audit", "--finish")
    w = json.loads((p.dir / "behalf.json").read_text())["webhooks"][0]
    assert "previousSecretEnv" not in w and w["secretEnv"] == "BEHALF_WEBHOOK_SECRET_AUDIT_2"
    p.run("webhooks", "rotate", "audit", "--finish", ok=(64,))
    # A hand-written rotation naming the same variable twice is a path-listed policy error.
    doc = json.loads((p.dir / "behalf.json").read_text())
    doc["webhooks"][0]["previousSecretEnv"] = doc["webhooks"][0]["secretEnv"]
    (p.dir / "bad.json").write_text(json.dumps(doc))
    bad = p.run("--policy", "bad.json", "check", ok=(78,))
    assert "webhooks[0].previousSecretEnv" in bad.stderr and "bad_webhook" in bad.stderr, bad.stderr
    p.run("webhooks", "remove", "audit")
    assert (p.dir / "behalf.json").read_text() == before
    p.run("webhooks", "remove", "audit", ok=(64,))


def decide_every_event_type(p: Project) -> None:
    assert p.verify(env_param="staging")["decision"] == "allowed"
    held = p.verify(env_param="production", extra=("--param", "n=1"))
    assert held["decision"] == "approval_required", held
    p.run("approvals", "approve", held["approvalId"])
    held2 = p.verify(env_param="production", extra=("--param", "n=2"))
    p.run("approvals", "deny", held2["approvalId"])
    assert p.verify(action="delete_everything")["decision"] == "denied"


def test_every_event_is_queued_with_its_record_and_both_receivers_accept_it():
    p = Project("interop")
    p.run("webhooks", "add", "py", "--url", PY.url("/py/ok/interop"), "--secret-env", "PY_SECRET")
    p.run("webhooks", "add", "node", "--url", NODE.url("/node/ok/interop"),
          "--secret-env", "NODE_SECRET")
    decide_every_event_type(p)
    audit = p.audit()
    rows = p.outbox()
    # Same transaction: every record has exactly one row per endpoint, and nothing else.
    assert len(audit) == 6, len(audit)
    for ep in ("py", "node"):
        assert sorted(r["seq"] for r in rows if r["endpoint"] == ep) == [a[0] for a in audit]
    assert {r["msg_id"] for r in rows} == {msg_id(h) for _, h, _ in audit}
    assert all(r["status"] == "pending" for r in rows)
    out = p.run("webhooks", "deliver", "--once").stdout
    assert "delivered 12," in out, out
    for recv, path in ((PY, "/py/ok/interop"), (NODE, "/node/ok/interop")):
        got = recv.entries(path)
        assert len(got) == 6, (recv.kind, got)
        assert all(e["verified"] and e["status"] == 204 for e in got), got
        by_id = {e["id"]: e for e in got}
        types = set()
        for seq, h, record in audit:
            e = by_id[msg_id(h)]
            body = json.loads(e["body"])
            assert body["data"] == record, (body, record)
            types.add(body["type"])
            assert body["timestamp"] == record["time"]
            assert abs(int(e["timestamp"]) - time.time()) < 60
            assert len(e["signature"].split(" ")) == 1
        assert types == {"decision.allowed", "decision.denied", "decision.approval_required",
                         "approval.granted", "approval.denied"}, types
    for ep in ("py", "node"):
        e = p.endpoint(ep)
        assert (e["delivered"], e["pending"], e["failed"]) == (6, 0, 0), e
    # Nothing left: another pass sends nothing.
    assert "delivered 0," in p.run("webhooks", "deliver", "--once").stdout
    assert len(PY.entries("/py/ok/interop")) == 6


def test_tampered_or_stale_messages_are_rejected_by_both_receivers():
    p = Project("tamper")
    p.run("webhooks", "add", "py", "--url", PY.url("/py/ok/tamper"), "--secret-env", "PY_SECRET")
    p.run("webhooks", "add", "node", "--url", NODE.url("/node/ok/tamper"),
          "--secret-env", "NODE_SECRET")
    p.verify(action="ping")
    p.run("webhooks", "deliver", "--once")
    for recv, path in ((PY, "/py/ok/tamper"), (NODE, "/node/ok/tamper")):
        [g] = recv.entries(path)
        assert g["verified"], g
        h = {"content-type": "application/json", "webhook-id": g["id"],
             "webhook-timestamp": g["timestamp"], "webhook-signature": g["signature"]}
        url = recv.url(path)
        assert post(url, g["body"], h) == 204, "the genuine message again"
        assert post(url, g["body"].replace('"ping"', '"pong"'), h) == 400, "tampered body"
        assert post(url, g["body"] + " ", h) == 400, "body with a trailing space"
        # Change the id's last character to something it is not (it may already be "0").
        other_id = g["id"][:-1] + ("1" if g["id"].endswith("0") else "0")
        assert post(url, g["body"], {**h, "webhook-id": other_id}) == 400, "tampered id"
        ts = str(int(g["timestamp"]) + 1)
        assert post(url, g["body"], {**h, "webhook-timestamp": ts}) == 400, "tampered timestamp"
        assert post(url, g["body"], {**h, "webhook-signature": "v1,AAAA"}) == 400
        rejected = [e for e in recv.entries(path) if not e["verified"]]
        assert len(rejected) == 5, rejected
    # Stale and future messages, made by behalf itself with its clock moved (BEHALF_NOW):
    # 10 minutes old, and 10 minutes ahead. Both receivers refuse them; behalf retries.
    [(_, h, _)] = p.audit()
    mid = msg_id(h)
    for shift, word in ((-600, "old"), (600, "new")):
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + shift))
        p.run("webhooks", "replay", mid)
        out = p.run("webhooks", "deliver", "--once", env={"BEHALF_NOW": when}).stdout
        assert "retrying later 2" in out, out
        for recv, path in ((PY, "/py/ok/tamper"), (NODE, "/node/ok/tamper")):
            last = recv.entries(path)[-1]
            assert last["id"] == mid and not last["verified"], last
            assert f"too {word}" in last["error"].lower(), last
            assert abs(int(last["timestamp"]) - (time.time() + shift)) < 60
        st = p.status()
        pending = [d for d in st["deliveries"] if d["msgId"] == mid]
        assert len(pending) == 2 and all(d["lastCode"] == 400 for d in pending), st
    # With the real clock the same message (same id) is accepted again.
    def redelivered():
        p.run("webhooks", "deliver", "--once")
        return all(e["delivered"] == 1 and e["pending"] == 0
                   for e in p.status()["endpoints"])
    wait_until(redelivered, 15, "the replayed message to be accepted")
    for recv, path in ((PY, "/py/ok/tamper"), (NODE, "/node/ok/tamper")):
        last = recv.entries(path)[-1]
        assert last["id"] == mid and last["verified"] and last["status"] == 204, last


def test_a_rotation_signs_with_both_secrets_until_it_is_finished():
    p = Project("rotate")
    p.run("webhooks", "add", "old", "--url", PY.url("/rotold/ok/rot"), "--secret-env", "ROT")
    p.run("webhooks", "add", "new", "--url", NODE.url("/rotnew/ok/rot"), "--secret-env", "ROT")
    p.run("webhooks", "rotate", "old")
    p.run("webhooks", "rotate", "new")
    p.verify(action="ping")
    assert "delivered 2," in p.run("webhooks", "deliver", "--once").stdout
    [a] = PY.entries("/rotold/ok/rot")
    [b] = NODE.entries("/rotnew/ok/rot")
    # One receiver knows only the old secret, the other only the new one: both accept.
    assert a["verified"] and b["verified"], (a, b)
    assert len(a["signature"].split(" ")) == 2 and a["id"] == b["id"]
    p.run("webhooks", "rotate", "old", "--finish")
    p.run("webhooks", "rotate", "new", "--finish")
    p.verify(action="ping")
    p.run("webhooks", "deliver", "--once")
    a2 = PY.entries("/rotold/ok/rot")[-1]
    b2 = NODE.entries("/rotnew/ok/rot")[-1]
    assert not a2["verified"], "after --finish the old secret no longer signs"
    assert b2["verified"] and len(b2["signature"].split(" ")) == 1


def test_a_failing_receiver_gets_the_message_later_with_the_same_id():
    p = Project("flaky")
    p.run("webhooks", "add", "flaky", "--url", PY.url("/py/flaky/retry"),
          "--secret-env", "PY_SECRET")
    p.verify(action="ping")
    d = p.spawn("webhooks", "deliver")
    try:
        wait_until(lambda: any(e["status"] == 204 for e in PY.entries("/py/flaky/retry")),
                   40, "the 4th attempt to be accepted")
    finally:
        d.terminate()
        d.wait(10)
    got = PY.entries("/py/flaky/retry")
    assert [e["status"] for e in got] == [500, "hang", 429, 204], got
    assert len({e["id"] for e in got}) == 1 and all(e["verified"] for e in got), got
    [(_, h, _)] = p.audit()
    assert got[0]["id"] == msg_id(h)
    # Retry-After: 2 is honoured (and the backoff grows: the 2nd retry waits longer than 0).
    assert got[3]["t"] - got[2]["t"] >= 1.95, got[3]["t"] - got[2]["t"]
    [row] = p.outbox()
    assert row["status"] == "delivered" and row["attempts"] == 4, row
    assert p.endpoint("flaky")["delivered"] == 1


def test_410_gone_disables_the_endpoint():
    p = Project("gone")
    p.run("webhooks", "add", "gone", "--url", PY.url("/py/gone/x"), "--secret-env", "PY_SECRET")
    p.verify(action="ping")
    out = p.run("webhooks", "deliver", "--once").stdout
    assert "disabled: gone" in out, out
    e = p.endpoint("gone")
    assert e["disabled"] and "410" in e["disabled"]["reason"], e
    p.verify(action="ping")
    p.run("webhooks", "deliver", "--once")
    assert len(PY.entries("/py/gone/x")) == 1, "a disabled endpoint gets no more requests"
    st = p.status()
    assert [d["status"] for d in st["deliveries"]] == ["disabled", "disabled"], st
    text = p.run("webhooks", "status").stdout
    assert "DISABLED" in text and "disabled" in text, text
    assert "DISABLED" in p.run("webhooks", "list").stdout
    # Re-enabled, both queued messages are tried again (and disable it again).
    p.run("webhooks", "enable", "gone")
    p.run("webhooks", "deliver", "--once")
    assert len(PY.entries("/py/gone/x")) == 2


def test_redirects_are_not_followed_and_a_failed_message_can_be_replayed():
    # SSRF guard: a receiver cannot point behalf at another host (or anywhere else).
    target = NODE.url("/node/ok/redirected")
    p = Project("redirect")
    p.run("webhooks", "add", "r", "--url", PY.url(f"/py/redirect/x?to={target}"),
          "--secret-env", "PY_SECRET")
    p.verify(action="ping")
    env = {"BEHALF_WEBHOOK_MAX_ATTEMPTS": "2"}

    def failed():
        p.run("webhooks", "deliver", "--once", env=env)
        return p.endpoint("r")["failed"] == 1
    wait_until(failed, 20, "the message to fail after 2 attempts")
    assert len(PY.entries(f"/py/redirect/x?to={target}")) == 2
    assert NODE.entries("/node/ok/redirected") == [], "the redirect was followed"
    [d] = p.status()["deliveries"]
    assert d["status"] == "failed" and d["attempts"] == 2 and d["lastCode"] == 302, d
    assert "redirect" in d["lastError"] and target in d["lastError"], d
    assert "failed" in p.run("webhooks", "status").stdout
    # The endpoint is fixed; `replay` sends the failed message again, with the same id.
    doc = json.loads((p.dir / "behalf.json").read_text())
    doc["webhooks"][0]["url"] = PY.url("/py/ok/replayed")
    (p.dir / "behalf.json").write_text(json.dumps(doc, indent=2))
    out = p.run("webhooks", "replay", d["msgId"]).stdout
    assert d["msgId"] in out, out
    p.run("webhooks", "deliver", "--once")
    [e] = PY.entries("/py/ok/replayed")
    assert e["id"] == d["msgId"] and e["verified"], e
    assert p.endpoint("r")["delivered"] == 1
    # By audit seq too; an unknown id is a usage error.
    p.run("webhooks", "replay", "1")
    p.run("webhooks", "deliver", "--once")
    assert [x["id"] for x in PY.entries("/py/ok/replayed")] == [d["msgId"]] * 2
    p.run("webhooks", "replay", "msg_00000000000000000000000000000000", ok=(64,))


def mcp_call(proc, n: int, args: dict) -> dict:
    proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                                 "params": {"name": "verify_action", "arguments": args}}) + "\n")
    proc.stdin.flush()
    return json.loads(wait_line(proc, 30, "the MCP reply"))


def mcp_start(p: Project, env: dict) -> subprocess.Popen:
    proc = p.spawn("mcp", "serve", "--agent", "agent_bot", env=env, stdin=subprocess.PIPE)
    proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                                 "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                            "clientInfo": {"name": "t", "version": "0"}}}) + "\n")
    proc.stdin.flush()
    assert "result" in json.loads(wait_line(proc, 30, "initialize"))
    return proc


def test_killed_between_the_decision_and_the_post_delivers_once_after_a_restart():
    p = Project("kill")
    p.run("webhooks", "add", "py", "--url", PY.url("/py/ok/kill"), "--secret-env", "PY_SECRET")
    # A delivering `mcp serve` whose first poll is far away: the decision is recorded (with
    # its event, in one transaction), then the process is killed before it POSTs anything.
    proc = mcp_start(p, {"BEHALF_WEBHOOK_POLL_MS": "600000"})
    reply = mcp_call(proc, 1, {"action": "ping"})
    assert reply["result"]["structuredContent"]["decision"] == "allowed", reply
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    [row] = p.outbox()
    assert row["status"] == "pending" and row["attempts"] == 0, row
    assert PY.entries("/py/ok/kill") == []
    # After a restart the message goes out, once.
    proc = mcp_start(p, {})
    try:
        wait_until(lambda: PY.entries("/py/ok/kill"), 20, "the delivery after the restart")
        wait_until(lambda: p.outbox()[0]["status"] == "delivered", 10, "the row to be delivered")
        time.sleep(1.0)  # time for any duplicate to show up
    finally:
        proc.stdin.close()
        proc.wait(10)
    got = PY.entries("/py/ok/kill")
    assert len(got) == 1 and got[0]["verified"] and got[0]["id"] == row["msg_id"], got


def test_killed_during_the_post_is_redelivered_with_the_same_id():
    p = Project("midpost")
    p.run("webhooks", "add", "py", "--url", PY.url("/py/slowfirst/mid"), "--secret-env", "PY_SECRET")
    proc = mcp_start(p, {"BEHALF_WEBHOOK_TIMEOUT_MS": "10000"})
    mcp_call(proc, 1, {"action": "ping"})
    wait_until(lambda: PY.entries("/py/slowfirst/mid"), 20, "the POST to arrive")
    proc.send_signal(signal.SIGKILL)  # the receiver has the message; behalf never heard back
    proc.wait(10)
    [row] = p.outbox()
    assert row["status"] == "pending", row

    def delivered():
        p.run("webhooks", "deliver", "--once")
        return p.outbox()[0]["status"] == "delivered"
    wait_until(delivered, 30, "the redelivery")
    got = PY.entries("/py/slowfirst/mid")
    # At-least-once on the wire, exactly once per webhook-id: the receiver dedupes by id.
    assert len(got) == 2 and {e["id"] for e in got} == {row["msg_id"]}, got
    assert got[0]["body"] == got[1]["body"] and all(e["verified"] for e in got)


def test_a_thousand_decisions_with_the_receiver_down_all_arrive_once():
    port = free_port()
    late = Receiver("node", port)
    p = Project("bulk")
    p.run("webhooks", "add", "bulk", "--url", late.url("/node/ok/bulk"),
          "--secret-env", "NODE_SECRET")
    tune = {"BEHALF_WEBHOOK_BACKOFF_MS": "100", "BEHALF_WEBHOOK_BACKOFF_MAX_MS": "500",
            "BEHALF_WEBHOOK_MAX_ATTEMPTS": "1000"}
    # Three deliverers at once, from before the first decision: none may double-deliver.
    deliverers = [p.spawn("webhooks", "deliver", env=tune) for _ in range(3)]
    try:
        lines = "".join(json.dumps({"agentId": "agent_bot", "action": "ping",
                                    "requestId": f"req_bulk_{i:04d}"}) + "\n"
                        for i in range(1000))
        p.run("verify", "--stdin", input=lines, timeout=300)
        audit = p.audit()
        assert len(audit) == 1000
        assert len(p.outbox()) == 1000
        time.sleep(1.5)  # the receiver stays down a while longer
        assert late.log.read_text() == ""
        late.start()

        def all_arrived():
            return len({e["id"] for e in late.entries()}) >= 1000
        wait_until(all_arrived, 120, "all 1000 messages")
        time.sleep(1.0)  # time for any duplicate to show up
    finally:
        for d in deliverers:
            d.terminate()
        for d in deliverers:
            d.wait(10)
    got = late.entries()
    ids = [e["id"] for e in got]
    assert len(ids) == 1000, f"{len(ids)} POSTs for {len(set(ids))} ids"
    assert set(ids) == {msg_id(h) for _, h, _ in audit}
    assert all(e["verified"] and e["status"] == 204 and not e["duplicate"] for e in got)
    e = p.endpoint("bulk")
    assert (e["delivered"], e["pending"], e["failed"]) == (1000, 0, 0), e


TESTS = [
    test_commands_edit_behalf_json_in_place,
    test_every_event_is_queued_with_its_record_and_both_receivers_accept_it,
    test_tampered_or_stale_messages_are_rejected_by_both_receivers,
    test_a_rotation_signs_with_both_secrets_until_it_is_finished,
    test_a_failing_receiver_gets_the_message_later_with_the_same_id,
    test_410_gone_disables_the_endpoint,
    test_redirects_are_not_followed_and_a_failed_message_can_be_replayed,
    test_killed_between_the_decision_and_the_post_delivers_once_after_a_restart,
    test_killed_during_the_post_is_redelivered_with_the_same_id,
    test_a_thousand_decisions_with_the_receiver_down_all_arrive_once,
]


def main() -> int:
    only = sys.argv[1:]
    passed = failed = 0
    try:
        PY.start()
        NODE.start()
        for t in TESTS:
            if only and not any(o in t.__name__ for o in only):
                continue
            start = time.monotonic()
            try:
                t()
                passed += 1
                print(f"ok   {t.__name__} ({time.monotonic() - start:.1f}s)", flush=True)
            except Exception:
                failed += 1
                print(f"FAIL {t.__name__}", flush=True)
                traceback.print_exc()
    finally:
        for proc in PROCS:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    print(f"webhooks: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
