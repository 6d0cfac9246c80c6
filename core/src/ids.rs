//! Random ids (`req_`, `apr_`, `grt_`): 16 base62 characters from the operating system's
//! secure source (getrandom), read in blocks so one id does not cost one system call.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BLOCK: usize = 512;

/// A buffer of secure random bytes.
#[derive(Clone)]
pub struct IdSource {
    pool: [u8; BLOCK],
    used: usize,
}

impl Default for IdSource {
    fn default() -> Self {
        IdSource {
            pool: [0; BLOCK],
            used: BLOCK,
        }
    }
}

impl std::fmt::Debug for IdSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdSource")
    }
}

/// The operating system could not give random bytes; ids cannot be made safely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRandomness;

impl IdSource {
    /// `prefix` followed by 16 uniformly random base62 characters.
    pub fn make(&mut self, prefix: &str) -> Result<String, NoRandomness> {
        let mut id = String::with_capacity(prefix.len() + 16);
        id.push_str(prefix);
        let mut missing = 16;
        while missing > 0 {
            if self.used >= BLOCK {
                getrandom::fill(&mut self.pool).map_err(|_| NoRandomness)?;
                self.used = 0;
            }
            for &b in self.pool.get(self.used..).unwrap_or_default() {
                self.used += 1;
                // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
                if b < 248 {
                    if let Some(&c) = ALPHABET.get(usize::from(b % 62)) {
                        id.push(char::from(c));
                        missing -= 1;
                        if missing == 0 {
                            break;
                        }
                    }
                }
            }
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_prefix_and_sixteen_base62_chars() {
        let mut src = IdSource::default();
        let a = src.make("req_");
        let b = src.make("req_");
        assert!(a
            .as_ref()
            .is_ok_and(|a| a.len() == 20 && a.starts_with("req_")));
        assert!(a
            .as_ref()
            .is_ok_and(|a| a[4..].bytes().all(|c| c.is_ascii_alphanumeric())));
        assert_ne!(a, b);
    }
}
