//! The shape of an assistant config, as conversation designers write it in
//! YAML. Unknown fields are errors (a typo must not be silently ignored).
//!
//! Meaning is checked in [`super::validate`]; this module only says which
//! fields exist and what they default to.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The supported config format version.
pub const CONFIG_VERSION: u32 = 1;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistantSpec {
    /// Format version; only [`CONFIG_VERSION`] is understood.
    pub version: u32,
    pub name: String,
    /// Said when a session starts.
    pub greeting: String,
    #[serde(default)]
    pub settings: Settings,
    pub messages: Messages,
    /// Designer-defined enumerations (e.g. cabin class) with their synonyms.
    #[serde(default)]
    pub slot_types: BTreeMap<String, ChoiceType>,
    pub slots: BTreeMap<String, SlotSpec>,
    pub intents: BTreeMap<String, IntentSpec>,
    pub flows: BTreeMap<String, FlowSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Characters in a booking reference.
    pub booking_ref_length: usize,
    /// Consecutive not-understood turns before the caller is handed off.
    pub max_failures: u32,
    /// How many search results are read out.
    pub options_to_offer: usize,
    /// Turns kept in the session's history.
    pub history_limit: usize,
    /// Below this confidence an utterance has no intent (only slots, if any).
    pub intent_threshold: f32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            booking_ref_length: 6,
            max_failures: 3,
            options_to_offer: 3,
            history_limit: 50,
            intent_threshold: 0.5,
        }
    }
}

/// Everything the assistant says outside a flow's own templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Messages {
    /// First failure: followed by the pending prompt.
    pub not_understood: String,
    /// Second and later failures, before the hand-off.
    pub not_understood_again: String,
    /// Said when failures reach `max_failures`; the call is handed off.
    pub failures_handoff: String,
    pub help: String,
    pub recap: String,
    pub recap_empty: String,
    /// Said when a digression ends and the set-aside flow resumes.
    pub resume: String,
    pub start_over: String,
    pub goodbye: String,
    pub handoff: String,
    pub tool_unavailable: String,
    pub past_date: String,
    pub return_before_depart: String,
    pub same_city: String,
    pub out_of_range: String,
    pub option_not_understood: String,
    pub no_options_left: String,
    pub sold_out: String,
    pub booking_not_found: String,
    pub not_changeable: String,
    /// Said when the user refuses a confirmation and the flow has no
    /// `refused` template of its own.
    pub refused: String,
    pub anything_else: String,
    /// The open question asked when there is nothing pending.
    pub what_next: String,
    /// Said when the user turns down every offered option.
    pub none_chosen: String,
    /// Said when a confirmed action is refused by the booking service;
    /// `{status}` holds the service's reason.
    pub action_failed: String,
    /// A date that reads two ways ("04/07"): `{first}` and `{second}`.
    #[serde(default = "default_ambiguous_date")]
    pub ambiguous_date: String,
    /// "Cancel my booking" when the session knows several: `{bookings}`.
    #[serde(default = "default_which_booking")]
    pub which_booking: String,
    /// After a search found nothing, the nearest dates that have
    /// something: `{dates}`.
    #[serde(default = "default_nearest_dates")]
    pub nearest_dates: String,
    /// After repeated searches found nothing: a person is offered.
    /// After a search found nothing on any nearby date, the other values
    /// of a choice (cabins) that do have something: `{choices}`.
    #[serde(default = "default_other_choices")]
    pub other_choices: String,
    #[serde(default = "default_offer_person")]
    pub offer_person: String,
    /// Put before a reply that would repeat the last one word for word.
    #[serde(default = "default_rephrase")]
    pub rephrase: String,
    /// "Next week" with no day: which one?
    #[serde(default = "default_which_day")]
    pub which_day: String,
    /// A value heard with low confidence, read back before the next
    /// question: `{heard}` (e.g. "from Boston") and `{prompt}`.
    #[serde(default = "default_implicit_confirm")]
    pub implicit_confirm: String,
    /// A digression's lookup found nothing: said before going back to the
    /// flow it interrupted.
    #[serde(default = "default_digression_not_found")]
    pub digression_not_found: String,
    /// A digression the caller dropped ("never mind") or did not answer:
    /// said before going back.
    #[serde(default = "default_digression_dropped")]
    pub digression_dropped: String,
}

fn default_digression_not_found() -> String {
    "I couldn't find a booking with the reference {booking_ref|spell}.".into()
}

fn default_digression_dropped() -> String {
    "OK, let's leave that.".into()
}

fn default_ambiguous_date() -> String {
    "Do you mean {first} or {second}?".into()
}

fn default_which_booking() -> String {
    "I have more than one booking for you: {bookings}. Which one do you mean?".into()
}

fn default_nearest_dates() -> String {
    "The nearest dates with availability are {dates}. Would one of those work?".into()
}

fn default_other_choices() -> String {
    "There is availability in {choices} on that day, if that would work.".into()
}

fn default_offer_person() -> String {
    "I'm sorry I haven't found anything that works. I can put you through to a colleague, or you can try other details."
        .into()
}

fn default_rephrase() -> String {
    "Let me put that another way.".into()
}

fn default_which_day() -> String {
    "Which day that week would suit you?".into()
}

fn default_implicit_confirm() -> String {
    "OK, {heard}. {prompt}".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceType {
    /// Canonical value → phrases that mean it.
    pub values: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotSpec {
    /// A built-in type (city, date, party_size, nights, number, booking_ref)
    /// or the name of a `slot_types` entry.
    #[serde(rename = "type")]
    pub kind: String,
    pub prompt: String,
    /// Words right before a value that mark it as this slot's ("from" for
    /// origin, "to" for destination).
    #[serde(default)]
    pub cues: Vec<String>,
    /// Used when the user never says a value; such a slot is never asked.
    #[serde(default)]
    pub default: Option<String>,
    /// Phrases that fill the slot with an explicit "none" ("one way").
    #[serde(default)]
    pub none_phrases: Vec<String>,
    #[serde(default)]
    pub min: Option<u32>,
    #[serde(default)]
    pub max: Option<u32>,
    /// For a date slot: it must not come before this other date slot.
    #[serde(default)]
    pub not_before: Option<String>,
    /// For a nights slot: words before a date that mean "until" it, so the
    /// nights are counted from `from_slot` ("until the fifteenth").
    #[serde(default)]
    pub until_cues: Vec<String>,
    #[serde(default)]
    pub from_slot: Option<String>,
    /// For a city slot: it must differ from this other city slot.
    #[serde(default)]
    pub differs_from: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentSpec {
    #[serde(default)]
    pub description: Option<String>,
    /// Sample utterances; the classifier compares new ones to these.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Regular expressions over the normalised utterance (lowercase, no
    /// punctuation); a match is strong evidence for the intent.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// When patterns of several intents match, a higher priority wins
    /// (0 by default): "cancel the flight to paris" matches the flight
    /// booking's pattern too, but cancelling is what it asks.
    #[serde(default)]
    pub priority: i32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    /// The intent that starts this flow.
    pub intent: String,
    /// Slots to fill, asked in this order.
    #[serde(default)]
    pub slots: Vec<String>,
    /// A digression flow runs on top of an active flow and hands back to it
    /// when done (e.g. checking a booking's status mid-booking).
    #[serde(default)]
    pub digression: bool,
    #[serde(default)]
    pub lookup: Option<LookupSpec>,
    #[serde(default)]
    pub changes: Option<ChangesSpec>,
    /// Read-back before the action; the action runs only after a yes.
    #[serde(default)]
    pub confirm: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    /// Said when the flow completes.
    pub done: String,
    /// Said when the user says no at the confirmation.
    #[serde(default)]
    pub refused: Option<String>,
    /// What the flow is about, as the assistant refers to it when coming
    /// back to it after a digression ("your flight booking"): `{topic}`
    /// in `messages.resume`.
    #[serde(default)]
    pub topic: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupSpec {
    /// search_flights, search_hotels or get_booking.
    pub tool: String,
    /// How results are introduced: `{count}` and `{options}` are filled in.
    #[serde(default)]
    pub present: Option<String>,
    /// Said when nothing is found.
    #[serde(default)]
    pub none: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesSpec {
    /// Slots the user may change; at least one must be given.
    pub slots: Vec<String>,
    pub prompt: String,
}
