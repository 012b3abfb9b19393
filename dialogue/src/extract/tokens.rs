//! Tokenization of ASR text into the words every extractor works on.
//!
//! ASR output is mostly lowercase words already, but typed input (tests, the
//! text channel) and some engines add punctuation, capitals, accents,
//! currency signs and hyphens. The tokenizer brings all of it to one shape
//! so the extractors only ever compare plain lowercase ASCII-ish words:
//! "Zürich" and "zurich" are the same token, "twenty-one" is two tokens like
//! ASR's "twenty one", "don't" is "dont".
//!
//! Digits get special care because their punctuation carries meaning: a
//! separator between two digits stays inside the token ("2026-06-12",
//! "12/06/2026", "10:30", "99.50"), and a thousands comma is dropped
//! ("1,200" -> "1200"). Currency signs are separators, so "£240" is "240".

use voxbook_proto::airports::{fold_char, is_apostrophe};

/// Lowercases, folds accents (é -> e), drops apostrophes inside words
/// ("don't" -> "dont"), splits on hyphens, spaces and any other
/// punctuation or symbol ("twenty-one" -> "twenty", "one"; "$99" -> "99"),
/// keeps ordinals like "12th" whole and keeps digit groups joined by `/ - . :`
/// whole ("2026-06-12"). Letters of other scripts are kept as they are.
pub fn tokenize(text: &str) -> Vec<String> {
    // Lowercasing can expand a char ('İ' -> "i̇"), so lower first, then scan
    // with lookahead over the result.
    let chars: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        i += 1;
        if is_combining_mark(c) {
            // Decomposed accents ("e\u{301}"): the base letter was already
            // taken; dropping the mark is the fold.
            continue;
        }
        if c.is_alphanumeric() {
            match fold_char(c) {
                Some(s) => cur.push_str(s),
                None => cur.push(c),
            }
            continue;
        }
        let prev_alnum = cur.chars().last().is_some_and(char::is_alphanumeric);
        let prev_digit = cur.chars().last().is_some_and(|p| p.is_ascii_digit());
        let next_alnum = next.is_some_and(char::is_alphanumeric);
        let next_digit = next.is_some_and(|n| n.is_ascii_digit());
        if is_apostrophe(c) && prev_alnum && next_alnum {
            // "don't" -> "dont", "o'hare" -> "ohare".
            continue;
        }
        if prev_digit && next_digit {
            match c {
                ',' if is_thousands_group(&chars, i) => continue,
                '/' | '-' | '.' | ':' => {
                    cur.push(c);
                    continue;
                }
                _ => {}
            }
        }
        flush(&mut cur, &mut tokens);
    }
    flush(&mut cur, &mut tokens);
    tokens
}

fn flush(cur: &mut String, tokens: &mut Vec<String>) {
    if !cur.is_empty() {
        tokens.push(std::mem::take(cur));
    }
}

/// Whether `chars[at..]` is exactly three digits and then a non-digit (or
/// the end): the group after a thousands comma.
fn is_thousands_group(chars: &[char], at: usize) -> bool {
    let group = chars.get(at..at + 3);
    group.is_some_and(|g| g.iter().all(char::is_ascii_digit)) && !chars.get(at + 3).is_some_and(char::is_ascii_digit)
}

/// Combining diacritical marks (the block U+0300..U+036F and its
/// supplement), which NFD text carries after the base letter.
fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Vec<String> {
        tokenize(text)
    }

    #[test]
    fn plain_asr_text_is_split_on_spaces() {
        assert_eq!(t("i want to fly to paris"), ["i", "want", "to", "fly", "to", "paris"]);
        assert_eq!(t("  many   spaces\tand\nlines "), ["many", "spaces", "and", "lines"]);
    }

    #[test]
    fn lowercases_and_strips_punctuation() {
        assert_eq!(t("Hello, World! How are you?"), ["hello", "world", "how", "are", "you"]);
        assert_eq!(t("\"quoted\" (words) [x]"), ["quoted", "words", "x"]);
    }

    #[test]
    fn apostrophes_inside_words_are_dropped() {
        assert_eq!(t("don't"), ["dont"]);
        assert_eq!(t("it's O'Hare"), ["its", "ohare"]);
        assert_eq!(t("it’s"), ["its"]);
        assert_eq!(t("'quoted'"), ["quoted"]);
        assert_eq!(t("the travellers' bags"), ["the", "travellers", "bags"]);
    }

    #[test]
    fn hyphens_split_words() {
        assert_eq!(t("twenty-one"), ["twenty", "one"]);
        assert_eq!(t("x-ray"), ["x", "ray"]);
        assert_eq!(t("covid-19"), ["covid", "19"]);
        assert_eq!(t("well—known"), ["well", "known"]);
    }

    #[test]
    fn digits_and_ordinals_stay_whole() {
        assert_eq!(t("the 12th of june"), ["the", "12th", "of", "june"]);
        assert_eq!(t("22nd"), ["22nd"]);
        assert_eq!(t("room 101"), ["room", "101"]);
    }

    #[test]
    fn currency_signs_are_separators() {
        assert_eq!(t("£240"), ["240"]);
        assert_eq!(t("$99 or €50"), ["99", "or", "50"]);
        assert_eq!(t("1,200 dollars"), ["1200", "dollars"]);
        assert_eq!(t("$99.50"), ["99.50"]);
    }

    #[test]
    fn digit_groups_with_separators_stay_whole() {
        assert_eq!(t("on 2026-06-12 please"), ["on", "2026-06-12", "please"]);
        assert_eq!(t("12/06/2026"), ["12/06/2026"]);
        assert_eq!(t("at 10:30."), ["at", "10:30"]);
        assert_eq!(t("1, 2, 3"), ["1", "2", "3"]);
        assert_eq!(t("1,2"), ["1", "2"]);
        assert_eq!(t("12,3456"), ["12", "3456"]);
    }

    #[test]
    fn accents_are_folded() {
        assert_eq!(t("Zürich"), ["zurich"]);
        assert_eq!(t("São Paulo"), ["sao", "paulo"]);
        assert_eq!(t("MONTRÉAL"), ["montreal"]);
        assert_eq!(t("Straße"), ["strasse"]);
        // Decomposed form: e + combining acute.
        assert_eq!(t("cafe\u{301}"), ["cafe"]);
        assert_eq!(t("İstanbul"), ["istanbul"]);
    }

    #[test]
    fn other_scripts_are_kept() {
        assert_eq!(t("Москва 東京"), ["москва", "東京"]);
    }

    #[test]
    fn odd_input_never_panics() {
        assert!(t("").is_empty());
        assert!(t("   ").is_empty());
        assert!(t("🙂🙂 ✈️").is_empty());
        assert_eq!(t("fly🙂to"), ["fly", "to"]);
        assert_eq!(t("99999999999999999999"), ["99999999999999999999"]);
        assert_eq!(t("'"), Vec::<String>::new());
        assert_eq!(t("a'"), ["a"]);
        assert_eq!(t("1,"), ["1"]);
        assert_eq!(t("1-"), ["1"]);
        assert_eq!(t("\u{301}"), Vec::<String>::new());
        let long = "word ".repeat(50_000);
        assert_eq!(t(&long).len(), 50_000);
        let glued = "a".repeat(100_000);
        assert_eq!(t(&glued).len(), 1);
    }
}
