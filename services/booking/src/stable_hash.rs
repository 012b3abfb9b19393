//! A small hash that never changes between Rust versions or platforms.
//!
//! Every "random looking" property of the inventory (flight numbers,
//! departure times, prices, hotel names, capacities) is derived from this
//! hash, and offer ids and stored bookings rely on those properties staying
//! put across restarts and upgrades. `std`'s `DefaultHasher` makes no such
//! promise, so this is FNV-1a (64 bit), written out, followed by the
//! SplitMix64 finaliser: FNV alone mixes short, similar inputs ("LHR",
//! "LHS") poorly in its low bits, and those are the bits a modulo reads.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// Fed between parts so `["ab", "c"]` and `["a", "bc"]` hash differently.
const PART_SEPARATOR: u8 = 0x1f;

/// Hashes a sequence of string parts to 64 well-mixed bits.
pub fn stable_hash(parts: &[&str]) -> u64 {
    finalise(fnv1a(parts))
}

fn fnv1a(parts: &[&str]) -> u64 {
    let mut h = FNV_OFFSET;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h ^= u64::from(PART_SEPARATOR);
            h = h.wrapping_mul(FNV_PRIME);
        }
        for byte in part.bytes() {
            h ^= u64::from(byte);
            h = h.wrapping_mul(FNV_PRIME);
        }
    }
    h
}

/// A value in `low..=high` picked by the hash of `parts`.
pub fn stable_range(parts: &[&str], low: u64, high: u64) -> u64 {
    debug_assert!(low <= high);
    let span = high - low + 1;
    low + stable_hash(parts) % span
}

fn finalise(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_never_change() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(&[""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(&["a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(&["foobar"]), 0x8594_4171_f739_67e8);
        // Pinned: if these move, every flight number and price moves.
        assert_eq!(stable_hash(&["a"]), 198_367_012_849_983_736);
    }

    #[test]
    fn part_boundaries_matter() {
        assert_ne!(stable_hash(&["ab", "c"]), stable_hash(&["a", "bc"]));
        assert_ne!(stable_hash(&["LHR", "CDG"]), stable_hash(&["CDG", "LHR"]));
    }

    #[test]
    fn range_is_inclusive_and_bounded() {
        let mut seen_low = false;
        let mut seen_high = false;
        for i in 0..2000 {
            let v = stable_range(&["range", &i.to_string()], 3, 6);
            assert!((3..=6).contains(&v));
            seen_low |= v == 3;
            seen_high |= v == 6;
        }
        assert!(seen_low && seen_high);
    }
}
