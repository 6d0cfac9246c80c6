//! The server's clock: the system's, or `BEHALF_NOW` (RFC 3339, fixed; for tests only, as in
//! the CLI).

use behalf_core::time::{parse_rfc3339, Millis};

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    fixed: Option<Millis>,
}

impl Clock {
    pub fn from_env() -> Result<Clock, String> {
        match std::env::var("BEHALF_NOW") {
            Ok(text) if !text.is_empty() => parse_rfc3339(&text)
                .map(|at| Clock { fixed: Some(at) })
                .ok_or_else(|| format!("BEHALF_NOW=`{text}` is not an RFC 3339 time")),
            _ => Ok(Clock { fixed: None }),
        }
    }

    pub fn system() -> Clock {
        Clock { fixed: None }
    }

    /// A clock that stays at `at`.
    pub fn fixed(at: Millis) -> Clock {
        Clock { fixed: Some(at) }
    }

    pub fn now(&self) -> Millis {
        self.fixed.unwrap_or_else(behalf_store::wall_ms)
    }
}
