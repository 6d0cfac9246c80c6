//! Durable decisions for the proxy, on its own thread: the state database is checked before
//! and after each decision, so a database removed or replaced mid-session denies calls (until
//! a database is back) instead of recording allowed calls into a file nobody will read.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{CliError, Result};
use crate::project::{self, Loaded, Project};
use crate::store::Store;

/// Which file a path is (device and inode), so a replaced file is told from the one we opened.
type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(path: &Path) -> Option<FileId> {
    std::fs::metadata(path).ok().map(|m| (m.len(), 0))
}

pub struct Decider {
    project: Project,
    path: PathBuf,
    store: Option<(Store, FileId)>,
}

impl Decider {
    pub fn open(project: Project) -> Result<Decider> {
        let store = project.store()?;
        let path = store.path.clone();
        let id = file_id(&path).ok_or_else(|| {
            CliError::state(format!("{} vanished as it was opened", path.display()))
        })?;
        Ok(Decider {
            project,
            path,
            store: Some((store, id)),
        })
    }

    fn gone(&self) -> CliError {
        CliError::state(format!(
            "the state database {} is missing; calls are denied until it is back",
            self.path.display()
        ))
    }

    /// Verifies every request in one transaction and returns their packets, committed.
    pub fn decide_all(&mut self, requests: &[Value]) -> Result<(Vec<Value>, Loaded)> {
        let Some(now_id) = file_id(&self.path) else {
            self.store = None;
            return Err(self.gone());
        };
        if self.store.as_ref().map(|(_, id)| *id) != Some(now_id) {
            // Replaced (or back after a removal): decide on the database that is there now.
            self.store = None;
            let store = Store::open(self.path.parent().unwrap_or(Path::new(".")))?;
            self.store = Some((store, now_id));
            eprintln!(
                "behalf: the state database {} was replaced; using the new one",
                self.path.display()
            );
        }
        let loaded = self.project.load()?;
        let now = project::now()?;
        let Some((store, id)) = self.store.as_mut() else {
            return Err(self.gone());
        };
        let id = *id;
        let packets: Vec<Value> = store
            .verify_all(&loaded.policy, now, requests)?
            .iter()
            .map(|d| d.to_value())
            .collect();
        if file_id(&self.path) != Some(id) {
            self.store = None;
            return Err(CliError::state(format!(
                "the state database {} was removed or replaced while this call was decided, so \
                 its record may be lost; the call is denied",
                self.path.display()
            )));
        }
        Ok((packets, loaded))
    }
}

/// Where the proxy's decisions are made: this project's state database, or a `behalf serve`
/// server (`--url`), which keeps the policy and the state.
pub enum Decisions {
    Local(Box<Decider>),
    Remote(crate::remote::RemoteServer),
}

impl Decisions {
    /// The packets of `requests`, each recorded where it was decided. A server decides them
    /// one by one (each its own record); a fault there is a denied packet for that request.
    pub fn decide_all(&mut self, requests: &[Value]) -> Result<Vec<Value>> {
        match self {
            Decisions::Local(d) => d.decide_all(requests).map(|(packets, _)| packets),
            Decisions::Remote(server) => Ok(requests.iter().map(|r| server.verify(r)).collect()),
        }
    }

    /// The server that decides, for the held message's dashboard link.
    pub fn server(&self) -> Option<&crate::remote::RemoteServer> {
        match self {
            Decisions::Local(_) => None,
            Decisions::Remote(s) => Some(s),
        }
    }
}
