//! Deciding which slot each entity fills.
//!
//! Speech gives few clues: "london to paris" has two cities and one word of
//! structure. In order of strength the clues are: a cue word right before
//! the value ("from london" → origin); a correction marker ("no, make that
//! saturday" → the date slot filled most recently); the slot the assistant
//! just asked for; the next empty slot of the value's type in the flow's
//! order; and finally the only slot of that type (an implicit correction).

use std::collections::{BTreeMap, HashSet};

use crate::assistant::{Assistant, SlotDef};
use crate::config::SlotKind;
use crate::extract::Span;
use crate::nlu::entities::{Entity, EntityValue};
use crate::state::SlotValue;
use chrono::NaiveDate;

/// Filler words allowed between a cue and its value ("leaving on the
/// twelfth": cue "leaving", fillers "on").
const FILLERS: [&str; 6] = ["on", "the", "in", "at", "of", "a"];

/// What the assignment knows of the conversation.
pub struct SlotContext<'a> {
    /// Slots the value may go to, in the flow's order.
    pub slots: &'a [String],
    pub filled: &'a BTreeMap<String, SlotValue>,
    /// Most recently filled last.
    pub filled_order: &'a [String],
    pub awaiting: Option<&'a str>,
    /// The user is correcting something ("no", "actually", "make that").
    pub correction: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub slot: String,
    pub value: SlotValue,
    pub span: Span,
    /// Another reading of the same words ("04/07": 4 July or April 7):
    /// the slot is not filled until the user says which.
    pub alternative: Option<SlotValue>,
    /// The value is only a week ("next week", by its Monday): the
    /// dialogue asks which day.
    pub vague_week: bool,
}

impl Assignment {
    /// A value for `slot` the dialogue decided on itself (a listed choice
    /// the caller picked), not found in the words.
    pub fn filled(slot: &str, value: SlotValue) -> Assignment {
        Assignment::new(slot, value, Span::new(0, 0))
    }

    fn new(slot: &str, value: SlotValue, span: Span) -> Assignment {
        Assignment { slot: slot.to_string(), value, span, alternative: None, vague_week: false }
    }
}

fn compatible(def: &SlotDef, value: &EntityValue) -> bool {
    match (value, &def.kind) {
        (EntityValue::Place(_), SlotKind::City) => true,
        (
            EntityValue::Date(_) | EntityValue::DateSpan(..) | EntityValue::AmbiguousDate(..) | EntityValue::Week(_),
            SlotKind::Date,
        ) => true,
        (EntityValue::Party(_), SlotKind::PartySize) => true,
        (EntityValue::Nights(_), SlotKind::Nights) => true,
        (EntityValue::Number(_), SlotKind::PartySize | SlotKind::Nights | SlotKind::Number) => true,
        (EntityValue::Choice { kind, .. }, SlotKind::Choice(k)) => kind == k,
        (EntityValue::Code(_), SlotKind::BookingRef) => true,
        (EntityValue::NoneFor(slot), _) => *slot == def.name,
        _ => false,
    }
}

fn to_slot_value(value: &EntityValue) -> SlotValue {
    match value {
        EntityValue::Place(p) => SlotValue::Place(p.clone()),
        EntityValue::Date(d)
        | EntityValue::DateSpan(d, _)
        | EntityValue::AmbiguousDate(d, _)
        | EntityValue::Week(d) => SlotValue::Date(*d),
        EntityValue::Party(n) | EntityValue::Nights(n) | EntityValue::Number(n) => SlotValue::Count(*n),
        EntityValue::Choice { value, .. } => SlotValue::Choice(value.clone()),
        EntityValue::Code(c) => SlotValue::Code(c.clone()),
        EntityValue::NoneFor(_) => SlotValue::None,
    }
}

/// How strongly `cues` mark the value starting at `start`: None when no
/// cue ends right before it (fillers may sit between). A longer cue is
/// stronger, each skipped filler weakens it, and a cue that is itself a
/// filler ("on") is weakest, so in "coming back on the sixteenth" the
/// return date's "coming back" beats the departure's "on".
pub fn cue_strength(words: &[String], start: usize, cues: &[Vec<String>]) -> Option<f32> {
    let mut end = start;
    let mut best: Option<f32> = None;
    for skipped in 0..=2usize {
        for cue in cues {
            if !cue.is_empty() && end >= cue.len() && words[end - cue.len()..end] == cue[..] {
                let weak = cue.len() == 1 && FILLERS.contains(&cue[0].as_str());
                let strength = if weak { 0.5 } else { 2.0 * cue.len() as f32 } - skipped as f32 * 0.25;
                best = Some(best.map_or(strength, |b: f32| b.max(strength)));
            }
        }
        match end.checked_sub(1) {
            Some(prev) if FILLERS.contains(&words[prev].as_str()) => end = prev,
            _ => break,
        }
    }
    best
}

/// True when one of `cues` ends right before `start` (fillers allowed).
pub fn cued(words: &[String], start: usize, cues: &[Vec<String>]) -> bool {
    cue_strength(words, start, cues).is_some()
}

pub fn assign(assistant: &Assistant, words: &[String], entities: &[Entity], ctx: &SlotContext) -> Vec<Assignment> {
    let defs: Vec<&SlotDef> = ctx.slots.iter().filter_map(|s| assistant.slot(s)).collect();
    let mut out: Vec<Assignment> = Vec::new();
    let mut used: HashSet<String> = HashSet::new();
    let mut pending: Vec<&Entity> = Vec::new();
    // Dates said with an "until" cue become nights once check-in is known.
    let mut until_dates: Vec<(&SlotDef, &Entity)> = Vec::new();

    // Pass 0: "X to Y" between two places is a route: from X, to Y.
    let route: Vec<(&SlotDef, &SlotDef)> = defs
        .iter()
        .filter(|d| d.kind == SlotKind::City)
        .filter_map(|from| {
            let to = defs.iter().find(|d| d.differs_from.as_deref() == Some(from.name.as_str()))?;
            from.cues.iter().any(|c| c.as_slice() == ["from"]).then_some((*from, *to))
        })
        .collect();
    let mut routed: HashSet<Span> = HashSet::new();
    if let Some((from, to)) = route.first() {
        for pair in entities.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let joined = b.span.start == a.span.end + 1 && words.get(a.span.end).is_some_and(|w| w == "to");
            let places = matches!(a.value, EntityValue::Place(_)) && matches!(b.value, EntityValue::Place(_));
            // A cue in front of the first ("flying in to X"?) decides instead.
            let cued_first = a.span.start > 0 && words[a.span.start - 1] == "to";
            if joined && places && !cued_first && !used.contains(&from.name) && !used.contains(&to.name) {
                used.insert(from.name.clone());
                used.insert(to.name.clone());
                out.push(assignment(from, a));
                out.push(assignment(to, b));
                routed.insert(a.span);
                routed.insert(b.span);
            }
        }
    }

    // Pass 1: values with a cue word (or a "none" phrase naming its slot).
    for entity in entities.iter().filter(|e| !routed.contains(&e.span)) {
        let changing = is_date(&entity.value) && to_after_change(words, entity.span.start);
        if let EntityValue::Date(_) = entity.value
            && !changing
            && let Some(nights) =
                defs.iter().find(|d| d.kind == SlotKind::Nights && cued(words, entity.span.start, &d.until_cues))
        {
            until_dates.push((nights, entity));
            continue;
        }
        let mut hit: Option<(&SlotDef, f32)> = None;
        // "Move my flight to friday": after a verb of change, "to" brings
        // the new value; it is not the return's cue.
        for d in defs.iter().filter(|d| !used.contains(&d.name) && compatible(d, &entity.value)) {
            let strength = if matches!(entity.value, EntityValue::NoneFor(_)) {
                Some(f32::MAX)
            } else if changing {
                // "change my return to sunday": the cue comes before the "to".
                let cues: Vec<Vec<String>> = d.cues.iter().filter(|c| c.as_slice() != ["to"]).cloned().collect();
                let to_at = (0..entity.span.start).rev().find(|&k| words[k] == "to").unwrap_or(entity.span.start);
                cue_strength(words, entity.span.start, &cues).or_else(|| cue_strength(words, to_at, &cues))
            } else {
                cue_strength(words, entity.span.start, &d.cues)
            };
            if let Some(s) = strength
                && hit.is_none_or(|(_, best)| s > best)
            {
                hit = Some((d, s));
            }
        }
        let hit = hit.map(|(d, _)| d);
        match hit {
            Some(def) => {
                used.insert(def.name.clone());
                out.push(assignment(def, entity));
            }
            None => pending.push(entity),
        }
    }

    // Pass 2: the rest, by conversation context.
    for entity in pending {
        let candidates: Vec<&SlotDef> =
            defs.iter().copied().filter(|d| !used.contains(&d.name) && compatible(d, &entity.value)).collect();
        if candidates.is_empty() {
            continue;
        }
        // A bare number means something only as the answer to a question.
        if matches!(entity.value, EntityValue::Number(_))
            && !candidates.iter().any(|d| Some(d.name.as_str()) == ctx.awaiting)
        {
            continue;
        }
        let most_recent =
            || ctx.filled_order.iter().rev().find_map(|name| candidates.iter().find(|d| d.name == *name).copied());
        // "No, Boston" after "Austin to Denver": the city it sounds like.
        let sounds_like = || -> Option<&SlotDef> {
            let EntityValue::Place(new) = &entity.value else { return None };
            let new_name = new.name.to_lowercase();
            let mut scored: Vec<(usize, &SlotDef)> = candidates
                .iter()
                .filter_map(|d| {
                    let old = ctx.filled.get(&d.name)?.as_place()?;
                    Some((crate::extract::fuzzy::distance(&old.name.to_lowercase(), &new_name, 64), *d))
                })
                .collect();
            scored.sort_by_key(|(d, _)| *d);
            match scored.as_slice() {
                [(best, def), rest @ ..] if rest.first().is_none_or(|(next, _)| next > best) => Some(*def),
                _ => None,
            }
        };
        let chosen = if ctx.correction && sounds_like().is_some() {
            sounds_like()
        } else if ctx.correction && most_recent().is_some() {
            most_recent()
        } else if let Some(awaited) = candidates.iter().find(|d| Some(d.name.as_str()) == ctx.awaiting) {
            Some(*awaited)
        } else if let Some(empty) = candidates.iter().find(|d| !ctx.filled.contains_key(&d.name)) {
            Some(*empty)
        } else {
            most_recent().or_else(|| candidates.first().copied())
        };
        if let Some(def) = chosen {
            used.insert(def.name.clone());
            out.push(assignment(def, entity));
        }
    }

    // Pass 3: "until the fifteenth" → nights from the check-in date.
    for (nights, entity) in until_dates {
        let EntityValue::Date(until) = entity.value else { continue };
        let Some(from_slot) = nights.from_slot.as_deref() else { continue };
        let from = date_of(&out, ctx, from_slot);
        if let Some(from) = from
            && !used.contains(&nights.name)
        {
            let count = (until - from).num_days();
            used.insert(nights.name.clone());
            out.push(Assignment::new(
                &nights.name,
                SlotValue::Count(count.clamp(0, u32::MAX as i64) as u32),
                entity.span,
            ));
        }
    }

    // Pass 4: the far end of a span ("for the weekend": a return date, or
    // nights from the check-in).
    let spans: Vec<(String, NaiveDate, Span)> = out
        .iter()
        .filter_map(|a| {
            let entity = entities.iter().find(|e| e.span == a.span)?;
            match entity.value {
                EntityValue::DateSpan(_, last) => Some((a.slot.clone(), last, a.span)),
                _ => None,
            }
        })
        .collect();
    for (start_slot, last, span) in spans {
        let Some(first) = out.iter().find(|a| a.slot == start_slot).and_then(|a| a.value.as_date()) else { continue };
        let end = defs.iter().find(|d| {
            !used.contains(&d.name)
                && ((d.kind == SlotKind::Date && d.not_before.as_deref() == Some(start_slot.as_str()))
                    || (d.kind == SlotKind::Nights && d.from_slot.as_deref() == Some(start_slot.as_str())))
        });
        if let Some(end) = end {
            let value = match end.kind {
                SlotKind::Nights => SlotValue::Count((last - first).num_days().clamp(0, i64::from(u32::MAX)) as u32),
                _ => SlotValue::Date(last),
            };
            used.insert(end.name.clone());
            out.push(Assignment::new(&end.name, value, span));
        }
    }
    // Pass 5: a length of stay on a trip without nights ("leaving on the
    // 20th for ten days") is the return date.
    for entity in entities {
        let EntityValue::Nights(n) = entity.value else { continue };
        if out.iter().any(|a| a.span == entity.span) || defs.iter().any(|d| d.kind == SlotKind::Nights) {
            continue;
        }
        let Some(ret) =
            defs.iter().find(|d| d.kind == SlotKind::Date && d.not_before.is_some() && !used.contains(&d.name))
        else {
            continue;
        };
        let Some(from_slot) = ret.not_before.as_deref() else { continue };
        let from = date_of(&out, ctx, from_slot);
        if let Some(back) = from.and_then(|f| f.checked_add_signed(chrono::Duration::days(i64::from(n)))) {
            used.insert(ret.name.clone());
            out.push(Assignment::new(&ret.name, SlotValue::Date(back), entity.span));
        }
    }
    out
}

/// The date `slot` holds: given this turn, or else already filled.
fn date_of(out: &[Assignment], ctx: &SlotContext, slot: &str) -> Option<NaiveDate> {
    out.iter().find(|a| a.slot == slot).map(|a| &a.value).or_else(|| ctx.filled.get(slot)).and_then(SlotValue::as_date)
}

/// Verbs after which "to" introduces a new value.
const CHANGE_VERBS: [&str; 10] =
    ["change", "move", "push", "switch", "shift", "reschedule", "postpone", "bring", "rebook", "prepone"];

fn is_date(value: &EntityValue) -> bool {
    matches!(
        value,
        EntityValue::Date(_) | EntityValue::DateSpan(..) | EntityValue::AmbiguousDate(..) | EntityValue::Week(_)
    )
}

/// "To" (with fillers such as "the" after it) right before the value,
/// after a verb of change earlier on: "move my flight to the 20th".
fn to_after_change(words: &[String], start: usize) -> bool {
    let mut k = start;
    while k > 0 && FILLERS.contains(&words[k - 1].as_str()) {
        k -= 1;
    }
    k > 0 && words[k - 1] == "to" && words[..k].iter().any(|w| CHANGE_VERBS.contains(&w.as_str()))
}

/// The assignment of `entity` to `def`, with the other reading of an
/// ambiguous date.
fn assignment(def: &SlotDef, entity: &Entity) -> Assignment {
    let mut a = Assignment::new(&def.name, to_slot_value(&entity.value), entity.span);
    if let EntityValue::AmbiguousDate(_, other) = entity.value {
        a.alternative = Some(SlotValue::Date(other));
    }
    a.vague_week = matches!(entity.value, EntityValue::Week(_));
    a
}
