//! `GET /v1/audit/verify` (operators only): the whole chain checked as `behalf audit verify`
//! checks it — seq without gaps, every `prevHash` link and hash, and every operator's
//! signature against their stored public key — for the dashboard's Audit view.

use axum::extract::State;
use axum::Json;
use behalf_core::audit::verify_chain;
use behalf_store::any::AnyStore;
use behalf_store::{Listings, Scope, StoreError};
use serde_json::{json, Value};

use crate::auth::OperatorCaller;
use crate::error::ApiError;
use crate::operators::signing::{check_operator, OperatorCheck};
use crate::state::AppState;

const PAGE: u32 = 500;

pub async fn verify(
    State(state): State<AppState>,
    _operator: OperatorCaller,
) -> Result<Json<Value>, ApiError> {
    state.read(check).await.map(Json)
}

fn check(store: &mut AnyStore) -> Result<Value, StoreError> {
    let (mut records, mut signed, mut by_token) = (0u64, 0u64, 0u64);
    let mut prev: Option<Value> = None;
    let mut after = 0;
    let broken = 'chain: loop {
        let page = store.audit_after(Scope::All, after, PAGE)?;
        if page.is_empty() {
            break None;
        }
        for record in page {
            let seq = record.get("seq").and_then(Value::as_u64).unwrap_or(0);
            if seq != after + 1 {
                break 'chain Some((seq, "records are missing before this one".to_string()));
            }
            let window: Vec<Value> = prev.iter().cloned().chain([record.clone()]).collect();
            let report = verify_chain(&window);
            if !report.ok {
                break 'chain Some((seq, report.problem.unwrap_or_else(|| "broken link".into())));
            }
            if record.get("operator").is_some() {
                match check_operator(store, &record) {
                    Ok(OperatorCheck::Signed) => signed += 1,
                    Ok(OperatorCheck::Token) => by_token += 1,
                    Ok(OperatorCheck::Unsigned) => {}
                    Err(why) => break 'chain Some((seq, why)),
                }
            }
            records += 1;
            after = seq;
            prev = Some(record);
        }
    };
    Ok(json!({
        "ok": broken.is_none(),
        "records": records,
        "firstBrokenSeq": broken.as_ref().map(|b| b.0),
        "problem": broken.map(|b| b.1),
        "signedByOperators": signed,
        "byOperatorTokens": by_token,
    }))
}
