//! Webhooks: signing, verifying, and the delivery a record makes.

use behalf_core::{ffi, webhook};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::audit::audit_record;
use crate::convert::to_py;
use crate::errors::{api_error, raise};
use crate::faults::shielded;
use crate::request::text;

fn body_bytes(body: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = body.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(s) = body.cast::<PyString>() {
        return Ok(text(s)?.into_bytes());
    }
    Err(PyTypeError::new_err("a webhook body is str or bytes"))
}

fn webhook_error(py: Python<'_>, e: &behalf_core::webhook::WebhookError) -> PyErr {
    raise(
        py,
        "WebhookError",
        e.message(),
        e.code(),
        "check the secret, the headers and that the body is the raw bytes received",
        None,
    )
}

/// The Standard Webhooks `webhook-signature` value (`v1,<base64>`) for one message.
#[pyfunction]
pub(crate) fn sign_webhook(
    py: Python<'_>,
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let body = body_bytes(body)?;
    shielded(py, || {
        behalf_core::webhook::sign(secret, msg_id, timestamp, &body)
    })?
    .map_err(|e| webhook_error(py, &e))
}

/// Verifies a Standard Webhooks signature at `now` (unix seconds); raises `WebhookError`.
#[pyfunction]
pub(crate) fn verify_webhook_signature(
    py: Python<'_>,
    secret: &str,
    msg_id: &str,
    timestamp: &str,
    body: &Bound<'_, PyAny>,
    signature: &str,
    now: i64,
) -> PyResult<()> {
    let body = body_bytes(body)?;
    shielded(py, || {
        behalf_core::webhook::verify(secret, msg_id, timestamp, &body, signature, now)
    })?
    .map_err(|e| webhook_error(py, &e))
}

/// The webhook event of one audit record: `{type, timestamp, data}`.
#[pyfunction]
pub(crate) fn webhook_event<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let record = audit_record(py, record)?;
    to_py(py, &shielded(py, || webhook::event_payload(&record))?)
}

/// Exactly what to POST for one audit record's event, signed at `timestamp` (unix seconds)
/// with every secret: `{"headers": {name: value}, "body", "eventType"}`.
#[pyfunction]
pub(crate) fn webhook_delivery<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
    secrets: Vec<String>,
    timestamp: i64,
) -> PyResult<Bound<'py, PyDict>> {
    let record = audit_record(py, record)?;
    let delivery = shielded(py, || ffi::webhook_delivery(&record, &secrets, timestamp))?
        .map_err(|e| api_error(py, "WebhookError", &e))?;
    let headers = PyDict::new(py);
    for (name, value) in &delivery.headers {
        headers.set_item(name, value)?;
    }
    let out = PyDict::new(py);
    out.set_item("headers", headers)?;
    out.set_item("body", delivery.body)?;
    out.set_item("eventType", delivery.event_type)?;
    Ok(out)
}
