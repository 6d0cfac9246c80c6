//! The policy in force: `behalf.json`, compiled at start and again whenever its text changes
//! (checked every [`RELOAD_EVERY`]). An edit that does not load keeps the last good policy in
//! force — a policy never loads half-way — and its problems are reported on `/readyz`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use behalf_core::time::Millis;
use behalf_core::Policy;

pub const RELOAD_EVERY: Duration = Duration::from_millis(500);

pub struct PolicyWatch {
    path: PathBuf,
    inner: RwLock<Loaded>,
}

struct Loaded {
    /// The text of the file the last time it was read (loaded or not).
    seen: String,
    policy: Arc<Policy>,
    loaded_at: Millis,
    /// Why the file as it is now does not load (the last good policy stays in force).
    problem: Option<String>,
}

/// What `/readyz` reports of the policy.
pub struct PolicyStatus {
    pub path: PathBuf,
    pub loaded_at: Millis,
    pub problem: Option<String>,
    pub passports: usize,
}

fn compile(text: &str) -> Result<Policy, String> {
    Policy::from_json_text(text).map_err(|e| {
        let lines: Vec<String> = e
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect();
        if lines.is_empty() {
            e.to_string()
        } else {
            lines.join("; ")
        }
    })
}

impl PolicyWatch {
    /// Loads the policy at `path`; a file that does not load is an error here (at start).
    pub fn load(path: &Path, now: Millis) -> Result<PolicyWatch, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let policy =
            compile(&text).map_err(|e| format!("{} does not load: {e}", path.display()))?;
        Ok(PolicyWatch {
            path: path.to_path_buf(),
            inner: RwLock::new(Loaded {
                seen: text,
                policy: Arc::new(policy),
                loaded_at: now,
                problem: None,
            }),
        })
    }

    /// The policy in force.
    pub fn current(&self) -> Arc<Policy> {
        match self.inner.read() {
            Ok(l) => l.policy.clone(),
            Err(poisoned) => poisoned.into_inner().policy.clone(),
        }
    }

    pub fn status(&self) -> PolicyStatus {
        let l = match self.inner.read() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        PolicyStatus {
            path: self.path.clone(),
            loaded_at: l.loaded_at,
            problem: l.problem.clone(),
            passports: l.policy.passports.len(),
        }
    }

    /// Reads the file again and, if its text changed, compiles it: in force when it loads,
    /// reported when it does not. Returns whether a new policy came into force.
    pub fn reload(&self, now: Millis) -> bool {
        let read = std::fs::read_to_string(&self.path);
        let mut l = match self.inner.write() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        let text = match read {
            Ok(t) => t,
            Err(e) => {
                l.problem = Some(format!(
                    "cannot read {}: {e}; the last good policy stays in force",
                    self.path.display()
                ));
                l.seen.clear();
                return false;
            }
        };
        if text == l.seen {
            return false;
        }
        let outcome = compile(&text);
        l.seen = text;
        match outcome {
            Ok(policy) => {
                l.policy = Arc::new(policy);
                l.loaded_at = now;
                l.problem = None;
                true
            }
            Err(e) => {
                l.problem = Some(format!(
                    "{} does not load ({e}); the last good policy stays in force",
                    self.path.display()
                ));
                false
            }
        }
    }
}
