//! `GET /v1/events`: server-sent events, one per audit record — decisions, approvals granted
//! and denied, grants revoked — whoever made them (this server, or `behalf approvals approve`
//! on its host). One tailer reads the chain after each commit (and every
//! [`POLL_EVERY`], for writes by other processes) and fans the records out; each stream sends
//! only what its caller may read. `Last-Event-ID` (the record's `seq`) resumes a stream.
//! While no stream is open the tailer reads nothing but the chain's head, every
//! [`POLL_EVERY`]: a busy server with no dashboard open does no work per commit for events.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use behalf_store::{Listings, Scope};
use futures_util::stream::{self, Stream};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::state::AppState;

const POLL_EVERY: Duration = Duration::from_millis(500);
/// Records read per query, and replayed per resumed stream at most.
const PAGE: u32 = 500;

/// One audit record, as streams send it.
#[derive(Clone, Debug)]
pub struct Record {
    pub seq: u64,
    pub event: String,
    pub agent_id: Option<String>,
    pub json: String,
}

impl Record {
    pub fn from_value(v: &Value) -> Option<Record> {
        Some(Record {
            seq: v.get("seq")?.as_u64()?,
            event: v.get("event")?.as_str()?.to_string(),
            agent_id: v.get("agentId").and_then(Value::as_str).map(str::to_string),
            json: v.to_string(),
        })
    }

    fn visible_to(&self, agent: Option<&str>) -> bool {
        agent.is_none_or(|a| self.agent_id.as_deref() == Some(a))
    }

    fn to_event(&self) -> Event {
        Event::default()
            .event(&self.event)
            .id(self.seq.to_string())
            .data(&self.json)
    }
}

/// Reads the chain from its head on and broadcasts every new record, for as long as the
/// server runs.
pub async fn tail(state: AppState) {
    let mut last = head(&state).await;
    loop {
        if state.events().receiver_count() == 0 {
            // Nobody listens: keep up with the head only. The head is read before the count is
            // looked at again: a stream that subscribed after that look reads a head at least
            // as new itself and starts after it, so skipping to `now` loses it nothing.
            tokio::time::sleep(POLL_EVERY).await;
            let now = head(&state).await;
            if state.events().receiver_count() == 0 {
                last = last.max(now);
                continue;
            }
        }
        tokio::select! {
            _ = state.committed().notified() => {}
            _ = tokio::time::sleep(POLL_EVERY) => {}
        }
        loop {
            let after = last;
            let page = match state
                .read(move |s| s.audit_after(Scope::All, after, PAGE))
                .await
            {
                Ok(p) => p,
                Err(_) => break,
            };
            let full = page.len() >= PAGE as usize;
            for v in &page {
                if let Some(r) = Record::from_value(v) {
                    last = last.max(r.seq);
                    let _ = state.events().send(Arc::new(r));
                }
            }
            if !full {
                break;
            }
        }
    }
}

async fn head(state: &AppState) -> u64 {
    state.read(|s| s.audit_head()).await.unwrap_or(0)
}

/// The stream of one caller: records after `after` first (a resumed stream), then live ones.
pub async fn stream(
    state: AppState,
    agent: Option<String>,
    after: Option<u64>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let live = state.events().subscribe();
    let mut backlog = Vec::new();
    // A new stream follows from the head on (the tailer may still hold older records).
    let mut sent = match after {
        Some(_) => 0,
        None => head(&state).await,
    };
    if let Some(after) = after {
        let scope_agent = agent.clone();
        let page = state
            .read(move |s| {
                let scope = match &scope_agent {
                    Some(a) => Scope::Agent(a),
                    None => Scope::All,
                };
                s.audit_after(scope, after, PAGE)
            })
            .await
            .unwrap_or_default();
        backlog = page.iter().filter_map(Record::from_value).collect();
        sent = backlog.last().map_or(after, |r| r.seq);
    }
    let replay = stream::iter(backlog.into_iter().map(|r| Ok(r.to_event())));
    let follow = stream::unfold(
        (live, agent, sent),
        |(mut live, agent, mut sent)| async move {
            loop {
                match live.recv().await {
                    Ok(r) if r.seq > sent && r.visible_to(agent.as_deref()) => {
                        sent = r.seq;
                        return Some((Ok(r.to_event()), (live, agent, sent)));
                    }
                    Ok(_) => {}
                    // A stream too slow to keep up ends; the client resumes with Last-Event-ID.
                    Err(broadcast::error::RecvError::Lagged(_))
                    | Err(broadcast::error::RecvError::Closed) => {
                        return None;
                    }
                }
            }
        },
    );
    use futures_util::StreamExt as _;
    Sse::new(replay.chain(follow)).keep_alive(KeepAlive::default())
}
