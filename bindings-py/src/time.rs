//! Time: RFC 3339 strings, aware datetimes, or epoch milliseconds.

use behalf_core::time::{parse_rfc3339, Millis};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString, PyType};

static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();

pub(crate) fn clock_now() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) fn time_arg(obj: &Bound<'_, PyAny>) -> PyResult<Millis> {
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(
            "a time is an RFC 3339 str, an aware datetime or epoch milliseconds, not a bool",
        ));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj
            .extract::<i64>()
            .map_err(|_| PyValueError::new_err("epoch milliseconds out of range"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value().floor();
        if v.is_finite() && v.abs() < 9.0e15 {
            return Ok(v as i64);
        }
        return Err(PyValueError::new_err(format!(
            "`{v}` is not epoch milliseconds"
        )));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_cow()?;
        return parse_rfc3339(&text).ok_or_else(|| {
            PyValueError::new_err(format!(
                "`{text}` is not an RFC 3339 time such as `2026-11-26T11:00:00Z`"
            ))
        });
    }
    let datetime = DATETIME.import(obj.py(), "datetime", "datetime")?;
    if obj.is_instance(datetime)? {
        if obj.call_method0("utcoffset")?.is_none() {
            return Err(PyValueError::new_err(
                "a naive datetime is ambiguous; give it a tzinfo (datetime.timezone.utc)",
            ));
        }
        let text: String = obj.call_method0("isoformat")?.extract()?;
        return parse_rfc3339(&text)
            .ok_or_else(|| PyValueError::new_err(format!("`{text}` is not a usable time")));
    }
    Err(PyTypeError::new_err(format!(
        "a time is an RFC 3339 str, an aware datetime or epoch milliseconds, not `{}`",
        obj.get_type().name()?
    )))
}

/// Parses a time (RFC 3339 str, aware datetime, epoch milliseconds) to epoch milliseconds.
#[pyfunction]
pub(crate) fn to_epoch_millis(when: &Bound<'_, PyAny>) -> PyResult<i64> {
    time_arg(when)
}
