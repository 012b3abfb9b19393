//! What the caller is likely to say next, as text a speech recogniser can
//! be primed with: the awaited slot's answers (a choice slot's values, a
//! slot's "none" phrases such as "one way"), the ways of picking an option
//! or answering a yes/no question, and the cities this conversation has
//! already named.
//!
//! Whisper reads a prompt as the words said just before the audio, so
//! words in it become likelier to be heard: "one way" over "one wait",
//! "Denver" over "Manmer" once Denver has been said. The dialogue knows
//! nothing of Whisper: this is a pure function of the assistant config
//! and the session state that returns plain text, short (a few dozen
//! words) because a prompt costs decode time and a long one dilutes the
//! bias. Values are only ever listed as alternatives, never as a single
//! guess, so the recogniser is nudged toward the expected vocabulary
//! without being told what was said.

use crate::assistant::Assistant;
use crate::config::SlotKind;
use crate::nlu::entities::EntityValue;
use crate::state::{FlowState, Offer, SessionState, SlotValue};

/// At most this many cities are named (the most recent ones).
const MAX_CITIES: usize = 6;

/// Phrases for choosing among options read out.
const OPTION_PICKS: &[&str] = &["the first one", "the second one", "the third one", "the cheapest", "the earliest"];
/// Answers to a yes/no question.
const YES_NO: &[&str] = &["yes please", "yes", "no", "that's right"];
/// Answers giving a number of people.
const PARTY: &[&str] = &["just me", "two adults", "three people", "one adult and one child"];
/// Answers giving a number of nights.
const NIGHTS: &[&str] = &["one night", "two nights", "three nights", "a week"];
/// What a changed booking can be asked to change.
const CHANGES: &[&str] = &["the date", "the number of people"];
/// How a booking reference is spelled out.
const SPELLING: &[&str] = &["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
/// What a caller says before any flow starts.
const OPENINGS: &[&str] = &["a flight", "a hotel", "one way", "return", "cancel my booking", "change my booking"];

/// How many expected answers are named: more made no difference on the
/// spoken dev set, and a long list invites Whisper to go on listing.
const MAX_EXPECTED: usize = 3;

/// The recogniser hint for the caller's next utterance in `state`: the
/// cities said so far, then what the assistant last said (the question
/// being answered; Whisper takes the prompt as the conversation so far),
/// then "You can say" the likeliest answers. Measured on the spoken dev
/// set, a bare list of answers made Whisper repeat the answer it heard
/// ("the second one, the second one, ..."); framed as the question and
/// its suggested answers it did so far less (see samples/spoken/README.md).
pub fn asr_hint(assistant: &Assistant, state: &SessionState) -> String {
    let mut parts: Vec<String> = Vec::new();
    let cities = cities(state);
    if !cities.is_empty() {
        parts.push(sentence(&cities));
    }
    let asked = state.last_reply.trim();
    if !asked.is_empty() {
        parts.push(asked.to_string());
    }
    let expected = expected_answers(assistant, state);
    if !expected.is_empty() {
        let named: Vec<&str> = expected.iter().take(MAX_EXPECTED).map(String::as_str).collect();
        parts.push(format!("You can say {}.", named.join(", or ")));
    }
    parts.join(" ")
}

/// The answers the awaited question invites, most specific first.
fn expected_answers(assistant: &Assistant, state: &SessionState) -> Vec<String> {
    let Some(flow) = state.flow.as_ref() else {
        return owned(OPENINGS);
    };
    let mut out = Vec::new();
    match flow.awaiting.as_deref() {
        Some("option") => out.extend(owned(OPTION_PICKS)),
        Some("confirmation") => out.extend(owned(YES_NO)),
        Some("changes") => out.extend(owned(CHANGES)),
        Some(slot) => out.extend(slot_answers(assistant, slot)),
        None => {}
    }
    // Callers answer more than they are asked ("one way, in economy"):
    // the flow's other open choice slots and "none" phrases come next.
    if let Some(def) = assistant.flow(&flow.name) {
        for slot in def.slots.iter().filter(|s| !flow.slots.contains_key(*s)) {
            if Some(slot.as_str()) == flow.awaiting.as_deref() {
                continue;
            }
            let Some(slot_def) = assistant.slot(slot) else { continue };
            if matches!(slot_def.kind, SlotKind::Choice(_)) || !none_phrases(assistant, slot).is_empty() {
                out.extend(slot_answers(assistant, slot));
            }
        }
    }
    dedup(out)
}

/// What answers slot `slot`: its choice values or typical values, and
/// its "none" phrases.
fn slot_answers(assistant: &Assistant, slot: &str) -> Vec<String> {
    let Some(def) = assistant.slot(slot) else { return Vec::new() };
    let mut out = none_phrases(assistant, slot);
    match &def.kind {
        SlotKind::Choice(kind) => out.extend(choice_phrases(assistant, kind)),
        SlotKind::PartySize => out.extend(owned(PARTY)),
        SlotKind::Nights => out.extend(owned(NIGHTS)),
        SlotKind::BookingRef => out.extend(owned(SPELLING)),
        // Cities come from the conversation (see `cities`); dates and
        // bare numbers Whisper already writes well, and naming particular
        // ones would only pull it toward them.
        SlotKind::City | SlotKind::Date | SlotKind::Number => {}
    }
    out
}

/// The config's phrases for the choice type `kind` ("economy class").
fn choice_phrases(assistant: &Assistant, kind: &str) -> Vec<String> {
    assistant
        .entity_finder()
        .phrases
        .iter()
        .filter(|p| matches!(&p.value, EntityValue::Choice { kind: k, .. } if k == kind))
        .map(|p| p.words.join(" "))
        .collect()
}

/// The config's "none" phrases of `slot` ("one way", "no return").
fn none_phrases(assistant: &Assistant, slot: &str) -> Vec<String> {
    assistant
        .entity_finder()
        .phrases
        .iter()
        .filter(|p| matches!(&p.value, EntityValue::NoneFor(s) if s == slot))
        .map(|p| p.words.join(" "))
        .collect()
}

/// City names this conversation holds: in the active and set-aside flows'
/// slots and the hotels on offer, most recently filled last, at most
/// [`MAX_CITIES`].
fn cities(state: &SessionState) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let flows = state.suspended.iter().chain(state.flow.iter());
    for flow in flows {
        out.extend(flow_cities(flow));
    }
    let dedup = dedup(out);
    let excess = dedup.len().saturating_sub(MAX_CITIES);
    dedup.into_iter().skip(excess).collect()
}

fn flow_cities(flow: &FlowState) -> Vec<String> {
    let mut out = Vec::new();
    let places = |name: &String| match flow.slots.get(name) {
        Some(SlotValue::Place(p)) => Some(p.name.clone()),
        _ => None,
    };
    // Slots filled earlier first, in the order they were filled.
    out.extend(flow.filled_order.iter().filter_map(places));
    for offer in flow.options.iter().chain(flow.chosen.iter()) {
        if let Offer::Hotel(h) = offer {
            out.push(h.city_name.clone());
        }
    }
    out
}

/// Phrases as one prompt sentence: "One way, single, no return."
fn sentence(phrases: &[String]) -> String {
    let mut text = phrases.join(", ");
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    text.push('.');
    text
}

fn owned(phrases: &[&str]) -> Vec<String> {
    phrases.iter().map(|p| p.to_string()).collect()
}

/// Keeps the first of each phrase (case-insensitive; "one-way" and "one
/// way" count as one).
fn dedup(phrases: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    phrases
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .filter(|p| seen.insert(p.to_lowercase().replace('-', " ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::places::{Gazetteer, Place};
    use std::sync::Arc;

    fn assistant() -> Assistant {
        let spec = crate::config::default_spec().expect("default config");
        let gazetteer = Arc::new(Gazetteer::new(&voxbook_proto::airports::Airports::embedded()));
        Assistant::compile(spec, gazetteer, "travel.yaml").expect("compiles")
    }

    fn place(name: &str, code: &str) -> SlotValue {
        SlotValue::Place(Place { name: name.into(), code: code.into(), country: "US".into() })
    }

    fn flight(awaiting: &str, slots: &[(&str, SlotValue)]) -> SessionState {
        let now = chrono::Utc::now().fixed_offset();
        let mut state = SessionState::new("s".into(), now, None);
        let mut flow = FlowState::new("book_flight", "i");
        flow.awaiting = Some(awaiting.into());
        for (slot, value) in slots {
            flow.fill(slot, value.clone());
        }
        state.flow = Some(flow);
        state
    }

    #[test]
    fn a_new_conversation_is_primed_for_openings() {
        let now = chrono::Utc::now().fixed_offset();
        let hint = asr_hint(&assistant(), &SessionState::new("s".into(), now, None));
        assert!(hint.contains("flight") && hint.contains("hotel"), "{hint}");
    }

    #[test]
    fn the_return_question_expects_one_way_and_the_cities_said() {
        let state =
            flight("return_date", &[("origin", place("Boston", "BOS")), ("destination", place("Denver", "DEN"))]);
        let hint = asr_hint(&assistant(), &state);
        assert!(hint.starts_with("Boston, Denver."), "{hint}");
        assert!(hint.contains("one way"), "{hint}");
        assert_eq!(hint.matches("one way").count(), 1, "one-way and one way are one phrase: {hint}");
    }

    #[test]
    fn a_choice_slot_names_its_values_and_the_question_is_kept() {
        let mut state = flight("cabin", &[]);
        state.last_reply = "Which cabin would you like?".into();
        let hint = asr_hint(&assistant(), &state);
        assert!(hint.starts_with("Which cabin would you like? You can say "), "{hint}");
        assert!(hint.contains("economy") && hint.contains("business"), "{hint}");
    }

    #[test]
    fn options_and_confirmations_have_their_answers() {
        let a = assistant();
        let hint = |awaiting: &str| asr_hint(&a, &flight(awaiting, &[])).to_lowercase();
        assert!(hint("option").contains("the second one"));
        assert!(hint("confirmation").contains("yes please"));
        assert!(hint("passengers").contains("two adults"));
    }

    #[test]
    fn the_hint_stays_short_and_names_the_latest_cities() {
        let names = ["Boston", "Denver", "Lisbon", "Chicago", "Paris", "Rome", "Madrid", "Berlin"];
        let mut state = flight("return_date", &[]);
        for pair in names.chunks(2) {
            let set_aside =
                flight("option", &[("origin", place(pair[0], "XXX")), ("destination", place(pair[1], "YYY"))]);
            state.suspended.extend(set_aside.flow);
        }
        let hint = asr_hint(&assistant(), &state);
        assert!(hint.starts_with("Lisbon, Chicago, Paris, Rome, Madrid, Berlin."), "{hint}");
        assert!(hint.split_whitespace().count() <= 60, "{hint}");
    }
}
