//! The meaning checks of an assistant config: every reference resolves,
//! every template and pattern parses, every flow can be reached and has what
//! its tools need.

use std::collections::{BTreeMap, BTreeSet};

use super::Problem;
use super::schema::{AssistantSpec, CONFIG_VERSION, FlowSpec, SlotSpec};
use super::spans::SpanIndex;
use crate::extract::tokens::tokenize;
use crate::template::Template;

/// The value types the engine knows how to find in an utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotKind {
    City,
    Date,
    /// A number of people ("two adults", "just me").
    PartySize,
    Nights,
    Number,
    BookingRef,
    /// A designer-defined enumeration from `slot_types`.
    Choice(String),
}

impl SlotKind {
    pub fn resolve(name: &str, spec: &AssistantSpec) -> Option<SlotKind> {
        Some(match name {
            // Keep in step with BUILT_IN_KINDS.
            "city" => SlotKind::City,
            "date" => SlotKind::Date,
            "party_size" => SlotKind::PartySize,
            "nights" => SlotKind::Nights,
            "number" => SlotKind::Number,
            "booking_ref" => SlotKind::BookingRef,
            other if spec.slot_types.contains_key(other) => SlotKind::Choice(other.to_string()),
            _ => return None,
        })
    }

    fn is_count(&self) -> bool {
        matches!(self, SlotKind::PartySize | SlotKind::Nights | SlotKind::Number)
    }
}

/// The names of the built-in slot types.
pub const BUILT_IN_KINDS: [&str; 6] = ["city", "date", "party_size", "nights", "number", "booking_ref"];

/// Tools a flow's `lookup` can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupTool {
    SearchFlights,
    SearchHotels,
    GetBooking,
}

impl LookupTool {
    pub fn parse(name: &str) -> Option<LookupTool> {
        Some(match name {
            "search_flights" => LookupTool::SearchFlights,
            "search_hotels" => LookupTool::SearchHotels,
            "get_booking" => LookupTool::GetBooking,
            _ => return None,
        })
    }

    /// Slots the tool's arguments are bound from (by name).
    pub fn required_slots(self) -> &'static [&'static str] {
        match self {
            LookupTool::SearchFlights => &["origin", "destination", "depart_date", "passengers"],
            LookupTool::SearchHotels => &["city", "check_in", "nights", "guests"],
            LookupTool::GetBooking => &["booking_ref"],
        }
    }
}

/// Tools a flow's `action` can call (after a confirmed yes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionTool {
    /// Holds the chosen offer at confirmation time and books it on yes.
    Book,
    ModifyBooking,
    CancelBooking,
}

impl ActionTool {
    pub fn parse(name: &str) -> Option<ActionTool> {
        Some(match name {
            "book" => ActionTool::Book,
            "modify_booking" => ActionTool::ModifyBooking,
            "cancel_booking" => ActionTool::CancelBooking,
            _ => return None,
        })
    }
}

/// Intents whose meaning the engine itself implements; every config must
/// define them (with its own wording).
pub const SYSTEM_INTENTS: [&str; 7] = ["affirm", "deny", "help", "recap", "start_over", "goodbye", "handoff"];

/// Names a template may use besides slot names.
pub const TEMPLATE_VARIABLES: [&str; 20] = [
    "assistant",
    "choices",
    "min",
    "max",
    "topic",
    "first",
    "second",
    "bookings",
    "dates",
    "heard",
    "prompt",
    "count",
    "options",
    "option",
    "total",
    "booking_ref",
    "booking",
    "status",
    "changes",
    "flow",
];

/// Slots whose values the modify tool accepts, by name.
const MODIFIABLE_SLOTS: [&str; 6] = ["depart_date", "return_date", "passengers", "check_in", "nights", "guests"];

struct Checker<'a> {
    spec: &'a AssistantSpec,
    spans: &'a SpanIndex,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        self.problems.push(Problem { position: self.spans.find(&path), path, message: message.into() });
    }

    fn template(&mut self, path: String, source: &str) {
        match Template::parse(source) {
            Err(e) => self.problem(path, format!("bad template: {e}")),
            Ok(t) => {
                for name in t.names() {
                    let known = self.spec.slots.contains_key(name) || TEMPLATE_VARIABLES.contains(&name);
                    if !known {
                        self.problem(
                            path.clone(),
                            format!(
                                "template uses '{{{name}}}', which is neither a slot nor one of: {}",
                                TEMPLATE_VARIABLES.join(", ")
                            ),
                        );
                    }
                }
            }
        }
    }

    fn slot_ref(&mut self, path: String, name: &str) -> bool {
        if self.spec.slots.contains_key(name) {
            true
        } else {
            self.problem(path, format!("unknown slot '{name}'"));
            false
        }
    }
}

pub fn check(spec: &AssistantSpec, spans: &SpanIndex) -> Vec<Problem> {
    let mut c = Checker { spec, spans, problems: Vec::new() };
    if spec.version != CONFIG_VERSION {
        c.problem(
            "version",
            format!("unsupported version {} (this build reads version {CONFIG_VERSION})", spec.version),
        );
    }
    check_settings(&mut c);
    c.template("greeting".into(), &spec.greeting);
    check_messages(&mut c);
    check_slot_types(&mut c);
    for (name, slot) in &spec.slots {
        check_slot(&mut c, name, slot);
    }
    check_intents(&mut c);
    for (name, flow) in &spec.flows {
        check_flow(&mut c, name, flow);
    }
    c.problems
}

fn check_settings(c: &mut Checker) {
    let s = &c.spec.settings;
    if !(4..=10).contains(&s.booking_ref_length) {
        c.problem("settings.booking_ref_length", "must be between 4 and 10");
    }
    if s.max_failures == 0 {
        c.problem("settings.max_failures", "must be at least 1");
    }
    if !(1..=5).contains(&s.options_to_offer) {
        c.problem("settings.options_to_offer", "must be between 1 and 5 (more is too much to listen to)");
    }
    if s.history_limit == 0 {
        c.problem("settings.history_limit", "must be at least 1");
    }
    if !(0.0..=1.0).contains(&s.intent_threshold) {
        c.problem("settings.intent_threshold", "must be between 0 and 1");
    }
}

fn check_messages(c: &mut Checker) {
    let m = c.spec.messages.clone();
    let all = [
        ("not_understood", &m.not_understood),
        ("not_understood_again", &m.not_understood_again),
        ("failures_handoff", &m.failures_handoff),
        ("help", &m.help),
        ("recap", &m.recap),
        ("recap_empty", &m.recap_empty),
        ("resume", &m.resume),
        ("start_over", &m.start_over),
        ("goodbye", &m.goodbye),
        ("handoff", &m.handoff),
        ("tool_unavailable", &m.tool_unavailable),
        ("past_date", &m.past_date),
        ("return_before_depart", &m.return_before_depart),
        ("same_city", &m.same_city),
        ("out_of_range", &m.out_of_range),
        ("option_not_understood", &m.option_not_understood),
        ("no_options_left", &m.no_options_left),
        ("sold_out", &m.sold_out),
        ("booking_not_found", &m.booking_not_found),
        ("not_changeable", &m.not_changeable),
        ("refused", &m.refused),
        ("anything_else", &m.anything_else),
        ("what_next", &m.what_next),
        ("none_chosen", &m.none_chosen),
        ("action_failed", &m.action_failed),
        ("ambiguous_date", &m.ambiguous_date),
        ("which_booking", &m.which_booking),
        ("nearest_dates", &m.nearest_dates),
        ("offer_person", &m.offer_person),
        ("other_choices", &m.other_choices),
        ("implicit_confirm", &m.implicit_confirm),
        ("which_day", &m.which_day),
        ("rephrase", &m.rephrase),
        ("digression_not_found", &m.digression_not_found),
        ("digression_dropped", &m.digression_dropped),
    ];
    for (name, text) in all {
        if text.trim().is_empty() {
            c.problem(format!("messages.{name}"), "must not be empty");
        }
        c.template(format!("messages.{name}"), text);
    }
}

fn check_slot_types(c: &mut Checker) {
    let mut phrase_owner: BTreeMap<String, String> = BTreeMap::new();
    for (type_name, choice) in &c.spec.slot_types {
        if BUILT_IN_KINDS.contains(&type_name.as_str()) {
            c.problem(format!("slot_types.{type_name}"), "shadows a built-in slot type");
        }
        if choice.values.is_empty() {
            c.problem(format!("slot_types.{type_name}.values"), "needs at least one value");
        }
        for (value, phrases) in &choice.values {
            if phrases.is_empty() {
                c.problem(format!("slot_types.{type_name}.values.{value}"), "needs at least one phrase");
            }
            for (i, phrase) in phrases.iter().enumerate() {
                let normal = tokenize(phrase).join(" ");
                if normal.is_empty() {
                    c.problem(format!("slot_types.{type_name}.values.{value}[{i}]"), "phrase has no words");
                    continue;
                }
                let key = format!("{type_name}/{normal}");
                if let Some(other) = phrase_owner.insert(key, value.clone())
                    && other != *value
                {
                    c.problem(
                        format!("slot_types.{type_name}.values.{value}[{i}]"),
                        format!("phrase '{phrase}' also means '{other}'"),
                    );
                }
            }
        }
    }
}

fn check_slot(c: &mut Checker, name: &str, slot: &SlotSpec) {
    let path = format!("slots.{name}");
    let Some(kind) = SlotKind::resolve(&slot.kind, c.spec) else {
        c.problem(
            format!("{path}.type"),
            format!(
                "unknown slot type '{}' (built-in: city, date, party_size, nights, number, booking_ref; or a slot_types entry)",
                slot.kind
            ),
        );
        return;
    };
    c.template(format!("{path}.prompt"), &slot.prompt);
    if let Some(default) = &slot.default {
        let ok = match &kind {
            SlotKind::Choice(t) => c.spec.slot_types.get(t).is_some_and(|ct| ct.values.contains_key(default)),
            k if k.is_count() => default.parse::<u32>().is_ok(),
            _ => false,
        };
        if !ok {
            c.problem(
                format!("{path}.default"),
                format!("'{default}' is not a valid default for a {} slot", slot.kind),
            );
        }
    }
    if (slot.min.is_some() || slot.max.is_some()) && !kind.is_count() {
        c.problem(path.clone(), "min/max only apply to count slots (party_size, nights, number)");
    }
    if let (Some(min), Some(max)) = (slot.min, slot.max)
        && min > max
    {
        c.problem(format!("{path}.min"), format!("min {min} is above max {max}"));
    }
    if let Some(other) = &slot.not_before {
        if kind != SlotKind::Date {
            c.problem(format!("{path}.not_before"), "only date slots take not_before");
        } else if c.slot_ref(format!("{path}.not_before"), other) && c.spec.slots[other].kind != "date" {
            c.problem(format!("{path}.not_before"), format!("'{other}' is not a date slot"));
        }
    }
    if let Some(other) = &slot.differs_from
        && c.slot_ref(format!("{path}.differs_from"), other)
        && c.spec.slots[other].kind != slot.kind
    {
        c.problem(format!("{path}.differs_from"), format!("'{other}' has a different type"));
    }
    if !slot.until_cues.is_empty() || slot.from_slot.is_some() {
        if kind != SlotKind::Nights {
            c.problem(path.clone(), "until_cues/from_slot only apply to nights slots");
        }
        match &slot.from_slot {
            None => c.problem(path.clone(), "until_cues needs from_slot (the date the nights count from)"),
            Some(from) => {
                c.slot_ref(format!("{path}.from_slot"), from);
            }
        }
    }
}

fn check_intents(c: &mut Checker) {
    for system in SYSTEM_INTENTS {
        if !c.spec.intents.contains_key(system) {
            c.problem(
                "intents",
                format!("missing the system intent '{system}' (required: {})", SYSTEM_INTENTS.join(", ")),
            );
        }
    }
    let mut example_owner: BTreeMap<String, String> = BTreeMap::new();
    for (name, intent) in &c.spec.intents {
        let path = format!("intents.{name}");
        if intent.examples.is_empty() && intent.patterns.is_empty() {
            c.problem(path.clone(), "needs examples or patterns, or it can never be recognised");
        }
        for (i, pattern) in intent.patterns.iter().enumerate() {
            if let Err(e) = regex::Regex::new(pattern) {
                c.problem(format!("{path}.patterns[{i}]"), format!("invalid regular expression: {e}"));
            }
        }
        let mut seen_here = BTreeSet::new();
        for (i, example) in intent.examples.iter().enumerate() {
            let normal = tokenize(example).join(" ");
            if normal.is_empty() {
                c.problem(format!("{path}.examples[{i}]"), "example has no words");
                continue;
            }
            if !seen_here.insert(normal.clone()) {
                c.problem(format!("{path}.examples[{i}]"), format!("duplicate example '{example}'"));
                continue;
            }
            if let Some(other) = example_owner.insert(normal, name.clone())
                && other != *name
            {
                c.problem(
                    format!("{path}.examples[{i}]"),
                    format!("example '{example}' is also an example of intent '{other}'"),
                );
            }
        }
        let is_system = SYSTEM_INTENTS.contains(&name.as_str());
        let has_flow = c.spec.flows.values().any(|f| f.intent == *name);
        if !is_system && !has_flow {
            c.problem(path, "no flow starts on this intent, so recognising it would do nothing");
        }
    }
}

fn check_flow(c: &mut Checker, name: &str, flow: &FlowSpec) {
    let path = format!("flows.{name}");
    if !c.spec.intents.contains_key(&flow.intent) {
        c.problem(format!("{path}.intent"), format!("unknown intent '{}'; this flow can never start", flow.intent));
    } else if SYSTEM_INTENTS.contains(&flow.intent.as_str()) {
        c.problem(format!("{path}.intent"), format!("'{}' is a system intent and cannot start a flow", flow.intent));
    }
    let others =
        c.spec.flows.iter().filter(|(n, f)| *n != name && f.intent == flow.intent).map(|(n, _)| n.clone()).next();
    if let Some(other) = others {
        c.problem(format!("{path}.intent"), format!("intent '{}' also starts flow '{other}'", flow.intent));
    }
    let mut seen = BTreeSet::new();
    for (i, slot) in flow.slots.iter().enumerate() {
        if c.slot_ref(format!("{path}.slots[{i}]"), slot) && !seen.insert(slot) {
            c.problem(format!("{path}.slots[{i}]"), format!("slot '{slot}' is listed twice"));
        }
    }
    let lookup = flow.lookup.as_ref().and_then(|l| {
        let tool = LookupTool::parse(&l.tool);
        if tool.is_none() {
            c.problem(
                format!("{path}.lookup.tool"),
                format!("unknown lookup tool '{}' (known: search_flights, search_hotels, get_booking)", l.tool),
            );
        }
        tool
    });
    if let Some(l) = &flow.lookup {
        if let Some(t) = &l.present {
            c.template(format!("{path}.lookup.present"), t);
        }
        if let Some(t) = &l.none {
            c.template(format!("{path}.lookup.none"), t);
        }
    }
    if let Some(tool) = lookup {
        for needed in tool.required_slots() {
            if !flow.slots.iter().any(|s| s == needed) {
                c.problem(
                    format!("{path}.slots"),
                    format!(
                        "lookup tool '{}' needs the slot '{needed}'",
                        flow.lookup.as_ref().map(|l| l.tool.as_str()).unwrap_or("")
                    ),
                );
            }
        }
    }
    let action = flow.action.as_ref().and_then(|a| {
        let tool = ActionTool::parse(a);
        if tool.is_none() {
            c.problem(
                format!("{path}.action"),
                format!("unknown action '{a}' (known: book, modify_booking, cancel_booking)"),
            );
        }
        tool
    });
    if flow.action.is_some() && flow.confirm.is_none() {
        c.problem(
            format!("{path}.confirm"),
            "a flow with an action must confirm it first (never act without an explicit yes)",
        );
    }
    if flow.confirm.is_some() && flow.action.is_none() {
        c.problem(format!("{path}.confirm"), "a confirmation without an action confirms nothing");
    }
    match action {
        Some(ActionTool::Book) if !matches!(lookup, Some(LookupTool::SearchFlights | LookupTool::SearchHotels)) => {
            c.problem(
                format!("{path}.action"),
                "'book' needs a search lookup (search_flights or search_hotels) to offer options",
            );
        }
        Some(ActionTool::ModifyBooking | ActionTool::CancelBooking) if lookup != Some(LookupTool::GetBooking) => {
            c.problem(format!("{path}.action"), "changing or cancelling needs the get_booking lookup first");
        }
        _ => {}
    }
    if let Some(changes) = &flow.changes {
        if action != Some(ActionTool::ModifyBooking) {
            c.problem(format!("{path}.changes"), "changes only make sense with the modify_booking action");
        }
        if changes.slots.is_empty() {
            c.problem(format!("{path}.changes.slots"), "needs at least one slot");
        }
        for (i, slot) in changes.slots.iter().enumerate() {
            if c.slot_ref(format!("{path}.changes.slots[{i}]"), slot) && !MODIFIABLE_SLOTS.contains(&slot.as_str()) {
                c.problem(
                    format!("{path}.changes.slots[{i}]"),
                    format!("the modify tool cannot change '{slot}' (it can change: {})", MODIFIABLE_SLOTS.join(", ")),
                );
            }
        }
        c.template(format!("{path}.changes.prompt"), &changes.prompt);
    } else if action == Some(ActionTool::ModifyBooking) {
        c.problem(format!("{path}.changes"), "modify_booking needs a 'changes' section saying what may change");
    }
    if flow.digression && action.is_some() {
        c.problem(format!("{path}.digression"), "a digression must not act on bookings; it only looks things up");
    }
    for (field, text) in [("confirm", &flow.confirm), ("refused", &flow.refused)] {
        if let Some(t) = text {
            c.template(format!("{path}.{field}"), t);
        }
    }
    c.template(format!("{path}.done"), &flow.done);
}
