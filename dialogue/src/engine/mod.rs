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

mod flow;
pub mod speech;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde_json::Value;
use voxbook_proto::api::{IntentOut, ToolCallOut, TurnResponse};

use tracing::Instrument;

use crate::assistant::Assistant;
use crate::heard::Heard;
use crate::nlu::entities::RefMode;
use crate::nlu::{self, Hints, Understanding};
use crate::state::{BookingRecord, SessionState, Stage, TurnRecord};
use crate::template::Template;
use crate::tools::ToolRunner;

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
    tool_calls: Vec<ToolCallOut>,
    booking_ref: Option<String>,
    /// Bookings made, changed or cancelled this turn.
    records: Vec<BookingRecord>,
    intent: IntentOut,
    handoff: bool,
    /// Slots of the flow the turn worked on, kept when the flow completes
    /// so the caller still sees what was booked.
    slots: BTreeMap<String, Value>,
    understood: bool,
}

impl Turn {
    fn say(&mut self, text: String) {
        if !text.trim().is_empty() {
            self.parts.push(text);
        }
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
            Some(f) if f.awaiting.as_deref() == Some("booking_ref") => (RefMode::Expected, false),
            Some(f) => (RefMode::Cued, f.stage == Stage::ChoosingOption),
            None => (RefMode::Cued, false),
        };
        let u = tracing::info_span!(parent: &span, "parse")
            .in_scope(|| nlu::understand(assistant, text, today, Hints { ref_mode, options_offered }));
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
            tool_calls: Vec::new(),
            booking_ref: None,
            records: Vec::new(),
            intent,
            handoff: false,
            slots: BTreeMap::new(),
            understood: true,
        };
        self.dispatch(assistant, state, &u, &mut turn).instrument(span.clone()).await;
        if turn.understood {
            state.failures = 0;
        }
        for record in std::mem::take(&mut turn.records) {
            match state.bookings.iter_mut().find(|b| b.booking_ref == record.booking_ref) {
                Some(existing) => *existing = record,
                None => state.bookings.push(record),
            }
        }
        if let Some(flow) = &state.flow {
            span.record("flow", flow.name.as_str());
            turn.slots = flow.slots.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        }

        let reply = turn.parts.join(" ");
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
            tool_calls: turn.tool_calls,
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
            Some("start_over") => {
                self.abandon_flows(state, turn).await;
                turn.say(render(&assistant.messages.start_over, &no_values()));
                return;
            }
            Some("help") => {
                turn.say(render(&assistant.messages.help, &no_values()));
                self.say_pending(assistant, state, turn);
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
        let requested =
            top.as_ref().filter(|(_, score)| *score >= 0.8).and_then(|(name, _)| assistant.flow_for_intent(name));
        if let Some(current) = state.flow.as_ref()
            && assistant.flow(&current.name).is_none()
        {
            // The config changed under this session and dropped the flow.
            state.flow = None;
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
                if u.score_of("deny", threshold).is_some() {
                    // "No" to "anything else?": the caller is done.
                    turn.say(render(&assistant.messages.goodbye, &no_values()));
                    state.ended = true;
                } else if u.score_of("affirm", threshold).is_some() {
                    turn.say(render(&assistant.messages.what_next, &no_values()));
                } else {
                    self.not_understood(assistant, state, turn);
                }
            }
        }
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

    fn say_pending(&self, assistant: &Assistant, state: &SessionState, turn: &mut Turn) {
        if state.flow.is_some() {
            turn.say(self.pending_prompt(assistant, state));
        }
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
    in_confirmation && (u.score_of("affirm", threshold).is_some() || u.score_of("deny", threshold).is_some())
}
