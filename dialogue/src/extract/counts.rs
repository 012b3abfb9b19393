//! Counts of people and things, and lengths of stay in nights.
//!
//! - [`find_counts`]: a number right before one of the caller's nouns ("two
//!   adults", "3 passengers", "a child", "no children", "two of us" with
//!   the noun "of us").
//! - [`find_party_size`]: everything above for people nouns, plus the ways
//!   people describe their party without a count noun: "party of six",
//!   "a family of four", "just me", "myself", "on my own" (1), "me and my
//!   wife" (2), "me and my two kids" (3), "my husband and i" (2).
//! - [`find_nights`]: "three nights", "a night", "a week" (7), "two weeks"
//!   (14), "a fortnight" (14), "a couple of nights" (2), and "for five
//!   days" / "stay five days" (5).
//!
//! Spans cover the number and its noun ("two adults", "a family of four",
//! "five days"), never the cue before them ("for"). Dates win over counts
//! where they could compete: weeks in "in two weeks", "a week on friday",
//! "a week from today" and "friday week" are dates, not stays, and are
//! skipped here. Days are nights only after "for" or "stay(ing)" ("in five
//! days" is a date); we take the number said ("for five days" = 5 nights),
//! as callers booking a hotel "for five days" almost always mean five
//! nights. Mixed parties are summed: "two adults and a child" is three
//! (children count only beside adults: "a child" alone is no party size).

use super::numbers::cardinal_at;
use super::{Found, non_overlapping, word};

/// Nouns for people, as [`find_party_size`] uses them.
pub const PEOPLE_NOUNS: &[&str] = &[
    "passenger",
    "passengers",
    "adult",
    "adults",
    "people",
    "person",
    "persons",
    "traveller",
    "travellers",
    "traveler",
    "travelers",
    "guest",
    "guests",
    "of us",
    "ppl",
    "ticket",
    "grown ups",
    "grownups",
    "pax",
    "tickets",
    "seats",
];

/// Companions that make "me and my X" a party of two.
const COMPANIONS: &[&str] = &[
    "wife",
    "husband",
    "partner",
    "friend",
    "boyfriend",
    "girlfriend",
    "fiance",
    "fiancee",
    "spouse",
    "son",
    "daughter",
    "mum",
    "mom",
    "mother",
    "dad",
    "father",
    "brother",
    "sister",
    "colleague",
    "kid",
    "child",
    "baby",
    "mate",
    "buddy",
    "grandma",
    "grandmother",
    "grandpa",
    "grandfather",
    "aunt",
    "uncle",
    "cousin",
    "niece",
    "nephew",
    "boss",
];

/// Companions in the plural, with a count ("me and my two kids").
const COMPANIONS_PLURAL: &[&str] = &[
    "friends",
    "kids",
    "children",
    "sons",
    "daughters",
    "colleagues",
    "brothers",
    "sisters",
    "cousins",
    "mates",
    "grandchildren",
];

/// If `noun` (one or more space-separated words) is at `i`, where it ends.
fn noun_at(words: &[String], i: usize, noun: &str) -> Option<usize> {
    let mut j = i;
    for part in noun.split_whitespace() {
        if word(words, j) != part {
            return None;
        }
        j += 1;
    }
    (j > i).then_some(j)
}

/// The longest of `nouns` at `i`.
fn any_noun_at(words: &[String], i: usize, nouns: &[&str]) -> Option<usize> {
    nouns.iter().filter_map(|n| noun_at(words, i, n)).max()
}

/// A count at `i`: a cardinal, "a"/"an" (1) or "no" (0).
fn count_at(words: &[String], i: usize) -> Option<(u32, usize)> {
    match word(words, i) {
        "a" | "an" => Some((1, i + 1)),
        "no" => Some((0, i + 1)),
        // Mishearings of "two" and "four": "too adults", "for to nights",
        // "for for people" (only after "for", where a count is expected).
        "too" => Some((2, i + 1)),
        "to" if i > 0 && word(words, i - 1) == "for" => Some((2, i + 1)),
        "for" if i > 0 && word(words, i - 1) == "for" => Some((4, i + 1)),
        _ => cardinal_at(words, i).map(|f| (f.value, f.span.end)),
    }
}

/// Counts attached to one of `nouns` ("two adults", "3 passengers", "a
/// child", "no children"); nouns may have several words ("of us"). Left to
/// right, non-overlapping.
pub fn find_counts(words: &[String], nouns: &[&str]) -> Vec<Found<u32>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if let Some((n, after)) = count_at(words, i)
            && let Some(end) = any_noun_at(words, after, nouns)
        {
            out.push(Found::new(n, i, end));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Nouns for children, which count towards a party only beside adults
/// ("two adults and a child"): "a child" alone is not a party size.
const CHILD_NOUNS: &[&str] = &[
    "little ones",
    "little one",
    "child",
    "children",
    "kid",
    "kids",
    "infant",
    "infants",
    "baby",
    "babies",
    "toddler",
    "toddlers",
    "teenager",
    "teenagers",
];

fn is_child_noun(w: &str) -> bool {
    CHILD_NOUNS.contains(&w)
}

/// Mixed parties, summed: "two adults and a child" (3), "2 adults 2 kids"
/// (4), "one adult plus two children" (3).
fn mixed_parties(words: &[String]) -> Vec<Found<u32>> {
    let mut nouns: Vec<&str> = PEOPLE_NOUNS.to_vec();
    nouns.extend_from_slice(CHILD_NOUNS);
    let parts = find_counts(words, &nouns);
    let mut out = Vec::new();
    let mut k = 0;
    while k < parts.len() {
        let mut total = parts[k].value;
        let mut end = k;
        while let Some(next) = parts.get(end + 1) {
            let gap = &words[parts[end].span.end..next.span.start];
            // Side by side ("2 adults 2 kids") only when adults meet
            // children; a repeated "two adults" is a repetition, not more.
            let kinds_differ =
                is_child_noun(&words[parts[end].span.end - 1]) != is_child_noun(&words[next.span.end - 1]);
            let joined = (gap.is_empty() && kinds_differ)
                || (gap.len() == 1 && matches!(gap[0].as_str(), "and" | "plus" | "with"));
            if !joined {
                break;
            }
            total = total.saturating_add(next.value);
            end += 1;
        }
        if end > k {
            out.push(Found::new(total, parts[k].span.start, parts[end].span.end));
        }
        k = end + 1;
    }
    out
}

/// The party size, in any of the ways people say it (see the module doc).
pub fn find_party_size(words: &[String]) -> Vec<Found<u32>> {
    let mut found = mixed_parties(words);
    found.extend(find_counts(words, PEOPLE_NOUNS));
    for i in 0..words.len() {
        if let Some(f) = group_of_at(words, i)
            .or_else(|| solo_at(words, i))
            .or_else(|| companions_at(words, i))
            .or_else(|| for_me_at(words, i))
        {
            found.push(f);
        }
    }
    non_overlapping(found)
}

/// "party of six", "a group of 4", "a family of four".
fn group_of_at(words: &[String], i: usize) -> Option<Found<u32>> {
    let j = if matches!(word(words, i), "a" | "an") { i + 1 } else { i };
    if !matches!(word(words, j), "party" | "group" | "family") || word(words, j + 1) != "of" {
        return None;
    }
    let n = cardinal_at(words, j + 2)?;
    (n.value > 0).then(|| Found::new(n.value, i, n.span.end))
}

/// "just me", "only me", "me alone", "myself", "by myself", "on my own",
/// "alone", "solo".
fn solo_at(words: &[String], i: usize) -> Option<Found<u32>> {
    let (a, b, c) = (word(words, i), word(words, i + 1), word(words, i + 2));
    let len = match (a, b, c) {
        ("just" | "only", "me" | "myself", _) => 2,
        ("me", "alone", _) => 2,
        ("by", "myself" | "himself" | "herself", _) => 2,
        ("on", "his" | "her" | "their", "own") => 3,
        ("on", "my", "own") => 3,
        ("myself" | "alone" | "solo", _, _) => 1,
        _ => return None,
    };
    Some(Found::new(1, i, i + len))
}

/// "… a flight to malaga, for me": "for me" closing a request for a
/// ticket or a room is a party of one. Elsewhere ("can you change that
/// for me", "book it for me") it is politeness, not a count.
fn for_me_at(words: &[String], i: usize) -> Option<Found<u32>> {
    if word(words, i) != "for" || word(words, i + 1) != "me" || i + 2 != words.len() {
        return None;
    }
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    let asks_for_travel = has(&["flight", "flights", "ticket", "tickets", "seat", "room", "hotel", "fly"]);
    let about_a_booking = has(&["cancel", "change", "move", "it", "that", "this", "booking", "reservation"]);
    (asks_for_travel && !about_a_booking).then(|| Found::new(1, i, i + 2))
}

/// "me and my wife" (2), "me and my two kids" (3), "me and my parents"
/// (3), "my wife and i" (2), "me plus one" (2).
fn companions_at(words: &[String], i: usize) -> Option<Found<u32>> {
    let w = |k: usize| word(words, i + k);
    if w(0) == "me" && w(1) == "plus" {
        let n = cardinal_at(words, i + 2)?;
        return Some(Found::new(n.value.checked_add(1)?, i, n.span.end));
    }
    if let Some(found) = companion_chain_at(words, i) {
        return Some(found);
    }
    if w(0) == "my" && COMPANIONS.contains(&w(1)) && w(2) == "and" && matches!(w(3), "i" | "me" | "myself") {
        return Some(Found::new(2, i, i + 4));
    }
    if w(0) == "my" && w(1) == "parents" {
        let end = if (w(2), w(3), w(4)) == ("both", "of", "them") { i + 5 } else { i + 2 };
        return Some(Found::new(2, i, end));
    }
    // "we're four", "we are four".
    if w(0) == "we" && matches!(w(1), "re" | "are") {
        let n = cardinal_at(words, i + 2)?;
        return (n.value > 0).then(|| Found::new(n.value, i, n.span.end));
    }
    None
}

/// The speaker and who comes along: "me and my wife" (2), "me my wife and
/// our two kids" (4), "me and my husband and our three year old" (3), "me
/// and two friends" (3), "with my wife and 3 kids" (5: "with" counts the
/// speaker), "me and my parents" (3).
fn companion_chain_at(words: &[String], i: usize) -> Option<Found<u32>> {
    let mut total: u32 = match (word(words, i), word(words, i + 1)) {
        ("me" | "myself", _) => 1,
        ("with", "my" | "our") => 1,
        _ => return None,
    };
    let mut k = i + 1;
    let mut end = None;
    loop {
        let mut j = k;
        while matches!(word(words, j), "and" | "plus" | "with") {
            j += 1;
        }
        if matches!(word(words, j), "my" | "our" | "the") {
            j += 1;
        }
        let Some((added, after)) = one_companion_at(words, j) else { break };
        total = total.checked_add(added)?;
        k = after;
        end = Some(after);
    }
    end.map(|e| Found::new(total, i, e))
}

/// One companion phrase at `j` (after "my"/"our"): how many people it
/// adds and where it ends.
fn one_companion_at(words: &[String], j: usize) -> Option<(u32, usize)> {
    if word(words, j) == "parents" {
        return Some((2, j + 1));
    }
    let counted = cardinal_at(words, j);
    let mut k = counted.as_ref().map_or(j, |n| n.span.end);
    // "our three year old": a child of that age.
    if counted.is_some() && word(words, k) == "year" && word(words, k + 1) == "old" {
        return Some((1, k + 2));
    }
    while COMPANION_ADJECTIVES.contains(&word(words, k)) {
        k += 1;
    }
    let noun = word(words, k);
    let singular = COMPANIONS.contains(&noun) || matches!(noun, "boy" | "girl");
    let plural = COMPANIONS_PLURAL.contains(&noun) || matches!(noun, "boys" | "girls");
    let mut end = k + 1;
    // "mother in law".
    if singular && word(words, end) == "in" && word(words, end + 1) == "law" {
        end += 2;
    }
    match (counted, singular, plural) {
        (Some(n), true | false, true) => Some((n.value, end)),
        (Some(n), true, false) if n.value == 1 => Some((1, end)),
        (None, true, false) => Some((1, end)),
        _ => None,
    }
}

/// Words that may stand between "my"/"our" and a companion ("our little boy").
const COMPANION_ADJECTIVES: &[&str] =
    &["little", "young", "baby", "teenage", "older", "younger", "eldest", "youngest", "elderly", "new"];

/// Words after "night(s)" that make it an adjective ("a night flight").
fn night_is_adjective(next: &str) -> bool {
    matches!(next, "flight" | "flights" | "train" | "trains" | "bus" | "shift" | "time" | "club" | "out" | "owl")
}

/// Words before a number of weeks that make it a date or a rate.
fn week_blocked_before(prev: &str) -> bool {
    matches!(prev, "in" | "within" | "next" | "this" | "last" | "per" | "every" | "each" | "than")
}

/// Words after "week(s)" that make it a date ("a week from today").
fn week_blocked_after(next: &str) -> bool {
    matches!(
        next,
        "from"
            | "on"
            | "after"
            | "today"
            | "tomorrow"
            | "time"
            | "ago"
            | "later"
            | "away"
            | "before"
            | "earlier"
            | "monday"
            | "tuesday"
            | "wednesday"
            | "thursday"
            | "friday"
            | "saturday"
            | "sunday"
    )
}

fn is_weekday(w: &str) -> bool {
    matches!(w, "monday" | "tuesday" | "wednesday" | "thursday" | "friday" | "saturday" | "sunday")
}

/// Lengths of stay in nights (see the module doc), left to right,
/// non-overlapping.
pub fn find_nights(words: &[String]) -> Vec<Found<u32>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        match nights_at(words, i) {
            Some(f) => {
                i = f.span.end.max(i + 1);
                out.push(f);
            }
            None => i += 1,
        }
    }
    out
}

fn nights_at(words: &[String], i: usize) -> Option<Found<u32>> {
    let prev = if i == 0 { "" } else { word(words, i - 1) };
    // "a couple of nights", "a couple nights".
    let (n, after) = if word(words, i) == "a" && word(words, i + 1) == "couple" {
        (2, if word(words, i + 2) == "of" { i + 3 } else { i + 2 })
    } else {
        count_at(words, i).filter(|&(n, _)| n > 0)?
    };
    let unit = word(words, after);
    let next = word(words, after + 1);
    let end = after + 1;
    match unit {
        "night" | "nights" if !night_is_adjective(next) => Some(Found::new(n, i, end)),
        "week" | "weeks" | "fortnight" | "fortnights" => {
            if week_blocked_before(prev) || week_blocked_after(next) || is_weekday(prev) {
                return None;
            }
            let per = if unit.starts_with("fortnight") { 14 } else { 7 };
            Some(Found::new(n.checked_mul(per)?, i, end))
        }
        "day" | "days" => {
            let cued = matches!(prev, "for" | "stay" | "staying" | "stays");
            (cued && !week_blocked_after(next)).then(|| Found::new(n, i, end))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::test_util::w;

    fn spans(found: &[Found<u32>], words: &[String]) -> Vec<(u32, String)> {
        found.iter().map(|f| (f.value, words[f.span.start..f.span.end].join(" "))).collect()
    }

    fn counts(text: &str, nouns: &[&str]) -> Vec<(u32, String)> {
        let words = w(text);
        spans(&find_counts(&words, nouns), &words)
    }

    fn party(text: &str) -> Vec<(u32, String)> {
        let words = w(text);
        spans(&find_party_size(&words), &words)
    }

    fn nights(text: &str) -> Vec<(u32, String)> {
        let words = w(text);
        spans(&find_nights(&words), &words)
    }

    fn p(n: u32, s: &str) -> (u32, String) {
        (n, s.to_string())
    }

    #[test]
    fn counts_with_nouns() {
        assert_eq!(counts("two adults", PEOPLE_NOUNS), vec![p(2, "two adults")]);
        assert_eq!(counts("3 passengers", PEOPLE_NOUNS), vec![p(3, "3 passengers")]);
        assert_eq!(counts("for four people", PEOPLE_NOUNS), vec![p(4, "four people")]);
        assert_eq!(counts("twenty one guests", PEOPLE_NOUNS), vec![p(21, "twenty one guests")]);
        assert_eq!(counts("the two of us", PEOPLE_NOUNS), vec![p(2, "two of us")]);
        assert_eq!(counts("one adult", PEOPLE_NOUNS), vec![p(1, "one adult")]);
        assert_eq!(counts("an adult", PEOPLE_NOUNS), vec![p(1, "an adult")]);
        let kids = ["child", "children", "kid", "kids"];
        assert_eq!(counts("two adults and a child", &kids), vec![p(1, "a child")]);
        assert_eq!(counts("no children", &kids), vec![p(0, "no children")]);
        assert_eq!(counts("two adults and three kids", &kids), vec![p(3, "three kids")]);
        assert_eq!(counts("two rooms", &["room", "rooms"]), vec![p(2, "two rooms")]);
    }

    #[test]
    fn counts_without_nouns_are_nothing() {
        assert_eq!(counts("two", PEOPLE_NOUNS), vec![]);
        assert_eq!(counts("the twelfth of june", PEOPLE_NOUNS), vec![]);
        assert_eq!(counts("people", PEOPLE_NOUNS), vec![]);
        assert_eq!(counts("two adults", &[]), vec![]);
        assert_eq!(counts("two adults", &[""]), vec![]);
        assert_eq!(counts("ten thousand people", PEOPLE_NOUNS), vec![]);
    }

    #[test]
    fn for_me_closing_a_request_is_one() {
        assert_eq!(party("a flight to malaga just one way for me"), vec![p(1, "for me")]);
        assert_eq!(party("can you change that flight for me"), vec![]);
        assert_eq!(party("for me and my wife"), vec![p(2, "me and my wife")]);
    }

    #[test]
    fn parties_described_by_who_comes() {
        assert_eq!(party("me my wife and our two kids"), vec![p(4, "me my wife and our two kids")]);
        assert_eq!(party("me my wife and my mother in law"), vec![p(3, "me my wife and my mother in law")]);
        assert_eq!(
            party("me and my husband and our three year old"),
            vec![p(3, "me and my husband and our three year old")]
        );
        assert_eq!(party("me and two friends"), vec![p(3, "me and two friends")]);
        assert_eq!(party("with my wife and 3 kids"), vec![p(5, "with my wife and 3 kids")]);
        assert_eq!(party("my parents both of them"), vec![p(2, "my parents both of them")]);
        assert_eq!(party("we re four"), vec![p(4, "we re four")]);
        assert_eq!(party("she is travelling on her own"), vec![p(1, "on her own")]);
        assert_eq!(party("too adults"), vec![p(2, "too adults")]);
        assert_eq!(party("for for people"), vec![p(4, "for people")]);
        assert_eq!(party("me too"), vec![]);
    }

    #[test]
    fn companions_are_counted_along_a_chain() {
        assert_eq!(party("me and my wife and our little boy"), vec![p(3, "me and my wife and our little boy")]);
        assert_eq!(party("me and my husband and our two kids"), vec![p(4, "me and my husband and our two kids")]);
        assert_eq!(party("me and my wife and"), vec![p(2, "me and my wife")]);
    }

    #[test]
    fn mixed_parties_are_summed() {
        assert_eq!(party("two adults and a child"), vec![p(3, "two adults and a child")]);
        assert_eq!(party("2 adults 2 kids"), vec![p(4, "2 adults 2 kids")]);
        assert_eq!(party("one adult plus two children please"), vec![p(3, "one adult plus two children")]);
        assert_eq!(party("three adults and an infant"), vec![p(4, "three adults and an infant")]);
        // A child alone is not a party; people alone still are.
        assert_eq!(party("a child"), vec![]);
        assert_eq!(party("two adults on friday and a child"), vec![p(2, "two adults")]);
    }

    #[test]
    fn party_phrases() {
        assert_eq!(party("party of six"), vec![p(6, "party of six")]);
        assert_eq!(party("we are a family of four"), vec![p(4, "a family of four")]);
        assert_eq!(party("a group of 12"), vec![p(12, "a group of 12")]);
        assert_eq!(party("just me"), vec![p(1, "just me")]);
        assert_eq!(party("only me"), vec![p(1, "only me")]);
        assert_eq!(party("just myself"), vec![p(1, "just myself")]);
        assert_eq!(party("myself"), vec![p(1, "myself")]);
        assert_eq!(party("travelling alone"), vec![p(1, "alone")]);
        assert_eq!(party("on my own"), vec![p(1, "on my own")]);
        assert_eq!(party("me and my wife"), vec![p(2, "me and my wife")]);
        assert_eq!(party("me and my husband"), vec![p(2, "me and my husband")]);
        assert_eq!(party("me and my partner"), vec![p(2, "me and my partner")]);
        assert_eq!(party("me and my friend"), vec![p(2, "me and my friend")]);
        assert_eq!(party("me and my two kids"), vec![p(3, "me and my two kids")]);
        assert_eq!(party("me and my parents"), vec![p(3, "me and my parents")]);
        assert_eq!(party("my wife and i"), vec![p(2, "my wife and i")]);
        assert_eq!(party("me plus two"), vec![p(3, "me plus two")]);
        assert_eq!(party("the two of us"), vec![p(2, "two of us")]);
        assert_eq!(party("for two adults"), vec![p(2, "two adults")]);
        assert_eq!(party("me and my friends"), vec![]);
        assert_eq!(party("party of none"), vec![]);
    }

    #[test]
    fn stays() {
        assert_eq!(nights("three nights"), vec![p(3, "three nights")]);
        assert_eq!(nights("for a night"), vec![p(1, "a night")]);
        assert_eq!(nights("one night only"), vec![p(1, "one night")]);
        assert_eq!(nights("for a week"), vec![p(7, "a week")]);
        assert_eq!(nights("two weeks"), vec![p(14, "two weeks")]);
        assert_eq!(nights("a fortnight"), vec![p(14, "a fortnight")]);
        assert_eq!(nights("a couple of nights"), vec![p(2, "a couple of nights")]);
        assert_eq!(nights("for five days"), vec![p(5, "five days")]);
        assert_eq!(nights("stay 5 days"), vec![p(5, "5 days")]);
        assert_eq!(nights("ten nights"), vec![p(10, "ten nights")]);
    }

    #[test]
    fn dates_are_not_stays() {
        assert_eq!(nights("in five days"), vec![]);
        assert_eq!(nights("five days"), vec![]);
        assert_eq!(nights("in two weeks"), vec![]);
        assert_eq!(nights("a week from today"), vec![]);
        assert_eq!(nights("a week on friday"), vec![]);
        assert_eq!(nights("friday week"), vec![]);
        assert_eq!(nights("next week"), vec![]);
        assert_eq!(nights("two weeks from now"), vec![]);
        assert_eq!(nights("a night flight"), vec![]);
        assert_eq!(nights("tonight"), vec![]);
        assert_eq!(nights("zero nights"), vec![]);
        assert_eq!(nights("no nights"), vec![]);
    }

    #[test]
    fn realistic_utterances() {
        let words = w("i want to fly from london to paris on the twelfth of june for two adults");
        assert_eq!(spans(&find_party_size(&words), &words), vec![p(2, "two adults")]);
        assert_eq!(find_nights(&words), vec![]);
        let words = w("book me a hotel in barcelona for three nights from next friday");
        assert_eq!(spans(&find_nights(&words), &words), vec![p(3, "three nights")]);
        assert_eq!(find_party_size(&words), vec![]);
        let words = w("two adults on the fifth");
        let found = find_party_size(&words);
        assert_eq!((found[0].value, found[0].span.start, found[0].span.end), (2, 0, 2));
        assert_eq!(party("change it to the fourteenth"), vec![]);
        assert_eq!(party("my booking reference is victor x-ray seven kilo two papa"), vec![]);
    }

    #[test]
    fn odd_input_never_panics() {
        for text in
            ["", "🙂", "99999999999999999999 people", "me plus 9999", "9999 weeks", "a", "me and my", "party of"]
        {
            let words = w(text);
            let _ = find_counts(&words, PEOPLE_NOUNS);
            let _ = find_party_size(&words);
            let _ = find_nights(&words);
        }
        assert_eq!(nights("9999 weeks"), vec![p(69993, "9999 weeks")]);
        let long = "two adults ".repeat(10_000);
        assert_eq!(find_party_size(&w(&long)).len(), 10_000);
    }
}
