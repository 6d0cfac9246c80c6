//! behalf-py: the native module `behalf._behalf`. It converts Python objects to the core's
//! JSON values and back, locks the engine, and turns any fault into a denied packet. Every
//! rule of evaluation lives in behalf-core; the public API is shaped in `behalf/__init__.py`.

mod audit;
mod convert;
mod decision;
mod engine;
mod errors;
mod faults;
mod fork;
mod oneshot;
mod request;
mod time;
mod webhooks;

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::audit::verify_audit_chain;
use crate::decision::PyDecision;
use crate::engine::PyEngine;
use crate::oneshot::{validate_policy, verify};
use crate::time::to_epoch_millis;
use crate::webhooks::{sign_webhook, verify_webhook_signature, webhook_delivery, webhook_event};

#[pymodule]
fn _behalf(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEngine>()?;
    m.add_class::<PyDecision>()?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(validate_policy, m)?)?;
    m.add_function(wrap_pyfunction!(sign_webhook, m)?)?;
    m.add_function(wrap_pyfunction!(verify_webhook_signature, m)?)?;
    m.add_function(wrap_pyfunction!(webhook_event, m)?)?;
    m.add_function(wrap_pyfunction!(webhook_delivery, m)?)?;
    m.add_function(wrap_pyfunction!(verify_audit_chain, m)?)?;
    m.add_function(wrap_pyfunction!(to_epoch_millis, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    fork::register(m)?;
    // The closed sets the core decides from, so the Python Literal types are tested against
    // them (tests/test_typing.py) and cannot drift.
    let reasons: Vec<&str> = behalf_core::Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .collect();
    let mut decisions: Vec<&str> = Vec::new();
    for r in behalf_core::Reason::ALL {
        let d = r.decision().as_str();
        if !decisions.contains(&d) {
            decisions.push(d);
        }
    }
    m.add("REASONS", PyTuple::new(m.py(), reasons)?)?;
    m.add("DECISIONS", PyTuple::new(m.py(), decisions)?)?;
    Ok(())
}
