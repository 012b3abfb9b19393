//! Scoring the parser on a labelled set of utterances, for conversation
//! designers: `voxbook intents eval` reads a dataset, runs every utterance
//! through the real [`nlu::parse`](crate::nlu::parse) and reports how often
//! it got the intent and the slot values right.
//!
//! A dataset is JSON Lines, one utterance per line:
//!
//! ```text
//! {"now": "2030-06-03T09:00:00Z"}
//! {"text": "fly me from london to paris on june 12th", "intent": "book_flight",
//!  "slots": {"origin": {"code": "LHR"}, "destination": "CDG", "depart_date": "2030-06-12"}, "tags": ["terse"]}
//! ```
//!
//! (each object on one line). The first line may be a header object without
//! `text`, giving the `now` (RFC 3339, or a plain `YYYY-MM-DD`) that relative
//! dates resolve against. A line's own `now` beats the caller's override
//! (`--now`), which beats the header, which beats the machine's clock: a
//! dataset with relative dates should carry a `now`, or its date labels rot.
//! `intent` is an intent of the config, `inform` (values but no intent) or
//! `unknown`. `slots` holds what the speaker *stated*, in the parse API's
//! value format; a place may be labelled by its airport code alone (`"LHR"`
//! or `{"code": "LHR"}`), since places are compared by code. `tags` are free
//! labels (style, channel) that get their own accuracy line. Blank lines are
//! skipped; any other malformed line is reported as `path:line: message`,
//! all of them at once.
//!
//! Scoring is pure (no I/O beyond loading the file) so the numbers can be
//! unit-tested on datasets whose answers are known by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::assistant::Assistant;
use crate::nlu::{self, INFORM, UNKNOWN};

/// One labelled utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// 1-based line in the dataset file.
    pub line: usize,
    pub text: String,
    pub intent: String,
    pub slots: BTreeMap<String, Value>,
    /// This line's own clock, if it has one.
    pub today: Option<NaiveDate>,
    pub tags: Vec<String>,
}

/// A loaded dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// How the dataset is named in errors and reports.
    pub name: String,
    /// The header's clock, if there is a header with one.
    pub today: Option<NaiveDate>,
    pub examples: Vec<Example>,
}

/// One bad line of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{name}: cannot read the dataset: {source}")]
    Read {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render_line_errors(name, errors))]
    Invalid { name: String, errors: Vec<LineError> },
    #[error("{name}: the dataset has no utterances")]
    Empty { name: String },
}

impl EvalError {
    /// The bad lines, when the dataset was readable.
    pub fn line_errors(&self) -> &[LineError] {
        match self {
            EvalError::Invalid { errors, .. } => errors,
            _ => &[],
        }
    }
}

fn render_line_errors(name: &str, errors: &[LineError]) -> String {
    let mut out = format!("{name}: {} bad line(s) in the dataset", errors.len());
    for e in errors {
        out.push_str(&format!("\n{name}:{}: {}", e.line, e.message));
    }
    out
}

/// A dataset line as written. Unknown fields are errors: a misspelt
/// `slot` must not silently score as "no slots stated".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExample {
    text: String,
    intent: String,
    #[serde(default)]
    slots: BTreeMap<String, Value>,
    #[serde(default)]
    now: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    #[serde(default)]
    now: Option<String>,
    /// Free text for people reading the file.
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
}

/// Reads a clock: RFC 3339 (its local date, as sessions take it) or a plain
/// `YYYY-MM-DD`.
pub fn parse_today(text: &str) -> Result<NaiveDate, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.date_naive());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("'{text}' is not an RFC 3339 time or a YYYY-MM-DD date"))
}

/// Reads and checks a dataset file.
pub fn load_dataset(path: &Path) -> Result<Dataset, EvalError> {
    let name = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|source| EvalError::Read { name: name.clone(), source })?;
    parse_dataset(&source, &name)
}

/// Checks a dataset held in memory; `name` names it in errors.
pub fn parse_dataset(source: &str, name: &str) -> Result<Dataset, EvalError> {
    let mut errors = Vec::new();
    let mut examples = Vec::new();
    let mut today = None;
    let mut first = true;
    for (i, raw) in source.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let is_first = std::mem::replace(&mut first, false);
        let value: Value = match serde_json::from_str(raw) {
            Ok(v) => v,
            Err(e) => {
                errors.push(LineError { line, message: format!("not JSON: {e}") });
                continue;
            }
        };
        let Value::Object(object) = &value else {
            errors.push(LineError { line, message: "expected a JSON object".into() });
            continue;
        };
        if !object.contains_key("text") && is_first {
            match serde_json::from_value::<RawHeader>(value) {
                Ok(header) => match header.now.as_deref().map(parse_today).transpose() {
                    Ok(t) => today = t,
                    Err(message) => errors.push(LineError { line, message: format!("header now: {message}") }),
                },
                Err(e) => errors.push(LineError { line, message: format!("bad header: {e}") }),
            }
            continue;
        }
        match serde_json::from_value::<RawExample>(value) {
            Ok(raw) => match check_example(raw, line) {
                Ok(example) => examples.push(example),
                Err(message) => errors.push(LineError { line, message }),
            },
            Err(e) => errors.push(LineError { line, message: e.to_string() }),
        }
    }
    if !errors.is_empty() {
        return Err(EvalError::Invalid { name: name.to_string(), errors });
    }
    if examples.is_empty() {
        return Err(EvalError::Empty { name: name.to_string() });
    }
    Ok(Dataset { name: name.to_string(), today, examples })
}

fn check_example(raw: RawExample, line: usize) -> Result<Example, String> {
    if raw.text.trim().is_empty() {
        return Err("text is empty".into());
    }
    if raw.intent.trim().is_empty() {
        return Err("intent is empty".into());
    }
    let today = raw.now.as_deref().map(parse_today).transpose().map_err(|m| format!("now: {m}"))?;
    Ok(Example { line, text: raw.text, intent: raw.intent, slots: raw.slots, today, tags: raw.tags })
}

/// Which day relative dates resolve against, for lines without their own.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// The caller's override (`--now`); beats the dataset's header.
    pub now: Option<NaiveDate>,
    /// Used when neither the line, the override nor the header says.
    pub fallback: NaiveDate,
}

/// Precision, recall and F1 of one label or one slot. A rate is `None`
/// when it is undefined (nothing predicted, nothing expected).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// How many were expected.
    pub support: usize,
    /// How many were predicted.
    pub predicted: usize,
    pub correct: usize,
}

impl Scores {
    fn from_counts(correct: usize, predicted: usize, support: usize) -> Scores {
        let rate = |num: usize, den: usize| (den > 0).then(|| num as f64 / den as f64);
        let precision = rate(correct, predicted);
        let recall = rate(correct, support);
        let f1 = match (precision, recall) {
            (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
            // Something was predicted or expected and none of it matched.
            _ if predicted > 0 || support > 0 => Some(0.0),
            _ => None,
        };
        Scores { precision, recall, f1, support, predicted, correct }
    }
}

/// Averages over labels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Averages {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentRow {
    pub intent: String,
    #[serde(flatten)]
    pub scores: Scores,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotRow {
    pub slot: String,
    #[serde(flatten)]
    pub scores: Scores,
}

/// Expected intent (rows) × predicted intent (columns); only labels that
/// occur on that side are listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    /// `counts[r][c]`: utterances labelled `rows[r]` parsed as `columns[c]`.
    pub counts: Vec<Vec<usize>>,
}

/// Scores of the utterances carrying one tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagRow {
    pub tag: String,
    pub utterances: usize,
    pub intent_accuracy: f64,
    pub slot_f1: Option<f64>,
}

/// An utterance the parser got (partly) wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Miss {
    pub line: usize,
    pub text: String,
    pub expected_intent: String,
    pub predicted_intent: String,
    pub confidence: f32,
    /// Expected slot values the parser did not give (absent or different).
    pub missing_slots: BTreeMap<String, Value>,
    /// Values the parser gave that were not expected (extra or different).
    pub unexpected_slots: BTreeMap<String, Value>,
}

impl Miss {
    pub fn intent_wrong(&self) -> bool {
        self.expected_intent != self.predicted_intent
    }
}

/// Everything `intents eval` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub dataset: String,
    pub utterances: usize,
    /// Share of utterances whose intent was right (= micro P, R and F1).
    pub intent_accuracy: f64,
    /// Every intent of the config, then `inform`/`unknown` if they occur.
    pub intents: Vec<IntentRow>,
    /// Pooled over utterances; with one intent per utterance P = R = F1 =
    /// accuracy.
    pub micro: Averages,
    /// Unweighted mean over the labels that were expected or predicted at
    /// least once (an undefined rate counts as 0, so a never-predicted
    /// intent drags the mean down rather than vanishing from it).
    #[serde(rename = "macro")]
    pub macro_avg: Averages,
    /// Pooled over every (slot, value) pair.
    pub slots: Scores,
    pub slot_rows: Vec<SlotRow>,
    pub confusion: Confusion,
    pub tags: Vec<TagRow>,
    /// Utterances with a wrong intent or any slot error, in file order.
    pub misses: Vec<Miss>,
}

/// True when a parsed slot value is the labelled one: places by airport
/// code (the label may be the code alone), everything else by JSON
/// equality.
pub fn slot_matches(expected: &Value, got: &Value) -> bool {
    match (place_code(expected), place_code(got)) {
        (Some(e), Some(g)) => e.eq_ignore_ascii_case(g),
        _ => expected == got,
    }
}

fn place_code(v: &Value) -> Option<&str> {
    match v {
        Value::Object(o) => o.get("code").and_then(Value::as_str),
        // A bare three-letter upper-case string is an airport code label.
        Value::String(s) if s.len() == 3 && s.chars().all(|c| c.is_ascii_uppercase()) => Some(s),
        _ => None,
    }
}

/// Checks the dataset's labels against the config: every intent must
/// exist (or be `inform`/`unknown`) and every slot name too, so a typo in
/// a label is an error rather than a silent miss.
pub fn check_labels(dataset: &Dataset, intents: &[String], assistant: &Assistant) -> Result<(), EvalError> {
    let mut errors = Vec::new();
    for ex in &dataset.examples {
        if !intents.contains(&ex.intent) && ex.intent != INFORM && ex.intent != UNKNOWN {
            errors.push(LineError {
                line: ex.line,
                message: format!(
                    "unknown intent '{}' (the config has: {}, plus inform and unknown)",
                    ex.intent,
                    intents.join(", ")
                ),
            });
        }
        for slot in ex.slots.keys() {
            if assistant.slot(slot).is_none() {
                errors.push(LineError { line: ex.line, message: format!("unknown slot '{slot}'") });
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(EvalError::Invalid { name: dataset.name.clone(), errors }) }
}

#[derive(Default)]
struct Tally {
    correct: usize,
    predicted: usize,
    support: usize,
}

#[derive(Default)]
struct TagTally {
    utterances: usize,
    intent_right: usize,
    slots: Tally,
}

/// Scores the parser on `dataset`. `intents` are the config's intent
/// names (the report lists them all, even unseen ones); `progress` is told
/// how many utterances are done after each one.
pub fn evaluate(
    assistant: &Assistant,
    intents: &[String],
    dataset: &Dataset,
    clock: Clock,
    progress: &mut dyn FnMut(usize),
) -> Result<Report, EvalError> {
    check_labels(dataset, intents, assistant)?;
    let default_today = clock.now.or(dataset.today).unwrap_or(clock.fallback);
    let mut by_intent: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_slot: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_tag: BTreeMap<String, TagTally> = BTreeMap::new();
    let mut confusion: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut right = 0;

    for (done, ex) in dataset.examples.iter().enumerate() {
        let parsed = nlu::parse(assistant, &ex.text, ex.today.unwrap_or(default_today));
        let got = parsed.intent.name.clone();
        let intent_right = got == ex.intent;
        right += usize::from(intent_right);
        by_intent.entry(ex.intent.clone()).or_default().support += 1;
        let predicted = by_intent.entry(got.clone()).or_default();
        predicted.predicted += 1;
        predicted.correct += usize::from(intent_right);
        *confusion.entry((ex.intent.clone(), got.clone())).or_default() += 1;

        let mut missing = BTreeMap::new();
        let mut unexpected = BTreeMap::new();
        let mut slot_tally = Tally::default();
        for (name, want) in &ex.slots {
            let tally = by_slot.entry(name.clone()).or_default();
            tally.support += 1;
            slot_tally.support += 1;
            match parsed.slots.get(name) {
                Some(have) if slot_matches(want, have) => {
                    tally.correct += 1;
                    slot_tally.correct += 1;
                }
                _ => {
                    missing.insert(name.clone(), want.clone());
                }
            }
        }
        for (name, have) in &parsed.slots {
            by_slot.entry(name.clone()).or_default().predicted += 1;
            slot_tally.predicted += 1;
            if !ex.slots.get(name).is_some_and(|want| slot_matches(want, have)) {
                unexpected.insert(name.clone(), have.clone());
            }
        }
        for tag in &ex.tags {
            let t = by_tag.entry(tag.clone()).or_default();
            t.utterances += 1;
            t.intent_right += usize::from(intent_right);
            t.slots.correct += slot_tally.correct;
            t.slots.predicted += slot_tally.predicted;
            t.slots.support += slot_tally.support;
        }
        if !intent_right || !missing.is_empty() || !unexpected.is_empty() {
            misses.push(Miss {
                line: ex.line,
                text: ex.text.clone(),
                expected_intent: ex.intent.clone(),
                predicted_intent: got,
                confidence: parsed.intent.confidence,
                missing_slots: missing,
                unexpected_slots: unexpected,
            });
        }
        progress(done + 1);
    }

    // The config's intents (its map is sorted by name), then the parser's
    // pseudo-intents if they were expected or predicted.
    let mut labels: Vec<String> = intents.to_vec();
    labels.extend([INFORM, UNKNOWN].into_iter().filter(|l| by_intent.contains_key(*l)).map(str::to_string));
    let rows: Vec<IntentRow> = labels
        .iter()
        .map(|name| {
            let t = by_intent.get(name);
            let (c, p, s) = t.map_or((0, 0, 0), |t| (t.correct, t.predicted, t.support));
            IntentRow { intent: name.clone(), scores: Scores::from_counts(c, p, s) }
        })
        .collect();
    let seen: Vec<&Scores> = rows.iter().map(|r| &r.scores).filter(|s| s.support > 0 || s.predicted > 0).collect();
    let mean = |f: fn(&Scores) -> Option<f64>| {
        if seen.is_empty() { 0.0 } else { seen.iter().map(|s| f(s).unwrap_or(0.0)).sum::<f64>() / seen.len() as f64 }
    };
    let macro_avg = Averages { precision: mean(|s| s.precision), recall: mean(|s| s.recall), f1: mean(|s| s.f1) };
    let n = dataset.examples.len();
    let accuracy = right as f64 / n as f64;

    let slot_rows: Vec<SlotRow> = by_slot
        .iter()
        .map(|(name, t)| SlotRow { slot: name.clone(), scores: Scores::from_counts(t.correct, t.predicted, t.support) })
        .collect();
    let pooled = by_slot.values().fold(Tally::default(), |mut acc, t| {
        acc.correct += t.correct;
        acc.predicted += t.predicted;
        acc.support += t.support;
        acc
    });

    let tags = by_tag
        .into_iter()
        .map(|(tag, t)| TagRow {
            tag,
            utterances: t.utterances,
            intent_accuracy: t.intent_right as f64 / t.utterances as f64,
            slot_f1: Scores::from_counts(t.slots.correct, t.slots.predicted, t.slots.support).f1,
        })
        .collect();

    Ok(Report {
        dataset: dataset.name.clone(),
        utterances: n,
        intent_accuracy: accuracy,
        intents: rows,
        micro: Averages { precision: accuracy, recall: accuracy, f1: accuracy },
        macro_avg,
        slots: Scores::from_counts(pooled.correct, pooled.predicted, pooled.support),
        slot_rows,
        confusion: confusion_table(&confusion, &labels),
        tags,
        misses,
    })
}

/// Builds the table in label order, keeping only rows and columns with a
/// non-zero count.
fn confusion_table(cells: &BTreeMap<(String, String), usize>, order: &[String]) -> Confusion {
    let rank = |l: &String| order.iter().position(|o| o == l).unwrap_or(usize::MAX);
    let mut rows: Vec<String> = cells.keys().map(|(e, _)| e.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut columns: Vec<String> = cells.keys().map(|(_, p)| p.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    rows.sort_by_key(|l| (rank(l), l.clone()));
    columns.sort_by_key(|l| (rank(l), l.clone()));
    let counts = rows
        .iter()
        .map(|r| columns.iter().map(|c| cells.get(&(r.clone(), c.clone())).copied().unwrap_or(0)).collect())
        .collect();
    Confusion { rows, columns, counts }
}

/// A rate as a fixed-width cell: `0.917`, or `-` when undefined.
pub struct Rate(pub Option<f64>);

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "{v:>6.3}"),
            None => write!(f, "{:>6}", "-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::extract::places::Gazetteer;
    use std::sync::Arc;
    use voxbook_proto::airports::Airports;

    fn assistant() -> (Assistant, Vec<String>) {
        let spec = config::default_spec().expect("default config");
        let intents = spec.intents.keys().cloned().collect();
        let gazetteer = Arc::new(Gazetteer::new(&Airports::embedded()));
        (Assistant::compile(spec, gazetteer, "travel.yaml").expect("compiles"), intents)
    }

    fn clock() -> Clock {
        Clock { now: None, fallback: NaiveDate::from_ymd_opt(2030, 6, 3).expect("date") }
    }

    fn run(source: &str) -> Report {
        let (a, intents) = assistant();
        let data = parse_dataset(source, "t.jsonl").expect("dataset");
        evaluate(&a, &intents, &data, clock(), &mut |_| {}).expect("report")
    }

    fn row<'a>(r: &'a Report, intent: &str) -> &'a Scores {
        &r.intents.iter().find(|row| row.intent == intent).expect("row").scores
    }

    #[test]
    fn scores_follow_from_counts() {
        let s = Scores::from_counts(2, 4, 3);
        assert_eq!(s.precision, Some(0.5));
        assert!((s.recall.expect("recall") - 2.0 / 3.0).abs() < 1e-9);
        assert!((s.f1.expect("f1") - 4.0 / 7.0).abs() < 1e-9);
        let never_predicted = Scores::from_counts(0, 0, 5);
        assert_eq!(
            (never_predicted.precision, never_predicted.recall, never_predicted.f1),
            (None, Some(0.0), Some(0.0))
        );
        assert_eq!(Scores::from_counts(0, 0, 0).f1, None);
    }

    #[test]
    fn a_perfect_dataset_scores_one() {
        let r = run(concat!(
            "{\"text\": \"cancel my booking\", \"intent\": \"cancel_booking\"}\n",
            "{\"text\": \"goodbye\", \"intent\": \"goodbye\"}\n",
            "{\"text\": \"i need a hotel in barcelona\", \"intent\": \"book_hotel\", \"slots\": {\"city\": \"BCN\"}}\n",
        ));
        assert_eq!(r.utterances, 3);
        assert_eq!(r.intent_accuracy, 1.0);
        assert_eq!(row(&r, "cancel_booking").f1, Some(1.0));
        assert_eq!(row(&r, "book_flight").f1, None, "unseen intents are listed but undefined");
        assert_eq!(r.macro_avg.f1, 1.0);
        assert_eq!((r.slots.correct, r.slots.support, r.slots.predicted), (1, 1, 1));
        assert!(r.misses.is_empty(), "{:?}", r.misses);
        assert_eq!(r.confusion.rows, ["book_hotel", "cancel_booking", "goodbye"]);
        assert_eq!(r.confusion.counts, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    }

    #[test]
    fn a_wrong_label_shows_as_a_miss_in_every_table() {
        // Deliberately mislabelled: the parser (rightly) says cancel.
        let r = run(concat!(
            "{\"text\": \"cancel my booking\", \"intent\": \"booking_status\"}\n",
            "{\"text\": \"what's the status of my booking\", \"intent\": \"booking_status\"}\n",
        ));
        assert_eq!(r.intent_accuracy, 0.5);
        let status = row(&r, "booking_status");
        assert_eq!((status.precision, status.recall, status.support), (Some(1.0), Some(0.5), 2));
        let cancel = row(&r, "cancel_booking");
        assert_eq!((cancel.precision, cancel.recall, cancel.f1), (Some(0.0), None, Some(0.0)));
        // Macro over the two labels seen: P (1 + 0) / 2, R (0.5 + 0) / 2.
        assert!((r.macro_avg.precision - 0.5).abs() < 1e-9);
        assert!((r.macro_avg.recall - 0.25).abs() < 1e-9);
        assert_eq!(r.confusion.rows, ["booking_status"]);
        assert_eq!(r.confusion.columns, ["booking_status", "cancel_booking"]);
        assert_eq!(r.confusion.counts, [[1, 1]]);
        assert_eq!(r.misses.len(), 1);
        assert_eq!(r.misses[0].line, 1);
        assert!(r.misses[0].intent_wrong());
    }

    #[test]
    fn slot_values_are_compared_by_meaning() {
        let r = run(concat!(
            "{\"now\": \"2030-06-03T09:00:00Z\"}\n",
            "{\"text\": \"fly from london to paris tomorrow\", \"intent\": \"book_flight\", ",
            "\"slots\": {\"origin\": {\"name\": \"London\", \"code\": \"LHR\", \"country\": \"GB\"}, ",
            "\"destination\": \"CDG\", \"depart_date\": \"2030-06-04\"}}\n",
            // The same utterance with a wrong date label.
            "{\"text\": \"fly from london to paris tomorrow\", \"intent\": \"book_flight\", ",
            "\"slots\": {\"origin\": \"LHR\", \"destination\": {\"code\": \"cdg\"}, \"depart_date\": \"2030-06-05\"}}\n",
        ));
        assert_eq!(r.slots.support, 6);
        assert_eq!(r.slots.correct, 5);
        assert_eq!(r.slots.predicted, 6);
        let date = &r.slot_rows.iter().find(|s| s.slot == "depart_date").expect("row").scores;
        assert_eq!((date.correct, date.predicted, date.support), (1, 2, 2));
        assert_eq!(r.misses.len(), 1);
        assert_eq!(r.misses[0].line, 3);
        assert_eq!(r.misses[0].missing_slots["depart_date"], "2030-06-05");
        assert_eq!(r.misses[0].unexpected_slots["depart_date"], "2030-06-04");
    }

    #[test]
    fn the_clock_comes_from_line_then_override_then_header() {
        let (a, intents) = assistant();
        let source = concat!(
            "{\"now\": \"2030-06-03\"}\n",
            "{\"text\": \"a hotel in rome tomorrow\", \"intent\": \"book_hotel\", \"slots\": {\"city\": \"FCO\", \"check_in\": \"2030-06-04\"}}\n",
            "{\"text\": \"a hotel in rome tomorrow\", \"intent\": \"book_hotel\", \"now\": \"2031-01-01T10:00:00+01:00\", \"slots\": {\"city\": \"FCO\", \"check_in\": \"2031-01-02\"}}\n",
        );
        let data = parse_dataset(source, "t.jsonl").expect("dataset");
        assert_eq!(data.today, NaiveDate::from_ymd_opt(2030, 6, 3));
        let r = evaluate(&a, &intents, &data, clock(), &mut |_| {}).expect("report");
        assert_eq!(r.slots.correct, 4, "{:?}", r.misses);
        let shifted = Clock { now: NaiveDate::from_ymd_opt(2030, 6, 9), ..clock() };
        let r = evaluate(&a, &intents, &data, shifted, &mut |_| {}).expect("report");
        // Line 2 now resolves "tomorrow" to the 10th; line 3 keeps its own.
        assert_eq!(r.misses.iter().map(|m| m.line).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn tags_get_their_own_accuracy_and_progress_is_reported() {
        let (a, intents) = assistant();
        let source = concat!(
            "{\"text\": \"goodbye\", \"intent\": \"goodbye\", \"tags\": [\"terse\"]}\n",
            "{\"text\": \"cancel my booking\", \"intent\": \"help\", \"tags\": [\"terse\", \"polite\"]}\n",
        );
        let data = parse_dataset(source, "t.jsonl").expect("dataset");
        let mut seen = Vec::new();
        let r = evaluate(&a, &intents, &data, clock(), &mut |n| seen.push(n)).expect("report");
        assert_eq!(seen, [1, 2]);
        let terse = r.tags.iter().find(|t| t.tag == "terse").expect("tag");
        assert_eq!((terse.utterances, terse.intent_accuracy), (2, 0.5));
        let polite = r.tags.iter().find(|t| t.tag == "polite").expect("tag");
        assert_eq!(polite.intent_accuracy, 0.0);
    }

    #[test]
    fn the_report_serialises() {
        let r = run("{\"text\": \"help\", \"intent\": \"help\"}\n");
        let json = serde_json::to_value(&r).expect("json");
        assert!(json["macro"]["f1"].is_number(), "{json}");
        assert!(json["intents"][0]["f1"].is_null() || json["intents"][0]["f1"].is_number());
        let back: Report = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, r);
    }

    #[test]
    fn bad_lines_are_reported_with_their_numbers_all_at_once() {
        let source = concat!(
            "{\"text\": \"book a flight\", \"intent\": \"book_flight\"}\n",
            "\n",
            "{\"text\": \"book a flight\", \"intent\": \"book_flight\"\n",
            "{\"text\": \"book a flight\"}\n",
            "{\"text\": \"book a flight\", \"intent\": \"book_flight\", \"slot\": {}}\n",
            "[1, 2]\n",
            "{\"text\": \"  \", \"intent\": \"book_flight\"}\n",
            "{\"text\": \"x\", \"intent\": \"help\", \"now\": \"june\"}\n",
        );
        let err = parse_dataset(source, "bad.jsonl").expect_err("rejected");
        let lines: Vec<usize> = err.line_errors().iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7, 8]);
        let shown = err.to_string();
        assert!(shown.contains("bad.jsonl:3: not JSON"), "{shown}");
        assert!(shown.contains("bad.jsonl:4: missing field `intent`"), "{shown}");
        assert!(shown.contains("bad.jsonl:5: unknown field `slot`"), "{shown}");
        assert!(shown.contains("bad.jsonl:8: now: 'june'"), "{shown}");
    }

    #[test]
    fn a_bad_header_and_an_empty_dataset_are_errors() {
        let err = parse_dataset("{\"now\": \"soon\"}\n{\"text\": \"hi\", \"intent\": \"help\"}\n", "h.jsonl")
            .expect_err("bad header");
        assert!(err.to_string().contains("h.jsonl:1: header now"), "{err}");
        let err = parse_dataset("\n{\"now\": \"2030-06-03\"}\n\n", "e.jsonl").expect_err("empty");
        assert!(matches!(err, EvalError::Empty { .. }), "{err}");
        // A header is only a header on the first line.
        let err = parse_dataset("{\"text\": \"hi\", \"intent\": \"help\"}\n{\"now\": \"2030-06-03\"}\n", "l.jsonl")
            .expect_err("late header");
        assert_eq!(err.line_errors()[0].line, 2);
    }

    #[test]
    fn labels_must_name_known_intents_and_slots() {
        let (a, intents) = assistant();
        let data = parse_dataset(
            concat!(
                "{\"text\": \"book a flight\", \"intent\": \"book_flights\"}\n",
                "{\"text\": \"book a flight to rome\", \"intent\": \"book_flight\", \"slots\": {\"dest\": \"FCO\"}}\n",
                "{\"text\": \"um\", \"intent\": \"unknown\"}\n",
            ),
            "l.jsonl",
        )
        .expect("shape is fine");
        let err = evaluate(&a, &intents, &data, clock(), &mut |_| {}).expect_err("labels rejected");
        let shown = err.to_string();
        assert!(shown.contains("l.jsonl:1: unknown intent 'book_flights'"), "{shown}");
        assert!(shown.contains("l.jsonl:2: unknown slot 'dest'"), "{shown}");
        assert_eq!(err.line_errors().len(), 2);
    }

    #[test]
    fn places_compare_by_code_only() {
        assert!(slot_matches(&serde_json::json!("LHR"), &serde_json::json!({"name": "London", "code": "LHR"})));
        assert!(!slot_matches(&serde_json::json!("LGW"), &serde_json::json!({"name": "London", "code": "LHR"})));
        assert!(slot_matches(&serde_json::json!(2), &serde_json::json!(2)));
        assert!(!slot_matches(&serde_json::json!("2"), &serde_json::json!(2)));
        assert!(slot_matches(&Value::Null, &Value::Null));
        // Choices are plain strings and not mistaken for codes.
        assert!(slot_matches(&serde_json::json!("business"), &serde_json::json!("business")));
    }
}
