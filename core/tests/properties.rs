//! Properties that must hold for every policy and request, not just the vectors.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)] // test code may index and panic

use behalf_core::{Engine, EngineOptions, Reason};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const NOW: i64 = 1_795_000_000_000;

fn permission() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["deploy", "purchase", "send_email", "*", "dep*"]),
        prop::option::of(prop::sample::select(vec![
            "vercel.com",
            "*.amazon.com",
            "*",
            "amazon.com",
        ])),
        prop::option::of(prop::sample::select(vec!["db/prod/**", "projects/*", "a"])),
        prop::sample::select(vec![0u8, 1, 2, 3]),
        prop::sample::select(vec!["allow", "block", "require_approval"]),
        any::<bool>(),
    )
        .prop_map(|(action, vendor, resource, when, effect, limited)| {
            let mut p = Map::new();
            p.insert("action".into(), json!(action));
            if let Some(v) = vendor {
                p.insert("vendor".into(), json!(v));
            }
            if let Some(r) = resource {
                p.insert("resource".into(), json!(r));
            }
            match when {
                1 => {
                    p.insert("when".into(), json!({"env": "staging"}));
                }
                2 => {
                    p.insert(
                        "when".into(),
                        json!({"env": {"in": ["production", "staging"]}}),
                    );
                }
                3 => {
                    p.insert("when".into(), json!({"amount": {"lte": 100}}));
                }
                _ => {}
            }
            p.insert("effect".into(), json!(effect));
            if limited && effect == "allow" {
                p.insert("limits".into(), json!({"maxAmount": 50}));
            }
            Value::Object(p)
        })
}

fn request() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["deploy", "purchase", "send_email"]),
        prop::sample::select(vec![None, Some("vercel.com"), Some("www.amazon.com"), Some("amazon.com")]),
        prop::sample::select(vec![None, Some("db/prod/x"), Some("projects/web")]),
        prop::sample::select(vec![None, Some("staging"), Some("production")]),
        prop::sample::select(vec![None, Some(10), Some(500)]),
    )
        .prop_map(|(action, vendor, resource, env, amount)| {
            let mut params = Map::new();
            if let Some(e) = env {
                params.insert("env".into(), json!(e));
            }
            if let Some(a) = amount {
                params.insert("amount".into(), json!(a));
            }
            json!({"agentId": "agent", "action": action, "vendor": vendor, "resource": resource, "params": params})
        })
}

fn policy(perms: &[Value]) -> Value {
    let with_ids: Vec<Value> = perms
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut p = p.clone();
            if let Value::Object(m) = &mut p {
                m.insert("id".into(), json!(format!("p{i}")));
            }
            p
        })
        .collect();
    json!({"version": 1, "passports": [{"id": "passport", "agent": "agent", "permissions": with_ids}]})
}

fn decide(perms: &[Value], request: &Value) -> (String, Reason) {
    match Engine::from_value(&policy(perms), EngineOptions::default()) {
        Ok(mut engine) => {
            let d = engine.verify(request, NOW);
            (d.decision().as_str().to_string(), d.reason)
        }
        Err(e) => (format!("policy rejected: {e}"), Reason::InternalError),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn decision_does_not_depend_on_permission_order(
        perms in prop::collection::vec(permission(), 1..8),
        req in request(),
        seed in any::<u64>(),
    ) {
        let mut shuffled = perms.clone();
        // A deterministic shuffle from the seed.
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(decide(&perms, &req), decide(&shuffled, &req));
    }

    #[test]
    fn duplicating_permissions_changes_nothing(
        perms in prop::collection::vec(permission(), 1..6),
        req in request(),
    ) {
        let mut doubled = perms.clone();
        doubled.extend(perms.iter().cloned());
        prop_assert_eq!(decide(&perms, &req), decide(&doubled, &req));
    }

    #[test]
    fn adding_a_block_never_turns_a_denial_into_an_allow(
        perms in prop::collection::vec(permission(), 0..6),
        block in permission(),
        req in request(),
    ) {
        let before = decide(&perms, &req);
        let mut more = perms.clone();
        let mut block = block;
        if let Value::Object(m) = &mut block {
            m.insert("effect".into(), json!("block"));
            m.remove("limits");
        }
        more.push(block);
        let after = decide(&more, &req);
        if before.0 != "allowed" {
            prop_assert_ne!(after.0, "allowed");
        }
    }

    #[test]
    fn adding_an_allow_never_turns_an_allow_into_anything_else(
        perms in prop::collection::vec(permission(), 0..6),
        allow in permission(),
        req in request(),
    ) {
        let before = decide(&perms, &req);
        let mut more = perms.clone();
        let mut allow = allow;
        if let Value::Object(m) = &mut allow {
            m.insert("effect".into(), json!("allow"));
        }
        more.push(allow);
        if before.0 == "allowed" {
            prop_assert_eq!(decide(&more, &req).0, "allowed");
        }
    }

    #[test]
    fn allowed_is_true_exactly_when_the_decision_is_allowed(
        perms in prop::collection::vec(permission(), 0..6),
        req in request(),
    ) {
        if let Ok(mut engine) = Engine::from_value(&policy(&perms), EngineOptions::default()) {
            let packet = engine.verify(&req, NOW).to_value();
            prop_assert_eq!(packet["allowed"].as_bool(), Some(packet["decision"] == "allowed"));
        }
    }
}

/// Requests spelled the ways an agent might try: encoded paths, IPv4 in other bases, case,
/// trailing dots, and params of every type.
fn spelled_request() -> impl Strategy<Value = Value> {
    let param = prop_oneof![
        prop::sample::select(vec![
            "production",
            "staging",
            "a@example.com",
            "db/../x",
            "x%2e",
            "1000"
        ])
        .prop_map(|s| json!(s)),
        prop::sample::select(vec![0i64, 100, 1000, -5]).prop_map(|n| json!(n)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(json!(["production"])),
        Just(json!({"k": "v"})),
        Just(Value::Null),
    ];
    (
        prop::sample::select(vec!["deploy", "DEPLOY", "purchase", "read"]),
        prop::sample::select(vec![
            None,
            Some("vercel.com"),
            Some("Vercel.COM."),
            Some("127.0.0.1"),
            Some("2130706433"),
            Some("0x7f.1"),
            Some("0177.0.0.1"),
            Some("[0:0::1]"),
            Some("www.amazon.com"),
        ]),
        prop::sample::select(vec![
            None,
            Some("db/prod/x"),
            Some("/db//prod/x/"),
            Some("./db/%70rod/x"),
            Some("db/pro%64"),
            Some("files/caf%C3%A9"),
        ]),
        prop::option::of(param),
    )
        .prop_map(|(action, vendor, resource, env)| {
            let mut params = Map::new();
            if let Some(e) = env {
                params.insert("env".into(), e);
            }
            json!({"agentId": "agent", "action": action, "vendor": vendor, "resource": resource, "params": params})
        })
}

/// A condition that holds for every value it can decide, whatever its type; on a value of
/// another type it is indeterminate.
fn holds_or_undecidable() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(prop::sample::select(vec![
        json!({"glob": "**"}),
        json!({"lte": 9_007_199_254_740_991_i64}),
        json!({"gte": -9_007_199_254_740_991_i64}),
        json!({"ne": "never the value"}),
        json!({"notIn": ["never the value"]}),
        json!({"emailDomain": "*"}),
        json!({"exists": true}),
    ]))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// Whatever the spelling, a block whose patterns match the canonical request (and whose
    /// condition holds or cannot be decided) means the answer is never `allowed`.
    #[test]
    fn a_matching_block_is_never_spelled_around(
        perms in prop::collection::vec(permission(), 0..6),
        req in spelled_request(),
        when in holds_or_undecidable(),
    ) {
        // The canonical fields the engine checked, from a packet with no policy to match.
        let probe = Engine::from_value(&policy(&[]), EngineOptions::default())
            .map(|mut e| e.verify(&req, NOW).to_value())
            .unwrap_or(Value::Null);
        let mut block = Map::new();
        block.insert("action".into(), probe["action"].clone());
        for field in ["vendor", "resource"] {
            if let Some(text) = probe[field].as_str() {
                block.insert(field.into(), json!(text));
            }
        }
        if let (Some(w), true) = (when, req["params"].get("env").is_some()) {
            block.insert("when".into(), json!({"env": w}));
        }
        block.insert("effect".into(), json!("block"));
        let mut more = perms.clone();
        more.push(Value::Object(block));
        let (decision, reason) = decide(&more, &req);
        prop_assert_ne!(decision.as_str(), "allowed");
        if probe["reason"] != "invalid_request" {
            prop_assert_eq!(reason, Reason::Blocked);
        }
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z*./%\\\\\u{0}-\u{7f}ｖ]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "version",
            "passports",
            "id",
            "agent",
            "permissions",
            "action",
            "vendor",
            "when",
            "effect",
            "limits",
            "allow",
            "block",
            "require_approval",
            "agentId",
            "params",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "version",
                    "passports",
                    "id",
                    "agent",
                    "permissions",
                    "action",
                    "vendor",
                    "resource",
                    "when",
                    "effect",
                    "limits",
                    "approval",
                    "maxAmount",
                    "budget",
                    "in",
                    "glob",
                    "lt",
                    "exists",
                    "agentId",
                    "params",
                    "amount",
                    "requestId",
                    "x",
                ])
                .prop_map(str::to_string),
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_policy_or_request_makes_the_engine_panic(policy in arbitrary_json(), req in arbitrary_json()) {
        let _ = behalf_core::validate(&policy);
        let _ = behalf_core::verify_once(&policy, &req, NOW);
        let good = json!({"version": 1, "passports": [{"id": "p", "agent": "agent", "permissions": [
            {"id": "a", "action": "*", "when": {"amount": {"lte": 5}}, "limits": {"budget": {"amount": 9, "per": "1h"}}}]}]});
        if let Ok(mut engine) = Engine::from_value(&good, EngineOptions::default()) {
            let d = engine.verify(&req, NOW);
            prop_assert!(!d.allowed() || req.get("agentId") == Some(&json!("agent")));
        }
    }
}
