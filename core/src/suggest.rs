//! "Did you mean": the closest known name to a misspelt one, for error messages and hints.

/// The candidate closest to `word` by edit distance (case-insensitive), if it is close enough
/// to be a plausible typo: at most a third of the longer name's length, and never `word` itself.
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        let d = distance(&lower, &c.to_ascii_lowercase());
        let limit = (lower.chars().count().max(c.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Edit distance over chars (`strsim`, the crate clap's own suggestions use).
fn distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_the_name_it_was_meant_to_be() {
        let agents = ["agent_claude_code", "agent_ollie"];
        assert_eq!(
            closest("agent_claud_code", agents),
            Some("agent_claude_code")
        );
        assert_eq!(
            closest("expiresat", ["expiresAt", "notBefore"]),
            Some("expiresAt")
        );
        assert_eq!(closest("verfy", ["verify", "check"]), Some("verify"));
    }

    #[test]
    fn an_unrelated_name_suggests_nothing() {
        assert_eq!(closest("agent_nobody", ["agent_claude_code"]), None);
        assert_eq!(closest("x", Vec::<&str>::new()), None);
        assert_eq!(closest("same", ["same"]), None);
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("abc", "abc"), 0);
    }
}
