//! Several connections opening one fresh state database at once (four `behalf verify`
//! processes started together): each open waits its turn and succeeds, none reports a lock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code may panic

use std::sync::{Arc, Barrier};
use std::time::Duration;

use behalf_store::sqlite::SqliteStore;

#[test]
fn connections_opening_a_fresh_database_together_all_succeed() {
    const OPENERS: usize = 8;
    for round in 0..40 {
        let dir = std::env::temp_dir().join(format!("behalf-open-{}-{round}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = Arc::new(dir.join("state.db"));
        let start = Arc::new(Barrier::new(OPENERS));
        let openers: Vec<_> = (0..OPENERS)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    SqliteStore::open(&path, Duration::from_millis(50), Duration::from_secs(10))
                        .map(|_| ())
                })
            })
            .collect();
        for opener in openers {
            if let Err(e) = opener.join().unwrap() {
                panic!("round {round}: an open failed: {e}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
