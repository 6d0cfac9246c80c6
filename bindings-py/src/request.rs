//! Requests: a dict, JSON text or keyword fields, checked before the core sees them.

use behalf_core::ffi::{self, RefusedFields};
use behalf_core::request::{Field, Fields, Rejection};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde_json::Value;

use crate::convert::{flat_dict, to_value, Refusal, REQUEST};

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

/// A request dict read on the fast path: its own string fields kept as the Python strings
/// themselves (read as borrowed UTF-8, never copied), params converted.
pub(crate) struct FastRequest<'py> {
    /// agentId, action, vendor, resource, requestId: a str, or None for a Python None.
    texts: [Option<Option<Bound<'py, PyString>>>; 5],
    pub(crate) params: Option<Value>,
}

static NULL: Value = Value::Null;

impl<'py> FastRequest<'py> {
    /// `None` when the dict needs the general path: a key that is not one of the request's
    /// own, a field that is neither a str nor None, params that do not convert. The general
    /// path then decides it (and explains what is wrong), exactly as before.
    pub(crate) fn read(request: &Bound<'py, PyAny>) -> Option<FastRequest<'py>> {
        let dict = request.cast::<PyDict>().ok()?;
        let mut texts: [Option<Option<Bound<'py, PyString>>>; 5] = Default::default();
        let mut params = None;
        for (key, value) in dict.iter() {
            let key = key.cast_into::<PyString>().ok()?;
            let at = match key.to_str().ok()? {
                "agentId" => 0,
                "action" => 1,
                "vendor" => 2,
                "resource" => 3,
                "requestId" => 4,
                "params" if params.is_some() => return None,
                "params" => {
                    let flat = flat_dict(&value);
                    params = Some(flat.map_or_else(|| to_value(&value, REQUEST).ok(), Some)?);
                    continue;
                }
                _ => return None,
            };
            let text = if value.is_none() {
                None
            } else {
                Some(value.cast_into::<PyString>().ok()?)
            };
            // A second key with the same text goes the general way, which refuses it.
            let slot = texts.get_mut(at)?;
            if slot.is_some() {
                return None;
            }
            *slot = Some(text);
        }
        Some(FastRequest { texts, params })
    }

    /// The fields, borrowing the strings' UTF-8; `None` if one has unpaired surrogates.
    pub(crate) fn fields(&self) -> Option<Fields<'_>> {
        let mut read = [None; 5];
        for (slot, text) in read.iter_mut().zip(&self.texts) {
            *slot = match text {
                None => None,
                Some(None) => Some(Field::Json(&NULL)),
                Some(Some(s)) => Some(Field::Text(s.to_str().ok()?)),
            };
        }
        let [agent_id, action, vendor, resource, request_id] = read;
        Some(Fields {
            agent_id,
            action,
            vendor,
            resource,
            params: None,
            request_id,
        })
    }
}
