//! Answers that missed: when the assistant waits for one slot and the
//! utterance holds nothing of that slot's type, the words are compared
//! with what that slot can hold, allowing for mishearing ("one wait
//! please" → one way, "bostin" → Boston, "too adults" → two).
//!
//! Only the awaited slot is tried, and only when nothing fitting was found
//! outright: the expectation is what makes a near miss likely to be the
//! value and not a different word. A match that is not unique gives
//! nothing, and the engine asks again.

use crate::assistant::{Assistant, SlotDef};
use crate::config::SlotKind;
use crate::extract::places::Gazetteer;
use crate::extract::{Span, fuzzy};
use crate::nlu::entities::{Entity, EntityValue, Phrase};

/// Words too common to be a misheard city ("please", "there").
const NOT_CITIES: &[&str] = &[
    "please", "there", "thanks", "thank", "going", "would", "could", "should", "about", "maybe", "where", "flying",
    "leaving", "coming", "today", "tomorrow", "sorry", "actually", "right", "think", "hello", "want", "need", "like",
    "just", "from", "with", "that", "this", "what", "when", "flight", "hotel", "book", "booking",
];

/// People nouns after a misheard "two" or "four".
const PEOPLE: &[&str] = &["adults", "people", "passengers", "persons", "guests", "travellers", "travelers", "of us"];

/// Entities near-matching the awaited slot, if `entities` has none that fits it.
pub fn near_misses(assistant: &Assistant, words: &[String], entities: &[Entity], awaited: &SlotDef) -> Vec<Entity> {
    if entities.iter().any(|e| fits(awaited, &e.value)) {
        return Vec::new();
    }
    // A bare number is the weakest reading ("one" in "one wait"): a near
    // miss may take its words.
    let free = |span: Span| {
        entities.iter().filter(|e| !matches!(e.value, EntityValue::Number(_))).all(|e| !e.span.overlaps(span))
    };
    match &awaited.kind {
        SlotKind::City => city(assistant.gazetteer(), words, &free).into_iter().collect(),
        SlotKind::PartySize => party(words, &free).into_iter().collect(),
        _ => phrase(assistant.phrases(), words, awaited, &free).into_iter().collect(),
    }
}

fn fits(def: &SlotDef, value: &EntityValue) -> bool {
    match (value, &def.kind) {
        (EntityValue::Place(_), SlotKind::City) => true,
        (
            EntityValue::Date(_) | EntityValue::DateSpan(..) | EntityValue::AmbiguousDate(..) | EntityValue::Week(_),
            SlotKind::Date,
        ) => true,
        (EntityValue::Party(_) | EntityValue::Number(_), SlotKind::PartySize) => true,
        (EntityValue::Nights(_) | EntityValue::Number(_), SlotKind::Nights) => true,
        (EntityValue::Choice { kind, .. }, SlotKind::Choice(k)) => kind == k,
        (EntityValue::NoneFor(slot), _) => *slot == def.name,
        (EntityValue::Code(_), SlotKind::BookingRef) => true,
        _ => false,
    }
}

/// One word a slip away from exactly one city name.
fn city(gazetteer: &Gazetteer, words: &[String], free: &dyn Fn(Span) -> bool) -> Option<Entity> {
    let mut found: Option<Entity> = None;
    for (i, w) in words.iter().enumerate() {
        if w.len() < 4 || NOT_CITIES.contains(&w.as_str()) || !free(Span::new(i, i + 1)) {
            continue;
        }
        if let Some(place) = gazetteer.closest(w) {
            if found.is_some() {
                // Two candidates: too unsure to pick either.
                return None;
            }
            found = Some(Entity { value: EntityValue::Place(place), span: Span::new(i, i + 1) });
        }
    }
    found
}

/// "too adults" / "to people" (2), "free passengers" (3), "for people"
/// (4): homophones of the number right before a people noun, taken only
/// when the assistant asked how many.
fn party(words: &[String], free: &dyn Fn(Span) -> bool) -> Option<Entity> {
    for i in 0..words.len() {
        let n = match words[i].as_str() {
            "won" => 1,
            "to" | "too" => 2,
            "free" | "tree" => 3,
            "for" | "fore" => 4,
            "ate" => 8,
            _ => continue,
        };
        let noun_len = PEOPLE
            .iter()
            .map(|p| p.split(' ').collect::<Vec<_>>())
            .find(|p| p.iter().enumerate().all(|(k, part)| words.get(i + 1 + k).is_some_and(|w| w == part)))
            .map(|p| p.len());
        if let Some(len) = noun_len
            && free(Span::new(i, i + 1 + len))
        {
            return Some(Entity { value: EntityValue::Party(n), span: Span::new(i, i + 1 + len) });
        }
    }
    None
}

/// A run of words a slip away from one of the slot's phrases (its choice
/// values, or its "none" phrases such as "one way").
fn phrase(phrases: &[Phrase], words: &[String], awaited: &SlotDef, free: &dyn Fn(Span) -> bool) -> Option<Entity> {
    let mine = phrases.iter().filter(|p| match (&p.value, &awaited.kind) {
        (EntityValue::NoneFor(slot), _) => *slot == awaited.name,
        (EntityValue::Choice { kind, .. }, SlotKind::Choice(k)) => kind == k,
        _ => false,
    });
    let mut best: Option<(usize, Entity)> = None;
    let mut tied = false;
    for p in mine {
        let n = p.words.len();
        if n == 0 || n > words.len() {
            continue;
        }
        let target = p.words.join(" ");
        // Multi-word phrases whose first word was heard right may be off
        // by a little more in the rest ("one wait": one way).
        let limit = if n > 1 { fuzzy::allowed(target.len()).max(2) } else { fuzzy::allowed(target.len()) };
        for start in 0..=(words.len() - n) {
            let span = Span::new(start, start + n);
            if !free(span) {
                continue;
            }
            // The first word must be heard right: "one wait" is one way,
            // "some way" is not.
            if words[start] != p.words[0] && n > 1 {
                continue;
            }
            let d = fuzzy::distance(&words[start..start + n].join(" "), &target, limit);
            if d > limit {
                continue;
            }
            let entity = Entity { value: p.value.clone(), span };
            match &best {
                Some((bd, b)) if d == *bd && b.value != entity.value => tied = true,
                Some((bd, _)) if d >= *bd => {}
                _ => {
                    best = Some((d, entity));
                    tied = false;
                }
            }
        }
    }
    if tied { None } else { best.map(|(_, e)| e) }
}
