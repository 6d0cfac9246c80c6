//! behalf-py: the native module `behalf._behalf`. It converts Python objects to the core's
//! JSON values and back, locks the engine, and turns any fault into a denied packet. Every
//! rule of evaluation lives in behalf-core; the public API is shaped in `behalf/__init__.py`.

mod convert;
mod decision;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};

use behalf_core::audit::{record_from_value, verify_chain_anchored, Anchor, AuditRecord};
use behalf_core::request::{is_valid_request_id, Rejection, MAX_ID_CHARS};
use behalf_core::time::{parse_rfc3339, Millis};
use behalf_core::webhook;
use behalf_core::{ApiError, Decision, Engine, EngineOptions, Policy, PolicyError, Problem};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyString, PyTuple, PyType};
use serde_json::Value;

use crate::convert::{to_py, to_value, Refusal, DOCUMENT, REQUEST};
use crate::decision::PyDecision;

// ---------------------------------------------------------------------------------------------
// Errors: the classes live in behalf/_errors.py; the extension only raises them.

fn error_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    Ok(py.import("behalf._errors")?.getattr(name)?.cast_into()?)
}

/// Raises `behalf.<class>(message, code=, hint=)`.
fn api_error(py: Python<'_>, class: &str, e: &ApiError) -> PyErr {
    raise(py, class, &e.message, e.code, &e.hint, None)
}

fn raise(
    py: Python<'_>,
    class: &str,
    message: &str,
    code: &str,
    hint: &str,
    problems: Option<&[Problem]>,
) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let kwargs = PyDict::new(py);
        kwargs.set_item("code", code)?;
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

fn policy_error(py: Python<'_>, e: &PolicyError) -> PyErr {
    raise(
        py,
        "PolicyError",
        &e.to_string(),
        "invalid_policy",
        "fix every problem listed; the policy was not loaded",
        Some(&e.problems),
    )
}

/// A policy object that is not JSON-shaped is reported like any other policy problem.
fn policy_not_json(refusal: Refusal) -> PolicyError {
    PolicyError {
        problems: vec![Problem {
            path: refusal.path,
            code: "not_json",
            message: refusal.message,
            hint: "a policy holds only dicts, lists, str, int, float, bool and None".into(),
        }],
    }
}

// ---------------------------------------------------------------------------------------------
// Time: RFC 3339 strings, aware datetimes, or epoch milliseconds.

static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn clock_now() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn time_arg(obj: &Bound<'_, PyAny>) -> PyResult<Millis> {
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

// ---------------------------------------------------------------------------------------------
// Requests.

fn text(s: &Bound<'_, PyString>) -> PyResult<String> {
    Ok(s.to_cow()?.into_owned())
}

/// Mirrors the core's echo rule: string fields of at most 128 characters, a valid requestId.
fn echo(root: Option<&Bound<'_, PyAny>>, key: &str) -> Option<String> {
    let dict = root?.cast::<PyDict>().ok()?;
    let value = dict.get_item(key).ok()??;
    let s = text(value.cast::<PyString>().ok()?).ok()?;
    (s.chars().count() <= MAX_ID_CHARS).then_some(s)
}

fn rejection(root: Option<&Bound<'_, PyAny>>, refusal: Refusal) -> Rejection {
    let message = if refusal.path.is_empty() {
        format!("the request is not JSON: {}", refusal.message)
    } else {
        format!("`{}`: {}", refusal.path, refusal.message)
    };
    Rejection {
        message,
        agent_id: echo(root, "agentId"),
        action: echo(root, "action"),
        vendor: echo(root, "vendor"),
        resource: echo(root, "resource"),
        request_id: echo(root, "requestId").filter(|id| is_valid_request_id(id)),
    }
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
fn prepare(
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

// ---------------------------------------------------------------------------------------------
// Faults: a panic anywhere below becomes a denied `internal_error` packet.

static FALLBACK_IDS: AtomicU64 = AtomicU64::new(1);

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

/// Runs `f`, turning a panic into `BehalfError(code="internal_error")`: calls that have no
/// decision to deny with still never let a Rust panic escape as a `BaseException`.
fn shielded<R>(py: Python<'_>, f: impl FnOnce() -> R) -> PyResult<R> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        raise(
            py,
            "BehalfError",
            &format!("the engine failed: {}", panic_text(payload.as_ref())),
            "internal_error",
            "this is a bug in behalf; the call did not complete and nothing was granted",
            None,
        )
    })
}

/// The packet of last resort, when even the engine cannot record the fault.
fn bare_internal_error(message: String, now: Millis) -> Decision {
    let n = FALLBACK_IDS.fetch_add(1, Ordering::Relaxed);
    Decision::fault(message, format!("req_fault{n:011}"), now)
}

// ---------------------------------------------------------------------------------------------
// The engine.

/// A compiled policy with its state (usage, approvals, grants, audit chain), shared safely by
/// threads: calls are serialized by a mutex, so budgets stay exact and the chain stays whole.
#[pyclass(module = "behalf._behalf", name = "Behalf", subclass, frozen)]
pub struct PyEngine {
    engine: Mutex<Engine>,
    agent_id: Option<String>,
    clock: Option<Py<PyAny>>,
    panic_next: AtomicBool,
    delivery: Option<Delivery>,
}

/// `on_decision`: the core's audit sink queues each chained record; they are handed to the
/// Python callback after the engine's lock is released, so the callback may call back in.
struct Delivery {
    callback: Py<PyAny>,
    queue: Arc<Mutex<Vec<Value>>>,
}

fn compile(py: Python<'_>, policy: &Bound<'_, PyAny>, options: EngineOptions) -> PyResult<Engine> {
    let compiled = if let Ok(s) = policy.cast::<PyString>() {
        let text = text(s)?;
        shielded(py, || py.detach(|| Engine::from_json(&text, options)))?
    } else {
        match to_value(policy, DOCUMENT) {
            Ok(value) => shielded(py, || py.detach(|| Engine::from_value(&value, options)))?,
            Err(refusal) => Err(policy_not_json(refusal)),
        }
    };
    compiled.map_err(|e| policy_error(py, &e))
}

impl PyEngine {
    fn now(&self, py: Python<'_>, now: Option<&Bound<'_, PyAny>>) -> PyResult<Millis> {
        match (now, &self.clock) {
            (Some(t), _) if !t.is_none() => time_arg(t),
            (_, Some(clock)) => time_arg(&clock.bind(py).call0()?),
            _ => Ok(clock_now()),
        }
    }

    /// Runs `f` on the engine. An uncontended lock is taken without releasing the GIL (a
    /// decision is shorter than a GIL hand-off); a contended one is waited for with the GIL
    /// released. Nothing under the lock calls back into Python, so this cannot deadlock.
    fn locked<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Engine) -> R + Send) -> R {
        match self.engine.try_lock() {
            Ok(mut guard) => f(&mut guard),
            Err(TryLockError::Poisoned(poisoned)) => {
                self.engine.clear_poison();
                f(&mut poisoned.into_inner())
            }
            Err(TryLockError::WouldBlock) => py.detach(|| {
                let mut guard = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
                f(&mut guard)
            }),
        }
    }

    /// For long calls (hashing the audit log, exporting, restoring): always release the GIL.
    fn detached<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Engine) -> R + Send) -> R {
        py.detach(|| {
            let mut guard = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        })
    }

    /// `locked`, with a panic raised as `BehalfError` (and the lock usable again).
    fn call<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Engine) -> R + Send,
    ) -> PyResult<R> {
        shielded(py, || self.locked(py, f)).inspect_err(|_| self.engine.clear_poison())
    }

    /// `detached`, with a panic raised as `BehalfError` (and the lock usable again).
    fn call_detached<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Engine) -> R + Send,
    ) -> PyResult<R> {
        shielded(py, || self.detached(py, f)).inspect_err(|_| self.engine.clear_poison())
    }

    #[allow(clippy::panic)] // the test-only fault injection is the one place that panics
    fn injected_fault(&self) {
        if self.panic_next.swap(false, Ordering::SeqCst) {
            panic!("injected fault (behalf test hook)");
        }
    }

    /// Hands the records made since the last call to `on_decision`, each exactly once. A
    /// failing callback cannot change or hide a decision: its error goes to
    /// `sys.unraisablehook`.
    fn deliver(&self, py: Python<'_>) {
        let Some(delivery) = &self.delivery else {
            return;
        };
        if shielded(py, || self.locked(py, Engine::flush)).is_err() {
            self.engine.clear_poison();
        }
        let records = match delivery.queue.lock() {
            Ok(mut queue) => std::mem::take(&mut *queue),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        let callback = delivery.callback.bind(py);
        for record in &records {
            let delivered = to_py(py, record).and_then(|r| callback.call1((r,)));
            if let Err(e) = delivered {
                e.write_unraisable(py, Some(callback));
            }
        }
    }

    /// Decides under the lock; a panic becomes a recorded, denied `internal_error` packet.
    fn decide(
        &self,
        py: Python<'_>,
        now: Millis,
        f: impl FnOnce(&mut Engine) -> Decision + Send,
    ) -> Decision {
        let run = catch_unwind(AssertUnwindSafe(|| {
            self.locked(py, |engine| {
                self.injected_fault();
                f(engine)
            })
        }));
        let decision = match run {
            Ok(decision) => decision,
            Err(payload) => {
                self.engine.clear_poison();
                let message = format!("the engine failed: {}", panic_text(payload.as_ref()));
                let recorded = catch_unwind(AssertUnwindSafe(|| {
                    self.locked(py, |engine| engine.internal_error(&message, now))
                }));
                recorded.unwrap_or_else(|_| {
                    self.engine.clear_poison();
                    bare_internal_error(message, now)
                })
            }
        };
        self.deliver(py);
        decision
    }
}

fn duration_arg(ttl: &Bound<'_, PyAny>) -> PyResult<Value> {
    if ttl.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(
            "a ttl is a duration like `30m`, not a bool",
        ));
    }
    if let Ok(s) = ttl.cast::<PyString>() {
        return Ok(Value::String(text(s)?));
    }
    if ttl.is_instance_of::<PyInt>() {
        return Ok(Value::from(ttl.extract::<i64>()?));
    }
    if ttl.hasattr("total_seconds")? {
        let seconds: f64 = ttl.call_method0("total_seconds")?.extract()?;
        if seconds.fract() == 0.0 && seconds.abs() < 9.0e15 {
            return Ok(Value::from(seconds as i64));
        }
        return Err(PyValueError::new_err(
            "a ttl must be a whole number of seconds",
        ));
    }
    Err(PyTypeError::new_err(
        "a ttl is a duration str like `30m`, whole seconds, or a timedelta",
    ))
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (policy, *, agent_id=None, audit_capacity=10000, clock=None, on_decision=None))]
    fn new(
        py: Python<'_>,
        policy: &Bound<'_, PyAny>,
        agent_id: Option<String>,
        audit_capacity: usize,
        clock: Option<Py<PyAny>>,
        on_decision: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let mut engine = compile(py, policy, EngineOptions { audit_capacity })?;
        let delivery = match on_decision.filter(|c| !c.is_none(py)) {
            Some(callback) if !callback.bind(py).is_callable() => {
                return Err(PyTypeError::new_err(
                    "`on_decision` must be a callable taking one audit record (a dict)",
                ))
            }
            Some(callback) => {
                let queue: Arc<Mutex<Vec<Value>>> = Arc::default();
                let sink = Arc::clone(&queue);
                engine.set_audit_sink(Some(Box::new(move |record| {
                    if let Ok(mut q) = sink.lock() {
                        q.push(record.to_value());
                    }
                })));
                Some(Delivery { callback, queue })
            }
            None => None,
        };
        Ok(PyEngine {
            engine: Mutex::new(engine),
            agent_id,
            clock: clock.filter(|c| !c.is_none(py)),
            panic_next: AtomicBool::new(false),
            delivery,
        })
    }

    /// The agent that `guard` acts for when it is given none.
    #[getter]
    fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    /// Decides one request, given as a dict (`{"agentId", "action", "vendor", "resource",
    /// "params", "requestId"}`) or as keyword arguments (`agent_id=`, `action=`, ...), at `now`
    /// (RFC 3339 str, aware datetime, epoch ms; default the clock). Never raises for a bad
    /// request: anything unreadable is a denied `invalid_request` decision.
    #[pyo3(signature = (request=None, /, *, now=None, **fields))]
    fn verify(
        &self,
        py: Python<'_>,
        request: Option<&Bound<'_, PyAny>>,
        now: Option<&Bound<'_, PyAny>>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyDecision> {
        let now = self.now(py, now)?;
        let prepared = catch_unwind(AssertUnwindSafe(|| prepare(request, fields)))
            .unwrap_or_else(|p| Err(Box::new(Rejection::bare(panic_text(p.as_ref())))));
        let decision = self.decide(py, now, move |engine| match prepared {
            Ok(value) => engine.verify_value(value, now),
            Err(rejection) => engine.reject(*rejection, now),
        });
        Ok(PyDecision::from(decision))
    }

    /// Decides a request given as JSON text (str or bytes); malformed text is `invalid_request`.
    #[pyo3(signature = (text, /, *, now=None))]
    fn verify_json(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyDecision> {
        let now = self.now(py, now)?;
        let body = body_text(text);
        let decision = self.decide(py, now, move |engine| match body {
            Ok(t) => engine.verify_json(&t, now),
            Err(why) => engine.reject(Rejection::bare(why), now),
        });
        Ok(PyDecision::from(decision))
    }

    /// Approves a pending approval and returns the grant (`ttl`: `"30m"`, seconds or a
    /// timedelta; default the permission's grantTtl). Raises `ApprovalError`.
    #[pyo3(signature = (approval_id, /, *, ttl=None, now=None))]
    fn approve<'py>(
        &self,
        py: Python<'py>,
        approval_id: &str,
        ttl: Option<&Bound<'py, PyAny>>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = self.now(py, now)?;
        let ttl = match ttl {
            Some(t) if !t.is_none() => Some(duration_arg(t)?),
            _ => None,
        };
        let grant = self.call(py, |e| e.approve(approval_id, ttl.as_ref(), now))?;
        self.deliver(py);
        match grant {
            Ok(g) => to_py(py, &g),
            Err(e) => Err(api_error(py, "ApprovalError", &e)),
        }
    }

    /// Denies a pending approval: the same request is `approval_denied` until its pendingTtl.
    #[pyo3(signature = (approval_id, /, *, now=None))]
    fn deny<'py>(
        &self,
        py: Python<'py>,
        approval_id: &str,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = self.now(py, now)?;
        let denied = self.call(py, |e| e.deny(approval_id, now))?;
        self.deliver(py);
        match denied {
            Ok(a) => to_py(py, &a),
            Err(e) => Err(api_error(py, "ApprovalError", &e)),
        }
    }

    /// The approvals waiting for a person.
    #[pyo3(signature = (*, now=None))]
    fn pending_approvals<'py>(
        &self,
        py: Python<'py>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = self.now(py, now)?;
        to_py(py, &self.call(py, |e| e.pending_approvals(now))?)
    }

    /// The active grants.
    #[pyo3(signature = (*, now=None))]
    fn grants<'py>(
        &self,
        py: Python<'py>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = self.now(py, now)?;
        to_py(py, &self.call(py, |e| e.grants(now))?)
    }

    /// Budget and rate use of every limited permission, as the next decision counts it.
    #[pyo3(signature = (*, now=None))]
    fn usage<'py>(
        &self,
        py: Python<'py>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = self.now(py, now)?;
        to_py(py, &self.call(py, |e| e.usage(now))?)
    }

    /// The in-memory window of the audit chain, oldest first, hashed and chained.
    fn audit_log<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.call_detached(py, Engine::audit_log_value)?)
    }

    /// Usage, approvals, grants and the audit window, as JSON-ready data for `restore`.
    fn export_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.call_detached(py, Engine::export_state)?)
    }

    /// Replaces this engine's state with one `export_state` returned. Raises `StateError`.
    fn restore(&self, py: Python<'_>, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = if let Ok(s) = state.cast::<PyString>() {
            behalf_core::json::from_str(&text(s)?).map_err(|e| {
                raise(
                    py,
                    "StateError",
                    &e.describe("the state"),
                    "bad_state",
                    "pass the exact value export_state() returned",
                    None,
                )
            })?
        } else {
            to_value(state, DOCUMENT).map_err(|r| {
                raise(
                    py,
                    "StateError",
                    &format!("the state is not JSON at `{}`: {}", r.path, r.message),
                    "bad_state",
                    "pass the exact value export_state() returned",
                    None,
                )
            })?
        };
        self.call_detached(py, |e| e.restore(&value))?
            .map_err(|e| api_error(py, "StateError", &e))
    }

    /// Test hook: the next verify on this engine panics inside the lock, so the tests can
    /// check that a fault fails closed. Private by name; harmless (it can only deny).
    fn _panic_on_next_verify(&self) {
        self.panic_next.store(true, Ordering::SeqCst);
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let passports = self.locked(py, |e| e.policy().passports.len());
        format!("<behalf engine: {passports} passports>")
    }
}

fn body_text(obj: &Bound<'_, PyAny>) -> Result<String, String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return text(s).map_err(|_| "the text is not valid UTF-8".to_string());
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return String::from_utf8(b.as_bytes().to_vec())
            .map_err(|_| "the bytes are not valid UTF-8".to_string());
    }
    Err("the request text must be a str or bytes".into())
}

// ---------------------------------------------------------------------------------------------
// One-shot helpers.

/// The stateless one-shot verify: empty usage, no grants, no approval is opened.
#[pyfunction]
#[pyo3(signature = (policy, request=None, /, *, now=None, **fields))]
fn verify(
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
        let text = text(s)?;
        match behalf_core::json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                let e = PolicyError {
                    problems: vec![behalf_core::policy::json_text_problem(&e)],
                };
                return Err(policy_error(py, &e));
            }
        }
    } else {
        to_value(policy, DOCUMENT).map_err(|r| policy_error(py, &policy_not_json(r)))?
    };
    let prepared = prepare(request, fields);
    let run = catch_unwind(AssertUnwindSafe(|| {
        py.detach(|| match prepared {
            Ok(request) => {
                behalf_core::verify_once(&policy_value, &request, now).map_err(|e| match e {
                    behalf_core::BehalfError::Policy(p) => p,
                    behalf_core::BehalfError::Api(a) => PolicyError {
                        problems: vec![Problem {
                            path: String::new(),
                            code: a.code,
                            message: a.message,
                            hint: a.hint,
                        }],
                    },
                })
            }
            Err(rejection) => {
                Engine::from_value(&policy_value, EngineOptions { audit_capacity: 1 })
                    .map(|mut engine| engine.reject(*rejection, now))
            }
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
fn validate_policy<'py>(
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
fn sign_webhook(
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
fn verify_webhook_signature(
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

fn bad_record(py: Python<'_>, message: &str) -> PyErr {
    raise(
        py,
        "WebhookError",
        message,
        "bad_audit_record",
        "pass one record exactly as on_decision or audit_log() handed it out",
        None,
    )
}

/// One audit record, refused unless it is exactly a record the engine wrote: the core reads it
/// back to the same value (nothing dropped or normalized) and its `hash` holds over its content
/// (the `webhook-id` derives from the hash, so an edited record would reach receivers under
/// the id of the original).
fn audit_record(py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<AuditRecord> {
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
    let (record, report) = shielded(py, || {
        let record = record_from_value(&value).filter(|r| r.to_value() == value);
        let report = verify_chain_anchored(std::slice::from_ref(&value), &Anchor::default());
        (record, report)
    })?;
    let record =
        record.ok_or_else(|| bad_record(py, "the value is not an audit record of behalf"))?;
    if !report.ok {
        let problem = report.problem.unwrap_or_default();
        return Err(bad_record(
            py,
            &format!("the audit record does not hold: {problem}"),
        ));
    }
    Ok(record)
}

/// The webhook event of one audit record: `{type, timestamp, data}`.
#[pyfunction]
fn webhook_event<'py>(py: Python<'py>, record: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let record = audit_record(py, record)?;
    to_py(py, &shielded(py, || webhook::event_payload(&record))?)
}

/// Exactly what to POST for one audit record's event, signed at `timestamp` (unix seconds)
/// with every secret: `{"headers": {name: value}, "body", "eventType"}`.
#[pyfunction]
fn webhook_delivery<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
    secrets: Vec<String>,
    timestamp: i64,
) -> PyResult<Bound<'py, PyDict>> {
    let record = audit_record(py, record)?;
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let delivery =
        shielded(py, || webhook::delivery_for(&record, &secrets, timestamp))?.map_err(|e| {
            raise(
                py,
                "WebhookError",
                e.message(),
                e.code(),
                "pass the endpoint's `whsec_...` secret (two during a rotation)",
                None,
            )
        })?;
    let headers = PyDict::new(py);
    for (name, value) in &delivery.headers {
        headers.set_item(name, value)?;
    }
    let out = PyDict::new(py);
    out.set_item("headers", headers)?;
    out.set_item("body", delivery.body)?;
    out.set_item("eventType", record.event_type())?;
    Ok(out)
}

/// Checks an audit log's hash chain, optionally anchored to the first `seq` and the last
/// `hash` the caller knows (so a cut at either end is caught); returns
/// `{ok, records, firstBroken, firstBrokenSeq, problem}`.
#[pyfunction]
#[pyo3(signature = (records, /, *, first_seq=None, last_hash=None))]
fn verify_audit_chain<'py>(
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

/// Parses a time (RFC 3339 str, aware datetime, epoch milliseconds) to epoch milliseconds.
#[pyfunction]
fn to_epoch_millis(when: &Bound<'_, PyAny>) -> PyResult<i64> {
    time_arg(when)
}

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
