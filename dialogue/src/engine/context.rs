//! What "that booking", "it", "my flight" and "the hotel one" refer to:
//! the bookings this session made or looked up, so a caller never has to
//! repeat a reference the assistant already knows.
//!
//! One candidate is taken as meant. Several are narrowed by what the
//! caller said (a flight or a hotel; "that"/"it" for the one the
//! conversation last dealt with); if that leaves more than one, the
//! assistant asks which, and the answer is matched against the listed
//! bookings (their kind, their position, a place in their summary).

use crate::nlu::options::Pick;
use crate::state::{BookingRecord, SessionState};

/// The outcome of looking for the booking meant.
pub(super) enum Referent {
    One(String),
    /// Ask which of these (most recently dealt with first).
    Several(Vec<BookingRecord>),
    Unknown,
}

/// Words that point back at something just talked about.
const ANAPHORS: &[&str] = &["that", "it", "this", "same", "just"];

fn kind_said(words: &[String]) -> Option<&'static str> {
    crate::nlu::booking_kind_said(words)
}

/// The booking `words` most likely mean. `live_only`: for changes and
/// cancellations, only confirmed bookings are candidates.
pub(super) fn booking_referent(state: &SessionState, words: &[String], live_only: bool) -> Referent {
    // "I'd like to cancel a booking", "another reservation": not one we know.
    let nouns = ["booking", "bookings", "reservation", "flight", "hotel", "trip"];
    let indefinite = words
        .windows(2)
        .any(|w| matches!(w[0].as_str(), "a" | "an" | "another" | "other") && nouns.contains(&w[1].as_str()));
    if indefinite {
        return Referent::Unknown;
    }
    let mut candidates: Vec<&BookingRecord> = state
        .known_bookings()
        .into_iter()
        .filter(|b| !matches!(b.status.as_str(), "held" | "expired"))
        .filter(|b| !live_only || b.status == "confirmed")
        .collect();
    if let Some(kind) = kind_said(words) {
        candidates.retain(|b| b.kind == kind);
    }
    match candidates.as_slice() {
        [] => Referent::Unknown,
        [one] => Referent::One(one.booking_ref.clone()),
        several => {
            let points_back = words.iter().any(|w| ANAPHORS.contains(&w.as_str()));
            match (&state.last_booking, points_back) {
                (Some(last), true) if several.iter().any(|b| &b.booking_ref == last) => Referent::One(last.clone()),
                _ => Referent::Several(several.iter().map(|b| (*b).clone()).collect()),
            }
        }
    }
}

/// Which of the listed bookings (`choices`, by reference) the answer
/// means: by kind ("the hotel"), position ("the second one") or a word of
/// its summary ("the paris one").
pub(super) fn pick_listed(
    state: &SessionState,
    choices: &[String],
    words: &[String],
    pick: Option<Pick>,
) -> Option<String> {
    let listed: Vec<&BookingRecord> =
        choices.iter().filter_map(|r| state.known_bookings().into_iter().find(|b| &b.booking_ref == r)).collect();
    if let Some(kind) = kind_said(words) {
        let of_kind: Vec<&&BookingRecord> = listed.iter().filter(|b| b.kind == kind).collect();
        if let [one] = of_kind.as_slice() {
            return Some(one.booking_ref.clone());
        }
    }
    match pick {
        Some(Pick::Index(i)) => return listed.get(i).map(|b| b.booking_ref.clone()),
        Some(Pick::Last) => return listed.last().map(|b| b.booking_ref.clone()),
        _ => {}
    }
    let summary_words = |b: &BookingRecord| crate::extract::tokens::tokenize(&b.summary);
    let distinctive: Vec<&&BookingRecord> = listed
        .iter()
        .filter(|b| {
            let own = summary_words(b);
            words
                .iter()
                .filter(|w| w.len() >= 4)
                .any(|w| own.contains(w) && listed.iter().filter(|o| summary_words(o).contains(w)).count() == 1)
        })
        .collect();
    match distinctive.as_slice() {
        [one] => Some(one.booking_ref.clone()),
        _ => None,
    }
}
