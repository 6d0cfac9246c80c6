//! Faults: a panic anywhere below becomes a denied `internal_error` packet.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use behalf_core::time::Millis;
use behalf_core::{Decision, ErrorCode};
use pyo3::prelude::*;

use crate::errors::raise;

static FALLBACK_IDS: AtomicU64 = AtomicU64::new(1);

pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

/// Runs `f`, turning a panic into `BehalfError(code="internal_error")`: calls that have no
/// decision to deny with still never let a Rust panic escape as a `BaseException`.
pub(crate) fn shielded<R>(py: Python<'_>, f: impl FnOnce() -> R) -> PyResult<R> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        raise(
            py,
            "BehalfError",
            &format!("the engine failed: {}", panic_text(payload.as_ref())),
            ErrorCode::InternalError,
            "this is a bug in behalf; the call did not complete and nothing was granted",
            None,
        )
    })
}

/// The packet of last resort, when even the engine cannot record the fault.
pub(crate) fn bare_internal_error(message: String, now: Millis) -> Decision {
    let n = FALLBACK_IDS.fetch_add(1, Ordering::Relaxed);
    Decision::fault(message, format!("req_fault{n:011}"), now)
}
