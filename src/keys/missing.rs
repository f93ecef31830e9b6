//! Kids a provider's key set lacked even after a request waited for a refetch: the negative
//! cache that keeps a replayed token for a retired or made-up `kid` from being held again.
//!
//! A request whose `kid` no key has is held while refetches run, for up to `key_wait_timeout`
//! (a key may be published a moment after tokens are signed with it). When the wait runs out
//! and the kid is still unknown, the kid is remembered here for [`MISSING_KID_TTL_MS`]: later
//! tokens naming it are refused at once, with no hold and no refetch. A kid the key set gains
//! meanwhile is found in the key set first, so this never refuses a key that arrived.

/// How long a kid that was waited for in vain is refused without waiting.
pub const MISSING_KID_TTL_MS: u64 = 60_000;

/// How many kids one VM remembers; past this the oldest is forgotten (a flood of random kids
/// cannot grow it).
pub const MISSING_KIDS_MAX: usize = 256;

/// One VM's remembered missing kids, per provider.
#[derive(Debug, Default)]
pub struct MissingKids {
    /// Provider index, kid, and until when it is refused (ms since the epoch); oldest first.
    entries: Vec<(usize, Box<str>, u64)>,
}

impl MissingKids {
    /// Whether provider `index`'s `kid` was waited for in vain within the last TTL.
    pub fn contains(&self, index: usize, kid: &str, now_ms: u64) -> bool {
        self.entries
            .iter()
            .any(|(i, k, until)| *i == index && &**k == kid && now_ms < *until)
    }

    /// Remembers that provider `index`'s key set still lacked `kid` when a wait ran out.
    pub fn insert(&mut self, index: usize, kid: &str, now_ms: u64) {
        self.entries
            .retain(|(i, k, until)| now_ms < *until && !(*i == index && &**k == kid));
        if self.entries.len() >= MISSING_KIDS_MAX {
            self.entries.remove(0);
        }
        let until = now_ms.saturating_add(MISSING_KID_TTL_MS);
        self.entries.push((index, kid.into(), until));
    }

    /// How many kids are remembered (expired ones included until the next insert).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no kid is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_kid_is_refused_for_its_ttl_and_the_memory_is_bounded() {
        let mut missing = MissingKids::default();
        missing.insert(0, "gone", 1_000);
        assert!(missing.contains(0, "gone", 1_000));
        assert!(missing.contains(0, "gone", 1_000 + MISSING_KID_TTL_MS - 1));
        assert!(!missing.contains(0, "gone", 1_000 + MISSING_KID_TTL_MS));
        assert!(!missing.contains(1, "gone", 1_000), "per provider");
        assert!(!missing.contains(0, "other", 1_000));
        // Inserting again renews it instead of adding a second entry.
        missing.insert(0, "gone", 2_000);
        assert_eq!(missing.len(), 1);
        assert!(missing.contains(0, "gone", 1_000 + MISSING_KID_TTL_MS));
        // A flood of distinct kids keeps at most MISSING_KIDS_MAX, forgetting the oldest.
        for i in 0..(MISSING_KIDS_MAX * 3) {
            missing.insert(0, &format!("random-{i}"), 3_000);
        }
        assert_eq!(missing.len(), MISSING_KIDS_MAX);
        assert!(!missing.contains(0, "gone", 3_000));
        assert!(missing.contains(0, &format!("random-{}", MISSING_KIDS_MAX * 3 - 1), 3_000));
        // Expired entries are dropped on the next insert.
        missing.insert(0, "late", 3_000 + MISSING_KID_TTL_MS);
        assert_eq!(missing.len(), 1);
    }
}
