//! Request fingerprints for idempotency.
//!
//! Stored next to an idempotency key, a fingerprint tells a genuine retry
//! (same key, same request: answer the first result again) from a key
//! reused for something else (answer `idempotency_conflict`). It covers the
//! operation, its target and every field that changes the outcome, but not
//! the key itself.

use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// SHA-256 over the parts, separated so that part boundaries count.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Renders an optional field so that "absent" differs from every value.
pub fn opt<T: ToString>(value: &Option<T>) -> String {
    match value {
        Some(v) => format!("={}", v.to_string()),
        None => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_and_absence_matter() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        assert_eq!(fingerprint(&["x"]), fingerprint(&["x"]));
        assert_eq!(fingerprint(&["x"]).len(), 64);
        assert_ne!(opt::<String>(&None), opt(&Some(String::new())));
    }
}
