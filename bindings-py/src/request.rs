//! Requests: a dict, JSON text or keyword fields, checked before the core sees them.

use behalf_core::ffi::{self, RefusedFields};
use behalf_core::request::Rejection;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde_json::Value;

use crate::convert::{to_value, Refusal, REQUEST};

pub(crate) fn text(s: &Bound<'_, PyString>) -> PyResult<String> {
    Ok(s.to_cow()?.into_owned())
}

/// A string field of the request dict, if it is one (the core decides what is echoed).
fn field(root: Option<&Bound<'_, PyAny>>, key: &str) -> Option<String> {
    let dict = root?.cast::<PyDict>().ok()?;
    let value = dict.get_item(key).ok()??;
    text(value.cast::<PyString>().ok()?).ok()
}

pub(crate) fn rejection(root: Option<&Bound<'_, PyAny>>, refusal: Refusal) -> Rejection {
    let message = if refusal.path.is_empty() {
        format!("the request is not JSON: {}", refusal.message)
    } else {
        format!("`{}`: {}", refusal.path, refusal.message)
    };
    let fields = RefusedFields {
        agent_id: field(root, "agentId"),
        action: field(root, "action"),
        vendor: field(root, "vendor"),
        resource: field(root, "resource"),
        request_id: field(root, "requestId"),
    };
    ffi::rejection(message, fields)
}

/// Keyword arguments in snake_case become the request's camelCase fields.
fn kwargs_request<'py>(fields: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyDict>> {
    let request = PyDict::new(fields.py());
    for (k, v) in fields.iter() {
        let key: String = k.extract()?;
        let key = match key.as_str() {
            "agent_id" => "agentId",
            "request_id" => "requestId",
            other => other,
        };
        request.set_item(key, v)?;
    }
    Ok(request)
}

/// Reads the request, as a dict or as keyword arguments; anything unreadable is a rejection.
pub(crate) fn prepare(
    request: Option<&Bound<'_, PyAny>>,
    fields: Option<&Bound<'_, PyDict>>,
) -> Result<Value, Box<Rejection>> {
    let fields = fields.filter(|f| !f.is_empty());
    match (request, fields) {
        (Some(r), None) => {
            to_value(r, REQUEST).map_err(|refusal| Box::new(rejection(Some(r), refusal)))
        }
        (None, Some(f)) => {
            let built = kwargs_request(f).map_err(|_| {
                Box::new(Rejection::bare(
                    "the request's keyword arguments are unreadable",
                ))
            })?;
            let root = built.as_any();
            to_value(root, REQUEST).map_err(|refusal| Box::new(rejection(Some(root), refusal)))
        }
        (Some(r), Some(_)) => Err(Box::new(Rejection {
            message: "pass the request as a dict or as keyword arguments, not both".into(),
            ..rejection(
                Some(r),
                Refusal {
                    path: String::new(),
                    message: String::new(),
                },
            )
        })),
        // Nothing given: the core explains what a request must be.
        (None, None) => Ok(Value::Null),
    }
}
