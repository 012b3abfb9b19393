//! Intent from content: "one way from paris to rome next friday for one in
//! economy" names no intent, but every value in it belongs to a flight.
//!
//! Each flow that books something new (a flow without a booking
//! reference) is tried: its slots are assigned the utterance's values as
//! if the flow had just started. A flow scores one point per value it
//! takes and one more for each value of a type only it has (nights are a
//! hotel's, a cabin or a return a flight's); two cities fill a flight's
//! origin and destination but only one hotel city. The best flow wins if
//! it wins outright; a tie ("rome on friday": a flight or a hotel?) gives
//! nothing, and the dialogue asks what the caller wants.

use std::collections::BTreeMap;

use crate::assistant::{Assistant, FlowDef};
use crate::config::SlotKind;
use crate::nlu::Understanding;
use crate::nlu::assign::{SlotContext, assign};

/// Confidence reported for an intent found from content alone: below a
/// designer pattern's (0.8), above the threshold.
pub const CONTENT_CONFIDENCE: f32 = 0.7;

/// An intent at least this sure came from a designer pattern: content
/// does not overrule it.
pub const PATTERN_LEVEL: f32 = 0.8;

fn books_something_new(a: &Assistant, flow: &FlowDef) -> bool {
    !flow.digression
        && flow.lookup.is_some()
        && !flow.slots.is_empty()
        && flow.slots.iter().all(|s| a.slot(s).is_some_and(|d| d.kind != SlotKind::BookingRef))
}

/// The flow the utterance's values belong to, if exactly one takes them best.
pub fn flow_from_content<'a>(a: &'a Assistant, u: &Understanding) -> Option<&'a FlowDef> {
    if !u.has_values() {
        return None;
    }
    let flows: Vec<&FlowDef> = a.flows().filter(|f| books_something_new(a, f)).collect();
    let kinds_of = |f: &FlowDef| f.slots.iter().filter_map(|s| a.slot(s).map(|d| d.kind.clone())).collect::<Vec<_>>();
    let empty = BTreeMap::new();
    let mut scored: Vec<(usize, &FlowDef)> = flows
        .iter()
        .map(|flow| {
            let ctx =
                SlotContext { slots: &flow.slots, filled: &empty, filled_order: &[], awaiting: None, correction: false };
            let taken = assign(a, &u.words, &u.entities, &ctx);
            let distinctive = taken
                .iter()
                .filter(|t| {
                    let Some(kind) = a.slot(&t.slot).map(|d| d.kind.clone()) else { return false };
                    flows.iter().filter(|other| other.name != flow.name).all(|other| !kinds_of(other).contains(&kind))
                        || a.slot(&t.slot).is_some_and(|d| d.not_before.is_some())
                })
                .count();
            (taken.len() + distinctive, *flow)
        })
        .filter(|(score, _)| *score > 0)
        .collect();
    scored.sort_by(|x, y| y.0.cmp(&x.0));
    match scored.as_slice() {
        [(best, flow), rest @ ..] if rest.first().is_none_or(|(second, _)| second < best) => Some(flow),
        _ => None,
    }
}
