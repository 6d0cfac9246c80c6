"""Every built-in profile validates against schema/mcp-profile.schema.json, and the schema
rejects the old one-argument map format (so the schema and the parser agree)."""

import json
import sys
from pathlib import Path

import jsonschema

ROOT = Path(__file__).resolve().parents[3]
schema = json.loads((ROOT / "schema" / "mcp-profile.schema.json").read_text())
validator = jsonschema.Draft202012Validator(schema)
profiles = sorted((ROOT / "cli" / "src" / "mcp" / "profiles").glob("*.json"))
assert len(profiles) == 5, profiles
for p in profiles:
    errors = list(validator.iter_errors(json.loads(p.read_text())))
    assert not errors, f"{p.name}: {[e.message for e in errors]}"
old = {"tools": {"read_file": {"resource": "{path}"}}, "default": {"params": "arguments"}}
assert list(validator.iter_errors(old)), "the old map format must not validate"
print(f"profile schema: {len(profiles)} built-in profiles valid, the old map format refused")
sys.exit(0)
