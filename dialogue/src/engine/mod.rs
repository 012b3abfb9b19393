//! The dialogue manager: one user utterance in, one reply out, with the
//! session state carried across turns.
//!
//! A turn is understood ([`crate::nlu`]), then handled by what the
//! conversation is doing: global requests first (goodbye, hand-off, start
//! over, help, recap), then the active flow's stage (filling slots, choosing
//! an option, confirming), then starting a flow. A flow advances as far as
//! it can without the user: asking for the next missing slot, running its
//! lookup, holding the chosen option, reading it back. Nothing is booked,
//! changed or cancelled without an explicit yes to a read-back.

mod context;
mod digression;
mod flow;
pub mod speech;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde_json::Value;
use voxbook_proto::api::{IntentOut, TurnResponse};

use tracing::Instrument;

use crate::assistant::Assistant;
use crate::heard::Heard;
use crate::nlu::entities::RefMode;
use crate::nlu::{self, Hints, Understanding, content};
use crate::state::{BookingRecord, SessionState, Stage, TurnRecord};
use crate::template::Template;
use crate::tools::{ToolCalls, ToolContext, ToolRunner};

/// Runs turns; holds no conversation state of its own.
#[derive(Clone)]
pub struct Engine {
    tools: ToolRunner,
}

/// What one turn has produced so far.
struct Turn {
    today: NaiveDate,
    session_id: String,
    parts: Vec<String>,
    /// The turn's tool calls, all carrying the session's as-of date.
    tool_calls: ToolCalls,
    booking_ref: Option<String>,
    /// Bookings made, changed or cancelled this turn.
    records: Vec<BookingRecord>,
    intent: IntentOut,
    handoff: bool,
    /// Slots of the flow the turn worked on, kept when the flow completes
    /// so the caller still sees what was booked.
    slots: BTreeMap<String, Value>,
    understood: bool,
    /// Bookings looked up this turn (status, change, cancel).
    looked_up: Vec<BookingRecord>,
    /// Per token of the utterance: heard with low confidence.
    doubtful_words: Vec<bool>,
    /// Doubtful values filled this turn, as said back ("from Boston"),
    /// put in front of the next question.
    readback: Vec<String>,
    /// The config's template for that read-back.
    implicit_confirm: String,
    /// The digression whose lookup failed last turn, if any.
    after_failed_digression: Option<String>,
    /// Set when this turn's digression lookup failed.
    failed_digression: Option<String>,
}

impl Turn {
    fn say(&mut self, text: String) {
        if !text.trim().is_empty() {
            self.parts.push(text);
        }
    }

    /// Says a question, read-back of doubtful values first ("OK, from
    /// Boston. When would you like to leave?").
    fn ask(&mut self, question: String) {
        if self.readback.is_empty() {
            return self.say(question);
        }
        let heard = std::mem::take(&mut self.readback).join(", ");
        let values = HashMap::from([("heard", heard), ("prompt", question)]);
        let text = render(&self.implicit_confirm, &values);
        self.say(text);
    }
}

/// Values for a template that has no holes to fill.
fn no_values() -> HashMap<&'static str, String> {
    HashMap::new()
}

/// Renders a config template; configs are validated at load, so a parse
/// failure cannot happen and would fall back to the raw text.
fn render<K: std::borrow::Borrow<str> + std::hash::Hash + Eq>(source: &str, values: &HashMap<K, String>) -> String {
    match Template::parse(source) {
        Ok(t) => t.render(values),
        Err(_) => source.to_string(),
    }
}

impl Engine {
    pub fn new(tools: ToolRunner) -> Self {
        Engine { tools }
    }

    /// The greeting for a new session.
    pub fn greeting(&self, assistant: &Assistant) -> String {
        let values = HashMap::from([("assistant", assistant.name.clone())]);
        render(&assistant.greeting, &values)
    }

    /// Handles one utterance. `wall` is the wall clock; the session's own
    /// clock (fixed in tests and replays) decides what "tomorrow" means.
    pub async fn turn(
        &self,
        assistant: &Assistant,
        state: &mut SessionState,
        heard: &Heard,
        wall: DateTime<FixedOffset>,
    ) -> TurnResponse {
        let text = heard.text.as_str();
        if state.ended {
            // A conversation that ended starts afresh on the next turn.
            state.flow = None;
            state.suspended.clear();
            state.failures = 0;
            state.ended = false;
        }
        state.turns += 1;
        let today = state.now(wall).date_naive();
        // The dialogue's part of a turn (the caller's per-turn span is its
        // parent); parsing and tool calls are its children.
        let span = tracing::info_span!("dialogue", session_id = %state.id, turn = state.turns, flow = tracing::field::Empty, intent = tracing::field::Empty);

        let (ref_mode, options_offered) = match &state.flow {
            Some(f) if f.awaiting.as_deref() == Some("booking_ref") && f.ref_choices.is_empty() => {
                (RefMode::Expected, false)
            }
            Some(f) => (RefMode::Cued, f.stage == Stage::ChoosingOption),
            None => (RefMode::Cued, false),
        };
        let awaiting = state.flow.as_ref().and_then(|f| f.awaiting.clone()).filter(|s| assistant.slot(s).is_some());
        // The latest date the flow holds: "the monday after" counts from it.
        let anchor = state.flow.as_ref().and_then(|f| {
            f.filled_order.iter().rev().find_map(|s| f.slots.get(s).and_then(crate::state::SlotValue::as_date))
        });
        let week = state.flow.as_ref().and_then(|f| f.week_of);
        let hints = Hints { ref_mode, options_offered, awaiting: awaiting.as_deref(), anchor, week };
        let u = tracing::info_span!(parent: &span, "parse").in_scope(|| nlu::understand(assistant, text, today, hints));
        let threshold = assistant.settings.intent_threshold;
        let intent = match u.top(threshold) {
            Some((name, confidence)) => IntentOut { name: name.to_string(), confidence },
            None if u.has_values() => IntentOut { name: nlu::INFORM.into(), confidence: 1.0 },
            None if u.pick.is_some() => IntentOut { name: nlu::CHOOSE_OPTION.into(), confidence: 1.0 },
            None => IntentOut { name: nlu::UNKNOWN.into(), confidence: 0.0 },
        };
        span.record("intent", intent.name.as_str());

        let mut turn = Turn {
            today,
            session_id: state.id.clone(),
            parts: Vec::new(),
            // A session with a fixed clock books as of its own date (see
            // `ToolContext`); one on the real clock leaves it to the service.
            tool_calls: ToolCalls::new(ToolContext { as_of: state.fixed_now.map(|now| now.date_naive()) }),
            booking_ref: None,
            records: Vec::new(),
            intent,
            handoff: false,
            slots: BTreeMap::new(),
            understood: true,
            looked_up: Vec::new(),
            doubtful_words: doubtful_words(heard, u.words.len()),
            readback: Vec::new(),
            implicit_confirm: assistant.messages.implicit_confirm.clone(),
            after_failed_digression: state.failed_digression.take(),
            failed_digression: None,
        };
        self.dispatch(assistant, state, &u, &mut turn).instrument(span.clone()).await;
        if turn.understood {
            state.failures = 0;
        }
        state.failed_digression = turn.failed_digression.take();
        for record in std::mem::take(&mut turn.looked_up) {
            state.last_booking = Some(record.booking_ref.clone());
            match state.looked_up.iter_mut().find(|b| b.booking_ref == record.booking_ref) {
                Some(existing) => *existing = record,
                None => state.looked_up.push(record),
            }
        }
        for record in std::mem::take(&mut turn.records) {
            state.last_booking = Some(record.booking_ref.clone());
            match state.bookings.iter_mut().find(|b| b.booking_ref == record.booking_ref) {
                Some(existing) => *existing = record,
                None => state.bookings.push(record),
            }
        }
        if let Some(flow) = &state.flow {
            span.record("flow", flow.name.as_str());
            turn.slots = flow.slots.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        }

        let mut reply = one_apology(&turn.parts);
        // Never the same sentence twice in a row: say it another way, and
        // after a few rounds offer a person.
        // (The last reply may itself have been said another way: it then
        // holds this one whole.)
        let repeated = !reply.is_empty()
            && !state.ended
            && (state.last_reply == reply || (state.repeats > 0 && state.last_reply.contains(&reply)));
        state.repeats = if repeated { state.repeats + 1 } else { 0 };
        if repeated {
            let mut again = format!("{} {reply}", render(&assistant.messages.rephrase, &no_values()));
            if state.repeats >= 2 {
                again = format!("{again} {}", render(&assistant.messages.offer_person, &no_values()));
                if let Some(flow) = state.flow.as_mut() {
                    flow.person_offered = true;
                }
            }
            reply = again;
        }
        state.last_reply = reply.clone();
        state.history.push(TurnRecord {
            turn: state.turns,
            user: text.to_string(),
            reply: reply.clone(),
            heard: None,
            intent: turn.intent.name.clone(),
            at: wall.to_rfc3339(),
        });
        let limit = assistant.settings.history_limit.max(1);
        if state.history.len() > limit {
            let excess = state.history.len() - limit;
            state.history.drain(..excess);
        }
        TurnResponse {
            session_id: state.id.clone(),
            turn: state.turns,
            reply,
            intent: turn.intent,
            slots: turn.slots,
            tool_calls: turn.tool_calls.into_records(),
            awaiting: state.awaiting().map(str::to_string),
            booking_ref: turn.booking_ref,
            flow: state.flow.as_ref().map(|f| f.name.clone()),
            handoff: turn.handoff,
            ended: state.ended,
        }
    }

    async fn dispatch(&self, assistant: &Assistant, state: &mut SessionState, u: &Understanding, turn: &mut Turn) {
        let threshold = assistant.settings.intent_threshold;
        if u.is_empty() {
            self.not_understood(assistant, state, turn);
            return;
        }
        let top = u.top(threshold).map(|(name, score)| (name.to_string(), score));
        let in_confirmation = state.flow.as_ref().is_some_and(|f| f.stage == Stage::Confirming);
        match top.as_ref().map(|(n, _)| n.as_str()) {
            Some("goodbye") => {
                self.abandon_flows(state, turn).await;
                turn.say(render(&assistant.messages.goodbye, &no_values()));
                state.ended = true;
                return;
            }
            Some("handoff") => {
                self.abandon_flows(state, turn).await;
                turn.say(render(&assistant.messages.handoff, &no_values()));
                turn.handoff = true;
                state.ended = true;
                return;
            }
            Some("start_over" | "deny") if turn.after_failed_digression.is_some() && state.flow.is_some() => {
                turn.say(render(&assistant.messages.digression_dropped, &no_values()));
                self.say_resume(assistant, state, turn);
                return;
            }
            Some("start_over") if self.in_digression(assistant, state) => {
                self.drop_digression(assistant, state, turn);
                return;
            }
            Some("start_over") => {
                self.abandon_flows(state, turn).await;
                turn.say(render(&assistant.messages.start_over, &no_values()));
                return;
            }
            Some("help") => {
                turn.say(render(&assistant.messages.help, &no_values()));
                self.say_resume(assistant, state, turn);
                return;
            }
            Some("recap") => {
                self.recap(assistant, state, turn);
                return;
            }
            _ => {}
        }

        // A different flow asked for with pattern-level confidence
        // interrupts the current one (a digression suspends it instead).
        let mut requested = top
            .as_ref()
            .filter(|(_, score)| *score >= content::PATTERN_LEVEL)
            .and_then(|(name, _)| assistant.flow_for_intent(name));
        // Values alone ("paris to rome on friday") start the flow they
        // belong to when nothing is going on.
        if requested.is_none()
            && state.flow.is_none()
            && let Some(flow) = content::flow_from_content(assistant, u, content::Evidence::Any)
        {
            turn.intent = IntentOut { name: flow.intent.clone(), confidence: content::CONTENT_CONFIDENCE };
            requested = Some(flow);
        }
        // Picking one of the bookings listed ("the hotel one") answers the
        // question; it does not start a hotel booking.
        if let Some(f) = &state.flow
            && !f.ref_choices.is_empty()
            && context::pick_listed(state, &f.ref_choices, &u.words, u.pick).is_some()
        {
            requested = None;
        }
        // A reference given after a digression's lookup failed runs it again.
        let has_code = u.entities.iter().any(|e| matches!(e.value, crate::nlu::entities::EntityValue::Code(_)));
        if requested.is_none()
            && has_code
            && let Some(name) = turn.after_failed_digression.clone()
            && let Some(flow) = assistant.flow(&name)
        {
            requested = Some(flow);
        }
        // Asking again for the flow a digression interrupted goes back to it.
        if let Some(next) = requested
            && self.in_digression(assistant, state)
            && state.suspended.last().is_some_and(|s| s.name == next.name)
        {
            self.drop_digression(assistant, state, turn);
            return;
        }
        // "Change it to business" in the middle of a new booking changes
        // that booking, not an existing one.
        if requested.is_some_and(|next| self.changes_current_flow(assistant, state, u, next)) {
            requested = None;
        }
        if let Some(current) = state.flow.as_ref()
            && assistant.flow(&current.name).is_none()
        {
            // The config changed under this session and dropped the flow.
            state.flow = None;
        }
        // An answer to the booking a digression interrupted goes back to it.
        if requested.is_none()
            && self.in_digression(assistant, state)
            && !u.entities.iter().any(|e| matches!(e.value, crate::nlu::entities::EntityValue::Code(_)))
            && self.answers_suspended(assistant, state, u)
        {
            state.flow = state.suspended.pop();
            self.continue_flow(assistant, state, u, turn).await;
            return;
        }
        match (state.flow.as_ref(), requested) {
            (Some(current), Some(next))
                if current.name != next.name && !in_confirmation_yes(u, threshold, in_confirmation) =>
            {
                if next.digression {
                    if let Some(current) = state.flow.take() {
                        state.suspended.push(current);
                    }
                } else {
                    self.abandon_flows(state, turn).await;
                }
                let name = next.name.clone();
                self.start_flow(assistant, state, &name, u, turn).await;
            }
            (Some(_), _) => self.continue_flow(assistant, state, u, turn).await,
            (None, Some(next)) => {
                let name = next.name.clone();
                self.start_flow(assistant, state, &name, u, turn).await;
            }
            (None, None) => {
                let (yes, no) = u.yes_no(threshold);
                if no && !yes {
                    // "No" to "anything else?": the caller is done.
                    turn.say(render(&assistant.messages.goodbye, &no_values()));
                    state.ended = true;
                } else if yes {
                    turn.say(render(&assistant.messages.what_next, &no_values()));
                } else {
                    self.not_understood(assistant, state, turn);
                }
            }
        }
    }

    /// A change asked for while a new booking is being made ("change it to
    /// business", "make it two passengers") is about that booking: true
    /// when `next` works on existing bookings, the current flow books
    /// something new and takes the utterance's values, and no existing
    /// booking is named.
    fn changes_current_flow(
        &self,
        a: &Assistant,
        state: &SessionState,
        u: &Understanding,
        next: &crate::assistant::FlowDef,
    ) -> bool {
        let Some(current) = state.flow.as_ref() else { return false };
        let Some(def) = a.flow(&current.name) else { return false };
        let about_bookings = |f: &crate::assistant::FlowDef| f.slots.iter().any(|s| s == "booking_ref");
        let names_existing = u.entities.iter().any(|e| matches!(e.value, crate::nlu::entities::EntityValue::Code(_)))
            || u.words.iter().any(|w| matches!(w.as_str(), "booking" | "reservation" | "booked" | "bookings"));
        if next.changes.is_none() || !about_bookings(next) || about_bookings(def) || names_existing {
            return false;
        }
        let slots = def.all_slots();
        let ctx = nlu::assign::SlotContext {
            slots: &slots,
            filled: &current.slots,
            filled_order: &current.filled_order,
            awaiting: None,
            correction: true,
        };
        !nlu::assign::assign(a, &u.words, &u.entities, &ctx).is_empty()
    }

    /// Counts a failure and reprompts, escalating to a hand-off.
    fn not_understood(&self, assistant: &Assistant, state: &mut SessionState, turn: &mut Turn) {
        let prompt = self.pending_prompt(assistant, state);
        reprompt(assistant, state, prompt, turn);
    }

    /// What the assistant is waiting for, as a question.
    fn pending_prompt(&self, assistant: &Assistant, state: &SessionState) -> String {
        match &state.flow {
            Some(f) if !f.last_prompt.is_empty() => f.last_prompt.clone(),
            _ => render(&assistant.messages.what_next, &no_values()),
        }
    }

    /// Says where the conversation stands and what it waits for ("Now,
    /// back to your flight booking. What day would you like to leave?").
    fn say_resume(&self, assistant: &Assistant, state: &SessionState, turn: &mut Turn) {
        let Some(flow) = &state.flow else { return };
        let topic =
            assistant.flow(&flow.name).and_then(|d| d.topic.clone()).unwrap_or_else(|| "where we were".to_string());
        let values = HashMap::from([("prompt", self.pending_prompt(assistant, state)), ("topic", topic)]);
        turn.say(render(&assistant.messages.resume, &values));
    }

    fn recap(&self, assistant: &Assistant, state: &SessionState, turn: &mut Turn) {
        let Some(flow) = &state.flow else {
            turn.say(render(&assistant.messages.recap_empty, &no_values()));
            turn.say(render(&assistant.messages.what_next, &no_values()));
            return;
        };
        let items: Vec<String> = assistant
            .flow(&flow.name)
            .map(|d| d.all_slots())
            .unwrap_or_default()
            .iter()
            .filter_map(|name| {
                let def = assistant.slot(name)?;
                let value = flow.slots.get(name)?;
                Some(format!("{} {}", name.replace('_', " "), speech::slot_value(assistant, def, value, turn.today)))
            })
            .collect();
        if items.is_empty() {
            turn.say(render(&assistant.messages.recap_empty, &no_values()));
        } else {
            turn.say(render(&assistant.messages.recap, &HashMap::from([("changes", items.join(", "))])));
        }
        turn.say(self.pending_prompt(assistant, state));
    }
}

/// The reply from its parts, apologising once: "Sorry, I didn't catch
/// that. Sorry, I couldn't find ..." becomes "Sorry, I didn't catch that.
/// I couldn't find ...".
fn one_apology(parts: &[String]) -> String {
    let mut apologised = false;
    let mut out: Vec<String> = Vec::with_capacity(parts.len());
    for part in parts {
        let rest = ["Sorry, ", "I'm sorry, ", "Sorry. "].iter().find_map(|p| part.strip_prefix(p));
        match rest {
            Some(rest) if apologised && !rest.is_empty() => {
                let mut chars = rest.chars();
                let first = chars.next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default();
                out.push(format!("{first}{}", chars.as_str()));
            }
            Some(_) => {
                apologised = true;
                out.push(part.clone());
            }
            None => out.push(part.clone()),
        }
    }
    out.join(" ")
}

/// Which tokens of the utterance the recogniser was unsure of: its words
/// tokenized the way the utterance is, each token taking its word's
/// probability. Empty (nothing doubtful) when the two do not line up.
fn doubtful_words(heard: &Heard, tokens: usize) -> Vec<bool> {
    let mut out = Vec::with_capacity(tokens);
    for w in &heard.words {
        let doubtful = w.probability < crate::heard::DOUBTFUL_BELOW;
        out.extend(std::iter::repeat_n(doubtful, crate::extract::tokens::tokenize(&w.word).len()));
    }
    // The utterance's tokens lost their hesitations and stutters: so must these.
    let tokens_of_heard: Vec<String> =
        heard.words.iter().flat_map(|w| crate::extract::tokens::tokenize(&w.word)).collect();
    if crate::nlu::without_hesitations(tokens_of_heard.clone()).len() != tokens_of_heard.len() {
        return Vec::new();
    }
    if out.len() == tokens { out } else { Vec::new() }
}

/// Counts a failure and reprompts with `prompt`, escalating to a hand-off
/// after `max_failures`; true when the conversation was handed off.
fn reprompt(assistant: &Assistant, state: &mut SessionState, prompt: String, turn: &mut Turn) -> bool {
    turn.understood = false;
    state.failures += 1;
    if state.failures >= assistant.settings.max_failures {
        turn.say(render(&assistant.messages.failures_handoff, &no_values()));
        turn.handoff = true;
        state.ended = true;
        return true;
    }
    let template =
        if state.failures == 1 { &assistant.messages.not_understood } else { &assistant.messages.not_understood_again };
    turn.say(render(template, &HashMap::from([("prompt", prompt)])));
    false
}

/// At a read-back, "yes, book the flight" names a flow but means yes.
fn in_confirmation_yes(u: &Understanding, threshold: f32, in_confirmation: bool) -> bool {
    let (yes, no) = u.yes_no(threshold);
    in_confirmation && (yes || no)
}
