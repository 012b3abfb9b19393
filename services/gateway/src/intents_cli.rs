//! `voxbook intents check` and `voxbook intents eval`: the conversation
//! designers' tools for an assistant config.
//!
//! `check` loads a config exactly as the server would and reports every
//! problem as `file:line:column`. `eval` scores the parser on a labelled
//! JSONL dataset (see [`voxbook_dialogue::eval`] for the format) and prints
//! per-intent and per-slot precision, recall and F1, a confusion table, a
//! line per tag and the first misses; `--json` also writes the whole report.
//! Low scores are a finding, not a failure: the exit code is non-zero only
//! when the config or the dataset cannot be loaded, or when the caller asks
//! for a gate with `--min-intent-f1` and `--min-slot-f1`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use voxbook_dialogue::assistant::Assistant;
use voxbook_dialogue::config::{self, AssistantSpec, ConfigError};
use voxbook_dialogue::eval::{self, Clock, Rate, Report, Scores};
use voxbook_dialogue::extract::places::Gazetteer;
use voxbook_proto::airports::Airports;

#[derive(Debug, Subcommand)]
pub enum IntentsCommand {
    /// Check an assistant config: schema, unknown slot types, unreachable
    /// flows, duplicate or conflicting examples; every problem as file:line.
    Check { path: PathBuf },
    /// Score the parser on a labelled JSONL dataset (text, intent, slots).
    Eval(EvalArgs),
}

#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// The assistant config (YAML).
    pub path: PathBuf,
    /// The labelled utterances (JSON Lines).
    pub dataset: PathBuf,
    /// Also write the full report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The day relative dates resolve against (RFC 3339 or YYYY-MM-DD);
    /// overrides the dataset's header, not a line's own `now`.
    #[arg(long)]
    pub now: Option<String>,
    /// How many misses to print.
    #[arg(long, default_value_t = 25)]
    pub misses: usize,
    /// Fail (exit 1) when the macro-averaged intent F1 is below this.
    #[arg(long)]
    pub min_intent_f1: Option<f64>,
    /// Fail (exit 1) when the pooled slot F1 is below this.
    #[arg(long)]
    pub min_slot_f1: Option<f64>,
}

/// Runs an `intents` subcommand from the binary.
pub fn run(command: IntentsCommand) -> anyhow::Result<()> {
    match command {
        IntentsCommand::Check { path } => {
            println!("{}", check(&path)?);
            Ok(())
        }
        IntentsCommand::Eval(args) => {
            let report = eval_with_progress(&args, true)?;
            print!("{}", render(&report, args.misses));
            if let Some(out) = &args.json {
                println!("report written to {}", out.display());
            }
            gate(&report, args.min_intent_f1)?;
            gate_slots(&report, args.min_slot_f1)
        }
    }
}

/// `intents check` (and the older `check-config`): the one-line summary of
/// a good config, or every problem with its file:line:column.
pub fn check(path: &Path) -> Result<String, ConfigError> {
    let spec = config::load_file(path)?;
    Ok(format!(
        "{}: ok ({} intents, {} flows, {} slots)",
        path.display(),
        spec.intents.len(),
        spec.flows.len(),
        spec.slots.len()
    ))
}

/// Loads the config and compiles it as the server does.
fn load_assistant(path: &Path) -> anyhow::Result<(AssistantSpec, Assistant)> {
    let spec = config::load_file(path)?;
    let gazetteer = Arc::new(Gazetteer::new(&Airports::embedded()));
    let assistant = Assistant::compile(spec.clone(), gazetteer, &path.display().to_string())?;
    Ok((spec, assistant))
}

/// `intents eval` without printing: loads both files, scores, writes the
/// JSON report when asked. `progress` shows a bar on the terminal.
pub fn eval_with_progress(args: &EvalArgs, progress: bool) -> anyhow::Result<Report> {
    let (spec, assistant) = load_assistant(&args.path)?;
    let dataset = eval::load_dataset(&args.dataset)?;
    let now = match &args.now {
        Some(text) => Some(eval::parse_today(text).map_err(|m| anyhow::anyhow!("--now: {m}"))?),
        None => None,
    };
    let clock = Clock { now, fallback: chrono::Utc::now().date_naive() };
    let intents: Vec<String> = spec.intents.keys().cloned().collect();

    let bar = if progress { ProgressBar::new(dataset.examples.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} scoring [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let report = eval::evaluate(&assistant, &intents, &dataset, clock, &mut |done| bar.set_position(done as u64));
    bar.finish_and_clear();
    let report = report?;

    if let Some(out) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(out, json + "\n").with_context(|| format!("cannot write the report to {}", out.display()))?;
    }
    Ok(report)
}

/// The optional quality gate.
pub fn gate(report: &Report, min_intent_f1: Option<f64>) -> anyhow::Result<()> {
    if let Some(min) = min_intent_f1
        && report.macro_avg.f1 < min
    {
        bail!("macro intent F1 {:.3} is below the required {min:.3}", report.macro_avg.f1);
    }
    Ok(())
}

/// The optional slot gate: pooled slot F1 at least `min_slot_f1`.
pub fn gate_slots(report: &Report, min_slot_f1: Option<f64>) -> anyhow::Result<()> {
    if let Some(min) = min_slot_f1 {
        let f1 = report.slots.f1.unwrap_or(0.0);
        if f1 < min {
            bail!("slot F1 {f1:.3} is below the required {min:.3}");
        }
    }
    Ok(())
}

fn score_line(out: &mut String, label: &str, s: &Scores) {
    let _ = writeln!(
        out,
        "  {label:<16} {} {} {}  {:>7} {:>9}",
        Rate(s.precision),
        Rate(s.recall),
        Rate(s.f1),
        s.support,
        s.predicted
    );
}

/// A slot value as a designer reads it: a place by its code, text bare.
fn show_value(v: &Value) -> String {
    match (v.get("code").and_then(Value::as_str), v.as_str()) {
        (Some(code), _) | (None, Some(code)) => code.to_string(),
        (None, None) => v.to_string(),
    }
}

fn show_slots(slots: &std::collections::BTreeMap<String, Value>) -> String {
    slots.iter().map(|(k, v)| format!("{k}={}", show_value(v))).collect::<Vec<_>>().join(", ")
}

/// The human-readable report.
pub fn render(report: &Report, max_misses: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} utterances, intent accuracy {:.3}, macro P {:.3} R {:.3} F1 {:.3}",
        report.dataset,
        report.utterances,
        report.intent_accuracy,
        report.macro_avg.precision,
        report.macro_avg.recall,
        report.macro_avg.f1
    );
    let _ = writeln!(out, "\nintents{:>13}{:>7}{:>7}{:>9}{:>10}", "P", "R", "F1", "support", "predicted");
    for row in &report.intents {
        score_line(&mut out, &row.intent, &row.scores);
    }
    let s = &report.slots;
    let _ = writeln!(
        out,
        "\nslots: P {} R {} F1 {} ({} right of {} expected, {} predicted)",
        Rate(s.precision),
        Rate(s.recall),
        Rate(s.f1),
        s.correct,
        s.support,
        s.predicted
    );
    let _ = writeln!(out, "slot{:>16}{:>7}{:>7}{:>9}{:>10}", "P", "R", "F1", "support", "predicted");
    for row in &report.slot_rows {
        score_line(&mut out, &row.slot, &row.scores);
    }

    let c = &report.confusion;
    let _ = writeln!(out, "\nconfusion (rows: expected, columns: predicted)");
    let legend: Vec<String> = c.columns.iter().enumerate().map(|(i, name)| format!("{}={name}", i + 1)).collect();
    let _ = writeln!(out, "  columns: {}", legend.join(" "));
    let _ = write!(out, "  {:<16}", "");
    for i in 0..c.columns.len() {
        let _ = write!(out, "{:>5}", i + 1);
    }
    out.push('\n');
    for (row, counts) in c.rows.iter().zip(&c.counts) {
        let _ = write!(out, "  {row:<16}");
        for n in counts {
            if *n == 0 {
                let _ = write!(out, "{:>5}", ".");
            } else {
                let _ = write!(out, "{n:>5}");
            }
        }
        out.push('\n');
    }

    if !report.tags.is_empty() {
        let _ = writeln!(out, "\ntags{:>18}{:>10}{:>9}", "utterances", "intent", "slot F1");
        for t in &report.tags {
            let _ = writeln!(out, "  {:<16}{:>6}{:>10.3} {}", t.tag, t.utterances, t.intent_accuracy, Rate(t.slot_f1));
        }
    }

    let _ = writeln!(out, "\nmisses: {} of {} utterances", report.misses.len(), report.utterances);
    for m in report.misses.iter().take(max_misses) {
        let _ = writeln!(out, "  line {}: {:?}", m.line, m.text);
        if m.intent_wrong() {
            let _ = writeln!(
                out,
                "    intent: expected {}, got {} ({:.2})",
                m.expected_intent, m.predicted_intent, m.confidence
            );
        }
        if !m.missing_slots.is_empty() {
            let _ = writeln!(out, "    missing: {}", show_slots(&m.missing_slots));
        }
        if !m.unexpected_slots.is_empty() {
            let _ = writeln!(out, "    unexpected: {}", show_slots(&m.unexpected_slots));
        }
    }
    if report.misses.len() > max_misses {
        let _ = writeln!(out, "  ... {} more (see --json, or raise --misses)", report.misses.len() - max_misses);
    }
    out
}
