//! Natural-language understanding: from an utterance to scored intents,
//! slot values and option picks.
//!
//! Understanding is context-free except for two hints from the dialogue
//! (whether a booking reference is expected, whether options were just read
//! out); deciding what the words mean *for the conversation* is the
//! engine's job, with [`assign`] mapping values to slots.

pub mod assign;
pub mod awaited;
pub mod classifier;
pub mod content;
pub mod entities;
pub mod options;
pub mod typos;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use voxbook_proto::api::{IntentOut, ParseResponse};

use crate::assistant::Assistant;
use crate::extract::tokens::tokenize;
use assign::{SlotContext, assign};
use entities::{Entity, EntityValue, RefMode, mask};
use options::Pick;

/// Intent name for an utterance that gives slot values but no intent.
pub const INFORM: &str = "inform";
/// Intent name for an utterance nothing was understood of.
pub const UNKNOWN: &str = "unknown";
/// Intent name for picking one of the offered options.
pub const CHOOSE_OPTION: &str = "choose_option";

/// Words that mark a correction of something said before.
const CORRECTION_MARKERS: [&[&str]; 9] = [
    &["no"],
    &["actually"],
    &["instead"],
    &["make", "that"],
    &["make", "it"],
    &["i", "mean"],
    &["sorry"],
    &["rather"],
    &["change", "that"],
];

#[derive(Debug, Clone)]
pub struct Understanding {
    pub words: Vec<String>,
    /// Every intent with a non-zero score, best first.
    pub intents: Vec<(String, f32)>,
    pub entities: Vec<Entity>,
    pub pick: Option<Pick>,
    pub correction: bool,
}

impl Understanding {
    /// The best intent if it clears `threshold`.
    pub fn top(&self, threshold: f32) -> Option<(&str, f32)> {
        self.intents.first().filter(|(_, s)| *s >= threshold).map(|(n, s)| (n.as_str(), *s))
    }

    /// The score of `intent` if it clears `threshold`.
    pub fn score_of(&self, intent: &str, threshold: f32) -> Option<f32> {
        self.intents.iter().find(|(n, _)| n == intent).map(|(_, s)| *s).filter(|s| *s >= threshold)
    }

    /// Whether the utterance says yes, and whether it says no, when each
    /// clears `threshold`: the stronger wins ("sounds good, book it" is a
    /// yes even though "don't book it" is a designer's example of no).
    pub fn yes_no(&self, threshold: f32) -> (bool, bool) {
        let yes = self.score_of("affirm", threshold);
        let no = self.score_of("deny", threshold);
        match (yes, no) {
            (Some(y), Some(n)) if (y - n).abs() < 0.05 => (true, true),
            (Some(y), Some(n)) => (y > n, n > y),
            _ => (yes.is_some(), no.is_some()),
        }
    }

    /// True when the utterance gives a slot value. A bare number alone
    /// does not count: it means something only as an answer.
    pub fn has_values(&self) -> bool {
        self.entities.iter().any(|e| !matches!(e.value, entities::EntityValue::Number(_)))
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

/// Hints from the dialogue state.
#[derive(Debug, Clone, Copy)]
pub struct Hints<'a> {
    pub ref_mode: RefMode,
    /// Options were just read out, so a bare number picks one.
    pub options_offered: bool,
    /// The slot the assistant just asked for: near misses of its values
    /// count ("one wait" → one way).
    pub awaiting: Option<&'a str>,
    /// The date the conversation last settled: "the monday after" counts
    /// from it.
    pub anchor: Option<NaiveDate>,
    /// The Monday of the week the assistant asked about ("which day next
    /// week?"): a bare weekday in the answer is that week's.
    pub week: Option<NaiveDate>,
}

/// Words that, between two values of the same kind, take the first back
/// ("the 13th, no, the 14th").
const TAKE_BACK: [&[&str]; 8] = [
    &["no"],
    &["sorry"],
    &["actually"],
    &["i", "mean"],
    &["rather"],
    &["make", "that"],
    &["wait"],
    &["scratch", "that"],
];

pub fn understand(assistant: &Assistant, text: &str, today: NaiveDate, hints: Hints) -> Understanding {
    let mut words = without_hesitations(tokenize(text));
    typos::repair(&mut words, assistant.keywords(), assistant.gazetteer());
    let mut entities = assistant.entity_finder().find_after(&words, today, hints.ref_mode, hints.anchor);
    if let Some(awaited) = hints.awaiting.and_then(|s| assistant.slot(s)) {
        let near = awaited::near_misses(assistant, &words, &entities, awaited);
        entities.retain(|e| near.iter().all(|n| !n.span.overlaps(e.span)));
        entities.extend(near);
        entities.sort_by_key(|e| e.span.start);
    }
    if let Some(monday) = hints.week {
        for e in entities.iter_mut() {
            let bare_weekday = e.span.len() == 1 && crate::extract::dates::weekday_of(&words[e.span.start]).is_some();
            if let (true, EntityValue::Date(_)) = (bare_weekday, &e.value)
                && let Some(wd) = crate::extract::dates::weekday_of(&words[e.span.start])
                && let Some(day) =
                    monday.checked_add_signed(chrono::Duration::days(i64::from(wd.num_days_from_monday())))
            {
                e.value = EntityValue::Date(day);
            }
        }
    }
    let took_back = settle_take_backs(&words, &mut entities);
    // "the 14th instead of the 12th": what comes after "instead of" is
    // what the caller no longer wants.
    entities.retain(|e| {
        let mut k = e.span.start;
        while k > 0 && matches!(words[k - 1].as_str(), "the" | "on" | "a") {
            k -= 1;
        }
        !(k >= 2 && words[k - 2] == "instead" && words[k - 1] == "of")
    });
    let masked = mask(&words, &entities);
    // Patterns see the masked text too: a booking reference spelled in the
    // NATO alphabet says "hotel" without asking for one.
    // Patterns see the utterance with values masked ("make that <num>"),
    // and with only references masked, so a value's own words still count
    // ("get me a person" is no party of one there).
    let refs_only: Vec<Entity> = entities.iter().filter(|e| matches!(e.value, EntityValue::Code(_))).cloned().collect();
    let plain = mask(&words, &refs_only);
    let (masked_text, plain_text) = (without_fillers(&masked).join(" "), without_fillers(&plain).join(" "));
    let intents = assistant.classifier().score(&[&masked_text, &plain_text], &masked);
    let pick = options::find_pick(&words, hints.options_offered);
    // A marker that took back a value of this same utterance corrects
    // nothing said before it.
    let first_value = entities.first().map_or(words.len(), |e| e.span.start);
    let scope = if took_back { &words[..first_value] } else { &words[..] };
    let correction = CORRECTION_MARKERS
        .iter()
        .any(|marker| scope.windows(marker.len()).any(|w| w.iter().zip(marker.iter()).all(|(a, b)| a == b)));
    Understanding { words, intents, entities, pick, correction }
}

/// Slots only a flight or only a hotel booking has.
const FLIGHT_ONLY: [&str; 3] = ["depart_date", "return_date", "passengers"];
const HOTEL_ONLY: [&str; 3] = ["check_in", "nights", "guests"];

const FLIGHT_WORDS: &[&str] = &["flight", "flights", "plane", "fly", "flying", "ticket", "tickets", "seat", "return"];
const HOTEL_WORDS: &[&str] = &["hotel", "hotels", "room", "rooms", "stay", "accommodation", "check"];

/// "flight" or "hotel" when the utterance names one kind of booking only.
pub fn booking_kind_said(words: &[String]) -> Option<&'static str> {
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    match (has(FLIGHT_WORDS), has(HOTEL_WORDS)) {
        (true, false) => Some("flight"),
        (false, true) => Some("hotel"),
        _ => None,
    }
}

/// Hesitations that open an utterance ("uh yeah", "um no"), which the
/// designers' anchored patterns ("^(yes|yeah)") should not have to allow.
const OPENING_FILLERS: [&str; 8] = ["uh", "um", "er", "erm", "ah", "hmm", "mm", "eh"];

/// The words without hesitations ("uh", "um") and stutters ("in in", "i
/// can i can"), which say nothing and split the phrases they fall in
/// ("on the uh twentieth"). "for for" and "to to" stay: they are often a
/// misheard number ("for for people").
pub fn without_hesitations(words: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    for w in words {
        if OPENING_FILLERS.contains(&w.as_str()) && !matches!(w.as_str(), "ah" | "eh") {
            continue;
        }
        let n = out.len();
        // Spelled references repeat letters and digits ("q q q one one
        // one"), and "for for" / "to to" are often a misheard number.
        let meaningful_repeat = w.chars().count() == 1
            || crate::extract::numbers::is_number_word(&w)
            || w.bytes().all(|b| b.is_ascii_digit())
            || crate::extract::refs::nato(&w).is_some()
            || matches!(w.as_str(), "for" | "to" | "double" | "triple" | "no");
        if n >= 1 && out[n - 1] == w && !meaningful_repeat {
            continue;
        }
        // "i can i can": a repeated pair.
        if n >= 3 && !meaningful_repeat && out[n - 1] == out[n - 3] && out[n - 2] == w {
            out.pop();
            continue;
        }
        out.push(w);
    }
    out
}

fn without_fillers(words: &[String]) -> &[String] {
    let skip = words.iter().take_while(|w| OPENING_FILLERS.contains(&w.as_str())).count();
    if skip == words.len() { words } else { &words[skip..] }
}

/// Self-corrections inside one utterance: "make that the 13th, no, the
/// 14th", "a room in milan, actually no, make it turin", "three
/// passengers, no wait, four". The later value takes the place (and so
/// the cue) of the one it takes back, which is dropped; a value said
/// twice ("no, boston, i said boston") counts once. True when something
/// was taken back.
fn settle_take_backs(words: &[String], entities: &mut Vec<Entity>) -> bool {
    let mut took_back = false;
    let mut k = 1;
    while k < entities.len() {
        let b = entities[k].clone();
        // The nearest earlier value of the same kind, with nothing of the
        // kind after the take-back word.
        let earlier = (0..k).rev().find(|&j| same_kind(&entities[j].value, &b.value));
        let Some(j) = earlier else {
            k += 1;
            continue;
        };
        // A place said twice is one place; a date said twice may be both
        // ends of a trip ("on the 12th and back on the 12th").
        if entities[j].value == b.value && matches!(b.value, EntityValue::Place(_)) {
            entities.remove(k);
            continue;
        }
        let marker_at = take_back_at(words, entities[j].span.end, b.span.start);
        let clear_after_marker = marker_at.is_some_and(|m| entities[j + 1..k].iter().all(|e| e.span.start < m));
        if clear_after_marker {
            let mut value = b.value.clone();
            // "from the 14th of july, make that the 15th": the month stays.
            if let (EntityValue::Date(first), EntityValue::Date(second)) = (&entities[j].value, &value)
                && second < first
                && let Some(same_month) = chrono::Datelike::with_day(first, chrono::Datelike::day(second))
            {
                value = EntityValue::Date(same_month);
            }
            // "three passengers, no wait, four": the bare four is a party.
            if let (EntityValue::Party(_), EntityValue::Number(n)) = (&entities[j].value, &value) {
                value = EntityValue::Party(*n);
            }
            if let (EntityValue::Nights(_), EntityValue::Number(n)) = (&entities[j].value, &value) {
                value = EntityValue::Nights(*n);
            }
            entities[j].value = value;
            entities.remove(k);
            took_back = true;
        } else {
            k += 1;
        }
    }
    took_back
}

/// Values that can stand for each other in a take-back.
fn same_kind(a: &EntityValue, b: &EntityValue) -> bool {
    use EntityValue::*;
    match (a, b) {
        (Choice { kind: x, .. }, Choice { kind: y, .. }) => x == y,
        (
            Date(_) | DateSpan(..) | AmbiguousDate(..) | Week(_),
            Date(_) | DateSpan(..) | AmbiguousDate(..) | Week(_),
        ) => true,
        (Party(_) | Number(_), Party(_) | Number(_)) => !matches!((a, b), (Number(_), Number(_))),
        (Nights(_), Number(_)) | (Number(_), Nights(_)) => true,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

/// Where the last take-back word between `from` and `to` starts.
fn take_back_at(words: &[String], from: usize, to: usize) -> Option<usize> {
    let between = words.get(from..to)?;
    (0..between.len())
        .rev()
        .find(|&i| {
            TAKE_BACK.iter().any(|m| between[i..].starts_with(&m.iter().map(|w| w.to_string()).collect::<Vec<_>>()))
        })
        .map(|i| from + i)
}

/// `POST /v1/nlu/parse`: intent and slots of one utterance, no session.
/// Slots are assigned as if the utterance opened the intent's flow.
pub fn parse(assistant: &Assistant, text: &str, today: NaiveDate) -> ParseResponse {
    let hints = Hints { ref_mode: RefMode::Cued, options_offered: false, awaiting: None, anchor: None, week: None };
    let u = understand(assistant, text, today, hints);
    let threshold = assistant.settings.intent_threshold;
    let mut top = u.top(threshold);
    if top.is_none_or(|(_, score)| score < content::PATTERN_LEVEL)
        && let Some(flow) = content::flow_from_content(assistant, &u, content::Evidence::Request)
    {
        top = Some((flow.intent.as_str(), content::CONTENT_CONFIDENCE));
    }
    let slot_names: Vec<String> = match top.and_then(|(name, _)| assistant.flow_for_intent(name)) {
        Some(flow) => {
            let mut slots = flow.all_slots();
            // A change names what it changes: "my hotel" takes hotel slots.
            if flow.changes.is_some() {
                match booking_kind_said(&u.words) {
                    Some("flight") => slots.retain(|s| !HOTEL_ONLY.contains(&s.as_str())),
                    Some(_) => slots.retain(|s| !FLIGHT_ONLY.contains(&s.as_str())),
                    None => {}
                }
            }
            slots
        }
        None => assistant.slot_names().cloned().collect(),
    };
    let filled = BTreeMap::new();
    let ctx = SlotContext { slots: &slot_names, filled: &filled, filled_order: &[], awaiting: None, correction: false };
    let slots = assign(assistant, &u.words, &u.entities, &ctx)
        .into_iter()
        // A date that reads two ways, or a week with no day, is asked
        // about, not taken.
        .filter(|a| a.alternative.is_none() && !a.vague_week)
        .map(|a| (a.slot, a.value.to_json()))
        .collect::<BTreeMap<_, _>>();
    let intent = match top {
        Some((name, confidence)) => IntentOut { name: name.to_string(), confidence },
        None if !slots.is_empty() => IntentOut { name: INFORM.into(), confidence: 1.0 },
        None => IntentOut { name: UNKNOWN.into(), confidence: 0.0 },
    };
    let alternatives = u
        .intents
        .iter()
        .filter(|(n, _)| *n != intent.name)
        .take(3)
        .map(|(n, s)| IntentOut { name: n.clone(), confidence: *s })
        .collect();
    ParseResponse { intent, alternatives, slots }
}
