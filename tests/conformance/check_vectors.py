#!/usr/bin/env python3
"""Structural check of the conformance vectors against README.md; prints the case count."""
import json, re, sys, pathlib

HERE = pathlib.Path(__file__).resolve().parent
CASE_KEYS = {"name", "description", "policy", "policyText", "now", "options", "steps", "expectPolicyErrors"}
EXPECT_KEYS = {"decision", "reason", "matchedPermission", "approvalId", "grantId", "activePermissions", "action", "vendor", "resource"}
DECISIONS = {"allowed", "denied", "approval_required"}
REASONS = {"invalid_request", "unknown_agent", "passport_expired", "blocked", "approval_denied", "approved",
           "requires_approval", "approval_limit_reached", "allowed", "limit_exceeded", "permission_expired", "no_permission", "internal_error"}
DECISION_OF = {"approved": "allowed", "allowed": "allowed", "requires_approval": "approval_required"}
POLICY_CODES = {"invalid_json", "bad_version", "missing_field", "unknown_field", "wrong_type", "bad_id", "duplicate_id",
                "duplicate_agent", "bad_pattern", "bad_time", "bad_window", "bad_duration", "bad_number", "bad_matcher",
                "bad_effect", "limits_not_allowed", "approval_not_allowed", "empty_array", "bad_webhook", "bad_value",
                "duplicate_key"}
APPROVAL_ERRORS = {"approval_not_found", "approval_expired", "approval_already_decided", "bad_duration"}
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DUR_RE = re.compile(r"^[1-9]\d*[smhd]$")
SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")
errors = []

def err(where, msg): errors.append(f"{where}: {msg}")

def check_expect(where, e):
    if not isinstance(e, dict): return err(where, "expect must be an object")
    for k in e:
        if k not in EXPECT_KEYS: err(where, f"unknown expect key {k!r}")
    if e.get("decision") not in DECISIONS: err(where, f"bad decision {e.get('decision')!r}")
    r = e.get("reason")
    if r not in REASONS: err(where, f"bad reason {r!r}")
    elif DECISION_OF.get(r, "denied") != e.get("decision"): err(where, f"reason {r} does not go with decision {e.get('decision')}")
    for k in ("approvalId", "grantId"):
        if k in e and e[k] not in (True, False, "same", "new"): err(where, f"{k} must be true/false/'same'/'new'")
    if "matchedPermission" in e and not (e["matchedPermission"] is None or isinstance(e["matchedPermission"], str)):
        err(where, "matchedPermission must be a string or null")
    if "activePermissions" in e and not (e["activePermissions"] is None or (isinstance(e["activePermissions"], int) and not isinstance(e["activePermissions"], bool))):
        err(where, "activePermissions must be an integer or null")

def check_ok_or_error(where, e, codes):
    if e == {"ok": True}: return
    if isinstance(e, dict) and set(e) == {"error"} and e["error"] in codes: return
    err(where, f"bad approve/deny expect {e!r}")

def check_duration(where, d, ms_number):
    if isinstance(d, bool): return err(where, "duration must not be a bool")
    if isinstance(d, int): 
        if d <= 0 and ms_number: err(where, "advance must be positive")
        return
    if not (isinstance(d, str) and DUR_RE.match(d)): err(where, f"bad duration {d!r}")

def check_step(where, s):
    if not isinstance(s, dict): return err(where, "step must be an object")
    keys = set(s)
    if keys & {"verify", "verifyOnce", "verifyJson"}:
        kind = (keys & {"verify", "verifyOnce", "verifyJson"}).pop()
        allowed = {kind, "expect"} | ({"now"} if kind == "verify" else set())
        if keys - allowed or "expect" not in s: err(where, f"bad {kind} step keys {sorted(keys)}")
        if kind == "verifyJson" and not isinstance(s[kind], str): err(where, "verifyJson takes a string")
        if kind != "verifyJson" and not isinstance(s[kind], dict): err(where, f"{kind} takes an object")
        if "now" in s and not TIME_RE.match(s["now"]): err(where, "bad now")
        check_expect(where, s.get("expect"))
    elif "advance" in keys:
        if keys != {"advance"}: err(where, "advance step has extra keys")
        check_duration(where, s["advance"], True)
    elif "at" in keys:
        if keys != {"at"} or not TIME_RE.match(str(s["at"])): err(where, "bad at step")
    elif "approve" in keys:
        if keys - {"approve", "ttl", "expect"} or "expect" not in keys: err(where, "bad approve step keys")
        if "ttl" in s and not (isinstance(s["ttl"], (str, int)) and not isinstance(s["ttl"], bool)): err(where, "bad ttl type")
        check_ok_or_error(where, s.get("expect"), APPROVAL_ERRORS)
    elif "deny" in keys:
        if keys != {"deny", "expect"}: err(where, "bad deny step keys")
        check_ok_or_error(where, s.get("expect"), APPROVAL_ERRORS - {"bad_duration"})
    elif "exportRestore" in keys:
        if s != {"exportRestore": True}: err(where, "bad exportRestore step")
    elif "pendingApprovals" in keys or "grants" in keys:
        if len(keys) != 1 or not isinstance(next(iter(s.values())), int): err(where, "bad count step")
    elif "auditVerify" in keys:
        v = s["auditVerify"]
        if keys != {"auditVerify"} or not isinstance(v, dict) or v.get("ok") is not True or set(v) - {"ok", "records"}:
            err(where, "bad auditVerify step")
    elif "auditTamper" in keys:
        t, e = s.get("auditTamper"), s.get("expect")
        if keys != {"auditTamper", "expect"} or not isinstance(t, dict): return err(where, "bad auditTamper step")
        if t.get("op") == "edit":
            if set(t) != {"op", "index", "field", "value"}: err(where, "edit tamper needs index, field, value")
        elif t.get("op") in ("delete", "reorder", "splice"):
            if set(t) != {"op", "index"}: err(where, "tamper needs index only")
        else: err(where, f"bad tamper op {t.get('op')!r}")
        if not (isinstance(e, dict) and e.get("ok") is False and isinstance(e.get("firstBroken"), int) and set(e) == {"ok", "firstBroken"}):
            err(where, "tamper expect must be {ok: false, firstBroken: I}")
    elif "webhookSign" in keys:
        w = s["webhookSign"]
        if keys != {"webhookSign", "expect"} or set(w) != {"secret", "id", "timestamp", "body"}: err(where, "bad webhookSign step")
        if not str(s["expect"].get("signature", "")).startswith("v1,"): err(where, "webhookSign expect needs signature")
    elif "webhookVerify" in keys:
        w = s["webhookVerify"]
        if keys != {"webhookVerify", "expect"} or set(w) != {"secret", "id", "timestamp", "body", "signature", "now"}: err(where, "bad webhookVerify step")
        if set(s["expect"]) != {"ok"} or not isinstance(s["expect"]["ok"], bool): err(where, "webhookVerify expect must be {ok: bool}")
    else:
        err(where, f"unknown step {sorted(keys)}")

def main():
    names, total = {}, 0
    files = sorted(p for p in HERE.glob("*.json"))
    for path in files:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            err(path.name, f"invalid JSON: {e}"); continue
        if not isinstance(doc, dict) or set(doc) - {"description", "policies", "cases"} or not isinstance(doc.get("cases"), list):
            err(path.name, "file must be {description, policies?, cases}"); continue
        policies = doc.get("policies", {})
        for i, c in enumerate(doc["cases"]):
            where = f"{path.name}#{i}"
            if not isinstance(c, dict): err(where, "case must be an object"); continue
            name = c.get("name")
            where = f"{path.name}:{name}"
            if not isinstance(name, str) or not SNAKE.match(name): err(where, "name must be snake_case")
            if name in names: err(where, f"duplicate name (also in {names[name]})")
            names[name] = path.name
            for k in c:
                if k not in CASE_KEYS: err(where, f"unknown case key {k!r}")
            pol = c.get("policy")
            if isinstance(pol, str):
                if pol not in policies: err(where, f"policy {pol!r} not in policies")
            elif not isinstance(pol, dict) and not isinstance(c.get("policyText"), str):
                err(where, "policy must be an object or a name (or policyText a string)")
            if "now" in c and not TIME_RE.match(c["now"]): err(where, "bad now")
            if "options" in c and (not isinstance(c["options"], dict) or set(c["options"]) - {"auditCapacity"}): err(where, "bad options")
            if "expectPolicyErrors" in c:
                if "steps" in c: err(where, "a rejected policy has no steps")
                pe = c["expectPolicyErrors"]
                if not isinstance(pe, list) or not pe: err(where, "expectPolicyErrors must be a non-empty list")
                else:
                    for p in pe:
                        if not isinstance(p, dict) or set(p) != {"path", "code"} or p["code"] not in POLICY_CODES:
                            err(where, f"bad policy error {p!r}")
            else:
                steps = c.get("steps")
                if not isinstance(steps, list) or not steps: err(where, "steps must be a non-empty list"); continue
                for j, s in enumerate(steps): check_step(f"{where}.steps[{j}]", s)
            total += 1
        print(f"{path.name}: {len(doc['cases'])} cases")
    for e in errors: print("ERROR", e)
    print(f"total: {total} cases in {len(files)} files")
    return 1 if errors else 0

if __name__ == "__main__":
    sys.exit(main())
