//! `behalf serve` delivers webhooks from its outbox with the delivery code the CLI uses
//! (`server/src/webhooks.rs`): a held decision reaches a receiver, signed (Standard Webhooks),
//! with the record's data. Its own test binary: it sets environment variables the server reads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{production, two_agents, TestServer};
use serde_json::{json, Value};

#[test]
fn the_server_delivers_webhooks_from_its_outbox_signed() {
    use axum::http::HeaderMap as Headers;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    // The in-process server reads these when its deliverer starts.
    std::env::set_var("BEHALF_TEST_SERVER_HOOK_SECRET", secret);
    std::env::set_var("BEHALF_WEBHOOK_POLL_MS", "50");
    let (got, received) = std::sync::mpsc::channel::<(Headers, String)>();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(move |headers: Headers, body: String| {
                    let got = got.clone();
                    async move {
                        let _ = got.send((headers, body));
                        "ok"
                    }
                }),
            );
            axum::serve(listener, app).await.unwrap();
        });
    });
    let mut policy = two_agents();
    policy["webhooks"] = json!([{"id": "hook", "url": format!("http://{addr}/hook"),
        "events": ["decision.approval_required"], "secretEnv": "BEHALF_TEST_SERVER_HOOK_SECRET"}]);
    let server = TestServer::start(&policy);
    let (key, _) = server.key("agent_claude_code");
    let held = server.verify(&key, &production("agent_claude_code")).json();
    let (headers, body) = received
        .recv_timeout(Duration::from_secs(10))
        .expect("a delivery");
    let h = |k: &str| headers.get(k).unwrap().to_str().unwrap().to_string();
    let ok = behalf_core::webhook::verify(
        secret,
        &h("webhook-id"),
        &h("webhook-timestamp"),
        body.as_bytes(),
        &h("webhook-signature"),
        behalf_store::wall_ms() / 1000,
    );
    assert!(ok.is_ok(), "{ok:?}");
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["type"], "decision.approval_required");
    assert_eq!(event["data"]["approvalId"], held["approvalId"]);
}
