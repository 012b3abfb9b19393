//! What a conversation remembers between turns: the session state that is
//! stored (as JSON) in the session store.
//!
//! Everything the next turn needs lives here and nowhere else, which is what
//! lets a conversation continue on another gateway process or after a
//! restart. `version` is the optimistic-concurrency counter the store checks
//! on every write.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use voxbook_proto::booking::{Booking, FlightOffer, HotelOffer};

use crate::extract::places::Place;

/// A value a slot holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum SlotValue {
    Place(Place),
    Date(NaiveDate),
    Count(u32),
    /// A value of a designer-defined choice type (e.g. cabin "business").
    Choice(String),
    /// A booking reference, uppercase.
    Code(String),
    /// An explicit "none" (a one-way trip's return date).
    None,
}

impl SlotValue {
    /// The value as the API shows it (see `voxbook_proto::api`).
    pub fn to_json(&self) -> Value {
        match self {
            SlotValue::Place(p) => json!({"name": p.name, "code": p.code, "country": p.country}),
            SlotValue::Date(d) => json!(d.format("%Y-%m-%d").to_string()),
            SlotValue::Count(n) => json!(n),
            SlotValue::Choice(c) | SlotValue::Code(c) => json!(c),
            SlotValue::None => Value::Null,
        }
    }

    pub fn as_date(&self) -> Option<NaiveDate> {
        match self {
            SlotValue::Date(d) => Some(*d),
            _ => None,
        }
    }

    pub fn as_count(&self) -> Option<u32> {
        match self {
            SlotValue::Count(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_place(&self) -> Option<&Place> {
        match self {
            SlotValue::Place(p) => Some(p),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            SlotValue::Choice(s) | SlotValue::Code(s) => Some(s),
            _ => None,
        }
    }
}

/// A search result offered to the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Offer {
    Flight(FlightOffer),
    Hotel(HotelOffer),
}

impl Offer {
    pub fn offer_id(&self) -> &str {
        match self {
            Offer::Flight(f) => &f.offer_id,
            Offer::Hotel(h) => &h.offer_id,
        }
    }

    pub fn total_minor(&self) -> i64 {
        match self {
            Offer::Flight(f) => f.total.amount_minor,
            Offer::Hotel(h) => h.total.amount_minor,
        }
    }

    /// Departure time "HH:MM" for flights; hotels sort by price instead.
    pub fn sort_time(&self) -> &str {
        match self {
            Offer::Flight(f) => &f.outbound.depart_time,
            Offer::Hotel(_) => "",
        }
    }
}

/// Where the active flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Collecting slots (and running lookups as soon as they are filled).
    Filling,
    /// Options were read out; waiting for a pick.
    ChoosingOption,
    /// The read-back was said; waiting for yes or no.
    Confirming,
}

/// One running flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowState {
    pub name: String,
    /// Random id of this run of the flow: idempotency keys of its tool
    /// calls derive from it, so a retried turn repeats the same keys.
    pub instance: String,
    pub stage: Stage,
    pub slots: BTreeMap<String, SlotValue>,
    /// Slot names, most recently filled last: a correction without a cue
    /// ("no, make that saturday") goes to the latest slot of its type.
    pub filled_order: Vec<String>,
    /// Search results still on offer, in the order they were read out.
    pub options: Vec<Offer>,
    pub chosen: Option<Offer>,
    /// The held booking for `chosen` (book flows hold before confirming).
    pub hold_ref: Option<String>,
    /// The booking found by a get_booking lookup (change, cancel, status).
    pub booking: Option<Booking>,
    /// The slot (or "option"/"confirmation"/"changes") the last prompt asked for.
    pub awaiting: Option<String>,
    /// The last thing the assistant asked, re-said on a reprompt.
    pub last_prompt: String,
    /// Bookings the caller was asked to choose between ("which one do you
    /// mean?"), by reference, in the order they were listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ref_choices: Vec<String>,
    /// The readings of a date said two ways ("04/07"), for the awaited
    /// date slot: day first, then month first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub date_choices: Vec<NaiveDate>,
    /// Dates near a search that found nothing which do have something, in
    /// the order they were offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggested_dates: Vec<NaiveDate>,
    /// The Monday of the week the caller named without a day ("next
    /// week"), while the assistant asks which day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week_of: Option<NaiveDate>,
    /// Searches in a row that found nothing: after a few a person is offered.
    #[serde(default)]
    pub empty_searches: u32,
    /// A person was offered: a yes hands the call over.
    #[serde(default)]
    pub person_offered: bool,
    /// Slots filled from words the recogniser was unsure of: a correction
    /// ("no, Boston") goes to them first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub doubtful: Vec<String>,
}

impl FlowState {
    /// A new run of flow `name`, collecting slots.
    pub fn new(name: &str, instance: &str) -> FlowState {
        FlowState {
            name: name.to_string(),
            instance: instance.to_string(),
            stage: Stage::Filling,
            slots: BTreeMap::new(),
            filled_order: Vec::new(),
            options: Vec::new(),
            chosen: None,
            hold_ref: None,
            booking: None,
            awaiting: None,
            last_prompt: String::new(),
            ref_choices: Vec::new(),
            date_choices: Vec::new(),
            suggested_dates: Vec::new(),
            week_of: None,
            empty_searches: 0,
            person_offered: false,
            doubtful: Vec::new(),
        }
    }

    pub fn fill(&mut self, slot: &str, value: SlotValue) {
        self.slots.insert(slot.to_string(), value);
        self.filled_order.retain(|s| s != slot);
        self.filled_order.push(slot.to_string());
    }
}

/// A booking this session made, changed or cancelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingRecord {
    pub booking_ref: String,
    pub kind: String,
    pub status: String,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    pub turn: u64,
    pub user: String,
    pub reply: String,
    /// What the user heard of the spoken reply, when they interrupted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heard: Option<String>,
    pub intent: String,
    /// RFC 3339, wall clock.
    pub at: String,
}

/// The whole stored context of one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    pub id: String,
    /// Optimistic-concurrency counter; the store bumps it on every write.
    pub version: u64,
    pub created_at: DateTime<FixedOffset>,
    /// A fixed clock given at creation (tests, QA replays); None means the
    /// wall clock. Relative dates resolve against it.
    pub fixed_now: Option<DateTime<FixedOffset>>,
    pub metadata: BTreeMap<String, String>,
    pub turns: u64,
    pub flow: Option<FlowState>,
    /// Flows set aside by a digression, innermost last.
    pub suspended: Vec<FlowState>,
    /// Consecutive turns nothing was understood.
    pub failures: u32,
    /// Consecutive turns whose reply would have repeated the one before.
    #[serde(default)]
    pub repeats: u32,
    pub bookings: Vec<BookingRecord>,
    /// Bookings looked up in this session (status, change, cancel) that it
    /// did not make: "cancel it" after a status check means that one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub looked_up: Vec<BookingRecord>,
    /// The booking the conversation last dealt with (made, looked up,
    /// changed or cancelled): what "that booking" and "it" refer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_booking: Option<String>,
    /// A digression whose lookup found nothing last turn: a corrected
    /// reference now runs it again, and "never mind" just goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_digression: Option<String>,
    pub history: Vec<TurnRecord>,
    /// What the assistant said last (for a resumed stream and for "repeat").
    pub last_reply: String,
    pub ended: bool,
    /// Answers to the latest turns that came with a delivery key (a
    /// telephony provider's retry token, a client's turn id), oldest
    /// first: a redelivered turn gets its stored answer instead of running
    /// twice, so a provider's retry never repeats a tool call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivered: Vec<Delivered>,
}

/// How many keyed answers a session keeps: providers retry within
/// seconds, so only the last few turns can be redelivered.
pub const MAX_DELIVERED: usize = 8;

/// A keyed turn's answer, kept for redeliveries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivered {
    pub key: String,
    pub response: voxbook_proto::api::TurnResponse,
}

impl SessionState {
    pub fn new(id: String, created_at: DateTime<FixedOffset>, fixed_now: Option<DateTime<FixedOffset>>) -> Self {
        SessionState {
            id,
            version: 0,
            created_at,
            fixed_now,
            metadata: BTreeMap::new(),
            turns: 0,
            flow: None,
            suspended: Vec::new(),
            failures: 0,
            repeats: 0,
            bookings: Vec::new(),
            looked_up: Vec::new(),
            last_booking: None,
            failed_digression: None,
            history: Vec::new(),
            last_reply: String::new(),
            ended: false,
            delivered: Vec::new(),
        }
    }

    /// The session's clock.
    pub fn now(&self, wall: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
        self.fixed_now.unwrap_or(wall)
    }

    /// The stored answer to the turn delivered under `key`, if any.
    pub fn delivered(&self, key: &str) -> Option<&voxbook_proto::api::TurnResponse> {
        self.delivered.iter().find(|d| d.key == key).map(|d| &d.response)
    }

    /// Remembers a keyed turn's answer, forgetting the oldest beyond
    /// [`MAX_DELIVERED`].
    pub fn remember_delivery(&mut self, key: &str, response: &voxbook_proto::api::TurnResponse) {
        self.delivered.retain(|d| d.key != key);
        self.delivered.push(Delivered { key: key.to_string(), response: response.clone() });
        let excess = self.delivered.len().saturating_sub(MAX_DELIVERED);
        self.delivered.drain(..excess);
    }

    /// Every booking this session knows (made here, or looked up), the
    /// latest state of each, most recently dealt with first.
    pub fn known_bookings(&self) -> Vec<&BookingRecord> {
        let mut all: Vec<&BookingRecord> = self.bookings.iter().rev().collect();
        for b in self.looked_up.iter().rev() {
            if all.iter().all(|k| k.booking_ref != b.booking_ref) {
                all.push(b);
            }
        }
        if let Some(last) = &self.last_booking
            && let Some(pos) = all.iter().position(|b| &b.booking_ref == last)
        {
            let b = all.remove(pos);
            all.insert(0, b);
        }
        all
    }

    pub fn awaiting(&self) -> Option<&str> {
        self.flow.as_ref().and_then(|f| f.awaiting.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxbook_proto::api::{IntentOut, TurnResponse};

    fn response(turn: u64) -> TurnResponse {
        TurnResponse {
            session_id: "s".into(),
            turn,
            reply: format!("reply {turn}"),
            intent: IntentOut { name: "help".into(), confidence: 1.0 },
            slots: BTreeMap::new(),
            tool_calls: Vec::new(),
            awaiting: None,
            booking_ref: None,
            flow: None,
            handoff: false,
            ended: false,
        }
    }

    #[test]
    fn delivered_answers_are_kept_for_the_latest_turns_only() {
        let now = chrono::Utc::now().fixed_offset();
        let mut state = SessionState::new("s".into(), now, None);
        for turn in 1..=(MAX_DELIVERED as u64 + 3) {
            state.remember_delivery(&format!("k{turn}"), &response(turn));
        }
        assert_eq!(state.delivered.len(), MAX_DELIVERED);
        assert!(state.delivered("k1").is_none(), "the oldest is forgotten");
        let last = MAX_DELIVERED as u64 + 3;
        assert_eq!(state.delivered(&format!("k{last}")).map(|r| r.turn), Some(last));
        // Remembering a key again replaces it instead of duplicating it.
        state.remember_delivery(&format!("k{last}"), &response(99));
        assert_eq!(state.delivered.len(), MAX_DELIVERED);
        assert_eq!(state.delivered(&format!("k{last}")).map(|r| r.turn), Some(99));
    }

    #[test]
    fn sessions_stored_before_deliveries_existed_still_load() {
        let now = chrono::Utc::now().fixed_offset();
        let state = SessionState::new("s".into(), now, None);
        let mut json = serde_json::to_value(&state).unwrap();
        json.as_object_mut().unwrap().remove("delivered");
        let back: SessionState = serde_json::from_value(json).unwrap();
        assert!(back.delivered.is_empty());
    }
}
