//! The server's clock. **Testing only:** with `BEHALF_TEST_CLOCK_FILE` set, the file holds a
//! number of milliseconds added to the system time, so a test can let a grant window pass
//! without waiting. Off by default; never set it in production (whoever can write the file
//! can move time for every decision).

use std::path::PathBuf;

use behalf_core::time::Millis;

#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_file: Option<PathBuf>,
}

pub const TEST_CLOCK_ENV: &str = "BEHALF_TEST_CLOCK_FILE";

impl Clock {
    /// The system clock, shifted by the test clock file when the environment names one.
    pub fn from_env() -> Clock {
        Clock {
            offset_file: std::env::var_os(TEST_CLOCK_ENV).map(PathBuf::from),
        }
    }

    pub fn now(&self) -> Millis {
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX))
            .unwrap_or(0);
        system.saturating_add(self.offset())
    }

    fn offset(&self) -> Millis {
        let Some(file) = &self.offset_file else {
            return 0;
        };
        std::fs::read_to_string(file)
            .ok()
            .and_then(|t| t.trim().parse::<Millis>().ok())
            .unwrap_or(0)
    }
}
