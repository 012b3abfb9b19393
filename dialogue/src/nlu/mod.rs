//! Natural-language understanding: from an utterance to scored intents,
//! slot values and option picks.
//!
//! Understanding is context-free except for two hints from the dialogue
//! (whether a booking reference is expected, whether options were just read
//! out); deciding what the words mean *for the conversation* is the
//! engine's job, with [`assign`] mapping values to slots.

pub mod assign;
pub mod classifier;
pub mod entities;
pub mod options;
pub mod typos;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use voxbook_proto::api::{IntentOut, ParseResponse};

use crate::assistant::Assistant;
use crate::extract::tokens::tokenize;
use assign::{SlotContext, assign};
use entities::{Entity, RefMode, mask};
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
pub struct Hints {
    pub ref_mode: RefMode,
    /// Options were just read out, so a bare number picks one.
    pub options_offered: bool,
}

pub fn understand(assistant: &Assistant, text: &str, today: NaiveDate, hints: Hints) -> Understanding {
    let words = tokenize(text);
    let entities = assistant.entity_finder().find(&words, today, hints.ref_mode);
    let masked = mask(&words, &entities);
    // Patterns see the masked text too: a booking reference spelled in the
    // NATO alphabet says "hotel" without asking for one.
    let intents = assistant.classifier().score(&masked.join(" "), &masked);
    let pick = options::find_pick(&words, hints.options_offered);
    let correction = CORRECTION_MARKERS
        .iter()
        .any(|marker| words.windows(marker.len()).any(|w| w.iter().zip(marker.iter()).all(|(a, b)| a == b)));
    Understanding { words, intents, entities, pick, correction }
}

/// `POST /v1/nlu/parse`: intent and slots of one utterance, no session.
/// Slots are assigned as if the utterance opened the intent's flow.
pub fn parse(assistant: &Assistant, text: &str, today: NaiveDate) -> ParseResponse {
    let hints = Hints { ref_mode: RefMode::Cued, options_offered: false };
    let u = understand(assistant, text, today, hints);
    let threshold = assistant.settings.intent_threshold;
    let top = u.top(threshold);
    let slot_names: Vec<String> = match top.and_then(|(name, _)| assistant.flow_for_intent(name)) {
        Some(flow) => flow.all_slots(),
        None => assistant.slot_names().cloned().collect(),
    };
    let filled = BTreeMap::new();
    let ctx = SlotContext { slots: &slot_names, filled: &filled, filled_order: &[], awaiting: None, correction: false };
    let slots = assign(assistant, &u.words, &u.entities, &ctx)
        .into_iter()
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
