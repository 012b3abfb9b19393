//! What a replay found: per-turn results, the per-script and overall
//! verdicts, and the three ways to read them — a table for people, JSON
//! for tools, JUnit XML for CI servers (each script a test suite, each turn
//! a test case, so a failing turn shows up by name in the CI's test view).

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

/// Where a turn's time went, in ms. The server's stages come from its
/// `turn_metrics` event (absent stages did not apply or were not reported);
/// the client's are measured here.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_to_transcript_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asr_decode_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialogue_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools_ms: Option<u64>,
    /// From the last byte of the user's input (the last audio frame, or the
    /// text message) to the turn result, on the client's clock.
    pub response_ms: u64,
    /// The whole turn on the client's clock, streaming included.
    pub turn_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnReport {
    /// Counts from 1.
    pub turn: usize,
    /// `text`, `say` or `audio`.
    pub kind: String,
    /// The text sent or spoken, or the audio file.
    pub input: String,
    /// Seconds of audio sent for this turn (utterance and trailing silence).
    pub audio_secs: f64,
    /// The final transcript the server heard (audio turns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_transcript: Option<String>,
    /// Word error rate of the transcript in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wer: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_ref: Option<String>,
    pub latency: Latency,
    pub passed: bool,
    /// Why the turn failed, one entry per broken expectation.
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptReport {
    pub name: String,
    pub path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    pub passed: bool,
    /// A failure outside any turn's expectations (unreadable script, server
    /// unreachable, stream closed, a turn that timed out...). Turns after it
    /// were not played.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub turns: Vec<TurnReport>,
    /// The script's turns, played or not.
    pub turns_total: usize,
    pub audio_secs: f64,
    pub wall_secs: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub url: String,
    pub speed: f64,
    pub passed: bool,
    pub scripts: Vec<ScriptReport>,
    /// Audio sent, over all scripts, in seconds.
    pub audio_secs: f64,
    /// Wall time spent playing the scripts (audio preparation excluded).
    pub wall_secs: f64,
    /// Wall time of the scripts with audio only, in seconds: the
    /// denominator of `realtime_factor`.
    pub audio_scripts_wall_secs: f64,
    /// Audio seconds per wall second over the scripts with audio: how much
    /// faster than a caller speaking the replay ran.
    pub realtime_factor: f64,
}

impl Report {
    pub fn new(url: &str, speed: f64, scripts: Vec<ScriptReport>) -> Report {
        // An empty float sum is -0.0; adding 0.0 keeps reports from saying "-0.0 s".
        let audio_secs = scripts.iter().map(|s| s.audio_secs).sum::<f64>() + 0.0;
        let wall_secs = scripts.iter().map(|s| s.wall_secs).sum::<f64>() + 0.0;
        let audio_scripts_wall_secs =
            scripts.iter().filter(|s| s.audio_secs > 0.0).map(|s| s.wall_secs).sum::<f64>() + 0.0;
        let realtime_factor = if audio_scripts_wall_secs > 0.0 { audio_secs / audio_scripts_wall_secs } else { 0.0 };
        Report {
            url: url.to_string(),
            speed,
            passed: scripts.iter().all(|s| s.passed),
            scripts,
            audio_secs,
            wall_secs,
            audio_scripts_wall_secs,
            realtime_factor,
        }
    }

    pub fn failed_scripts(&self) -> usize {
        self.scripts.iter().filter(|s| !s.passed).count()
    }

    pub fn to_json(&self) -> String {
        // Plain data: serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The report as JUnit XML: a suite per script, a case per turn, and a
    /// `setup` case carrying a script-level error.
    pub fn to_junit(&self) -> String {
        let tests: usize = self.scripts.iter().map(suite_cases).sum();
        let failures: usize = self.scripts.iter().map(suite_failures).sum();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"voxbook replay\" tests=\"{tests}\" failures=\"{failures}\" time=\"{:.3}\">",
            self.wall_secs
        );
        for script in &self.scripts {
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\" file=\"{}\">",
                xml_escape(&script.name),
                suite_cases(script),
                suite_failures(script),
                script.wall_secs,
                xml_escape(&script.path.display().to_string())
            );
            let classname = xml_escape(&script.name);
            for turn in &script.turns {
                let name = format!("turn {}: {} {}", turn.turn, turn.kind, turn.input);
                let _ = write!(
                    out,
                    "    <testcase classname=\"{classname}\" name=\"{}\" time=\"{:.3}\"",
                    xml_escape(&name),
                    turn.latency.turn_ms as f64 / 1000.0
                );
                if turn.passed {
                    out.push_str("/>\n");
                } else {
                    let message = turn.failures.join("; ");
                    let mut body = turn.failures.join("\n");
                    if let Some(t) = &turn.transcript {
                        let _ = write!(body, "\nheard: {t}");
                    }
                    if let Some(r) = &turn.reply {
                        let _ = write!(body, "\nreply: {r}");
                    }
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\" type=\"expectation\">{}</failure>\n    </testcase>",
                        xml_escape(&message),
                        xml_escape(&body)
                    );
                }
            }
            if let Some(error) = &script.error {
                let _ = writeln!(
                    out,
                    "    <testcase classname=\"{classname}\" name=\"setup\" time=\"0\">\n      <failure message=\"{}\" type=\"error\">{}</failure>\n    </testcase>",
                    xml_escape(error),
                    xml_escape(error)
                );
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

fn suite_cases(script: &ScriptReport) -> usize {
    script.turns.len() + usize::from(script.error.is_some())
}

fn suite_failures(script: &ScriptReport) -> usize {
    script.turns.iter().filter(|t| !t.passed).count() + usize::from(script.error.is_some())
}

/// Text made safe for XML attribute values and element content: the five
/// special characters escaped, and characters XML 1.0 cannot carry at all
/// (most control characters) replaced, so a stray byte in a transcript
/// cannot make the whole report unreadable.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn ms(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// One script as a table for the terminal: per turn the verdict, what was
/// sent and heard, WER, intent and the latency breakdown, then the reasons
/// of every failure.
pub fn render_table(script: &ScriptReport) -> String {
    let mut out = String::new();
    let verdict = if script.passed { "PASS" } else { "FAIL" };
    let _ = writeln!(
        out,
        "{verdict}  {} ({})  {} of {} turns, {:.1} s audio in {:.1} s",
        script.name,
        script.path.display(),
        script.turns.len(),
        script.turns_total,
        script.audio_secs,
        script.wall_secs
    );
    let _ = writeln!(
        out,
        "  {:>2} {:4} {:5} {:<44} {:>5} {:<18} {:>6} {:>6} {:>6} {:>6} {:>7}",
        "#", "ok", "kind", "sent / heard", "WER%", "intent", "ep→tx", "asr", "dlg", "tools", "resp"
    );
    for t in &script.turns {
        let ok = if t.passed { "ok" } else { "FAIL" };
        let wer = t.wer.map(|w| format!("{w:.0}")).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "  {:>2} {:4} {:5} {:<44} {:>5} {:<18} {:>6} {:>6} {:>6} {:>6} {:>7}",
            t.turn,
            ok,
            t.kind,
            clip(&t.input, 44),
            wer,
            clip(t.intent.as_deref().unwrap_or("-"), 18),
            ms(t.latency.endpoint_to_transcript_ms),
            ms(t.latency.asr_decode_ms),
            ms(t.latency.dialogue_ms),
            ms(t.latency.tools_ms),
            t.latency.response_ms
        );
        if let Some(heard) = &t.transcript {
            let _ = writeln!(out, "  {:>2} {:4} {:5} {:<44}", "", "", "heard", clip(&format!("“{heard}”"), 44));
        }
        for failure in &t.failures {
            let _ = writeln!(out, "       ✗ {failure}");
        }
    }
    if let Some(error) = &script.error {
        let _ = writeln!(out, "  ✗ {error}");
    }
    out
}

/// The last lines of a run: counts and the speed-up.
pub fn render_summary(report: &Report) -> String {
    let failed = report.failed_scripts();
    let turns: usize = report.scripts.iter().map(|s| s.turns.len()).sum();
    let failed_turns: usize = report.scripts.iter().map(|s| s.turns.iter().filter(|t| !t.passed).count()).sum();
    format!(
        "{} script(s), {} failed; {turns} turn(s), {failed_turns} failed; {:.1} s of audio in {:.1} s ({:.1}x real time at --speed {})\n",
        report.scripts.len(),
        failed,
        report.audio_secs,
        report.audio_scripts_wall_secs,
        report.realtime_factor,
        report.speed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_escaped() {
        assert_eq!(xml_escape("a<b & \"c\" 'd'>\u{1}"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{FFFD}");
    }

    #[test]
    fn junit_has_a_failure_per_failing_turn() {
        let turn = |n: usize, failures: Vec<String>| TurnReport {
            turn: n,
            kind: "text".into(),
            input: "<yes & no>".into(),
            audio_secs: 0.0,
            transcript: None,
            expected_transcript: None,
            wer: None,
            intent: Some("affirm".into()),
            reply: Some("ok".into()),
            booking_ref: None,
            latency: Latency::default(),
            passed: failures.is_empty(),
            failures,
        };
        let script = ScriptReport {
            name: "s\"1".into(),
            path: "x.yaml".into(),
            session_id: None,
            passed: false,
            error: None,
            turns: vec![turn(1, vec![]), turn(2, vec!["intent: expected \"deny\"".into()])],
            turns_total: 2,
            audio_secs: 0.0,
            wall_secs: 1.0,
        };
        let report = Report::new("http://x", 1.0, vec![script]);
        let xml = report.to_junit();
        assert!(!report.passed);
        assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"turn 2: text &lt;yes &amp; no&gt;\""), "{xml}");
        assert!(xml.contains("intent: expected &quot;deny&quot;"), "{xml}");
    }
}
