//! Booking references: six characters a person can read out over a phone.
//!
//! The alphabet leaves out characters that look or sound alike (0/O/Q,
//! 1/I/L, 2/Z, 5/S, 8/B, G/J...), so a reference survives being spoken,
//! heard and typed back. A reference is derived from the idempotency key
//! and an attempt number rather than drawn at random: a replayed
//! conversation then gets the same reference, and a collision with an
//! existing booking is resolved by trying the next attempt.

use sha2::{Digest, Sha256};

pub const REF_ALPHABET: &[u8] = b"ACDEFHJKMNPRTUVWXY34679";
pub const REF_LEN: usize = 6;

/// The reference for `idempotency_key` on the given attempt (0, 1, ...).
pub fn derive_ref(idempotency_key: &str, attempt: u32) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"voxbook-ref\x1f");
    hasher.update(idempotency_key.as_bytes());
    hasher.update(b"\x1f");
    hasher.update(attempt.to_be_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    let mut n = u64::from_be_bytes(bytes);
    let base = REF_ALPHABET.len() as u64;
    (0..REF_LEN)
        .map(|_| {
            let c = REF_ALPHABET[(n % base) as usize];
            n /= base;
            char::from(c)
        })
        .collect()
}

/// Canonical form of a reference a person typed or said: trimmed and
/// upper-cased; `None` if it cannot be a reference at all.
pub fn normalize_ref(input: &str) -> Option<String> {
    let r = input.trim().to_ascii_uppercase();
    let valid = r.len() == REF_LEN && r.bytes().all(|b| REF_ALPHABET.contains(&b));
    valid.then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_refs_are_stable_and_valid() {
        let a = derive_ref("key-1", 0);
        assert_eq!(a, derive_ref("key-1", 0));
        assert_ne!(a, derive_ref("key-1", 1));
        assert_ne!(a, derive_ref("key-2", 0));
        assert_eq!(normalize_ref(&a), Some(a.clone()));
        for c in ['0', 'O', '1', 'I', 'L', 'B', '8', 'S', '5', 'Z', '2', 'G'] {
            assert!(!REF_ALPHABET.contains(&(c as u8)), "{c} is ambiguous");
        }
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize_ref(" acdefh "), Some("ACDEFH".into()));
        assert_eq!(normalize_ref("ACDEF"), None);
        assert_eq!(normalize_ref("ACDEF0"), None);
        assert_eq!(normalize_ref("ÅCDEFH"), None);
    }
}
