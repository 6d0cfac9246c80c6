"""`webhook_delivery` / `webhook_event`: the exact `{headers, body}` an app POSTs for each audit
record `on_decision` hands out, checked by a receiver nobody here wrote (`standardwebhooks`
from PyPI): every message is accepted, on either secret of a rotation; a tampered body, id
or timestamp, or a stale one, is rejected; and an app delivering with urllib to a local
http.server receiver gets every event through once."""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import os
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

import behalf

NOW = "2026-11-26T11:00:00.000Z"
STAGING = {
    "agentId": "agent_claude_code",
    "action": "deploy",
    "vendor": "vercel.com",
    "params": {"env": "staging"},
}
PRODUCTION = {**STAGING, "params": {"env": "production"}}
PRODUCTION_OTHER = {**STAGING, "params": {"env": "production", "project": "shop"}}
BLOCKED = {**STAGING, "action": "query", "vendor": "postgres", "resource": "db/prod/users"}
FIVE = {
    "decision.allowed",
    "decision.denied",
    "decision.approval_required",
    "approval.granted",
    "approval.denied",
}


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


SECRET = new_secret()


def every_kind_of_record(seed: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Records of all five event types, as on_decision hands them out."""
    records: List[Dict[str, Any]] = []
    b = behalf.Behalf(seed, on_decision=records.append)
    drive(b)
    return records


def drive(b: behalf.Behalf) -> None:
    assert b.verify(STAGING, now=NOW).allowed
    assert b.verify(BLOCKED, now=NOW).decision == "denied"
    first = b.verify(PRODUCTION, now=NOW)
    second = b.verify(PRODUCTION_OTHER, now=NOW)
    assert first.decision == second.decision == "approval_required"
    b.approve(first.approval_id or "", now=NOW)
    b.deny(second.approval_id or "", now=NOW)
    assert b.verify(PRODUCTION, now=NOW).allowed


def test_every_delivery_from_on_decision_is_accepted_by_standardwebhooks(
    seed: Dict[str, Any],
) -> None:
    records = every_kind_of_record(seed)
    receiver = Webhook(SECRET)
    seen = set()
    for record in records:
        d = behalf.webhook_delivery(record, SECRET)
        assert isinstance(d, behalf.WebhookDelivery)
        assert list(d.headers) == [
            "content-type", "webhook-id", "webhook-timestamp", "webhook-signature",
        ]
        assert d.headers["content-type"] == "application/json"
        assert d.headers["webhook-id"] == "msg_" + record["hash"][:32]
        assert abs(int(d.headers["webhook-timestamp"]) - time.time()) <= 5
        payload = receiver.verify(d.body, d.headers)
        assert payload == behalf.webhook_event(record)
        assert payload["type"] == d.event_type
        assert payload["data"] == record
        assert payload["timestamp"] == record["time"]
        # bytes on the wire, as an HTTP server hands them over
        receiver.verify(d.body.encode(), d.headers)
        seen.add(d.event_type)
    assert seen == FIVE
    ids = [behalf.webhook_delivery(r, SECRET).headers["webhook-id"] for r in records]
    assert len(set(ids)) == len(records), "one webhook-id per record"


def test_the_signature_is_the_cores_and_behalf_verifies_it_too(seed: Dict[str, Any]) -> None:
    record = every_kind_of_record(seed)[0]
    d = behalf.webhook_delivery(record, SECRET, 1_800_000_000)
    assert d.headers["webhook-timestamp"] == "1800000000"
    assert d.headers["webhook-signature"] == behalf.sign_webhook(
        SECRET, d.headers["webhook-id"], 1_800_000_000, d.body
    )
    behalf.verify_webhook(SECRET, d.headers, d.body, now=1_800_000_000)


def test_the_id_is_stable_across_retries_and_the_timestamp_is_fresh(seed: Dict[str, Any]) -> None:
    record = every_kind_of_record(seed)[2]
    first = behalf.webhook_delivery(record, SECRET, 1_800_000_000)
    retry = behalf.webhook_delivery(record, SECRET, 1_800_000_060)
    assert first.headers["webhook-id"] == retry.headers["webhook-id"]
    assert first.body == retry.body
    assert first.headers["webhook-signature"] != retry.headers["webhook-signature"]


def test_a_rotation_signs_twice_and_a_receiver_on_either_secret_accepts(
    seed: Dict[str, Any],
) -> None:
    old, new = new_secret(), new_secret()
    for record in every_kind_of_record(seed):
        d = behalf.webhook_delivery(record, [new, old])
        signatures = d.headers["webhook-signature"].split(" ")
        assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
        Webhook(old).verify(d.body, d.headers)
        Webhook(new).verify(d.body, d.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(new_secret()).verify(d.body, d.headers)
    # a tuple works as well as a list
    d = behalf.webhook_delivery(every_kind_of_record(seed)[0], (old, new))
    Webhook(new).verify(d.body, d.headers)


def test_standardwebhooks_rejects_a_tampered_or_stale_message(seed: Dict[str, Any]) -> None:
    receiver = Webhook(SECRET)
    for record in every_kind_of_record(seed):
        d = behalf.webhook_delivery(record, SECRET)
        tampered_body = d.body.replace('"staging"', '"production"').replace('"seq":', '"seq": ')
        assert tampered_body != d.body
        ts = int(d.headers["webhook-timestamp"])
        tampered = [
            (tampered_body, d.headers),
            (d.body + " ", d.headers),
            (d.body, {**d.headers, "webhook-id": flip_last(d.headers["webhook-id"])}),
            (d.body, {**d.headers, "webhook-timestamp": str(ts - 1)}),
            (d.body, {**d.headers, "webhook-timestamp": str(ts + 1)}),
        ]
        for body, headers in tampered:
            with pytest.raises(WebhookVerificationError):
                receiver.verify(body, headers)
    record = every_kind_of_record(seed)[0]
    stale = behalf.webhook_delivery(record, SECRET, int(time.time()) - 301 - 5)
    with pytest.raises(WebhookVerificationError, match="too old"):
        receiver.verify(stale.body, stale.headers)
    early = behalf.webhook_delivery(record, SECRET, int(time.time()) + 301 + 5)
    with pytest.raises(WebhookVerificationError, match="too new"):
        receiver.verify(early.body, early.headers)


def flip_last(text: str) -> str:
    return text[:-1] + ("1" if text.endswith("0") else "0")


def test_the_timestamp_is_unix_seconds_or_an_aware_datetime(seed: Dict[str, Any]) -> None:
    record = every_kind_of_record(seed)[0]
    utc = datetime.timezone.utc
    at = datetime.datetime(2027, 1, 15, 8, 0, 0, 750_000, tzinfo=utc)
    as_int = behalf.webhook_delivery(record, SECRET, int(at.timestamp()))
    assert behalf.webhook_delivery(record, SECRET, at) == as_int
    plus_one = datetime.timezone(datetime.timedelta(hours=1))
    assert behalf.webhook_delivery(record, SECRET, at.astimezone(plus_one)) == as_int
    before = int(time.time())
    now = int(behalf.webhook_delivery(record, SECRET).headers["webhook-timestamp"])
    assert before <= now <= int(time.time())
    for bad in (datetime.datetime(2027, 1, 15), 1.5e9, True, "1800000000", -1, 2**63):
        with pytest.raises(behalf.WebhookError) as raised:
            behalf.webhook_delivery(record, SECRET, bad)  # type: ignore[arg-type]
        assert raised.value.code == "bad_timestamp"


def test_a_bad_secret_raises_and_never_signs(seed: Dict[str, Any]) -> None:
    record = every_kind_of_record(seed)[0]
    for bad in ("whsec_!!!", "", "whsec_", [], [SECRET, "whsec_!!!"], b"whsec_AAAA",
                [SECRET, 42], {"key": SECRET}, None):
        with pytest.raises(behalf.WebhookError) as raised:
            behalf.webhook_delivery(record, bad)  # type: ignore[arg-type]
        assert raised.value.code == "bad_secret", bad


def test_anything_but_an_untouched_audit_record_raises(seed: Dict[str, Any]) -> None:
    record = every_kind_of_record(seed)[0]
    edited = {**record, "params": {"env": "production"}}
    renamed = {**record, "hash": "0" * 64}
    extra = {**record, "note": "hi"}
    missing = {k: v for k, v in record.items() if k != "prevHash"}
    wrong_event = {**record, "event": "decision.allowed"}
    not_json = {**record, "params": {"when": datetime.datetime.now()}}
    for bad in (None, 42, "{}", [record], {}, {"type": "decision.allowed"}, edited, renamed,
                extra, missing, wrong_event, not_json, json.dumps(record)):
        for call in (
            lambda: behalf.webhook_delivery(bad, SECRET),  # type: ignore[arg-type]
            lambda: behalf.webhook_event(bad),  # type: ignore[arg-type]
        ):
            with pytest.raises(behalf.WebhookError) as raised:
                call()
            assert raised.value.code == "bad_audit_record", bad
            assert isinstance(raised.value, behalf.BehalfError)


def test_audit_log_records_work_too_and_the_event_shape(seed: Dict[str, Any]) -> None:
    b = behalf.Behalf(seed)
    drive(b)
    for record in b.audit_log():
        event = behalf.webhook_event(record)
        assert set(event) == {"type", "timestamp", "data"}
        assert event["type"] in FIVE
        assert event["data"] == record
        d = behalf.webhook_delivery(record, SECRET)
        assert Webhook(SECRET).verify(d.body, d.headers) == event


def test_the_delivery_is_frozen(seed: Dict[str, Any]) -> None:
    d = behalf.webhook_delivery(every_kind_of_record(seed)[0], SECRET)
    with pytest.raises(AttributeError):
        d.body = "{}"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# End to end: an app delivers from on_decision with urllib; a local receiver verifies each
# POST with standardwebhooks and keeps what it accepted.


class Receiver(http.server.ThreadingHTTPServer):
    accepted: List[Tuple[str, Dict[str, Any]]]
    rejected: List[str]
    secret: str


class Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        headers = {k: v for k, v in self.headers.items()}
        try:
            payload = Webhook(self.server.secret).verify(body, headers)
        except WebhookVerificationError as e:
            self.server.rejected.append(str(e))
            self.send_response(400)
        else:
            self.server.accepted.append((self.headers["webhook-id"], payload))
            self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), Handler)
    server.accepted, server.rejected, server.secret = [], [], new_secret()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def post(url: str, d: behalf.WebhookDelivery) -> int:
    request = urllib.request.Request(url, data=d.body.encode(), headers=d.headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_an_app_posts_every_event_from_on_decision_and_the_receiver_accepts_each(
    seed: Dict[str, Any], receiver: Receiver,
) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks/behalf"
    statuses: List[int] = []
    sent: List[Dict[str, Any]] = []

    def deliver(record: Dict[str, Any]) -> None:
        sent.append(record)
        statuses.append(post(url, behalf.webhook_delivery(record, receiver.secret)))

    b = behalf.Behalf(seed, on_decision=deliver)
    drive(b)
    assert statuses == [204] * len(sent) and len(sent) == 7
    assert receiver.rejected == []
    assert [payload["data"] for _, payload in receiver.accepted] == sent
    assert {payload["type"] for _, payload in receiver.accepted} == FIVE
    assert [i for i, _ in receiver.accepted] == [
        "msg_" + r["hash"][:32] for r in sent
    ]
    assert len({i for i, _ in receiver.accepted}) == len(sent)

    # the same receiver turns away what it should
    d = behalf.webhook_delivery(sent[0], receiver.secret)
    forged = behalf.WebhookDelivery(
        headers=d.headers, body=d.body.replace('"allowed"', '"denied"'), event_type=d.event_type
    )
    wrong_key = behalf.webhook_delivery(sent[0], new_secret())
    stale = behalf.webhook_delivery(sent[0], receiver.secret, int(time.time()) - 600)
    assert [post(url, x) for x in (forged, wrong_key, stale)] == [400, 400, 400]
    assert len(receiver.rejected) == 3
    assert len(receiver.accepted) == len(sent)
