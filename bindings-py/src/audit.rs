//! Audit records from Python, and the chain verifier.

use behalf_core::audit::AuditRecord;
use behalf_core::ffi;
use behalf_core::ErrorCode;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};
use serde_json::Value;

use crate::convert::{to_py, to_value, DOCUMENT};
use crate::errors::{api_error, raise};
use crate::faults::shielded;

const HINT: &str = "pass one record exactly as on_decision or audit_log() handed it out";

fn bad_record(py: Python<'_>, message: &str) -> PyErr {
    raise(
        py,
        "WebhookError",
        message,
        ErrorCode::BadAuditRecord,
        HINT,
        None,
    )
}

/// One audit record from Python data, exactly as the engine wrote it (`ffi::exact_audit_record`).
pub(crate) fn audit_record(py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<AuditRecord> {
    if !record.is_instance_of::<PyDict>() {
        return Err(bad_record(
            py,
            &format!(
                "an audit record is a dict, not `{}`",
                record.get_type().name()?
            ),
        ));
    }
    let value = to_value(record, DOCUMENT).map_err(|r| {
        bad_record(
            py,
            &format!(
                "the audit record is not JSON at `{}`: {}",
                r.path, r.message
            ),
        )
    })?;
    shielded(py, || ffi::exact_audit_record(&value, HINT))?
        .map_err(|e| api_error(py, "WebhookError", &e))
}

/// The keys of a record without an operator, in their (sorted) order, each set to None: a
/// record's dict starts as a copy of it, so it is made at its full size at once and each key
/// below replaces a value instead of growing the table.
static TEMPLATE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

fn template(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let template = TEMPLATE.get_or_try_init(py, || -> PyResult<Py<PyDict>> {
        let dict = PyDict::new(py);
        for key in [
            intern!(py, "action"),
            intern!(py, "agentId"),
            intern!(py, "approvalId"),
            intern!(py, "decision"),
            intern!(py, "event"),
            intern!(py, "grantId"),
            intern!(py, "hash"),
            intern!(py, "matchedPermission"),
            intern!(py, "params"),
            intern!(py, "prevHash"),
            intern!(py, "reason"),
            intern!(py, "requestId"),
            intern!(py, "resource"),
            intern!(py, "seq"),
            intern!(py, "time"),
            intern!(py, "vendor"),
        ] {
            dict.set_item(key, py.None())?;
        }
        Ok(dict.unbind())
    })?;
    template.bind(py).copy()
}

/// One audit record as the dict `on_decision` receives, built from the record itself: the
/// same keys, values and (sorted) key order as `to_py(&record.to_value())`, without making the
/// intermediate JSON value. The keys are interned: made and hashed once per process.
pub(crate) fn record_to_py<'py>(
    py: Python<'py>,
    record: &AuditRecord,
) -> PyResult<Bound<'py, PyAny>> {
    // An operator goes between matchedPermission and params: such a record (only `behalf
    // serve` signs them) is built key by key, in order.
    let dict = if record.operator.is_some() {
        PyDict::new(py)
    } else {
        template(py)?
    };
    let text = |key: &Bound<'py, PyString>, value: Option<&str>| dict.set_item(key, value);
    text(intern!(py, "action"), record.action.as_deref())?;
    text(intern!(py, "agentId"), record.agent_id.as_deref())?;
    text(intern!(py, "approvalId"), record.approval_id.as_deref())?;
    text(intern!(py, "decision"), record.decision)?;
    text(intern!(py, "event"), Some(record.event))?;
    text(intern!(py, "grantId"), record.grant_id.as_deref())?;
    text(intern!(py, "hash"), Some(&record.hash))?;
    text(
        intern!(py, "matchedPermission"),
        record.matched_permission.as_deref(),
    )?;
    if let Some(operator) = &record.operator {
        dict.set_item(intern!(py, "operator"), to_py(py, operator)?)?;
    }
    match &record.params {
        Some(params) => {
            let items = PyDict::new(py);
            for (k, v) in params.to_map().iter() {
                items.set_item(k, to_py(py, v)?)?;
            }
            dict.set_item(intern!(py, "params"), items)?;
        }
        None => dict.set_item(intern!(py, "params"), py.None())?,
    }
    text(intern!(py, "prevHash"), Some(&record.prev_hash))?;
    text(intern!(py, "reason"), record.reason)?;
    text(intern!(py, "requestId"), record.request_id.as_deref())?;
    text(intern!(py, "resource"), record.resource.as_deref())?;
    dict.set_item(intern!(py, "seq"), record.seq)?;
    let time = behalf_core::time::format_rfc3339(record.time);
    text(intern!(py, "time"), Some(&time))?;
    text(intern!(py, "vendor"), record.vendor.as_deref())?;
    Ok(dict.into_any())
}

/// Checks an audit log's hash chain, optionally anchored to the first `seq` and the last
/// `hash` the caller knows (so a cut at either end is caught); returns
/// `{ok, records, firstBroken, firstBrokenSeq, problem}`.
#[pyfunction]
#[pyo3(signature = (records, /, *, first_seq=None, last_hash=None))]
pub(crate) fn verify_audit_chain<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
    first_seq: Option<u64>,
    last_hash: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let value = to_value(records, DOCUMENT).map_err(|r| {
        PyValueError::new_err(format!(
            "the records are not JSON at `{}`: {}",
            r.path, r.message
        ))
    })?;
    let Value::Array(list) = value else {
        return Err(PyTypeError::new_err("the audit records must be a list"));
    };
    let anchor = behalf_core::audit::Anchor {
        first_seq,
        last_hash,
    };
    let report = shielded(py, || {
        py.detach(|| behalf_core::audit::verify_chain_anchored(&list, &anchor))
    })?;
    to_py(py, &serde_json::to_value(report).unwrap_or(Value::Null))
}
