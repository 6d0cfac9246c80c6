//! Forks: a child process must make ids of its own. An engine made before `os.fork()` is
//! copied into the child with the random bytes it had read but not used yet, and parent and
//! child would make the same request, approval and grant ids from them. `os.register_at_fork`
//! counts forks in the child; an engine that sees the count change drops those bytes.

use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyDict;

static FORKS: AtomicU64 = AtomicU64::new(0);

#[pyfunction]
fn _after_fork_in_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// Registers the count with `os.register_at_fork` (absent where `os.fork` is: Windows).
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let os = py.import("os")?;
    if os.hasattr("register_at_fork")? {
        let kwargs = PyDict::new(py);
        kwargs.set_item("after_in_child", wrap_pyfunction!(_after_fork_in_child, m)?)?;
        os.call_method("register_at_fork", (), Some(&kwargs))?;
    }
    Ok(())
}

/// The fork count an engine last saw.
pub(crate) struct ForksSeen(AtomicU64);

impl ForksSeen {
    pub(crate) fn new() -> ForksSeen {
        ForksSeen(AtomicU64::new(FORKS.load(Ordering::Relaxed)))
    }

    /// Whether the process forked since the last call (one load when it has not).
    pub(crate) fn forked(&self) -> bool {
        let now = FORKS.load(Ordering::Relaxed);
        if self.0.load(Ordering::Relaxed) == now {
            return false;
        }
        self.0.store(now, Ordering::Relaxed);
        true
    }
}
