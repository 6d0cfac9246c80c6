//! Random ids (`req_`, `apr_`, `grt_`): 16 base62 characters from the operating system's
//! secure source (getrandom), read in blocks so one id does not cost one system call.

use std::sync::Arc;

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

/// Each random byte's base62 character, or 0 for the bytes past 247 that are rejected:
/// 248 = 4 × 62, so rejecting the rest keeps every character equally likely.
#[allow(clippy::indexing_slicing)] // b < 248 and b % 62 < 62: both in bounds, checked at compile time
const CHAR_OF_BYTE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 248 {
        table[b] = ALPHABET[b % 62];
        b += 1;
    }
    table
};

impl IdSource {
    /// `prefix` followed by 16 uniformly random base62 characters.
    pub fn make(&mut self, prefix: &str) -> Result<String, NoRandomness> {
        let chars = self.characters()?;
        let mut id = String::with_capacity(prefix.len() + chars.len());
        id.push_str(prefix);
        id.push_str(std::str::from_utf8(&chars).map_err(|_| NoRandomness)?);
        Ok(id)
    }

    /// `make`, as a shared string (one allocation, for an id a decision and its audit record
    /// both hold).
    pub fn make_shared(&mut self, prefix: &str) -> Result<Arc<str>, NoRandomness> {
        let chars = self.characters()?;
        // Prefixes are short constants (`req_`); a longer one is refused, not truncated.
        let mut id = [0u8; 32];
        let end = prefix.len() + chars.len();
        id.get_mut(..prefix.len())
            .ok_or(NoRandomness)?
            .copy_from_slice(prefix.as_bytes());
        id.get_mut(prefix.len()..end)
            .ok_or(NoRandomness)?
            .copy_from_slice(&chars);
        let text =
            std::str::from_utf8(id.get(..end).ok_or(NoRandomness)?).map_err(|_| NoRandomness)?;
        Ok(Arc::from(text))
    }

    /// Drops the unread random bytes, so the next id reads fresh ones from the system. For a
    /// process that forked: parent and child hold the same unread bytes, and would make the
    /// same ids from them.
    pub fn discard(&mut self) {
        self.used = BLOCK;
    }

    /// 16 base62 characters (ASCII).
    fn characters(&mut self) -> Result<[u8; 16], NoRandomness> {
        let mut chars = [0u8; 16];
        let mut filled = 0;
        while filled < chars.len() {
            if self.used >= BLOCK {
                getrandom::fill(&mut self.pool).map_err(|_| NoRandomness)?;
                self.used = 0;
            }
            for &b in self.pool.get(self.used..).unwrap_or_default() {
                self.used += 1;
                let c = CHAR_OF_BYTE.get(usize::from(b)).copied().unwrap_or(0);
                if c != 0 {
                    if let Some(slot) = chars.get_mut(filled) {
                        *slot = c;
                    }
                    filled += 1;
                    if filled == chars.len() {
                        break;
                    }
                }
            }
        }
        Ok(chars)
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

    #[test]
    fn shared_ids_are_made_as_plain_ones_are() {
        let mut src = IdSource::default();
        let ids: Vec<String> = (0..100)
            .filter_map(|_| src.make_shared("req_").ok())
            .map(|id| id.to_string())
            .collect();
        assert_eq!(ids.len(), 100);
        for id in &ids {
            assert!(id.len() == 20 && id.starts_with("req_"), "{id}");
            assert!(id[4..].bytes().all(|c| c.is_ascii_alphanumeric()), "{id}");
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
        assert!(src.make_shared("a_prefix_longer_than_16_").is_err());
    }

    #[test]
    fn every_character_is_four_bytes_and_eight_bytes_are_rejected() {
        let mut seen = [0usize; 62];
        for c in CHAR_OF_BYTE.iter().filter(|&&c| c != 0) {
            let at = ALPHABET.iter().position(|a| a == c);
            assert!(at.is_some(), "{c} is not base62");
            if let Some(slot) = at.and_then(|at| seen.get_mut(at)) {
                *slot += 1;
            }
        }
        assert!(seen.iter().all(|&n| n == 4), "{seen:?}");
        assert_eq!(CHAR_OF_BYTE.iter().filter(|&&c| c == 0).count(), 8);
    }
}
