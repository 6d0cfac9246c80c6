//! Python objects to JSON values and back. Only JSON-shaped data crosses: a value the core
//! could not have read from JSON text is refused here, with the path to it, and never guessed.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};
use serde_json::{Map, Number, Value};

/// How far conversion goes before refusing. The core has its own, smaller limits for
/// requests; these only keep conversion itself bounded, so they sit well above the core's.
#[derive(Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_values: usize,
}

/// Requests: the core allows depth 32 and 1,024 values and explains anything beyond.
pub const REQUEST: Limits = Limits {
    max_depth: 128,
    max_values: 100_000,
};

/// Policies and exported state: large but finite.
pub const DOCUMENT: Limits = Limits {
    max_depth: 256,
    max_values: usize::MAX,
};

/// Why an object is not JSON, and where in it.
pub struct Refusal {
    pub path: String,
    pub message: String,
}

enum Frame<'py> {
    Dict {
        items: pyo3::types::iter::BoundDictIterator<'py>,
        key: String,
        out: Map<String, Value>,
    },
    List {
        list: Bound<'py, PyList>,
        next: usize,
        out: Vec<Value>,
    },
}

/// What one Python object is, before its children are read.
enum Node<'py> {
    Leaf(Value),
    Dict(Bound<'py, PyDict>),
    List(Bound<'py, PyList>),
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

fn string(s: &Bound<'_, PyString>) -> Result<String, String> {
    s.to_cow()
        .map(|c| c.into_owned())
        .map_err(|_| "a string with unpaired surrogates is not valid UTF-8".into())
}

/// A request's own field names, as the interned strings that literal dict keys are: a key
/// that is one of them is read without encoding it (the common case, and the hot path).
fn known_key(s: &Bound<'_, PyString>) -> Option<&'static str> {
    let py = s.py();
    let known = [
        (intern!(py, "agentId"), "agentId"),
        (intern!(py, "action"), "action"),
        (intern!(py, "vendor"), "vendor"),
        (intern!(py, "resource"), "resource"),
        (intern!(py, "params"), "params"),
        (intern!(py, "requestId"), "requestId"),
        (intern!(py, "amount"), "amount"),
    ];
    known
        .into_iter()
        .find(|(interned, _)| s.is(interned))
        .map(|(_, name)| name)
}

fn classify<'py>(obj: &Bound<'py, PyAny>) -> Result<Node<'py>, String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return string(s).map(|s| Node::Leaf(Value::String(s)));
    }
    // bool is a subclass of int: it must stay a JSON bool, never become 1.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Node::Leaf(Value::Bool(b.is_true())));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Node::Leaf(Value::from(i)));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Node::Leaf(Value::from(u)));
        }
        return Err("an integer beyond 64 bits is not a JSON number behalf can read".into());
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v)
            .map(|n| Node::Leaf(Value::Number(n)))
            .ok_or_else(|| format!("`{v}` is not a finite number"));
    }
    if obj.is_none() {
        return Ok(Node::Leaf(Value::Null));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(Node::Dict(d.clone()));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return Ok(Node::List(l.clone()));
    }
    let name = type_name(obj);
    let hint = match name.as_str() {
        "tuple" | "set" | "frozenset" => "; use a list",
        "bytes" | "bytearray" | "memoryview" => "; decode it to a str",
        _ => "",
    };
    Err(format!("a value of type `{name}` is not JSON{hint}"))
}

/// A dict whose values are all scalars (the usual params), converted without the general
/// walk's stack and paths. `None` for anything else, or anything the general walk would refuse
/// or explain (a container, a lone surrogate, a number it cannot read, more values than a
/// request may hold): that goes the general way, so every message stays the same.
pub fn flat_dict(obj: &Bound<'_, PyAny>) -> Option<Value> {
    let dict = obj.cast::<PyDict>().ok()?;
    if dict.len() >= behalf_core::request::MAX_VALUES {
        return None;
    }
    let mut map = Map::new();
    for (key, value) in dict.iter() {
        let key = key.cast::<PyString>().ok()?.to_str().ok()?;
        let value = if let Ok(s) = value.cast::<PyString>() {
            Value::String(s.to_str().ok()?.to_owned())
        } else if let Ok(b) = value.cast::<PyBool>() {
            Value::Bool(b.is_true())
        } else if value.is_instance_of::<PyInt>() {
            Value::from(value.extract::<i64>().ok()?)
        } else if let Ok(f) = value.cast::<PyFloat>() {
            Value::Number(Number::from_f64(f.value())?)
        } else if value.is_none() {
            Value::Null
        } else {
            return None;
        };
        // A second key with the same text goes the general way, which refuses it.
        if map.insert(key.to_owned(), value).is_some() {
            return None;
        }
    }
    Some(Value::Object(map))
}

/// The path of the value being read; `to_container` stops at the innermost container (for
/// a refused key, whose own value has no path yet).
fn path_of(stack: &[Frame<'_>], to_container: bool) -> String {
    let mut path = String::new();
    let last = stack.len().saturating_sub(1);
    for (depth, frame) in stack.iter().enumerate() {
        if to_container && depth == last {
            break;
        }
        match frame {
            Frame::Dict { key, .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::List { next, .. } => {
                path.push_str(&format!("[{}]", next.saturating_sub(1)));
            }
        }
    }
    path
}

/// Converts without recursion: a 100,000-deep nesting is refused, not a stack overflow.
pub fn to_value(root: &Bound<'_, PyAny>, limits: Limits) -> Result<Value, Refusal> {
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut values = 0usize;
    let mut next = Some(root.clone());
    loop {
        let mut finished = match next.take() {
            Some(obj) => {
                values += 1;
                let refuse = |stack: &[Frame<'_>], message: String| Refusal {
                    path: path_of(stack, false),
                    message,
                };
                if values > limits.max_values {
                    return Err(refuse(&stack, "too many values".into()));
                }
                match classify(&obj) {
                    Err(message) => return Err(refuse(&stack, message)),
                    Ok(Node::Leaf(v)) => Some(v),
                    Ok(node) => {
                        if stack.len() >= limits.max_depth {
                            return Err(refuse(
                                &stack,
                                format!("nested deeper than {} levels", limits.max_depth),
                            ));
                        }
                        stack.push(match node {
                            Node::Dict(d) => Frame::Dict {
                                items: d.iter(),
                                key: String::new(),
                                out: Map::new(),
                            },
                            Node::List(l) => Frame::List {
                                out: Vec::with_capacity(l.len()),
                                list: l,
                                next: 0,
                            },
                            Node::Leaf(v) => return Ok(v),
                        });
                        None
                    }
                }
            }
            None => None,
        };
        // Hand the finished value to its parent, then find the parent's next child.
        loop {
            let Some(top) = stack.last_mut() else {
                return finished.ok_or_else(|| Refusal {
                    path: String::new(),
                    message: "nothing to convert".into(),
                });
            };
            match top {
                Frame::Dict { items, key, out } => {
                    if let Some(v) = finished.take() {
                        out.insert(std::mem::take(key), v);
                    }
                    if let Some((k, v)) = items.next() {
                        match k.cast::<PyString>() {
                            Ok(s) => match known_key(s).map_or_else(|| string(s), |k| Ok(k.into()))
                            {
                                // Two str keys with one text (a subclass with its own hash):
                                // the tool reads one, a last-wins reader the other.
                                Ok(s) if out.contains_key(&s) => {
                                    return Err(Refusal {
                                        path: path_of(&stack, true),
                                        message: format!(
                                            "the key `{s}` appears twice (two str keys with the same text)"
                                        ),
                                    })
                                }
                                Ok(s) => *key = s,
                                Err(message) => {
                                    return Err(Refusal {
                                        path: path_of(&stack, true),
                                        message,
                                    })
                                }
                            },
                            Err(_) => {
                                let message =
                                    format!("a key of type `{}` is not a string", type_name(&k));
                                return Err(Refusal {
                                    path: path_of(&stack, true),
                                    message,
                                });
                            }
                        }
                        next = Some(v);
                        break;
                    }
                }
                Frame::List { list, next: i, out } => {
                    if let Some(v) = finished.take() {
                        out.push(v);
                    }
                    if let Ok(item) = list.get_item(*i) {
                        *i += 1;
                        next = Some(item);
                        break;
                    }
                }
            }
            // The container is complete: it becomes the finished value for its own parent.
            finished = match stack.pop() {
                Some(Frame::Dict { out, .. }) => Some(Value::Object(out)),
                Some(Frame::List { out, .. }) => Some(Value::Array(out)),
                None => None,
            };
        }
    }
}

/// A typed core value (an approval, a grant, usage, the state) as Python data, through its
/// JSON form so dicts come with the same keys in the same order as before.
pub(crate) fn typed_to_py<'py, T: serde::Serialize>(
    py: Python<'py>,
    v: &T,
) -> PyResult<Bound<'py, PyAny>> {
    to_py(py, &serde_json::to_value(v).unwrap_or(Value::Null))
}

/// Values made by the core are JSON-shaped and shallow (params are capped at depth 32), so
/// recursion here is bounded.
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}
