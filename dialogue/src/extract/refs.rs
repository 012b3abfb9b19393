//! Booking references spoken character by character.
//!
//! A reference is a fixed number of characters from A-Z and 0-9. Callers
//! say it in any mix of: one token ("vx7k2p"), spelled letters ("v x seven
//! k two p"), the NATO alphabet ("victor x-ray seven kilo"), digits as
//! words or figures, "double seven" (77), "triple a" (AAA), and "b as in
//! bravo" / "b for bravo" (B). Two-digit number words count as two
//! characters ("seventeen" is 17, "twenty one" is 21).
//!
//! Where to look:
//! 1. right after a cue word ("reference", "ref", "booking",
//!    "confirmation", "code", "number", "locator", "is"), skipping fillers:
//!    the run there must have exactly `len` characters;
//! 2. when not `strict` (the assistant has just asked for the reference):
//!    the whole utterance, fillers at both ends skipped ("um it's ...");
//! 3. anywhere: a run of exactly `len` characters that mixes letters and
//!    digits (a run of only words or only numbers is too often something
//!    else: "flight two one two").
//!
//! Letter homophones that ASR writes for spelled letters ("see" C, "you" U,
//! "are" R, "why" Y, "bee"/"be" B, "tea" T, "eye" I, "oh" O, "ex" X,
//! "queue" Q, "jay" J, "kay" K, "el" L, "em" M, "en" N, "pee" P, "es" S,
//! "vee" V, "double you" W, "zed"/"zee" Z, and a few more) are accepted only
//! when not `strict`: in free speech they are ordinary words. "to", "too"
//! and "for" are never digits. A run that goes on past `len` characters is
//! rejected (it is a longer code, or a misheard one), except when what
//! follows is the word "a" or "i", which are more likely words ("... p i
//! think").

use super::numbers::{teen_value, tens_value, unit_value};
use super::{Found, word};

/// Longest reference length accepted; beyond it nothing is searched.
const MAX_LEN: usize = 32;

/// Words after which a reference is expected.
const CUES: &[&str] = &["reference", "ref", "booking", "confirmation", "code", "number", "locator", "pnr", "is"];

/// Words skipped between a cue and the reference, and around a whole-
/// utterance reference.
#[rustfmt::skip]
const FILLERS: &[&str] = &[
    "um", "uh", "er", "erm", "hmm", "its", "it", "is", "the", "my", "our", "yes", "yeah", "yep", "ok", "okay",
    "sure", "so", "right", "well", "reference", "ref", "booking", "confirmation", "code", "number", "locator",
    "please", "thanks", "that", "thats", "was",
];

/// One spoken piece of a reference.
#[derive(Debug, Clone)]
struct Unit {
    /// Token index past its end.
    end: usize,
    /// The characters it stands for, uppercase.
    chars: String,
    /// False for "a" and "i": letters, but more often words.
    strong: bool,
}

pub(crate) fn nato(w: &str) -> Option<char> {
    Some(match w {
        "alpha" | "alfa" => 'A',
        "bravo" => 'B',
        "charlie" => 'C',
        "delta" => 'D',
        "echo" => 'E',
        "foxtrot" => 'F',
        "golf" => 'G',
        "hotel" => 'H',
        "india" => 'I',
        "juliet" | "juliett" => 'J',
        "kilo" => 'K',
        "lima" => 'L',
        "mike" => 'M',
        "november" => 'N',
        "oscar" => 'O',
        "papa" => 'P',
        "quebec" => 'Q',
        "romeo" => 'R',
        "sierra" => 'S',
        "tango" => 'T',
        "uniform" => 'U',
        "victor" => 'V',
        "whiskey" | "whisky" => 'W',
        "xray" => 'X',
        "yankee" => 'Y',
        "zulu" => 'Z',
        _ => return None,
    })
}

/// Words ASR writes for spoken letter names (non-strict only).
fn homophone(w: &str) -> Option<char> {
    Some(match w {
        "see" | "sea" => 'C',
        "you" => 'U',
        "are" | "ar" => 'R',
        "why" | "wye" => 'Y',
        "bee" | "be" => 'B',
        "tea" | "tee" => 'T',
        "eye" => 'I',
        "oh" => 'O',
        "ex" => 'X',
        "queue" | "cue" => 'Q',
        "jay" => 'J',
        "kay" => 'K',
        "el" | "ell" => 'L',
        "em" => 'M',
        "en" => 'N',
        "pee" => 'P',
        "es" | "ess" => 'S',
        "vee" => 'V',
        "zed" | "zee" => 'Z',
        "dee" => 'D',
        "gee" => 'G',
        "aitch" => 'H',
        _ => return None,
    })
}

/// A single ASCII letter token.
fn letter(w: &str) -> Option<char> {
    let mut chars = w.chars();
    let c = chars.next()?;
    (chars.next().is_none() && c.is_ascii_lowercase()).then(|| c.to_ascii_uppercase())
}

/// "12th", "1st": ordinals are dates, not reference pieces.
fn is_digit_ordinal(w: &str) -> bool {
    let split = w.find(|c: char| !c.is_ascii_digit()).unwrap_or(w.len());
    split > 0 && matches!(&w[split..], "st" | "nd" | "rd" | "th")
}

/// The reference piece starting at token `i`, if any.
fn unit_at(words: &[String], i: usize, homophones: bool) -> Option<Unit> {
    let w = words.get(i)?.as_str();
    let unit = |chars: String, end: usize| Some(Unit { end, chars, strong: true });
    // "double seven", "triple a", and "double you" (W).
    let repeat = match w {
        "double" => 2,
        "triple" | "treble" => 3,
        _ => 0,
    };
    if repeat > 0 {
        if homophones && word(words, i + 1) == "you" {
            return unit("W".into(), i + 2);
        }
        // One level only: "double double" is not a thing, and recursing on
        // it would let a long input exhaust the stack.
        if matches!(word(words, i + 1), "double" | "triple" | "treble") {
            return None;
        }
        let inner = unit_at(words, i + 1, homophones).filter(|u| u.chars.chars().count() == 1)?;
        return unit(inner.chars.repeat(repeat), inner.end);
    }
    // "x ray" (from "x-ray"), before "x" alone.
    if w == "x" && word(words, i + 1) == "ray" {
        return unit("X".into(), i + 2);
    }
    if let Some(c) = letter(w) {
        // "b as in bravo", "b for bravo".
        let spelled_by = match (word(words, i + 1), word(words, i + 2)) {
            ("as", "in") => Some(i + 3),
            ("for", _) => Some(i + 2),
            _ => None,
        };
        if let Some(k) = spelled_by {
            let example = word(words, k);
            if example.len() > 1 && example.starts_with(c.to_ascii_lowercase()) {
                return unit(c.to_string(), k + 1);
            }
        }
        return Some(Unit { end: i + 1, chars: c.to_string(), strong: !matches!(w, "a" | "i") });
    }
    if let Some(c) = nato(w) {
        return unit(c.to_string(), i + 1);
    }
    if w.bytes().all(|b| b.is_ascii_digit()) {
        return (w.len() <= MAX_LEN).then(|| unit(w.to_string(), i + 1)).flatten();
    }
    if let Some(v) = unit_value(w).or(match w {
        "nought" | "naught" => Some(0),
        _ => None,
    }) {
        return unit(v.to_string(), i + 1);
    }
    if let Some(v) = teen_value(w) {
        return unit(v.to_string(), i + 1);
    }
    if let Some(t) = tens_value(w) {
        if let Some(u) = unit_value(word(words, i + 1)).filter(|&u| u > 0) {
            return unit((t + u).to_string(), i + 2);
        }
        return unit(t.to_string(), i + 1);
    }
    // A token mixing letters and digits: "vx7k2p", "k2".
    if w.len() <= MAX_LEN
        && w.bytes().all(|b| b.is_ascii_alphanumeric())
        && w.bytes().any(|b| b.is_ascii_digit())
        && w.bytes().any(|b| b.is_ascii_alphabetic())
        && !is_digit_ordinal(w)
    {
        return unit(w.to_ascii_uppercase(), i + 1);
    }
    if homophones && let Some(c) = homophone(w) {
        return unit(c.to_string(), i + 1);
    }
    None
}

/// Reads units from `start` until exactly `len` characters. `None` if the
/// run stops short, overshoots, or goes on with a strong unit.
fn read_exact(words: &[String], start: usize, len: usize, homophones: bool) -> Option<Found<String>> {
    let mut out = String::new();
    let mut i = start;
    while out.len() < len {
        let u = unit_at(words, i, homophones)?;
        out.push_str(&u.chars);
        i = u.end;
    }
    if out.len() != len {
        return None;
    }
    if unit_at(words, i, homophones).is_some_and(|next| next.strong) {
        return None;
    }
    Some(Found::new(out, start, i))
}

fn skip_fillers(words: &[String], mut i: usize) -> usize {
    while i < words.len() && FILLERS.contains(&words[i].as_str()) {
        i += 1;
    }
    i
}

/// First choice: a run right after a cue word.
fn after_cue(words: &[String], len: usize, homophones: bool) -> Option<Found<String>> {
    (0..words.len())
        .filter(|&c| CUES.contains(&words[c].as_str()))
        .find_map(|c| read_exact(words, skip_fillers(words, c + 1), len, homophones))
}

/// Second choice: the whole utterance, fillers at both ends skipped.
fn whole_utterance(words: &[String], len: usize) -> Option<Found<String>> {
    let start = skip_fillers(words, 0);
    // A leading "oh" is a letter O or a filler ("oh it's ..."): try both.
    whole_utterance_from(words, start, len).or_else(|| {
        (word(words, start) == "oh").then(|| whole_utterance_from(words, skip_fillers(words, start + 1), len)).flatten()
    })
}

fn whole_utterance_from(words: &[String], start: usize, len: usize) -> Option<Found<String>> {
    let mut end = words.len();
    while end > start && (FILLERS.contains(&words[end - 1].as_str()) || words[end - 1] == "thank") {
        end -= 1;
    }
    // "... thank you": "you" is a letter homophone, so drop the pair.
    if end >= start + 2 && words[end - 2] == "thank" && words[end - 1] == "you" {
        end -= 2;
        while end > start && FILLERS.contains(&words[end - 1].as_str()) {
            end -= 1;
        }
    }
    let found = read_exact(&words[..end], start, len, true)?;
    (found.span.end == end).then_some(found)
}

/// Last choice: a run anywhere that has exactly `len` characters and mixes
/// letters and digits.
fn anywhere(words: &[String], len: usize) -> Option<Found<String>> {
    (0..words.len()).find_map(|start| {
        // Only at the start of a run, so a longer run is not cut in two.
        if start > 0 && unit_at(words, start - 1, false).is_some_and(|u| u.end == start && u.strong) {
            return None;
        }
        let found = read_exact(words, start, len, false)?;
        let has_digit = found.value.bytes().any(|b| b.is_ascii_digit());
        let has_letter = found.value.bytes().any(|b| b.is_ascii_alphabetic());
        (has_digit && has_letter).then_some(found)
    })
}

/// A booking reference of exactly `len` characters (A-Z, 0-9), uppercased,
/// with the span of the tokens that spelled it. `strict` is for free
/// speech; pass `false` right after asking for the reference, to accept a
/// bare reference and letter homophones. See the module doc.
pub fn find_booking_ref(words: &[String], len: usize, strict: bool) -> Option<Found<String>> {
    if len == 0 || len > MAX_LEN || words.is_empty() {
        return None;
    }
    let homophones = !strict;
    let found = after_cue(words, len, homophones)
        .or_else(|| if strict { None } else { whole_utterance(words, len) })
        .or_else(|| anywhere(words, len))?;
    debug_assert!(
        found.value.len() == len && found.value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::test_util::w;

    fn get(text: &str, strict: bool) -> Option<(String, String)> {
        let words = w(text);
        find_booking_ref(&words, 6, strict).map(|f| (f.value, words[f.span.start..f.span.end].join(" ")))
    }

    fn code(text: &str, strict: bool) -> Option<String> {
        get(text, strict).map(|(c, _)| c)
    }

    #[test]
    fn nato_after_cue() {
        assert_eq!(
            get("my booking reference is victor x-ray seven kilo two papa", true),
            Some(("VX7K2P".into(), "victor x ray seven kilo two papa".into()))
        );
        assert_eq!(code("reference xray alpha one two three bravo", true).as_deref(), Some("XA123B"));
    }

    #[test]
    fn single_token_and_spelled() {
        assert_eq!(get("my reference is vx7k2p", true), Some(("VX7K2P".into(), "vx7k2p".into())));
        assert_eq!(code("the code is v x seven k two p", true).as_deref(), Some("VX7K2P"));
        assert_eq!(code("booking v x 7 k 2 p", true).as_deref(), Some("VX7K2P"));
        assert_eq!(code("ref vx7 k2p", true).as_deref(), Some("VX7K2P"));
        assert_eq!(code("it is VX7K2P", true).as_deref(), Some("VX7K2P"));
    }

    #[test]
    fn doubles_and_triples() {
        assert_eq!(code("reference double seven triple a one", true).as_deref(), Some("77AAA1"));
        assert_eq!(code("reference a double b c d e", true).as_deref(), Some("ABBCDE"));
        assert_eq!(code("code treble x one two three", true).as_deref(), Some("XXX123"));
        // Only single characters repeat.
        assert_eq!(code("code double seventeen a b", true), None);
    }

    #[test]
    fn number_words_of_two_digits() {
        assert_eq!(code("reference is seventeen a b c d", true).as_deref(), Some("17ABCD"));
        assert_eq!(code("reference is twenty one a b c d", true).as_deref(), Some("21ABCD"));
        assert_eq!(code("reference is x y twenty z", true), None);
    }

    #[test]
    fn spelled_with_examples() {
        assert_eq!(code("reference b as in bravo c d one two three", true).as_deref(), Some("BCD123"));
        assert_eq!(code("reference b for bravo c d one two three", true).as_deref(), Some("BCD123"));
    }

    #[test]
    fn to_too_for_are_not_digits() {
        assert_eq!(code("reference a b to c d e", true), None);
        assert_eq!(code("a b c d too e", false), None);
        assert_eq!(code("reference is a b c for d e", true), None);
    }

    #[test]
    fn wrong_lengths_are_rejected() {
        assert_eq!(code("reference is a b c d e", true), None);
        assert_eq!(code("reference is a b c d e f g", true), None);
        assert_eq!(code("reference is vx7k2pq", true), None);
        // A trailing "i" is taken as a word.
        assert_eq!(code("reference is v x seven k two p i think", true).as_deref(), Some("VX7K2P"));
    }

    #[test]
    fn homophones_only_when_not_strict() {
        assert_eq!(code("see you are seven two why", false).as_deref(), Some("CUR72Y"));
        assert_eq!(code("see you are seven two why", true), None);
        assert_eq!(code("um its bee double you seven tea eye oh", false).as_deref(), Some("BW7TIO"));
        assert_eq!(code("zed zee queue jay kay el", false).as_deref(), Some("ZZQJKL"));
        assert_eq!(code("em en pee es vee ex", false).as_deref(), Some("MNPSVX"));
    }

    #[test]
    fn whole_utterance_when_asked() {
        assert_eq!(get("um it's v x seven k two p", false), Some(("VX7K2P".into(), "v x seven k two p".into())));
        assert_eq!(code("yes v x seven k two p thank you", false).as_deref(), Some("VX7K2P"));
        assert_eq!(code("a b c d e f", false).as_deref(), Some("ABCDEF"));
        assert_eq!(code("a b c d e f", true), None);
        // Not asked: letters-only runs without a cue are not references.
        assert_eq!(code("one two three four five six", true), None);
        assert_eq!(code("one two three four five six", false).as_deref(), Some("123456"));
    }

    #[test]
    fn anywhere_needs_letters_and_digits() {
        assert_eq!(get("i think vx7k2p but not sure", true), Some(("VX7K2P".into(), "vx7k2p".into())));
        assert_eq!(code("can you look up k seven x two two nine please", true).as_deref(), Some("K7X229"));
        assert_eq!(code("flight two one two four five six", true), None);
    }

    #[test]
    fn ordinary_sentences_have_no_reference() {
        for text in [
            "i want to fly from london to paris on the twelfth of june for two adults",
            "book me a hotel in barcelona for three nights from next friday",
            "change it to the fourteenth",
            "new york to los angeles next tuesday",
            "from heathrow to jfk",
            "are you there",
            "the 12th of june",
        ] {
            assert_eq!(code(text, true), None, "{text}");
        }
    }

    #[test]
    fn other_lengths() {
        let words = w("reference is a b one two");
        assert_eq!(find_booking_ref(&words, 4, true).map(|f| f.value).as_deref(), Some("AB12"));
        assert_eq!(find_booking_ref(&words, 0, true), None);
        assert_eq!(find_booking_ref(&words, 1000, true), None);
    }

    #[test]
    fn odd_input_never_panics() {
        for text in [
            "",
            "🙂",
            "99999999999999999999",
            "reference is 99999999999999999999",
            "double",
            "double double double",
            "triple",
            "x",
            "b as in",
            "b for",
            "reference",
            "thank you",
            "um um um",
        ] {
            let words = w(text);
            for strict in [true, false] {
                for len in [0, 1, 6, 8, 32, 33] {
                    let _ = find_booking_ref(&words, len, strict);
                }
            }
        }
        let words = w("99999999999999999999");
        assert_eq!(find_booking_ref(&words, 20, false).map(|f| f.value).as_deref(), Some("99999999999999999999"));
        let long = "a b c ".repeat(10_000);
        assert_eq!(find_booking_ref(&w(&long), 6, true), None);
    }
}
