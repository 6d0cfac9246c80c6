//! The decision packet as a Python object. It holds the core's decision and converts each
//! field only when it is read, so `verify` pays for none of the fields it does not use.

use behalf_core::time::format_rfc3339;
use behalf_core::Decision;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// The answer to one request: `allowed`, `denied` or `approval_required`, with the reason.
#[pyclass(module = "behalf._behalf", name = "Decision", frozen)]
pub struct PyDecision {
    inner: Decision,
}

impl From<Decision> for PyDecision {
    fn from(inner: Decision) -> Self {
        PyDecision { inner }
    }
}

#[pymethods]
impl PyDecision {
    /// True exactly when `decision == "allowed"`: the tool may run.
    #[getter]
    fn allowed(&self) -> bool {
        self.inner.allowed()
    }

    #[getter]
    fn decision(&self) -> &'static str {
        self.inner.decision().as_str()
    }

    #[getter]
    fn reason(&self) -> &'static str {
        self.inner.reason.as_str()
    }

    #[getter]
    fn message(&self) -> String {
        self.inner.message()
    }

    #[getter]
    fn request_id(&self) -> &str {
        &self.inner.request_id
    }

    #[getter]
    fn agent_id(&self) -> Option<&str> {
        self.inner.agent_id.as_deref()
    }

    #[getter]
    fn action(&self) -> Option<&str> {
        self.inner.action.as_deref()
    }

    #[getter]
    fn vendor(&self) -> Option<&str> {
        self.inner.vendor.as_deref()
    }

    #[getter]
    fn resource(&self) -> Option<&str> {
        self.inner.resource.as_deref()
    }

    #[getter]
    fn passport_id(&self) -> Option<&str> {
        self.inner.passport_id.as_deref()
    }

    #[getter]
    fn active_permissions(&self) -> Option<usize> {
        self.inner.active_permissions
    }

    #[getter]
    fn matched_permission(&self) -> Option<&str> {
        self.inner.matched_permission.as_deref()
    }

    #[getter]
    fn approval_id(&self) -> Option<&str> {
        self.inner.approval_id.as_deref()
    }

    #[getter]
    fn grant_id(&self) -> Option<&str> {
        self.inner.grant_id.as_deref()
    }

    /// RFC 3339, UTC, milliseconds.
    #[getter]
    fn grant_expires_at(&self) -> Option<String> {
        self.inner.grant_expires_at.map(format_rfc3339)
    }

    /// RFC 3339, UTC, milliseconds.
    #[getter]
    fn evaluated_at(&self) -> String {
        format_rfc3339(self.inner.evaluated_at)
    }

    /// The evaluation step by step: `[{step, permission, result, detail}]`.
    #[getter]
    fn trace<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for t in &self.inner.trace {
            let step = PyDict::new(py);
            step.set_item("step", t.step)?;
            step.set_item("permission", t.permission.as_deref())?;
            step.set_item("result", t.result.as_str())?;
            step.set_item("detail", &*t.detail)?;
            list.append(step)?;
        }
        Ok(list)
    }

    /// The canonical camelCase packet, identical in every runtime, keys in packet order
    /// (the same fields as `to_json()`; the conformance tests compare it with the core's).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = &self.inner;
        let packet = PyDict::new(py);
        packet.set_item("decision", d.decision().as_str())?;
        packet.set_item("allowed", d.allowed())?;
        packet.set_item("reason", d.reason.as_str())?;
        packet.set_item("message", d.message())?;
        packet.set_item("requestId", &*d.request_id)?;
        packet.set_item("agentId", d.agent_id.as_deref())?;
        packet.set_item("action", d.action.as_deref())?;
        packet.set_item("vendor", d.vendor.as_deref())?;
        packet.set_item("resource", d.resource.as_deref())?;
        packet.set_item("passportId", d.passport_id.as_deref())?;
        packet.set_item("activePermissions", d.active_permissions)?;
        packet.set_item("matchedPermission", d.matched_permission.as_deref())?;
        packet.set_item("approvalId", d.approval_id.as_deref())?;
        packet.set_item("grantId", d.grant_id.as_deref())?;
        packet.set_item("grantExpiresAt", d.grant_expires_at.map(format_rfc3339))?;
        packet.set_item("evaluatedAt", format_rfc3339(d.evaluated_at))?;
        packet.set_item("trace", self.trace(py)?)?;
        Ok(packet)
    }

    /// The canonical packet as JSON text.
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// Truthy exactly when allowed, so `if b.verify(...):` fails closed.
    fn __bool__(&self) -> bool {
        self.inner.allowed()
    }

    fn __repr__(&self) -> String {
        let quoted = |s: Option<&str>| s.map_or("None".to_string(), |s| format!("{s:?}"));
        format!(
            "Decision(decision={:?}, reason={:?}, request_id={:?}, matched_permission={}, approval_id={})",
            self.inner.decision().as_str(),
            self.inner.reason.as_str(),
            self.inner.request_id,
            quoted(self.inner.matched_permission.as_deref()),
            quoted(self.inner.approval_id.as_deref()),
        )
    }
}
