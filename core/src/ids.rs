//! Random ids (`req_`, `apr_`, `grt_`): 16 base62 characters from a secure random source.
//!
//! The source is a ChaCha20 stream keyed by 32 bytes from the operating system's secure source
//! (getrandom), and keyed afresh from it after every `REKEY_AFTER` bytes, the way Linux's own
//! getrandom turns its entropy into bytes. A system call for every few ids cost a decision about
//! 1.5 µs every 31st id (bench/HOT_PATH.md, "The p99"); the stream costs about the same for
//! every id, and makes one system call per ~4,000.

use std::sync::Arc;

use chacha20::rand_core::{Rng, SeedableRng};
use chacha20::ChaCha20Rng;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Bytes read from the stream at a time: one ChaCha block, about four ids.
const BLOCK: usize = 64;
/// Bytes drawn from one key before the next is read from the operating system.
const REKEY_AFTER: usize = 64 * 1024;

/// A secure random stream for ids. Not `Clone`: two copies would make the same ids.
pub struct IdSource {
    /// `None` until the first id, and after `discard` or `REKEY_AFTER` bytes.
    stream: Option<ChaCha20Rng>,
    /// Bytes drawn from `stream` since it was keyed.
    drawn: usize,
    pool: [u8; BLOCK],
    used: usize,
}

impl Default for IdSource {
    fn default() -> Self {
        IdSource {
            stream: None,
            drawn: 0,
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

    /// Drops the stream and its unread bytes, so the next id is made from a new key read from
    /// the system. For a process that forked: parent and child hold the same stream, and would
    /// make the same ids from it.
    pub fn discard(&mut self) {
        self.stream = None;
        self.pool = [0; BLOCK];
        self.used = BLOCK;
    }

    /// Refills the pool from the stream, keying a new stream from the operating system first
    /// when there is none or the current one has given `REKEY_AFTER` bytes.
    fn refill(&mut self) -> Result<(), NoRandomness> {
        if self.drawn >= REKEY_AFTER {
            self.stream = None;
        }
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|_| NoRandomness)?;
                self.drawn = 0;
                self.stream.insert(ChaCha20Rng::from_seed(key))
            }
        };
        stream.fill_bytes(&mut self.pool);
        self.drawn += BLOCK;
        self.used = 0;
        Ok(())
    }

    /// 16 base62 characters (ASCII).
    fn characters(&mut self) -> Result<[u8; 16], NoRandomness> {
        let mut chars = [0u8; 16];
        let mut filled = 0;
        while filled < chars.len() {
            if self.used >= BLOCK {
                self.refill()?;
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
    fn the_stream_is_keyed_afresh_after_rekey_after_bytes_and_after_discard() {
        let mut src = IdSource::default();
        assert!(src.stream.is_none());
        let first = src.make("req_").ok();
        assert!(src.stream.is_some() && src.drawn == BLOCK);
        // ~16.5 bytes an id: 5,000 ids draw more than one key's worth.
        let mut rekeyed = false;
        for _ in 0..5_000 {
            let before = src.drawn;
            assert!(src.make("req_").is_ok());
            rekeyed |= src.drawn < before;
            assert!(src.drawn <= REKEY_AFTER);
        }
        assert!(rekeyed, "no new key after {REKEY_AFTER} bytes");
        src.discard();
        assert!(src.stream.is_none() && src.used == BLOCK);
        let after = src.make("req_").ok();
        assert!(src.stream.is_some() && src.drawn == BLOCK);
        assert!(first.is_some() && after.is_some() && first != after);
    }

    #[test]
    fn characters_are_spread_evenly() {
        // 62,000 characters: each of the 62 is expected 1,000 times; a stream of constant or
        // badly mapped bytes would leave some at 0 or far above.
        let mut src = IdSource::default();
        let mut seen = [0usize; 62];
        for _ in 0..3_875 {
            let id = src.make("").unwrap_or_default();
            assert_eq!(id.len(), 16);
            for c in id.bytes() {
                if let Some(slot) = ALPHABET
                    .iter()
                    .position(|&a| a == c)
                    .and_then(|at| seen.get_mut(at))
                {
                    *slot += 1;
                }
            }
        }
        assert_eq!(seen.iter().sum::<usize>(), 62_000);
        assert!(seen.iter().all(|&n| (800..1_200).contains(&n)), "{seen:?}");
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
