//! Running a flow: filling slots, lookups, options, holds, read-backs and
//! the confirmed action.
//!
//! Each handler works on a flow taken out of the session and says what
//! became of it ([`Outcome`]); [`Engine::settle`] puts it back, or closes it
//! and resumes whatever a digression had set aside.

use std::collections::HashMap;

use voxbook_proto::booking::{
    BookRequest, BookedItem, Booking, BookingStatus, Cabin, CancelRequest, FlightSearch, HoldRequest, HotelSearch,
    ModifyRequest,
};

use super::context::{self, Referent};
use super::{Engine, Turn, no_values, render, reprompt, speech};
use crate::assistant::{Assistant, FlowDef};
use crate::config::{ActionTool, LookupTool, SlotKind};
use crate::nlu::Understanding;
use crate::nlu::assign::{Assignment, SlotContext, assign};
use crate::nlu::options::Pick;
use crate::state::{BookingRecord, FlowState, Offer, SessionState, SlotValue, Stage};
use crate::tools::ToolError;

/// Change slots that apply to each kind of booking.
const FLIGHT_CHANGES: [&str; 3] = ["depart_date", "return_date", "passengers"];
const HOTEL_CHANGES: [&str; 3] = ["check_in", "nights", "guests"];

/// What became of a flow after a step.
pub(super) enum Outcome {
    /// Still running; waiting for the user.
    Continue,
    /// Completed (its `done` was said).
    Finished,
    /// Ended without completing (refused, not possible, handed off).
    Dropped,
}

fn offers_from_flights(offers: Vec<voxbook_proto::booking::FlightOffer>) -> Vec<Offer> {
    offers.into_iter().map(Offer::Flight).collect()
}

fn offers_from_hotels(offers: Vec<voxbook_proto::booking::HotelOffer>) -> Vec<Offer> {
    offers.into_iter().map(Offer::Hotel).collect()
}

/// FNV-1a: a stable fingerprint for idempotency keys (std's hasher is not
/// stable across releases, and keys outlive processes).
fn fingerprint(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn iso(value: Option<&SlotValue>) -> Option<String> {
    value.and_then(SlotValue::as_date).map(|d| d.format("%Y-%m-%d").to_string())
}

fn kind_of(booking: &Booking) -> &'static str {
    match booking.item {
        BookedItem::Flight(_) => "flight",
        BookedItem::Hotel(_) => "hotel",
    }
}

fn change_label(slot: &str) -> String {
    match slot {
        "depart_date" | "check_in" => "the date".into(),
        "return_date" => "the return date".into(),
        "passengers" | "guests" => "the number of people".into(),
        "nights" => "the number of nights".into(),
        other => format!("the {}", other.replace('_', " ")),
    }
}

impl Engine {
    pub(super) async fn start_flow(
        &self,
        a: &Assistant,
        state: &mut SessionState,
        name: &str,
        u: &Understanding,
        turn: &mut Turn,
    ) {
        let Some(def) = a.flow(name).cloned() else { return };
        let mut flow = FlowState::new(&def.name, &uuid::Uuid::new_v4().simple().to_string());
        let slots = applicable_slots(&def, &flow);
        let ctx =
            SlotContext { slots: &slots, filled: &flow.slots, filled_order: &[], awaiting: None, correction: false };
        let mut assignments = assign(a, &u.words, &u.entities, &ctx);
        // The booking meant may be one this session knows ("cancel that
        // booking"): take it, look it up, and read the values again for
        // its kind ("move it to friday" is a flight's departure).
        let needs_ref = def.slots.iter().any(|s| s == "booking_ref");
        if needs_ref && !assignments.iter().any(|x| x.slot == "booking_ref") {
            match context::booking_referent(state, &u.words, def.action.is_some()) {
                Referent::One(code) => {
                    flow.fill("booking_ref", SlotValue::Code(code));
                    if matches!(def.lookup.as_ref().map(|l| l.tool), Some(LookupTool::GetBooking)) {
                        if let Err(outcome) = self.lookup_booking(a, &def, &mut flow, turn).await {
                            self.settle(a, state, flow, outcome, turn);
                            return;
                        }
                        let slots = applicable_slots(&def, &flow);
                        let ctx = SlotContext {
                            slots: &slots,
                            filled: &flow.slots,
                            filled_order: &[],
                            awaiting: None,
                            correction: false,
                        };
                        assignments = assign(a, &u.words, &u.entities, &ctx);
                    }
                }
                Referent::Several(bookings) => {
                    let _ = self.apply(a, &def, &mut flow, assignments, turn).await;
                    let listed: Vec<String> = bookings.iter().map(|b| b.summary.clone()).collect();
                    let text = render(&a.messages.which_booking, &HashMap::from([("bookings", or_list(&listed))]));
                    flow.ref_choices = bookings.into_iter().map(|b| b.booking_ref).collect();
                    let outcome = self.prompt(&mut flow, Some("booking_ref"), text, turn);
                    self.settle(a, state, flow, outcome, turn);
                    return;
                }
                Referent::Unknown => {}
            }
        }
        let outcome = if self.apply(a, &def, &mut flow, assignments, turn).await {
            Outcome::Continue
        } else {
            self.advance(a, &def, &mut flow, turn).await
        };
        self.settle(a, state, flow, outcome, turn);
    }

    pub(super) async fn continue_flow(
        &self,
        a: &Assistant,
        state: &mut SessionState,
        u: &Understanding,
        turn: &mut Turn,
    ) {
        let Some(mut flow) = state.flow.take() else { return };
        let Some(def) = a.flow(&flow.name).cloned() else { return };
        let (affirm, deny) = u.yes_no(a.settings.intent_threshold);
        let slots = applicable_slots(&def, &flow);
        let awaiting = flow.awaiting.clone().filter(|s| a.slot(s).is_some());
        // A correction goes first to what was heard doubtfully.
        let mut filled_order = flow.filled_order.clone();
        filled_order.sort_by_key(|s| flow.doubtful.contains(s));
        let ctx = SlotContext {
            slots: &slots,
            filled: &flow.slots,
            filled_order: &filled_order,
            awaiting: awaiting.as_deref(),
            correction: u.correction || (deny && flow.stage != Stage::Filling),
        };
        let mut assignments = assign(a, &u.words, &u.entities, &ctx);
        // Answers to a question that listed choices: which booking, which
        // reading of a date, which of the nearest dates, or a person.
        if let Some(outcome) = self.answer_to_choices(a, &def, &mut flow, state, u, &mut assignments, turn).await {
            self.settle(a, state, flow, outcome, turn);
            return;
        }

        // "The second one" also reads as a date (the 2nd): while options are
        // on offer, a pick wins unless the user is correcting something.
        let picking = flow.stage == Stage::ChoosingOption && u.pick.is_some() && !u.correction;
        let outcome = if picking {
            self.choose(a, &def, &mut flow, u.pick, state, turn).await
        } else if !assignments.is_empty() {
            if self.apply(a, &def, &mut flow, assignments, turn).await {
                Outcome::Continue
            } else {
                self.advance(a, &def, &mut flow, turn).await
            }
        } else {
            match flow.stage {
                Stage::Confirming if affirm && !deny => self.act(a, &def, &mut flow, turn).await,
                Stage::Confirming if deny => self.refuse(a, &def, &mut flow, turn).await,
                Stage::Confirming | Stage::ChoosingOption if u.pick.is_some() && !flow.options.is_empty() => {
                    self.choose(a, &def, &mut flow, u.pick, state, turn).await
                }
                Stage::ChoosingOption if deny => {
                    let text = render(&a.messages.none_chosen, &no_values());
                    flow.awaiting = None;
                    flow.last_prompt = text.clone();
                    turn.say(text);
                    Outcome::Continue
                }
                Stage::Filling if affirm => match flow.awaiting.clone().filter(|s| a.slot(s).is_some()) {
                    Some(slot) => {
                        self.ask(a, &def, &mut flow, &slot, turn);
                        Outcome::Continue
                    }
                    None => self.advance(a, &def, &mut flow, turn).await,
                },
                Stage::Filling if deny && def.digression && !state.suspended.is_empty() => {
                    turn.say(render(&a.messages.digression_dropped, &no_values()));
                    Outcome::Dropped
                }
                Stage::Filling if deny => {
                    self.release_hold(&mut flow, turn).await;
                    turn.say(render(&a.messages.anything_else, &no_values()));
                    Outcome::Dropped
                }
                // A lookup that could not run (service down) is retried by
                // whatever the user says next.
                Stage::Filling if flow.awaiting.is_none() && flow.slots.len() >= def.slots.len() => {
                    self.advance(a, &def, &mut flow, turn).await
                }
                // A digression is not worth a second try: go back.
                _ if def.digression && !state.suspended.is_empty() => {
                    turn.say(render(&a.messages.digression_dropped, &no_values()));
                    Outcome::Dropped
                }
                _ => self.flow_not_understood(a, state, &flow, turn),
            }
        };
        self.settle(a, state, flow, outcome, turn);
    }

    /// The answer to a question that listed choices (see the fields of
    /// [`FlowState`]): Some when it settled the turn.
    #[allow(clippy::too_many_arguments)]
    async fn answer_to_choices(
        &self,
        a: &Assistant,
        def: &FlowDef,
        flow: &mut FlowState,
        state: &mut SessionState,
        u: &Understanding,
        assignments: &mut Vec<Assignment>,
        turn: &mut Turn,
    ) -> Option<Outcome> {
        let (affirm, deny) = u.yes_no(a.settings.intent_threshold);
        let awaited = flow.awaiting.clone();
        // Which booking.
        if awaited.as_deref() == Some("booking_ref") && !flow.ref_choices.is_empty() {
            let named = assignments.iter().any(|x| x.slot == "booking_ref");
            let choices = std::mem::take(&mut flow.ref_choices);
            if !named {
                match context::pick_listed(state, &choices, &u.words, u.pick) {
                    Some(code) => assignments.push(Assignment::filled("booking_ref", SlotValue::Code(code))),
                    None => {
                        flow.ref_choices = choices;
                        return Some(self.flow_not_understood(a, state, flow, turn));
                    }
                }
            }
        }
        // Which reading of a date ("the fourth of july or april the seventh?").
        if let Some(slot) = awaited.clone()
            && !flow.date_choices.is_empty()
        {
            let choices = std::mem::take(&mut flow.date_choices);
            let said_date = assignments.iter().any(|x| x.slot == slot && x.alternative.is_none());
            if !said_date {
                let by_month =
                    choices.iter().filter(|d| u.words.iter().any(|w| speech::month_name(**d).eq_ignore_ascii_case(w)));
                let picked = match (by_month.collect::<Vec<_>>().as_slice(), u.pick) {
                    ([one], _) => Some(**one),
                    (_, Some(Pick::Index(i))) => choices.get(i).copied(),
                    (_, Some(Pick::Last)) => choices.last().copied(),
                    _ => None,
                };
                match picked {
                    Some(d) => {
                        assignments.retain(|x| x.slot != slot);
                        assignments.push(Assignment::filled(&slot, SlotValue::Date(d)));
                    }
                    None => flow.date_choices = choices,
                }
            }
        }
        // One of the nearest dates that have something.
        if let Some(slot) = awaited.clone()
            && !flow.suggested_dates.is_empty()
            && !assignments.iter().any(|x| x.slot == slot)
        {
            let picked = match u.pick {
                Some(Pick::Index(i)) => flow.suggested_dates.get(i).copied(),
                Some(Pick::Last) => flow.suggested_dates.last().copied(),
                _ if affirm && !deny => flow.suggested_dates.first().copied(),
                _ => None,
            };
            if let Some(d) = picked {
                assignments.push(Assignment::filled(&slot, SlotValue::Date(d)));
            }
        }
        // A person was offered after searches found nothing.
        if flow.person_offered && assignments.is_empty() && affirm && !deny {
            self.release_hold(flow, turn).await;
            turn.say(render(&a.messages.handoff, &no_values()));
            turn.handoff = true;
            state.ended = true;
            return Some(Outcome::Dropped);
        }
        if !assignments.is_empty() {
            flow.suggested_dates.clear();
            flow.person_offered = false;
            let outcome = if self.apply(a, def, flow, std::mem::take(assignments), turn).await {
                Outcome::Continue
            } else {
                self.advance(a, def, flow, turn).await
            };
            return Some(outcome);
        }
        None
    }

    /// Puts a flow back, or closes it and resumes a suspended one.
    pub(super) fn settle(
        &self,
        a: &Assistant,
        state: &mut SessionState,
        flow: FlowState,
        outcome: Outcome,
        turn: &mut Turn,
    ) {
        match outcome {
            Outcome::Continue if !state.ended => state.flow = Some(flow),
            _ => {
                turn.slots = flow.slots.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
                if state.ended {
                    return;
                }
                if let Some(previous) = state.suspended.pop() {
                    let topic = a
                        .flow(&previous.name)
                        .and_then(|d| d.topic.clone())
                        .unwrap_or_else(|| "where we were".to_string());
                    let values = HashMap::from([("prompt", previous.last_prompt.clone()), ("topic", topic)]);
                    turn.say(render(&a.messages.resume, &values));
                    state.flow = Some(previous);
                }
            }
        }
    }

    fn flow_not_understood(
        &self,
        a: &Assistant,
        state: &mut SessionState,
        flow: &FlowState,
        turn: &mut Turn,
    ) -> Outcome {
        let prompt = if flow.stage == Stage::ChoosingOption {
            render(&a.messages.option_not_understood, &no_values())
        } else {
            flow.last_prompt.clone()
        };
        if reprompt(a, state, prompt, turn) {
            return Outcome::Dropped;
        }
        Outcome::Continue
    }

    /// Releases a held offer (best effort: holds also expire by themselves).
    pub(super) async fn release_hold(&self, flow: &mut FlowState, turn: &mut Turn) {
        if let Some(hold) = flow.hold_ref.take() {
            let key = format!("{}:{}:release:{hold}", turn.session_id, flow.instance);
            let _ = self
                .tools
                .run("release_hold", &mut turn.tool_calls, |t| {
                    let (hold, key) = (hold.clone(), key.clone());
                    async move { t.cancel_booking(hold, CancelRequest { idempotency_key: key }).await }
                })
                .await;
        }
    }

    /// Ends the active and suspended flows, releasing their holds.
    pub(super) async fn abandon_flows(&self, state: &mut SessionState, turn: &mut Turn) {
        let mut flows: Vec<FlowState> = state.suspended.drain(..).collect();
        flows.extend(state.flow.take());
        for mut flow in flows {
            self.release_hold(&mut flow, turn).await;
        }
    }

    /// Applies slot values, checking each. Returns true when one was
    /// rejected (its reason and the slot's question were said).
    async fn apply(
        &self,
        a: &Assistant,
        def: &FlowDef,
        flow: &mut FlowState,
        mut assignments: Vec<Assignment>,
        turn: &mut Turn,
    ) -> bool {
        // Earlier slots first, so "return after departure" sees this turn's departure.
        let order = def.all_slots();
        assignments.sort_by_key(|x| order.iter().position(|s| *s == x.slot).unwrap_or(usize::MAX));
        let mut rejected = false;
        for Assignment { slot, value, span, alternative, vague_week } in assignments {
            let Some(sdef) = a.slot(&slot) else { continue };
            if let (true, SlotValue::Date(monday)) = (vague_week, &value) {
                // "Next week": which day of it?
                flow.week_of = Some(*monday);
                let text = render(&a.messages.which_day, &no_values());
                self.prompt(flow, Some(&slot), text, turn);
                rejected = true;
                continue;
            }
            if let (Some(SlotValue::Date(second)), SlotValue::Date(first)) = (&alternative, &value) {
                // "04/07": ask which, and take nothing yet.
                let values = HashMap::from([
                    ("first", speech::date(*first, turn.today)),
                    ("second", speech::date(*second, turn.today)),
                ]);
                let text = render(&a.messages.ambiguous_date, &values);
                flow.date_choices = vec![*first, *second];
                self.prompt(flow, Some(&slot), text, turn);
                rejected = true;
                continue;
            }
            let problem = match (&sdef.kind, &value) {
                (SlotKind::Date, SlotValue::Date(d)) if *d < turn.today => Some(&a.messages.past_date),
                (SlotKind::Date, SlotValue::Date(d))
                    if sdef
                        .not_before
                        .as_ref()
                        .and_then(|other| flow.slots.get(other))
                        .and_then(SlotValue::as_date)
                        .is_some_and(|before| *d < before) =>
                {
                    Some(&a.messages.return_before_depart)
                }
                (SlotKind::City, SlotValue::Place(p))
                    if sdef
                        .differs_from
                        .as_ref()
                        .and_then(|other| flow.slots.get(other))
                        .and_then(SlotValue::as_place)
                        .is_some_and(|q| q.code == p.code) =>
                {
                    Some(&a.messages.same_city)
                }
                (_, SlotValue::Count(n)) if sdef.min.is_some_and(|m| *n < m) || sdef.max.is_some_and(|m| *n > m) => {
                    Some(&a.messages.out_of_range)
                }
                _ => None,
            };
            if let Some(message) = problem {
                let prompt = self.slot_prompt(a, def, flow, &slot, turn);
                let values = HashMap::from([
                    ("prompt", prompt.clone()),
                    ("min", sdef.min.map(|m| m.to_string()).unwrap_or_default()),
                    ("max", sdef.max.map(|m| m.to_string()).unwrap_or_default()),
                ]);
                turn.say(render(message, &values));
                flow.awaiting = Some(slot.clone());
                flow.last_prompt = prompt;
                rejected = true;
                continue;
            }
            if flow.slots.get(&slot) == Some(&value) {
                continue;
            }
            if sdef.kind == SlotKind::Date {
                flow.week_of = None;
            }
            let doubtful = (span.start..span.end).any(|i| turn.doubtful_words.get(i).copied().unwrap_or(false));
            flow.doubtful.retain(|s| *s != slot);
            if doubtful {
                turn.readback.push(readback(a, sdef, &value, turn.today));
                flow.doubtful.push(slot.clone());
            }
            flow.fill(&slot, value);
            self.invalidate(def, flow, &slot, turn).await;
        }
        // A departure moved past the return drops the return, to be asked again.
        for (name, sdef) in def.all_slots().iter().filter_map(|n| a.slot(n).map(|d| (n, d))) {
            if let Some(before) = sdef.not_before.as_ref().and_then(|o| flow.slots.get(o)).and_then(SlotValue::as_date)
                && flow.slots.get(name).and_then(SlotValue::as_date).is_some_and(|d| d < before)
            {
                flow.slots.remove(name);
                flow.filled_order.retain(|s| s != name);
            }
        }
        rejected
    }

    /// A slot changed: whatever was derived from it is stale.
    async fn invalidate(&self, def: &FlowDef, flow: &mut FlowState, slot: &str, turn: &mut Turn) {
        let feeds_search =
            matches!(def.lookup.as_ref().map(|l| l.tool), Some(LookupTool::SearchFlights | LookupTool::SearchHotels))
                && def.slots.iter().any(|s| s == slot);
        if feeds_search {
            flow.options.clear();
            flow.chosen = None;
            self.release_hold(flow, turn).await;
        }
        if slot == "booking_ref" {
            flow.booking = None;
        }
        flow.stage = Stage::Filling;
    }

    fn slot_prompt(&self, a: &Assistant, def: &FlowDef, flow: &FlowState, slot: &str, turn: &Turn) -> String {
        let source = a.slot(slot).map(|s| s.prompt.clone()).unwrap_or_default();
        render(&source, &self.values(a, def, flow, turn))
    }

    fn ask(&self, a: &Assistant, def: &FlowDef, flow: &mut FlowState, slot: &str, turn: &mut Turn) {
        let prompt = self.slot_prompt(a, def, flow, slot, turn);
        flow.awaiting = Some(slot.to_string());
        flow.last_prompt = prompt.clone();
        turn.ask(prompt);
    }

    /// Says `text` and waits for `awaiting`.
    fn prompt(&self, flow: &mut FlowState, awaiting: Option<&str>, text: String, turn: &mut Turn) -> Outcome {
        flow.awaiting = awaiting.map(str::to_string);
        flow.last_prompt = text.clone();
        turn.ask(text);
        Outcome::Continue
    }

    /// Template values: every slot said, plus the flow's derived values.
    fn values(&self, a: &Assistant, def: &FlowDef, flow: &FlowState, turn: &Turn) -> HashMap<String, String> {
        let mut values: HashMap<String, String> = HashMap::new();
        for name in def.all_slots() {
            if let (Some(sdef), Some(value)) = (a.slot(&name), flow.slots.get(&name)) {
                values.insert(name.clone(), speech::slot_value(a, sdef, value, turn.today));
            }
        }
        values.insert("assistant".into(), a.name.clone());
        values.insert("flow".into(), def.name.clone());
        values.insert("count".into(), flow.options.len().to_string());
        values.insert("options".into(), speech::option_list(&flow.options));
        if let Some(chosen) = &flow.chosen {
            values.insert("option".into(), speech::option_summary(a, chosen, turn.today));
            values.insert("total".into(), speech::offer_total(chosen));
        }
        if let Some(booking) = &flow.booking {
            values.insert("booking".into(), speech::booking_summary(a, booking, turn.today));
            values.insert("status".into(), booking.status.as_str().to_string());
            values.insert("booking_ref".into(), booking.booking_ref.clone());
            values.entry("total".into()).or_insert_with(|| speech::booking_total(booking));
        } else if let Some(code) = flow.slots.get("booking_ref").and_then(SlotValue::as_text) {
            values.insert("booking_ref".into(), code.to_string());
        }
        let changes: Vec<String> = self
            .change_slots(def, flow)
            .iter()
            .filter_map(|name| {
                let value = flow.slots.get(name)?;
                let sdef = a.slot(name)?;
                Some(format!("{} to {}", change_label(name), speech::slot_value(a, sdef, value, turn.today)))
            })
            .collect();
        values.insert("changes".into(), changes.join(" and "));
        values
    }

    /// Change slots that apply to the looked-up booking.
    fn change_slots(&self, def: &FlowDef, flow: &FlowState) -> Vec<String> {
        let Some((changes, _)) = &def.changes else { return Vec::new() };
        let allowed: &[&str] = match flow.booking.as_ref().map(kind_of) {
            Some("flight") => &FLIGHT_CHANGES,
            Some(_) => &HOTEL_CHANGES,
            None => return changes.clone(),
        };
        changes.iter().filter(|c| allowed.contains(&c.as_str())).cloned().collect()
    }

    /// Moves the flow on as far as it goes without the user.
    async fn advance(&self, a: &Assistant, def: &FlowDef, flow: &mut FlowState, turn: &mut Turn) -> Outcome {
        // 1. Slots.
        for slot in &def.slots {
            if flow.slots.contains_key(slot) {
                continue;
            }
            match a.slot(slot).and_then(|s| s.default.clone()) {
                Some(default) => flow.fill(slot, default),
                None => {
                    self.ask(a, def, flow, slot, turn);
                    return Outcome::Continue;
                }
            }
        }
        // 2. Lookup.
        match def.lookup.as_ref().map(|l| l.tool) {
            Some(LookupTool::GetBooking) => {
                if flow.booking.is_none() {
                    match self.lookup_booking(a, def, flow, turn).await {
                        Ok(()) => {}
                        Err(outcome) => return outcome,
                    }
                }
                if def.action.is_none() {
                    turn.say(render(&def.done, &self.values(a, def, flow, turn)));
                    return Outcome::Finished;
                }
            }
            Some(LookupTool::SearchFlights | LookupTool::SearchHotels) if flow.chosen.is_none() => {
                if flow.options.is_empty()
                    && let Err(outcome) = self.search(a, def, flow, turn).await
                {
                    return outcome;
                }
                if flow.options.len() == 1 {
                    flow.chosen = flow.options.first().cloned();
                } else {
                    flow.stage = Stage::ChoosingOption;
                    let present =
                        def.lookup.as_ref().and_then(|l| l.present.clone()).unwrap_or_else(|| "{options}".into());
                    let text = render(&present, &self.values(a, def, flow, turn));
                    return self.prompt(flow, Some("option"), text, turn);
                }
            }
            Some(LookupTool::SearchFlights | LookupTool::SearchHotels) => {}
            None => {}
        }
        // 3. What to change.
        if let Some((_, prompt)) = &def.changes
            && !self.change_slots(def, flow).iter().any(|s| flow.slots.contains_key(s))
        {
            let text = render(prompt, &self.values(a, def, flow, turn));
            return self.prompt(flow, Some("changes"), text, turn);
        }
        // 4. Hold what will be booked, so the read-back is a promise.
        if def.action == Some(ActionTool::Book)
            && flow.hold_ref.is_none()
            && let Err(outcome) = self.hold(a, def, flow, turn).await
        {
            return outcome;
        }
        // 5. Read back.
        if let Some(confirm) = &def.confirm {
            flow.stage = Stage::Confirming;
            let text = render(confirm, &self.values(a, def, flow, turn));
            return self.prompt(flow, Some("confirmation"), text, turn);
        }
        turn.say(render(&def.done, &self.values(a, def, flow, turn)));
        Outcome::Finished
    }

    fn unavailable(&self, a: &Assistant, flow: &mut FlowState, turn: &mut Turn) -> Outcome {
        let text = render(&a.messages.tool_unavailable, &no_values());
        // Keep what the flow waits for: the same answer retries.
        if flow.stage != Stage::Confirming {
            flow.awaiting = None;
        }
        turn.say(text);
        Outcome::Continue
    }

    async fn lookup_booking(
        &self,
        a: &Assistant,
        def: &FlowDef,
        flow: &mut FlowState,
        turn: &mut Turn,
    ) -> Result<(), Outcome> {
        let Some(code) = flow.slots.get("booking_ref").and_then(SlotValue::as_text).map(str::to_string) else {
            return Err(Outcome::Continue);
        };
        let result = self
            .tools
            .run("get_booking", &mut turn.tool_calls, |t| {
                let code = code.clone();
                async move { t.get_booking(code).await }
            })
            .await;
        match result {
            Ok(booking) => {
                let changeable = booking.status == BookingStatus::Confirmed;
                turn.looked_up.push(BookingRecord {
                    booking_ref: booking.booking_ref.clone(),
                    kind: kind_of(&booking).to_string(),
                    status: booking.status.as_str().to_string(),
                    summary: speech::booking_summary(a, &booking, turn.today),
                });
                flow.booking = Some(booking);
                remap_changes(flow);
                if def.action.is_some() && !changeable {
                    turn.say(render(&a.messages.not_changeable, &self.values(a, def, flow, turn)));
                    turn.say(render(&a.messages.anything_else, &no_values()));
                    return Err(Outcome::Dropped);
                }
                Ok(())
            }
            Err(ToolError::Rejected { .. }) if def.digression => {
                // A digression does not hold the caller up: say so, go back
                // (a corrected reference next turn still gets its answer).
                turn.say(render(&a.messages.digression_not_found, &self.values(a, def, flow, turn)));
                turn.failed_digression = Some(def.name.clone());
                Err(Outcome::Dropped)
            }
            Err(ToolError::Rejected { .. }) => {
                let text = render(&a.messages.booking_not_found, &self.values(a, def, flow, turn));
                flow.slots.remove("booking_ref");
                flow.filled_order.retain(|s| s != "booking_ref");
                let prompt = self.slot_prompt(a, def, flow, "booking_ref", turn);
                flow.awaiting = Some("booking_ref".into());
                flow.last_prompt = prompt;
                turn.say(text);
                Err(Outcome::Continue)
            }
            Err(ToolError::Unavailable(_)) => Err(self.unavailable(a, flow, turn)),
        }
    }

    async fn search(&self, a: &Assistant, def: &FlowDef, flow: &mut FlowState, turn: &mut Turn) -> Result<(), Outcome> {
        let date_slot = def.slots.iter().find(|s| a.slot(s).is_some_and(|d| d.kind == SlotKind::Date)).cloned();
        let result = self.run_search(def, &flow.slots, turn).await;
        match result {
            Ok(found) if !found.offers.is_empty() => {
                flow.empty_searches = 0;
                flow.options = found.offers.into_iter().take(a.settings.options_to_offer).collect();
                Ok(())
            }
            Ok(_) | Err(ToolError::Rejected { .. }) => {
                flow.empty_searches += 1;
                let found = result.unwrap_or_default();
                let (nearest, other_choices) = (found.nearest_dates, found.other_choices);
                flow.suggested_dates = nearest;
                // Only the way back fails: offer later returns, wait for one.
                let mut date_slot = date_slot;
                if flow.suggested_dates.is_empty() && !found.nearest_returns.is_empty() {
                    flow.suggested_dates = found.nearest_returns;
                    date_slot = def
                        .slots
                        .iter()
                        .find(|s| a.slot(s).is_some_and(|d| d.kind == SlotKind::Date && d.not_before.is_some()))
                        .cloned()
                        .or(date_slot);
                }
                let none = def
                    .lookup
                    .as_ref()
                    .and_then(|l| l.none.clone())
                    .unwrap_or_else(|| a.messages.no_options_left.clone());
                let mut text = render(&none, &self.values(a, def, flow, turn));
                if !flow.suggested_dates.is_empty() {
                    let said: Vec<String> = flow.suggested_dates.iter().map(|d| speech::date(*d, turn.today)).collect();
                    let dates = or_list(&said);
                    text = format!("{text} {}", render(&a.messages.nearest_dates, &HashMap::from([("dates", dates)])));
                }
                if !other_choices.is_empty() {
                    let said: Vec<String> = other_choices.iter().map(|c| a.choice_label(c)).collect();
                    let values = HashMap::from([("choices", or_list(&said))]);
                    text = format!("{text} {}", render(&a.messages.other_choices, &values));
                }
                if flow.empty_searches >= 2 {
                    flow.person_offered = true;
                    text = format!("{text} {}", render(&a.messages.offer_person, &no_values()));
                } else if flow.suggested_dates.is_empty()
                    && other_choices.is_empty()
                    && let Some(slot) = &date_slot
                    && !text.trim_end().ends_with('?')
                {
                    text = format!("{text} {}", self.slot_prompt(a, def, flow, slot, turn));
                }
                // "How about the fourteenth?" should land on the first date.
                Err(self.prompt(flow, date_slot.as_deref(), text, turn))
            }
            Err(ToolError::Unavailable(_)) => Err(self.unavailable(a, flow, turn)),
        }
    }

    /// Runs the flow's search as one tool call. When nothing is found on
    /// the date asked for, the same call looks up to three days either
    /// side (never in the past) and reports the two nearest dates that
    /// have something, as a travel agent's "flexible dates" search does.
    async fn run_search(
        &self,
        def: &FlowDef,
        slots: &std::collections::BTreeMap<String, SlotValue>,
        turn: &mut Turn,
    ) -> Result<Searched, ToolError> {
        let code =
            |name: &str| slots.get(name).and_then(SlotValue::as_place).map(|p| p.code.clone()).unwrap_or_default();
        let count = |name: &str| slots.get(name).and_then(SlotValue::as_count).unwrap_or(1);
        let date = |name: &str| slots.get(name).and_then(SlotValue::as_date);
        let shifted = |d: Option<chrono::NaiveDate>, shift: i64| {
            d.and_then(|d| d.checked_add_signed(chrono::Duration::days(shift)))
                .map(|d| d.format("%Y-%m-%d").to_string())
        };
        let today = turn.today;
        match def.lookup.as_ref().map(|l| l.tool) {
            Some(LookupTool::SearchFlights) => {
                let (depart, back) = (date("depart_date"), date("return_date"));
                let asked_cabin =
                    slots.get("cabin").and_then(SlotValue::as_text).and_then(Cabin::parse).unwrap_or_default();
                let query = |shift: i64, cabin: Cabin| FlightSearch {
                    origin: code("origin"),
                    destination: code("destination"),
                    depart_date: shifted(depart, shift).unwrap_or_default(),
                    return_date: shifted(back, shift),
                    passengers: count("passengers"),
                    cabin,
                };
                self.tools
                    .run("search_flights", &mut turn.tool_calls, |t| {
                        let queries: Vec<(i64, FlightSearch)> =
                            SHIFTS.iter().map(|s| (*s, query(*s, asked_cabin))).collect();
                        let later_returns: Vec<(chrono::NaiveDate, FlightSearch)> = [1i64, 2, 3]
                            .iter()
                            .filter_map(|n| {
                                let day = back?.checked_add_signed(chrono::Duration::days(*n))?;
                                let mut q = query(0, asked_cabin);
                                q.return_date = Some(day.format("%Y-%m-%d").to_string());
                                Some((day, q))
                            })
                            .collect();
                        let cabins: Vec<(String, FlightSearch)> = Cabin::ALL
                            .iter()
                            .filter(|c| **c != asked_cabin)
                            .map(|c| (c.as_str().to_string(), query(0, *c)))
                            .collect();
                        async move {
                            flexible(depart, today, queries, cabins, later_returns, |q| {
                                let t = t.clone();
                                async move { t.search_flights(q).await.map(|r| offers_from_flights(r.offers)) }
                            })
                            .await
                        }
                    })
                    .await
            }
            _ => {
                let check_in = date("check_in");
                let query = |shift: i64| HotelSearch {
                    city: code("city"),
                    check_in: shifted(check_in, shift).unwrap_or_default(),
                    nights: count("nights"),
                    guests: count("guests"),
                };
                self.tools
                    .run("search_hotels", &mut turn.tool_calls, |t| {
                        let queries: Vec<(i64, HotelSearch)> = SHIFTS.iter().map(|s| (*s, query(*s))).collect();
                        async move {
                            flexible(check_in, today, queries, Vec::new(), Vec::new(), |q| {
                                let t = t.clone();
                                async move { t.search_hotels(q).await.map(|r| offers_from_hotels(r.offers)) }
                            })
                            .await
                        }
                    })
                    .await
            }
        }
    }

    async fn hold(&self, a: &Assistant, def: &FlowDef, flow: &mut FlowState, turn: &mut Turn) -> Result<(), Outcome> {
        let Some(chosen) = flow.chosen.clone() else { return Err(Outcome::Continue) };
        let request = HoldRequest {
            offer_id: chosen.offer_id().to_string(),
            idempotency_key: format!("{}:{}:hold:{}", turn.session_id, flow.instance, chosen.offer_id()),
        };
        let result = self
            .tools
            .run("hold", &mut turn.tool_calls, |t| {
                let r = request.clone();
                async move { t.hold(r).await }
            })
            .await;
        match result {
            Ok(held) => {
                flow.hold_ref = Some(held.booking_ref);
                Ok(())
            }
            Err(ToolError::Rejected { .. }) => {
                flow.options.retain(|o| o.offer_id() != chosen.offer_id());
                flow.chosen = None;
                if flow.options.is_empty() {
                    let text = render(&a.messages.no_options_left, &no_values());
                    flow.stage = Stage::Filling;
                    let date_slot =
                        def.slots.iter().find(|s| a.slot(s).is_some_and(|d| d.kind == SlotKind::Date)).cloned();
                    return Err(self.prompt(flow, date_slot.as_deref(), text, turn));
                }
                flow.stage = Stage::ChoosingOption;
                let text = render(&a.messages.sold_out, &self.values(a, def, flow, turn));
                Err(self.prompt(flow, Some("option"), text, turn))
            }
            Err(ToolError::Unavailable(_)) => Err(self.unavailable(a, flow, turn)),
        }
    }

    async fn choose(
        &self,
        a: &Assistant,
        def: &FlowDef,
        flow: &mut FlowState,
        pick: Option<Pick>,
        state: &mut SessionState,
        turn: &mut Turn,
    ) -> Outcome {
        let options = &flow.options;
        let index = match pick {
            Some(Pick::Index(i)) if i < options.len() => Some(i),
            Some(Pick::Last) => options.len().checked_sub(1),
            Some(Pick::Cheapest) => (0..options.len()).min_by_key(|&i| options[i].total_minor()),
            Some(Pick::Dearest) => (0..options.len()).max_by_key(|&i| options[i].total_minor()),
            Some(Pick::Earliest) => (0..options.len()).min_by_key(|&i| options[i].sort_time().to_string()),
            Some(Pick::Latest) => (0..options.len()).max_by_key(|&i| options[i].sort_time().to_string()),
            _ => None,
        };
        let Some(index) = index else {
            return self.flow_not_understood(a, state, flow, turn);
        };
        turn.intent = voxbook_proto::api::IntentOut { name: crate::nlu::CHOOSE_OPTION.into(), confidence: 1.0 };
        let picked = flow.options[index].clone();
        if flow.chosen.as_ref().is_some_and(|c| c.offer_id() != picked.offer_id()) {
            self.release_hold(flow, turn).await;
        }
        flow.chosen = Some(picked);
        flow.stage = Stage::Filling;
        self.advance(a, def, flow, turn).await
    }

    /// The user said yes to the read-back.
    async fn act(&self, a: &Assistant, def: &FlowDef, flow: &mut FlowState, turn: &mut Turn) -> Outcome {
        let session = turn.session_id.clone();
        let result = match def.action {
            Some(ActionTool::Book) => {
                let Some(hold) = flow.hold_ref.clone() else {
                    return self.advance(a, def, flow, turn).await;
                };
                let request = BookRequest {
                    offer_id: None,
                    hold_ref: Some(hold.clone()),
                    idempotency_key: format!("{session}:{}:book:{hold}", flow.instance),
                };
                self.tools
                    .run("book", &mut turn.tool_calls, |t| {
                        let r = request.clone();
                        async move { t.book(r).await }
                    })
                    .await
            }
            Some(ActionTool::ModifyBooking) => {
                let Some(code) = flow.booking.as_ref().map(|b| b.booking_ref.clone()) else {
                    return self.advance(a, def, flow, turn).await;
                };
                let changes = self.change_slots(def, flow);
                let get = |name: &str| if changes.iter().any(|c| c == name) { flow.slots.get(name) } else { None };
                let mut request = ModifyRequest {
                    idempotency_key: String::new(),
                    depart_date: iso(get("depart_date")),
                    return_date: iso(get("return_date")),
                    passengers: get("passengers").and_then(SlotValue::as_count),
                    check_in: iso(get("check_in")),
                    nights: get("nights").and_then(SlotValue::as_count),
                    guests: get("guests").and_then(SlotValue::as_count),
                };
                let print = fingerprint(&serde_json::to_string(&request).unwrap_or_default());
                request.idempotency_key = format!("{session}:{}:modify:{print}", flow.instance);
                self.tools
                    .run("modify_booking", &mut turn.tool_calls, |t| {
                        let (code, r) = (code.clone(), request.clone());
                        async move { t.modify_booking(code, r).await }
                    })
                    .await
            }
            Some(ActionTool::CancelBooking) => {
                let Some(code) = flow.booking.as_ref().map(|b| b.booking_ref.clone()) else {
                    return self.advance(a, def, flow, turn).await;
                };
                let request = CancelRequest { idempotency_key: format!("{session}:{}:cancel", flow.instance) };
                self.tools
                    .run("cancel_booking", &mut turn.tool_calls, |t| {
                        let (code, r) = (code.clone(), request.clone());
                        async move { t.cancel_booking(code, r).await }
                    })
                    .await
            }
            None => return self.advance(a, def, flow, turn).await,
        };
        match result {
            Ok(booking) => {
                flow.hold_ref = None;
                turn.booking_ref = Some(booking.booking_ref.clone());
                turn.records.push(BookingRecord {
                    booking_ref: booking.booking_ref.clone(),
                    kind: kind_of(&booking).to_string(),
                    status: booking.status.as_str().to_string(),
                    summary: speech::booking_summary(a, &booking, turn.today),
                });
                flow.booking = Some(booking);
                turn.say(render(&def.done, &self.values(a, def, flow, turn)));
                Outcome::Finished
            }
            Err(ToolError::Rejected { code, message }) => {
                tracing::info!(%code, "booking service refused the action");
                match def.action {
                    Some(ActionTool::Book) if code == "hold_expired" => {
                        // The hold ran out while the user thought: hold again.
                        flow.hold_ref = None;
                        self.advance(a, def, flow, turn).await
                    }
                    Some(ActionTool::Book) => {
                        let chosen = flow.chosen.take();
                        flow.hold_ref = None;
                        flow.options.retain(|o| Some(o.offer_id()) != chosen.as_ref().map(Offer::offer_id));
                        flow.stage = Stage::ChoosingOption;
                        let values =
                            HashMap::from([("status", message), ("prompt", speech::option_list(&flow.options))]);
                        let text = render(&a.messages.action_failed, &values);
                        self.prompt(flow, Some("option"), text, turn)
                    }
                    Some(ActionTool::ModifyBooking) => {
                        for slot in self.change_slots(def, flow) {
                            flow.slots.remove(&slot);
                            flow.filled_order.retain(|s| *s != slot);
                        }
                        flow.stage = Stage::Filling;
                        let prompt = def
                            .changes
                            .as_ref()
                            .map(|(_, p)| render(p, &self.values(a, def, flow, turn)))
                            .unwrap_or_default();
                        let text = render(
                            &a.messages.action_failed,
                            &HashMap::from([("status", message), ("prompt", prompt.clone())]),
                        );
                        turn.say(text);
                        flow.awaiting = Some("changes".into());
                        flow.last_prompt = prompt;
                        Outcome::Continue
                    }
                    _ => {
                        let prompt = render(&a.messages.anything_else, &no_values());
                        turn.say(render(
                            &a.messages.action_failed,
                            &HashMap::from([("status", message), ("prompt", prompt)]),
                        ));
                        Outcome::Dropped
                    }
                }
            }
            Err(ToolError::Unavailable(_)) => self.unavailable(a, flow, turn),
        }
    }

    /// The user said no to the read-back: nothing is done.
    async fn refuse(&self, a: &Assistant, def: &FlowDef, flow: &mut FlowState, turn: &mut Turn) -> Outcome {
        let text = render(def.refused.as_deref().unwrap_or(&a.messages.refused), &self.values(a, def, flow, turn));
        match def.action {
            Some(ActionTool::Book) => {
                self.release_hold(flow, turn).await;
                flow.chosen = None;
                flow.stage = Stage::ChoosingOption;
                self.prompt(flow, Some("option"), text, turn)
            }
            _ => {
                turn.say(text);
                turn.say(render(&a.messages.anything_else, &no_values()));
                Outcome::Dropped
            }
        }
    }
}

/// Day shifts a search tries, the date asked for first, then nearest first.
const SHIFTS: [i64; 7] = [0, 1, -1, 2, -2, 3, -3];

/// What a search found: offers on the date asked for, or else the nearest
/// dates that have some.
#[derive(Debug, Default, serde::Serialize)]
struct Searched {
    offers: Vec<Offer>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nearest_dates: Vec<chrono::NaiveDate>,
    /// Other values of a choice (cabins) that have something on the date
    /// asked for, when no nearby date does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    other_choices: Vec<String>,
    /// Return dates a little later that have something, when the trip
    /// out works but not the way back (a same-day return from far away).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nearest_returns: Vec<chrono::NaiveDate>,
}

/// Runs `queries` (by day shift, the asked date first) until the asked
/// date has offers, or two other dates (not before `today`) do.
async fn flexible<Q, F, Fut>(
    asked: Option<chrono::NaiveDate>,
    today: chrono::NaiveDate,
    queries: Vec<(i64, Q)>,
    alternatives: Vec<(String, Q)>,
    later_returns: Vec<(chrono::NaiveDate, Q)>,
    search: F,
) -> Result<Searched, ToolError>
where
    F: Fn(Q) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Offer>, ToolError>>,
{
    let mut nearest = Vec::new();
    for (shift, query) in queries {
        let day = asked.and_then(|d| d.checked_add_signed(chrono::Duration::days(shift)));
        if shift != 0 && day.is_none_or(|d| d < today) {
            continue;
        }
        match search(query).await {
            Ok(offers) if shift == 0 && !offers.is_empty() => {
                return Ok(Searched { offers, nearest_dates: nearest, ..Searched::default() });
            }
            Ok(offers) if !offers.is_empty() => nearest.extend(day),
            // The date asked for can be refused (past, too far ahead):
            // that answer stands, nothing nearby is tried.
            Err(e @ ToolError::Rejected { .. }) if shift == 0 => return Err(e),
            Err(e @ ToolError::Unavailable(_)) => return Err(e),
            _ => {}
        }
        if nearest.len() == 2 || asked.is_none() {
            break;
        }
    }
    nearest.sort();
    let mut nearest_returns = Vec::new();
    if nearest.is_empty() {
        for (day, query) in later_returns {
            match search(query).await {
                Ok(offers) if !offers.is_empty() => nearest_returns.push(day),
                Err(e @ ToolError::Unavailable(_)) => return Err(e),
                _ => {}
            }
            if nearest_returns.len() == 2 {
                break;
            }
        }
    }
    let mut other_choices = Vec::new();
    if nearest.is_empty() && nearest_returns.is_empty() {
        for (label, query) in alternatives {
            match search(query).await {
                Ok(offers) if !offers.is_empty() => other_choices.push(label),
                Err(e @ ToolError::Unavailable(_)) => return Err(e),
                _ => {}
            }
        }
    }
    Ok(Searched { offers: Vec::new(), nearest_dates: nearest, other_choices, nearest_returns })
}

/// A doubtful value as said back: the slot's first cue word and the value
/// ("from Boston", "on Friday the 7th of June"), or the value alone.
fn readback(a: &Assistant, def: &crate::assistant::SlotDef, value: &SlotValue, today: chrono::NaiveDate) -> String {
    let said = speech::slot_value(a, def, value, today);
    match def.cues.first() {
        Some(cue) if !cue.is_empty() => format!("{} {said}", cue.join(" ")),
        _ => said,
    }
}

/// "a, b or c".
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    }
}

/// The slots values may go to: the flow's own, plus the change slots that
/// fit the looked-up booking (all of them before it is known).
fn applicable_slots(def: &FlowDef, flow: &FlowState) -> Vec<String> {
    let mut slots = def.slots.clone();
    if let Some((changes, _)) = &def.changes {
        let allowed: Option<&[&str]> = match flow.booking.as_ref().map(kind_of) {
            Some("flight") => Some(&FLIGHT_CHANGES),
            Some(_) => Some(&HOTEL_CHANGES),
            None => None,
        };
        let one_way =
            matches!(flow.booking.as_ref().map(|b| &b.item), Some(BookedItem::Flight(f)) if f.inbound.is_none());
        slots.extend(
            changes
                .iter()
                .filter(|c| allowed.is_none_or(|a| a.contains(&c.as_str())))
                .filter(|c| !(one_way && *c == "return_date"))
                .cloned(),
        );
    }
    slots
}

/// Values said before the booking's kind was known go to the slots of the
/// kind it turned out to be ("the fourteenth" for a hotel is a check-in).
fn remap_changes(flow: &mut FlowState) {
    let Some(kind) = flow.booking.as_ref().map(kind_of) else { return };
    let pairs = [("depart_date", "check_in"), ("passengers", "guests")];
    for (flight, hotel) in pairs {
        let (from, to) = if kind == "hotel" { (flight, hotel) } else { (hotel, flight) };
        if let Some(value) = flow.slots.remove(from) {
            flow.filled_order.retain(|s| s != from);
            flow.fill(to, value);
        }
    }
    let stray: &[&str] = if kind == "hotel" { &["return_date"] } else { &["nights"] };
    for slot in stray {
        flow.slots.remove(*slot);
        flow.filled_order.retain(|s| s != slot);
    }
}
