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

use crate::assistant::SlotDef;
use crate::assistant::{Assistant, FlowDef};
use crate::config::SlotKind;
use crate::nlu::Understanding;
use crate::nlu::assign::{SlotContext, assign, cued};

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

/// How sure the values must make us before a flow starts from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Any values that one flow takes best: when nothing else is going
    /// on, "london to paris" starts a flight booking.
    Any,
    /// A request on its own: a place and something more ("paris to rome
    /// on friday", "lisbon for three nights"). A bare route or "one way"
    /// reads as an answer (inform) when there is no conversation to go by.
    Request,
}

/// The flow the utterance's values belong to, if exactly one takes them best.
pub fn flow_from_content<'a>(a: &'a Assistant, u: &Understanding, evidence: Evidence) -> Option<&'a FlowDef> {
    if !u.has_values() {
        return None;
    }
    let flows: Vec<&FlowDef> = a.flows().filter(|f| books_something_new(a, f)).collect();
    let slots_of_kind =
        |f: &FlowDef, kind: &SlotKind| f.slots.iter().filter(|s| a.slot(s).is_some_and(|d| d.kind == *kind)).count();
    let empty = BTreeMap::new();
    let mut scored: Vec<(usize, &FlowDef)> = flows
        .iter()
        .filter_map(|flow| {
            let ctx = SlotContext {
                slots: &flow.slots,
                filled: &empty,
                filled_order: &[],
                awaiting: None,
                correction: false,
            };
            let taken = assign(a, &u.words, &u.entities, &ctx);
            let defs: Vec<&SlotDef> = taken.iter().filter_map(|t| a.slot(&t.slot)).collect();
            let places = defs.iter().filter(|d| d.kind == SlotKind::City).count();
            if evidence == Evidence::Request && (places == 0 || places == defs.len()) {
                return None;
            }
            let score: usize = taken
                .iter()
                .zip(&defs)
                .map(|(t, d)| {
                    // Nights read as a flight's return date are a hotel's clue.
                    let nights_as_date = d.kind == SlotKind::Date
                        && u.entities.iter().any(|e| {
                            e.span == t.span && matches!(e.value, crate::nlu::entities::EntityValue::Nights(_))
                        });
                    if nights_as_date {
                        return 0;
                    }
                    let taken_of_kind = defs.iter().filter(|x| x.kind == d.kind).count();
                    // Only this flow has room for this many values of the kind.
                    let distinctive = flows
                        .iter()
                        .filter(|other| other.name != flow.name)
                        .all(|other| slots_of_kind(other, &d.kind) < taken_of_kind)
                        || d.not_before.is_some();
                    let cued = t.span.start < t.span.end && cued(&u.words, t.span.start, &d.cues);
                    // "two guests" names its own slot.
                    let named = u.words.get(t.span.start..t.span.end).is_some_and(|w| w.contains(&d.name));
                    1 + usize::from(distinctive) + usize::from(cued) + usize::from(named)
                })
                .sum();
            (score > 0).then_some((score, *flow))
        })
        .collect();
    scored.sort_by_key(|x| std::cmp::Reverse(x.0));
    match scored.as_slice() {
        [(best, flow), rest @ ..] if rest.first().is_none_or(|(second, _)| second < best) => Some(flow),
        _ => None,
    }
}
