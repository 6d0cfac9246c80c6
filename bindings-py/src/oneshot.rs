//! One-shot helpers: the stateless `verify` and `validate_policy`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use behalf_core::{ffi, BehalfError, Policy, PolicyError, Problem};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde_json::Value;

use crate::convert::{to_py, to_value, DOCUMENT};
use crate::decision::PyDecision;
use crate::errors::{policy_error, policy_not_json};
use crate::faults::{bare_internal_error, panic_text, shielded};
use crate::request::{prepare, text};
use crate::time::{clock_now, time_arg};

/// The stateless one-shot verify: empty usage, no grants, no approval is opened.
#[pyfunction]
#[pyo3(signature = (policy, request=None, /, *, now=None, **fields))]
pub(crate) fn verify(
    py: Python<'_>,
    policy: &Bound<'_, PyAny>,
    request: Option<&Bound<'_, PyAny>>,
    now: Option<&Bound<'_, PyAny>>,
    fields: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyDecision> {
    let now = match now {
        Some(t) if !t.is_none() => time_arg(t)?,
        _ => clock_now(),
    };
    let policy_value = if let Ok(s) = policy.cast::<PyString>() {
        ffi::policy_value(&text(s)?).map_err(|e| policy_error(py, &e))?
    } else {
        to_value(policy, DOCUMENT).map_err(|r| policy_error(py, &policy_not_json(r)))?
    };
    let prepared = prepare(request, fields);
    let run = catch_unwind(AssertUnwindSafe(|| {
        py.detach(|| match prepared {
            Ok(request) => ffi::verify_once(&policy_value, &request, now),
            Err(rejection) => ffi::reject_once(&policy_value, *rejection, now),
        })
        .map_err(|e| match e {
            BehalfError::Policy(p) => p,
            BehalfError::Api(a) => PolicyError {
                problems: vec![Problem {
                    path: String::new(),
                    code: a.code,
                    message: a.message,
                    hint: a.hint,
                }],
            },
        })
    }));
    match run {
        Ok(Ok(decision)) => Ok(PyDecision::from(decision)),
        Ok(Err(e)) => Err(policy_error(py, &e)),
        Err(payload) => Ok(PyDecision::from(bare_internal_error(
            format!("the engine failed: {}", panic_text(payload.as_ref())),
            now,
        ))),
    }
}

/// Every problem of a policy, by JSON path; empty when it is valid.
#[pyfunction]
pub(crate) fn validate_policy<'py>(
    py: Python<'py>,
    policy: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let problems = if let Ok(s) = policy.cast::<PyString>() {
        let text = text(s)?;
        shielded(py, || py.detach(|| Policy::from_json_text(&text).err()))?
            .map(|e| e.problems)
            .unwrap_or_default()
    } else {
        match to_value(policy, DOCUMENT) {
            Ok(v) => shielded(py, || py.detach(|| behalf_core::validate(&v)))?,
            Err(r) => policy_not_json(r).problems,
        }
    };
    to_py(py, &serde_json::to_value(problems).unwrap_or(Value::Null))
}
