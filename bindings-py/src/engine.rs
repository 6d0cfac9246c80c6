//! The engine: the `Behalf` class.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};

use behalf_core::audit::AuditRecord;
use behalf_core::request::Rejection;
use behalf_core::time::Millis;
use behalf_core::ErrorCode;
use behalf_core::{Decision, Engine, EngineOptions};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyString};
use serde_json::Value;

use crate::audit::record_to_py;
use crate::convert::{to_py, to_value, typed_to_py, DOCUMENT};
use crate::decision::PyDecision;
use crate::errors::{api_error, policy_error, policy_not_json, raise};
use crate::faults::{bare_internal_error, panic_text, shielded};
use crate::fork::ForksSeen;
use crate::request::{prepare, text, FastRequest};
use crate::time::{clock_now, time_arg};

/// A compiled policy with its state (usage, approvals, grants, audit chain), shared safely by
/// threads: calls are serialized by a mutex, so budgets stay exact and the chain stays whole.
#[pyclass(module = "behalf._behalf", name = "Behalf", subclass, frozen)]
pub struct PyEngine {
    engine: Mutex<Engine>,
    agent_id: Option<String>,
    clock: Option<Py<PyAny>>,
    panic_next: AtomicBool,
    delivery: Option<Delivery>,
    forks: ForksSeen,
}

/// `on_decision`: the core's audit sink queues each chained record; they are handed to the
/// Python callback after the engine's lock is released, so the callback may call back in.
struct Delivery {
    callback: Py<PyAny>,
    queue: Arc<Mutex<Vec<AuditRecord>>>,
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
            Ok(mut guard) => f(self.in_this_process(&mut guard)),
            Err(TryLockError::Poisoned(poisoned)) => {
                self.engine.clear_poison();
                f(self.in_this_process(&mut poisoned.into_inner()))
            }
            Err(TryLockError::WouldBlock) => py.detach(|| {
                let mut guard = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
                f(self.in_this_process(&mut guard))
            }),
        }
    }

    /// The engine, with the random bytes a fork copied from the parent dropped (fork.rs).
    fn in_this_process<'e>(&self, engine: &'e mut Engine) -> &'e mut Engine {
        if self.forks.forked() {
            engine.discard_random_bytes();
        }
        engine
    }

    /// For long calls (hashing the audit log, exporting, restoring): always release the GIL.
    fn detached<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Engine) -> R + Send) -> R {
        py.detach(|| {
            let mut guard = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
            f(self.in_this_process(&mut guard))
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
            let delivered = record_to_py(py, record).and_then(|r| callback.call1((r,)));
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
                let queue: Arc<Mutex<Vec<AuditRecord>>> = Arc::default();
                let sink = Arc::clone(&queue);
                engine.set_audit_sink(Some(Box::new(move |record| {
                    if let Ok(mut q) = sink.lock() {
                        q.push(record.clone());
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
            forks: ForksSeen::new(),
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
        // The fast path: a plain request dict, its string fields read in place.
        let fast = match (request, fields.filter(|f| !f.is_empty())) {
            (Some(r), None) => FastRequest::read(r),
            _ => None,
        };
        if let Some(mut fast) = fast {
            let params = fast.params.take();
            if let Some(fields) = fast.fields() {
                let decision = self.decide(py, now, move |engine| {
                    engine.verify_fields(&fields, params, now)
                });
                return Ok(PyDecision::from(decision));
            }
        }
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
            Ok(g) => typed_to_py(py, &g),
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
            Ok(a) => typed_to_py(py, &a),
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
        typed_to_py(py, &self.call(py, |e| e.pending_approvals(now))?)
    }

    /// The active grants.
    #[pyo3(signature = (*, now=None))]
    fn grants<'py>(
        &self,
        py: Python<'py>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = self.now(py, now)?;
        typed_to_py(py, &self.call(py, |e| e.grants(now))?)
    }

    /// Budget and rate use of every limited permission, as the next decision counts it.
    #[pyo3(signature = (*, now=None))]
    fn usage<'py>(
        &self,
        py: Python<'py>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = self.now(py, now)?;
        typed_to_py(py, &self.call(py, |e| e.usage(now))?)
    }

    /// The in-memory window of the audit chain, oldest first, hashed and chained.
    fn audit_log<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.call_detached(py, Engine::audit_log_value)?)
    }

    /// Usage, approvals, grants and the audit window, as JSON-ready data for `restore`.
    fn export_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        typed_to_py(py, &self.call_detached(py, Engine::export_state)?)
    }

    /// Replaces this engine's state with one `export_state` returned. Raises `StateError`.
    fn restore(&self, py: Python<'_>, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = if let Ok(s) = state.cast::<PyString>() {
            behalf_core::json::from_str(&text(s)?).map_err(|e| {
                raise(
                    py,
                    "StateError",
                    &e.describe("the state"),
                    ErrorCode::BadState,
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
                    ErrorCode::BadState,
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
