//! Finding every slot value an utterance mentions, before deciding which
//! slot each belongs to.
//!
//! The extractors in [`crate::extract`] each see the whole utterance and may
//! claim overlapping words ("the second" is an ordinal and part of a date).
//! Here their findings are merged by priority into one non-overlapping,
//! left-to-right list of entities.

use chrono::NaiveDate;

use crate::extract::places::{Gazetteer, Place};
use crate::extract::{Span, counts, dates, numbers, refs};

#[derive(Debug, Clone, PartialEq)]
pub enum EntityValue {
    Place(Place),
    Date(NaiveDate),
    /// A number of people.
    Party(u32),
    Nights(u32),
    /// A bare number with no unit.
    Number(u32),
    /// A value of the choice type `kind`.
    Choice {
        kind: String,
        value: String,
    },
    /// A booking reference.
    Code(String),
    /// An explicit "none" for the named slot ("one way" → return_date).
    NoneFor(String),
    /// A stay or a trip with both ends ("for the weekend"): the first and
    /// the last day.
    DateSpan(NaiveDate, NaiveDate),
    /// A numeric date that reads two ways ("04/07"): day first, month first.
    AmbiguousDate(NaiveDate, NaiveDate),
    /// A week with no day ("next week"), by its Monday: the dialogue asks
    /// which day.
    Week(NaiveDate),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub value: EntityValue,
    pub span: Span,
}

/// How eagerly to look for a booking reference: spelled letters are
/// everywhere in speech ("a", "i"), so only look when it makes sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefMode {
    Off,
    /// Only right after a cue word ("my reference is ...").
    Cued,
    /// The assistant just asked for it: the utterance may be nothing else.
    Expected,
}

/// A multi-word phrase and what it means, matched on tokens.
#[derive(Debug, Clone)]
pub struct Phrase {
    pub words: Vec<String>,
    pub value: EntityValue,
}

/// Everything needed to find entities (built once per config).
pub struct EntityFinder<'a> {
    pub gazetteer: &'a Gazetteer,
    /// Choice phrases and none phrases, longest first.
    pub phrases: &'a [Phrase],
    pub booking_ref_length: usize,
}

fn overlaps(a: Span, b: Span) -> bool {
    a.start < b.end && b.start < a.end
}

impl EntityFinder<'_> {
    pub fn find(&self, words: &[String], today: NaiveDate, ref_mode: RefMode) -> Vec<Entity> {
        self.find_after(words, today, ref_mode, None)
    }

    /// [`EntityFinder::find`] with the date relative dates count from
    /// when the utterance gives none ("the monday after").
    pub fn find_after(
        &self,
        words: &[String],
        today: NaiveDate,
        ref_mode: RefMode,
        anchor: Option<NaiveDate>,
    ) -> Vec<Entity> {
        // Ordered by priority: earlier kinds win overlaps.
        let mut candidates: Vec<Entity> = Vec::new();
        if ref_mode != RefMode::Off
            && let Some(found) = refs::find_booking_ref(words, self.booking_ref_length, ref_mode == RefMode::Cued)
        {
            candidates.push(Entity { value: EntityValue::Code(found.value), span: found.span });
        }
        for found in dates::find_weekend_stays(words, today) {
            let (first, last) = found.value;
            candidates.push(Entity { value: EntityValue::DateSpan(first, last), span: found.span });
        }
        let order = dates::numeric_order(words);
        for found in dates::find_ambiguous_dates(words, today) {
            let (day_first, month_first) = found.value;
            let value = match order {
                Some(true) => EntityValue::Date(day_first),
                Some(false) => EntityValue::Date(month_first),
                None => EntityValue::AmbiguousDate(day_first, month_first),
            };
            candidates.push(Entity { value, span: found.span });
        }
        for found in dates::find_dates_after(words, today, anchor) {
            candidates.push(Entity { value: EntityValue::Date(found.value), span: found.span });
        }
        // Below dates: "next week tuesday" is a day, "next week" alone a week.
        for found in dates::find_vague_weeks(words, today) {
            candidates.push(Entity { value: EntityValue::Week(found.value), span: found.span });
        }
        for phrase in self.phrases_in(words) {
            candidates.push(phrase);
        }
        for found in self.gazetteer.find(words) {
            candidates.push(Entity { value: EntityValue::Place(found.value), span: found.span });
        }
        for found in counts::find_party_size(words) {
            candidates.push(Entity { value: EntityValue::Party(found.value), span: found.span });
        }
        for found in counts::find_nights(words) {
            candidates.push(Entity { value: EntityValue::Nights(found.value), span: found.span });
        }
        let mut i = 0;
        while i < words.len() {
            match numbers::cardinal_at(words, i) {
                Some(found) => {
                    i = found.span.end.max(i + 1);
                    candidates.push(Entity { value: EntityValue::Number(found.value), span: found.span });
                }
                None => i += 1,
            }
        }

        let mut kept: Vec<Entity> = Vec::new();
        for candidate in candidates {
            if candidate.span.start >= candidate.span.end || candidate.span.end > words.len() {
                continue;
            }
            if kept.iter().all(|k| !overlaps(k.span, candidate.span)) {
                kept.push(candidate);
            }
        }
        kept.sort_by_key(|e| e.span.start);
        kept
    }

    /// Choice and none phrases, longest match first, non-overlapping.
    fn phrases_in(&self, words: &[String]) -> Vec<Entity> {
        let mut found: Vec<Entity> = Vec::new();
        for phrase in self.phrases {
            let n = phrase.words.len();
            if n == 0 || n > words.len() {
                continue;
            }
            for start in 0..=(words.len() - n) {
                let span = Span { start, end: start + n };
                if words[start..start + n] == phrase.words[..] && found.iter().all(|f| !overlaps(f.span, span)) {
                    found.push(Entity { value: phrase.value.clone(), span });
                }
            }
        }
        found
    }
}

/// The utterance with entities replaced by placeholders, for the intent
/// classifier: what was said matters, not which city.
pub fn mask(words: &[String], entities: &[Entity]) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    let mut entities = entities.iter().peekable();
    while i < words.len() {
        match entities.peek() {
            Some(e) if e.span.start == i => {
                out.push(
                    match e.value {
                        EntityValue::Place(_) => "<city>",
                        EntityValue::Date(_)
                        | EntityValue::DateSpan(..)
                        | EntityValue::AmbiguousDate(..)
                        | EntityValue::Week(_) => "<date>",
                        EntityValue::Party(_) | EntityValue::Nights(_) | EntityValue::Number(_) => "<num>",
                        EntityValue::Choice { .. } => "<choice>",
                        EntityValue::Code(_) => "<ref>",
                        EntityValue::NoneFor(_) => "<none>",
                    }
                    .to_string(),
                );
                i = e.span.end.max(i + 1);
                entities.next();
            }
            Some(e) if e.span.start < i => {
                entities.next();
            }
            _ => {
                out.push(words[i].clone());
                i += 1;
            }
        }
    }
    out
}
