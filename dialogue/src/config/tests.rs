//! Config checks: the shipped assistant passes; each kind of mistake is
//! reported with the right line.

use super::*;

fn broken(find: &str, replace: &str) -> ConfigError {
    assert!(DEFAULT_ASSISTANT_YAML.contains(find), "test fixture out of date: {find:?}");
    let source = DEFAULT_ASSISTANT_YAML.replacen(find, replace, 1);
    load_str(&source, "travel.yaml").expect_err("config should be rejected")
}

fn line_of(needle: &str) -> usize {
    DEFAULT_ASSISTANT_YAML.lines().position(|l| l.contains(needle)).map(|i| i + 1).expect("needle in fixture")
}

fn assert_problem(err: &ConfigError, line: usize, words: &str) {
    let shown = err.to_string();
    let found =
        err.problems().iter().any(|p| p.position.map(|pos| pos.line) == Some(line) && p.message.contains(words));
    assert!(found, "expected a problem at line {line} mentioning {words:?}, got:\n{shown}");
    assert!(shown.contains(&format!("travel.yaml:{line}:")), "{shown}");
}

#[test]
fn the_shipped_assistant_is_valid() {
    let spec = default_spec().expect("default config loads");
    assert!(spec.flows.contains_key("book_flight"));
}

#[test]
fn yaml_syntax_errors_have_positions() {
    let err = load_str("version: 1\nname: [unclosed\n", "x.yaml").unwrap_err();
    let p = &err.problems()[0];
    assert!(p.position.is_some(), "{err}");
    assert!(err.to_string().starts_with("x.yaml"), "{err}");
}

#[test]
fn unknown_fields_are_rejected() {
    let err = broken("  booking_ref_length: 6", "  booking_ref_lenght: 6");
    assert!(err.to_string().contains("booking_ref_lenght"), "{err}");
}

#[test]
fn unknown_slot_type() {
    let err = broken(
        "    type: party_size\n    prompt: \"How many passengers?\"",
        "    type: headcount\n    prompt: \"How many passengers?\"",
    );
    assert_problem(&err, line_of("    type: party_size"), "unknown slot type 'headcount'");
}

#[test]
fn bad_regex() {
    let err = broken(r"      - '\b(status|", r"      - '\b((status|");
    assert_problem(&err, line_of(r"      - '\b(status|"), "invalid regular expression");
}

#[test]
fn flow_with_unknown_intent_is_unreachable() {
    let err = broken("    intent: booking_status", "    intent: booking_state");
    assert_problem(&err, line_of("    intent: booking_status"), "can never start");
}

#[test]
fn action_without_confirmation_is_refused() {
    let err = broken("    confirm: \"I have {booking}. Are you sure you want to cancel it?\"\n", "");
    assert!(err.to_string().contains("never act without an explicit yes"), "{err}");
}

#[test]
fn template_with_unknown_hole() {
    let err = broken("Where are you flying from?", "Where are you flying from, {traveller}?");
    assert_problem(&err, line_of("Where are you flying from?"), "'{traveller}'");
}

#[test]
fn example_in_two_intents_conflicts() {
    let err = broken("      - cancel my booking\n", "      - cancel my booking\n      - book a hotel\n");
    assert!(err.to_string().contains("also an example of intent"), "{err}");
}

#[test]
fn flow_missing_a_slot_its_tool_needs() {
    let err = broken("    slots: [city, check_in, nights, guests]", "    slots: [city, check_in, nights]");
    assert_problem(&err, line_of("    slots: [city, check_in, nights, guests]"), "needs the slot 'guests'");
}

#[test]
fn all_problems_are_reported_at_once() {
    let source = DEFAULT_ASSISTANT_YAML.replacen("    intent: booking_status", "    intent: nope", 1).replacen(
        "version: 1",
        "version: 9",
        1,
    );
    let err = load_str(&source, "travel.yaml").unwrap_err();
    assert!(err.problems().len() >= 2, "{err}");
}

#[test]
fn duplicate_example_within_an_intent() {
    // Case and punctuation do not make an example new.
    let err = broken("      - check my reservation\n", "      - check my reservation\n      - Check my reservation!\n");
    assert_problem(&err, line_of("      - check my reservation") + 1, "duplicate example 'Check my reservation!'");
}

#[test]
fn intent_no_flow_starts_is_reported() {
    let err = broken("  booking_status:\n    intent: booking_status", "  booking_status:\n    intent: help");
    assert_problem(&err, line_of("  booking_status:"), "no flow starts on this intent");
    assert!(err.to_string().contains("'help' is a system intent and cannot start a flow"), "{err}");
}

#[test]
fn second_flow_on_one_intent_is_unreachable() {
    let err = broken("    intent: booking_status", "    intent: cancel_booking");
    assert_problem(
        &err,
        line_of("    intent: booking_status"),
        "intent 'cancel_booking' also starts flow 'cancel_booking'",
    );
}
