//! Typo repair for typed text: "i need a flihgt", "cancle my resevation".
//!
//! A word that is not one the assistant knows, nor a place, a number or a
//! date word, and that is one slip away from exactly one of the intents'
//! keywords (the words of their patterns and examples), is read as that
//! keyword. Ties and near misses of short words are left alone: a wrong
//! repair is worse than none, since the dialogue asks again anyway.

use crate::extract::fuzzy;
use crate::extract::places::Gazetteer;
use crate::extract::{dates, numbers, refs};

/// Keywords shorter than this are not repair targets ("fly", "stay" are
/// too close to too many other words).
pub const MIN_KEYWORD_LEN: usize = 4;

/// Day words a typist slips on ("tomorow", "wendesday").
const DATE_WORDS: &[&str] = &[
    "tomorrow",
    "tonight",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "april",
    "august",
    "september",
    "october",
    "november",
    "december",
    "weekend",
    "fortnight",
];

/// Words after which a slipped word is likely a place ("to madird").
const PLACE_CUES: &[&str] = &["to", "from", "in", "into", "via", "at"];

/// Real words one letter from a keyword, which are meant as themselves.
const REAL_WORDS: &[&str] =
    &["fight", "fights", "light", "lights", "night", "nights", "right", "sight", "might", "tight", "slight"];

/// Whether `word` is a likely slip for `keyword` at distance `d`. One
/// swapped pair ("flihgt") or one dropped or doubled letter ("fligt",
/// "hottel") is; one letter changed for another is not, as that is how
/// real words differ ("looking"/"booking", "chance"/"change").
fn plausible_slip(word: &str, keyword: &str, d: usize) -> bool {
    // "changed", "flights": inflections are words of their own.
    let inflection =
        word.strip_prefix(keyword).is_some_and(|suffix| matches!(suffix, "s" | "d" | "ed" | "es" | "er" | "ing" | "r"));
    if REAL_WORDS.contains(&word) || inflection {
        return false;
    }
    if d > 1 {
        return word.len() >= 8;
    }
    // Short words are only repaired by a swap: a letter more or less
    // turns too many of them into another word ("that"/"thats").
    if word.len() < 5 && word.len() != keyword.len() {
        return false;
    }
    // Long words may have one letter changed too ("operater").
    if word.len() == keyword.len() && word.len() < 8 {
        let (mut a, mut b): (Vec<u8>, Vec<u8>) = (word.bytes().collect(), keyword.bytes().collect());
        a.sort_unstable();
        b.sort_unstable();
        return a == b;
    }
    true
}

/// Replaces slipped words in place with the keyword they were meant to be.
/// `keywords` is sorted.
pub fn repair(words: &mut [String], keywords: &[String], gazetteer: &Gazetteer) {
    let targets: Vec<String> = keywords.iter().cloned().chain(DATE_WORDS.iter().map(|w| w.to_string())).collect();
    for i in 0..words.len() {
        // "to kansas city": a word that starts a place name is no slip.
        let starts_place =
            gazetteer.find(&words[i..(i + 4).min(words.len())]).first().is_some_and(|f| f.span.start == 0);
        let after_cue = i > 0 && PLACE_CUES.contains(&words[i - 1].as_str()) && !starts_place;
        repair_word(words, i, &targets, gazetteer, after_cue);
    }
}

fn repair_word(words: &mut [String], i: usize, keywords: &[String], gazetteer: &Gazetteer, after_cue: bool) {
    {
        let w = &mut words[i];
        if w.len() < 4 || keywords.contains(w) || !w.bytes().all(|b| b.is_ascii_lowercase()) {
            return;
        }
        // The spelling alphabet ("romeo", "victor") is how references are said.
        let ordinal = numbers::ordinal_at(std::slice::from_ref(w), 0).is_some() || refs::nato(w).is_some();
        if numbers::is_number_word(w)
            || ordinal
            || dates::is_date_word(w)
            || !gazetteer.find(std::slice::from_ref(w)).is_empty()
        {
            return;
        }
        let limit = fuzzy::allowed(w.len());
        let mut best: Option<(&String, usize)> = None;
        let mut tied = false;
        for k in keywords {
            let d = fuzzy::distance(w, k, limit);
            if d > limit || d == 0 || !plausible_slip(w, k, d) {
                continue;
            }
            match best {
                Some((_, b)) if d > b => {}
                Some((_, b)) if d == b => tied = true,
                _ => {
                    best = Some((k, d));
                    tied = false;
                }
            }
        }
        if let (Some((k, _)), false) = (best, tied) {
            *w = k.clone();
            return;
        }
        // "to madird": a place a slip away, right after a travel cue.
        if after_cue && let Some((name, _)) = gazetteer.closest_name(w) {
            *w = name;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keywords() -> Vec<String> {
        let mut k: Vec<String> =
            ["flight", "flights", "hotel", "cancel", "booking", "reservation", "change", "status", "book"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        k.sort();
        k
    }

    fn fixed(text: &str) -> String {
        let mut words = crate::extract::tokens::tokenize(text);
        repair(&mut words, &keywords(), &Gazetteer::default());
        words.join(" ")
    }

    #[test]
    fn slips_are_repaired() {
        assert_eq!(fixed("i need a flihgt to madrid"), "i need a flight to madrid");
        assert_eq!(fixed("a hotle in oslo"), "a hotel in oslo");
        assert_eq!(fixed("cancle my resevation"), "cancel my reservation");
    }

    #[test]
    fn known_and_short_words_are_left_alone() {
        assert_eq!(fixed("the best hotel"), "the best hotel");
        assert_eq!(fixed("a room for two"), "a room for two");
        assert_eq!(fixed("flights"), "flights");
        // A dropped letter is a slip; a changed one is how real words differ.
        assert_eq!(fixed("flighs"), "flights");
        assert_eq!(fixed("im looking for a hotel"), "im looking for a hotel");
        assert_eq!(fixed("any chance of a flight"), "any chance of a flight");
        assert_eq!(fixed("a night flight"), "a night flight");
    }
}
