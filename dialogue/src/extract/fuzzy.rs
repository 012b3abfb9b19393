//! Near-miss matching: how far a heard or typed word is from one the
//! assistant knows ("flihgt" from "flight", "bostin" from "boston", "wait"
//! from "way").
//!
//! The measure is the optimal-string-alignment distance (Levenshtein plus
//! swapping two neighbours, the commonest typing slip), on bytes: the
//! tokenizer has already folded text to lowercase ASCII-ish words. Callers
//! decide how much distance a word of a given length may have; [`allowed`]
//! is the shared rule.

/// Edits (insert, delete, substitute, swap neighbours) from `a` to `b`,
/// giving up (returning `limit + 1`) as soon as it must exceed `limit`.
pub fn distance(a: &str, b: &str, limit: usize) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    let width = b.len() + 1;
    // Three rows: two back (for swaps), one back, this one.
    let mut two_back = vec![0usize; width];
    let mut one_back: Vec<usize> = (0..width).collect();
    let mut row = vec![0usize; width];
    for i in 1..=a.len() {
        row[0] = i;
        let mut best = row[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (one_back[j] + 1).min(row[j - 1] + 1).min(one_back[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(two_back[j - 2] + 1);
            }
            row[j] = d;
            best = best.min(d);
        }
        if best > limit {
            return limit + 1;
        }
        std::mem::swap(&mut two_back, &mut one_back);
        std::mem::swap(&mut one_back, &mut row);
    }
    one_back[b.len()].min(limit + 1)
}

/// Edits a word of `len` letters may be off by and still count as a slip:
/// none under 4 letters (too many short words are one letter apart), one
/// up to 7, two beyond.
pub fn allowed(len: usize) -> usize {
    match len {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("flight", "flight", 2), 0);
        assert_eq!(distance("flihgt", "flight", 2), 1);
        assert_eq!(distance("hotle", "hotel", 2), 1);
        assert_eq!(distance("cancle", "cancel", 2), 1);
        assert_eq!(distance("bostin", "boston", 2), 1);
        assert_eq!(distance("resevation", "reservation", 2), 1);
        assert_eq!(distance("rome", "room", 3), 2);
        assert_eq!(distance("abc", "", 5), 3);
        assert_eq!(distance("", "", 0), 0);
        // Gives up past the limit.
        assert_eq!(distance("london", "paris", 1), 2);
        assert_eq!(distance("a", "abcdef", 2), 3);
    }

    #[test]
    fn short_words_get_no_slack() {
        assert_eq!(allowed(3), 0);
        assert_eq!(allowed(5), 1);
        assert_eq!(allowed(9), 2);
    }
}
