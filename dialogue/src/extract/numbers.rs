//! Cardinal and ordinal numbers, as words or digits.
//!
//! ASR writes small numbers as words ("twenty one", "a hundred and five")
//! and sometimes as digits ("21"); hyphens are already split by the
//! tokenizer. Both readers work at a token index and report the span they
//! consumed, so callers can chain them into larger patterns (dates,
//! counts).
//!
//! Choices, documented because they are judgement calls:
//! - Cardinals go up to 9999; anything bigger (or a digit run that overflows)
//!   is `None`, never a wrapped or clipped value. Travel numbers (people,
//!   nights, prices in a sentence) stay well below.
//! - "zero" is a number; "oh", "o" and "nought" are not, here: "oh" is far
//!   more often an interjection ("oh two adults"). The booking-reference
//!   reader handles spoken digits itself.
//! - A digit token is a whole number on its own; "2 hundred" is 2 then a
//!   stray word. Word numbers combine: "twenty five hundred" is 2500, "two
//!   thousand and five" is 2005.
//! - A reader stops at the first word that does not continue the number, so
//!   "one two three" is 1 (then 2, then 3 for a caller that continues), and
//!   "nineteen ninety" is 19: years are the date reader's business.
//! - Ordinals as words cover 1st to 99th ("first" .. "ninety ninth"); as
//!   digits any "<n>st/nd/rd/th" up to 9999, with a lenient suffix ("22th"),
//!   because ASR suffixes are not reliable.

use super::{Found, word};

/// Largest value a reader returns.
pub const MAX_VALUE: u32 = 9999;

/// "zero".."nine".
pub(crate) fn unit_value(w: &str) -> Option<u32> {
    Some(match w {
        "zero" => 0,
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        _ => return None,
    })
}

/// "ten".."nineteen".
pub(crate) fn teen_value(w: &str) -> Option<u32> {
    Some(match w {
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        _ => return None,
    })
}

/// "twenty".."ninety" (and the common misspelling "fourty").
pub(crate) fn tens_value(w: &str) -> Option<u32> {
    Some(match w {
        "twenty" => 20,
        "thirty" => 30,
        "forty" | "fourty" => 40,
        "fifty" => 50,
        "sixty" => 60,
        "seventy" => 70,
        "eighty" => 80,
        "ninety" => 90,
        _ => return None,
    })
}

/// Ordinal words below twenty, and the round tens.
fn ordinal_word_value(w: &str) -> Option<u32> {
    Some(match w {
        "first" => 1,
        "second" => 2,
        "third" => 3,
        "fourth" => 4,
        "fifth" => 5,
        "sixth" => 6,
        "seventh" => 7,
        "eighth" | "eigth" => 8,
        "ninth" | "nineth" => 9,
        "tenth" => 10,
        "eleventh" => 11,
        "twelfth" | "twelveth" => 12,
        "thirteenth" => 13,
        "fourteenth" => 14,
        "fifteenth" => 15,
        "sixteenth" => 16,
        "seventeenth" => 17,
        "eighteenth" => 18,
        "nineteenth" => 19,
        "twentieth" => 20,
        "thirtieth" => 30,
        "fortieth" => 40,
        "fiftieth" => 50,
        "sixtieth" => 60,
        "seventieth" => 70,
        "eightieth" => 80,
        "ninetieth" => 90,
        _ => return None,
    })
}

/// Whether a word can be (part of) a spelled cardinal. Other extractors use
/// it to keep number words out of places and references.
pub fn is_number_word(w: &str) -> bool {
    unit_value(w).is_some()
        || teen_value(w).is_some()
        || tens_value(w).is_some()
        || matches!(w, "hundred" | "thousand")
        || ordinal_word_value(w).is_some()
}

/// A token of ASCII digits only, parsed without overflow; `None` for other
/// tokens and for values above [`MAX_VALUE`].
pub(crate) fn digits_value(w: &str) -> Option<u32> {
    if w.is_empty() || !w.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = w.trim_start_matches('0');
    if trimmed.len() > 4 {
        return None;
    }
    let v: u32 = if trimmed.is_empty() { 0 } else { trimmed.parse().ok()? };
    (v <= MAX_VALUE).then_some(v)
}

/// 1..=99 spelled out: "seven", "twelve", "twenty", "twenty one".
fn below_hundred_at(words: &[String], i: usize) -> Option<(u32, usize)> {
    let w = word(words, i);
    if let Some(t) = tens_value(w) {
        if let Some(u) = unit_value(word(words, i + 1)).filter(|&u| u > 0) {
            return Some((t + u, i + 2));
        }
        return Some((t, i + 1));
    }
    if let Some(v) = teen_value(w) {
        return Some((v, i + 1));
    }
    unit_value(w).filter(|&u| u > 0).map(|u| (u, i + 1))
}

/// 1..=999 spelled out: "five", "a hundred", "one hundred and five",
/// "twelve hundred" (1200, as in years and prices).
fn below_thousand_at(words: &[String], i: usize) -> Option<(u32, usize)> {
    let (mult, after_mult) = match word(words, i) {
        "a" | "an" if word(words, i + 1) == "hundred" => (1, i + 1),
        _ => below_hundred_at(words, i)?,
    };
    if word(words, after_mult) != "hundred" {
        return Some((mult, after_mult));
    }
    let base = mult * 100;
    let mut j = after_mult + 1;
    let has_and = word(words, j) == "and";
    if has_and {
        j += 1;
    }
    match below_hundred_at(words, j) {
        Some((rest, end)) => Some((base + rest, end)),
        // "a hundred and" + non-number: the "and" is not ours.
        None => Some((base, after_mult + 1)),
    }
}

/// A cardinal number starting at token `i`: "two", "twenty one", "21", "a
/// hundred and five", "one thousand", "zero". Returns the value and the
/// span consumed; values above 9999 (and unreadable digits) give `None`.
/// See the module doc for what counts as a number.
pub fn cardinal_at(words: &[String], i: usize) -> Option<Found<u32>> {
    let w = words.get(i)?;
    if let Some(v) = digits_value(w) {
        return Some(Found::new(v, i, i + 1));
    }
    if w == "zero" {
        return Some(Found::new(0, i, i + 1));
    }
    let (value, end) = match word(words, i) {
        "a" | "an" if word(words, i + 1) == "thousand" => (1u64, i + 1),
        _ => {
            let (v, e) = below_thousand_at(words, i)?;
            (u64::from(v), e)
        }
    };
    if word(words, end) != "thousand" {
        return Some(Found::new(u32::try_from(value).ok()?, i, end));
    }
    let base = value * 1000;
    let mut j = end + 1;
    if word(words, j) == "and" {
        j += 1;
    }
    let (total, end) = match below_thousand_at(words, j) {
        Some((rest, e)) => (base + u64::from(rest), e),
        None => (base, end + 1),
    };
    let total = u32::try_from(total).ok().filter(|&v| v <= MAX_VALUE)?;
    Some(Found::new(total, i, end))
}

/// An ordinal at token `i`: "first", "third", "twenty first" (from
/// "twenty-first"), "thirtieth", "1st", "22nd", "12th".
pub fn ordinal_at(words: &[String], i: usize) -> Option<Found<u32>> {
    let w = words.get(i)?;
    if let Some(v) = digit_ordinal_value(w) {
        return Some(Found::new(v, i, i + 1));
    }
    if let Some(t) = tens_value(w) {
        let unit = ordinal_word_value(word(words, i + 1)).filter(|&u| (1..=9).contains(&u))?;
        return Some(Found::new(t + unit, i, i + 2));
    }
    ordinal_word_value(w).map(|v| Found::new(v, i, i + 1))
}

/// "12th", "1st", "22nd", "3rd" (suffix checked loosely).
fn digit_ordinal_value(w: &str) -> Option<u32> {
    let split = w.find(|c: char| !c.is_ascii_digit())?;
    let (digits, suffix) = w.split_at(split);
    if !matches!(suffix, "st" | "nd" | "rd" | "th") {
        return None;
    }
    digits_value(digits).filter(|&v| v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::test_util::w;

    fn card(text: &str) -> Option<(u32, usize)> {
        let words = w(text);
        cardinal_at(&words, 0).map(|f| (f.value, f.span.end))
    }

    fn ord(text: &str) -> Option<(u32, usize)> {
        let words = w(text);
        ordinal_at(&words, 0).map(|f| (f.value, f.span.end))
    }

    #[test]
    fn small_cardinals() {
        assert_eq!(card("two"), Some((2, 1)));
        assert_eq!(card("zero"), Some((0, 1)));
        assert_eq!(card("twelve adults"), Some((12, 1)));
        assert_eq!(card("twenty"), Some((20, 1)));
        assert_eq!(card("twenty one"), Some((21, 2)));
        assert_eq!(card("twenty-one"), Some((21, 2)));
        assert_eq!(card("ninety nine"), Some((99, 2)));
        assert_eq!(card("21"), Some((21, 1)));
        assert_eq!(card("0"), Some((0, 1)));
        assert_eq!(card("007"), Some((7, 1)));
    }

    #[test]
    fn hundreds_and_thousands() {
        assert_eq!(card("a hundred"), Some((100, 2)));
        assert_eq!(card("a hundred and five"), Some((105, 4)));
        assert_eq!(card("one hundred five"), Some((105, 3)));
        assert_eq!(card("two hundred and forty pounds"), Some((240, 4)));
        assert_eq!(card("twelve hundred"), Some((1200, 2)));
        assert_eq!(card("twenty five hundred"), Some((2500, 3)));
        assert_eq!(card("one thousand"), Some((1000, 2)));
        assert_eq!(card("a thousand"), Some((1000, 2)));
        assert_eq!(card("two thousand and five"), Some((2005, 4)));
        assert_eq!(card("two thousand twenty six"), Some((2026, 4)));
        assert_eq!(card("one thousand two hundred and thirty four"), Some((1234, 7)));
        assert_eq!(card("nine thousand nine hundred ninety nine"), Some((9999, 6)));
    }

    #[test]
    fn dangling_and_is_not_consumed() {
        assert_eq!(card("a hundred and fine"), Some((100, 2)));
        assert_eq!(card("two thousand and then"), Some((2000, 2)));
        assert_eq!(card("five and six"), Some((5, 1)));
    }

    #[test]
    fn stops_at_non_continuations() {
        assert_eq!(card("one two three"), Some((1, 1)));
        assert_eq!(card("nineteen ninety"), Some((19, 1)));
        assert_eq!(card("twenty twenty seven"), Some((20, 1)));
        assert_eq!(card("twenty zero"), Some((20, 1)));
        assert_eq!(card("twenty first"), Some((20, 1)));
    }

    #[test]
    fn not_numbers() {
        assert_eq!(card("oh"), None);
        assert_eq!(card("a"), None);
        assert_eq!(card("a few"), None);
        assert_eq!(card("hundred"), None);
        assert_eq!(card("thousand"), None);
        assert_eq!(card("and"), None);
        assert_eq!(card("12th"), None);
        assert_eq!(card("-5"), Some((5, 1)));
        assert_eq!(card("1.5"), None);
        assert_eq!(card(""), None);
    }

    #[test]
    fn too_big_is_none() {
        assert_eq!(card("10000"), None);
        assert_eq!(card("99999999999999999999"), None);
        assert_eq!(card("ten thousand"), None);
        assert_eq!(card("ninety nine thousand"), None);
        assert_eq!(card("nine hundred thousand"), None);
        assert_eq!(card("9999"), Some((9999, 1)));
        assert_eq!(card("0000009999"), Some((9999, 1)));
    }

    #[test]
    fn index_past_the_end() {
        let words = w("two");
        assert_eq!(cardinal_at(&words, 1), None);
        assert_eq!(cardinal_at(&words, usize::MAX), None);
        assert_eq!(ordinal_at(&words, 7), None);
    }

    #[test]
    fn reads_in_the_middle() {
        let words = w("for twenty one people");
        let f = cardinal_at(&words, 1).unwrap();
        assert_eq!((f.value, f.span.start, f.span.end), (21, 1, 3));
    }

    #[test]
    fn ordinals() {
        assert_eq!(ord("first"), Some((1, 1)));
        assert_eq!(ord("third"), Some((3, 1)));
        assert_eq!(ord("twelfth of june"), Some((12, 1)));
        assert_eq!(ord("twentieth"), Some((20, 1)));
        assert_eq!(ord("twenty first"), Some((21, 2)));
        assert_eq!(ord("twenty-first"), Some((21, 2)));
        assert_eq!(ord("thirty first"), Some((31, 2)));
        assert_eq!(ord("ninety ninth"), Some((99, 2)));
        assert_eq!(ord("1st"), Some((1, 1)));
        assert_eq!(ord("22nd"), Some((22, 1)));
        assert_eq!(ord("3rd"), Some((3, 1)));
        assert_eq!(ord("12th"), Some((12, 1)));
        assert_eq!(ord("22th"), Some((22, 1)));
    }

    #[test]
    fn not_ordinals() {
        assert_eq!(ord("twenty"), None);
        assert_eq!(ord("twenty twelfth"), None);
        assert_eq!(ord("twenty tenth"), None);
        assert_eq!(ord("12"), None);
        assert_eq!(ord("th"), None);
        assert_eq!(ord("0th"), None);
        assert_eq!(ord("12xy"), None);
        assert_eq!(ord("99999999999999999999th"), None);
        assert_eq!(ord("one"), None);
    }

    #[test]
    fn number_words() {
        assert!(is_number_word("seven"));
        assert!(is_number_word("hundred"));
        assert!(is_number_word("twelfth"));
        assert!(!is_number_word("paris"));
        assert!(!is_number_word("oh"));
    }
}
