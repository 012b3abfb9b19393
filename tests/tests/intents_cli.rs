//! `voxbook intents check` and `voxbook intents eval`, through the library
//! functions the binary calls: the shipped config and dev set, a broken
//! config and a malformed dataset.

use std::path::PathBuf;

use voxbook_gateway::intents_cli::{self, EvalArgs};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("voxbook-intents-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

fn eval_args(dataset: PathBuf, json: Option<PathBuf>) -> EvalArgs {
    EvalArgs {
        path: repo("dialogue/assistants/travel.yaml"),
        dataset,
        json,
        now: None,
        misses: 10,
        min_intent_f1: None,
        min_slot_f1: None,
    }
}

#[test]
fn check_accepts_the_shipped_config() {
    let summary = intents_cli::check(&repo("dialogue/assistants/travel.yaml")).expect("valid");
    assert!(summary.contains(": ok ("), "{summary}");
}

#[test]
fn check_reports_a_broken_config_with_its_line() {
    let source = std::fs::read_to_string(repo("dialogue/assistants/travel.yaml")).expect("read");
    let needle = "    intent: booking_status";
    let line = source.lines().position(|l| l == needle).expect("fixture line") + 1;
    let broken = scratch("broken.yaml");
    std::fs::write(&broken, source.replacen(needle, "    intent: booking_state", 1)).expect("write");
    let err = intents_cli::check(&broken).expect_err("rejected");
    let shown = err.to_string();
    assert!(shown.contains(&format!("broken.yaml:{line}:")), "{shown}");
    assert!(shown.contains("can never start"), "{shown}");
}

#[test]
fn check_fails_the_binary_with_a_non_zero_exit() {
    // `cargo test --workspace` builds the gateway's binary (and the test
    // command in the README runs `voxbook models install` first).
    let binary = repo("target/debug/voxbook");
    assert!(binary.exists(), "build the binary first: cargo build --bin voxbook");
    let broken = scratch("broken-bin.yaml");
    std::fs::write(&broken, "version: 1\nname: [unclosed\n").expect("write");
    let out = std::process::Command::new(&binary).args(["intents", "check"]).arg(&broken).output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken-bin.yaml:2:"), "{stderr}");
}

#[test]
fn eval_scores_the_shipped_dev_set_and_writes_json() {
    let json = scratch("report.json");
    let args = eval_args(repo("samples/nlu/travel-dev.jsonl"), Some(json.clone()));
    let report = intents_cli::eval_with_progress(&args, false).expect("report");
    assert!(report.utterances >= 300, "{}", report.utterances);
    let spec = voxbook_dialogue::config::default_spec().expect("spec");
    for intent in spec.intents.keys() {
        let row = report.intents.iter().find(|r| &r.intent == intent).expect("every intent has a row");
        assert!(row.scores.support > 0, "the dev set covers {intent}");
        let f1 = row.scores.f1.expect("defined when supported");
        assert!((0.0..=1.0).contains(&f1), "{intent}: {f1}");
    }
    for rate in [report.intent_accuracy, report.macro_avg.f1, report.slots.f1.expect("slot f1")] {
        assert!((0.0..=1.0).contains(&rate), "{rate}");
    }
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written")).expect("json parses");
    assert_eq!(written["utterances"], report.utterances);
    assert!(written["confusion"]["counts"].is_array());
    let text = intents_cli::render(&report, 5);
    assert!(text.contains("confusion") && text.contains("book_flight"), "{text}");
    // A gate above any possible score fails; none passes.
    assert!(intents_cli::gate(&report, Some(1.01)).is_err());
    assert!(intents_cli::gate(&report, None).is_ok());
}

/// Issue 10's targets on the hand-written dev set: macro intent F1 and
/// slot F1 of at least 0.95. The set was written by hand, not from the
/// parser's output; a drop here is a regression in understanding.
#[test]
fn the_shipped_assistant_meets_the_dev_set_targets() {
    let args = eval_args(repo("samples/nlu/travel-dev.jsonl"), None);
    let report = intents_cli::eval_with_progress(&args, false).expect("report");
    assert!(report.utterances >= 800, "the dev set has {} utterances", report.utterances);
    intents_cli::gate(&report, Some(0.95)).expect("macro intent F1");
    intents_cli::gate_slots(&report, Some(0.95)).expect("slot F1");
}

#[test]
fn eval_rejects_a_malformed_dataset_with_line_numbers() {
    let bad = scratch("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"now\": \"2030-06-03\"}\n{\"text\": \"book a flight\", \"intent\": \"book_flight\"}\n{\"text\": \"oops\"\n",
    )
    .expect("write");
    let err = intents_cli::eval_with_progress(&eval_args(bad, None), false).expect_err("rejected");
    let shown = format!("{err:#}");
    assert!(shown.contains("bad.jsonl:3: not JSON"), "{shown}");
}
