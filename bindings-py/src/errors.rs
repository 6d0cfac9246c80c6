//! Errors: the classes live in behalf/_errors.py; the extension only raises them.

use behalf_core::{ApiError, ErrorCode, PolicyError, Problem};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};
use serde_json::Value;

use crate::convert::{to_py, Refusal};

fn error_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    Ok(py.import("behalf._errors")?.getattr(name)?.cast_into()?)
}

/// Raises `behalf.<class>(message, code=, hint=)`.
pub(crate) fn api_error(py: Python<'_>, class: &str, e: &ApiError) -> PyErr {
    raise(py, class, &e.message, e.code, &e.hint, None)
}

pub(crate) fn raise(
    py: Python<'_>,
    class: &str,
    message: &str,
    code: ErrorCode,
    hint: &str,
    problems: Option<&[Problem]>,
) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let kwargs = PyDict::new(py);
        kwargs.set_item("code", code.as_str())?;
        kwargs.set_item("hint", hint)?;
        if let Some(problems) = problems {
            let value = serde_json::to_value(problems).unwrap_or(Value::Null);
            kwargs.set_item("problems", to_py(py, &value)?)?;
        }
        let instance = error_class(py, class)?.call((message,), Some(&kwargs))?;
        Ok(PyErr::from_value(instance))
    })();
    made.unwrap_or_else(|e| e)
}

pub(crate) fn policy_error(py: Python<'_>, e: &PolicyError) -> PyErr {
    raise(
        py,
        "PolicyError",
        &e.to_string(),
        ErrorCode::InvalidPolicy,
        "fix every problem listed; the policy was not loaded",
        Some(&e.problems),
    )
}

/// A policy object that is not JSON-shaped is reported like any other policy problem.
pub(crate) fn policy_not_json(refusal: Refusal) -> PolicyError {
    PolicyError {
        problems: vec![Problem {
            path: refusal.path,
            code: ErrorCode::NotJson,
            message: refusal.message,
            hint: "a policy holds only dicts, lists, str, int, float, bool and None".into(),
        }],
    }
}
