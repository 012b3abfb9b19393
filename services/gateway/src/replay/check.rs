//! The expectation checks of a script turn: the one implementation behind
//! `voxbook replay` and the end-to-end conversation tests.
//!
//! Keys: `intent`, `reply` (regular expression), `awaiting`, `flow` (null
//! or a name), `slots` (a subset of the turn's slots), `tool_calls` (the
//! exact list of tool names, in order), `booking` (the status the booking
//! service now reports for the turn's booking), `booking_date` (its
//! outbound or check-in date), `booking_item` (a subset of the booked item
//! as the service reports it), `no_booking`, `ended`, `handoff`,
//! `session_bookings` (bookings recorded in the session), and for audio
//! turns `transcript` (what should be heard; a `say:` turn defaults to its
//! text) with `wer_max` (the word error rate allowed, in percent; 0 when a
//! transcript is given without one). An unknown key fails the turn, so a
//! typo cannot pass silently. Every failing key is reported, not just the
//! first, so one replay shows everything wrong with a turn.

use std::collections::BTreeMap;

use serde_json::Value;

use super::wer::wer;

/// Reads the server's state for the checks that need more than the turn
/// result: `GET` a gateway path, answering the status and the JSON body.
#[async_trait::async_trait]
pub trait Lookup: Sync {
    async fn get_json(&self, path: &str) -> Result<(u16, Value), String>;
}

/// True when every key of `expected` is in `actual` with a matching value
/// (objects recursively; anything else by equality).
pub fn subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e.iter().all(|(k, v)| a.get(k).is_some_and(|av| subset(v, av))),
        _ => expected == actual,
    }
}

/// The transcript check of one turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptCheck {
    /// What should have been heard, when known.
    pub expected: Option<String>,
    /// Word error rate in percent, when there is a reference and a transcript.
    pub wer: Option<f64>,
    pub failures: Vec<String>,
}

/// Checks `heard` (the final transcript of an audio turn, `None` for a
/// text turn) against `transcript` / `wer_max`; `said` is a `say:` turn's
/// text, the default reference.
pub fn check_transcript(expect: &BTreeMap<String, Value>, said: Option<&str>, heard: Option<&str>) -> TranscriptCheck {
    let mut failures = Vec::new();
    let given = match expect.get("transcript") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            failures.push(format!("transcript must be a string, got {other}"));
            None
        }
    };
    let wer_max = match expect.get("wer_max") {
        None => given.as_ref().map(|_| 0.0),
        Some(v) => match v.as_f64() {
            Some(max) => Some(max),
            None => {
                failures.push(format!("wer_max must be a number (percent), got {v}"));
                None
            }
        },
    };
    let expected = given.or_else(|| said.map(str::to_string));
    let wer = match (&expected, heard) {
        (Some(reference), Some(hypothesis)) => Some(wer(reference, hypothesis)),
        _ => None,
    };
    if wer_max.is_some() || expect.contains_key("transcript") {
        match (heard, wer, wer_max) {
            (None, _, _) => failures.push("transcript expected, but the turn produced none (a text turn?)".into()),
            (Some(h), Some(w), Some(max)) if w > max => failures.push(format!(
                "transcript {h:?} is {w:.0}% off {:?} (wer_max {max})",
                expected.as_deref().unwrap_or_default()
            )),
            (Some(_), None, Some(_)) => failures.push("wer_max given, but no transcript to compare with".into()),
            _ => {}
        }
    }
    TranscriptCheck { expected, wer, failures }
}

/// Checks a turn's result (`body`, the `TurnResponse` as JSON) against
/// every key of `expect` but the transcript ones; `session` is the
/// conversation's id for `session_bookings`. Returns the failures.
pub async fn check_result(
    lookup: &dyn Lookup,
    session: &str,
    expect: &BTreeMap<String, Value>,
    body: &Value,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (key, want) in expect {
        if let Err(failure) = check_key(lookup, session, key, want, body).await {
            failures.push(failure);
        }
    }
    failures
}

async fn check_key(lookup: &dyn Lookup, session: &str, key: &str, want: &Value, body: &Value) -> Result<(), String> {
    match key {
        "transcript" | "wer_max" => {}
        "intent" => {
            if body["intent"]["name"] != *want {
                return Err(format!("intent: expected {want}, got {}", body["intent"]["name"]));
            }
        }
        "reply" => {
            let pattern = want.as_str().ok_or("reply must be a string (a regular expression)")?;
            let re = regex::Regex::new(pattern).map_err(|e| format!("reply: invalid pattern: {e}"))?;
            let reply = body["reply"].as_str().unwrap_or_default();
            if !re.is_match(reply) {
                return Err(format!("reply {reply:?} does not match /{pattern}/"));
            }
        }
        "awaiting" | "flow" | "ended" | "handoff" => {
            if body[key] != *want {
                return Err(format!("{key}: expected {want}, got {}", body[key]));
            }
        }
        "slots" => {
            if !subset(want, &body["slots"]) {
                return Err(format!("slots: expected at least {want}, got {}", body["slots"]));
            }
        }
        "tool_calls" => {
            let got: Vec<Value> = body["tool_calls"]
                .as_array()
                .map(|calls| calls.iter().map(|c| c["name"].clone()).collect())
                .unwrap_or_default();
            if Value::Array(got.clone()) != *want {
                return Err(format!("tool_calls: expected {want}, got {}", Value::Array(got)));
            }
        }
        "no_booking" => {
            if want == &Value::Bool(true) && !body["booking_ref"].is_null() {
                return Err(format!("expected no booking, got {}", body["booking_ref"]));
            }
        }
        "booking" | "booking_date" | "booking_item" => {
            let code =
                body["booking_ref"].as_str().ok_or_else(|| format!("{key}: the turn returned no booking_ref"))?;
            let (status, booking) = lookup.get_json(&format!("/v1/bookings/{code}")).await?;
            if status != 200 {
                return Err(format!("GET /v1/bookings/{code}: HTTP {status}: {booking}"));
            }
            if key == "booking" && booking["status"] != *want {
                return Err(format!("booking {code}: expected status {want}, got {}", booking["status"]));
            }
            if key == "booking_item" && !subset(want, &booking["item"]) {
                return Err(format!("booking {code}: expected the item to include {want}, got {}", booking["item"]));
            }
            if key == "booking_date" {
                let item = &booking["item"];
                let date = item["outbound"]["date"].as_str().or(item["check_in"].as_str());
                if date != want.as_str() {
                    return Err(format!("booking {code}: expected date {want}, got {date:?}"));
                }
            }
        }
        "session_bookings" => {
            let (status, session) = lookup.get_json(&format!("/v1/sessions/{session}")).await?;
            if status != 200 {
                return Err(format!("GET /v1/sessions/{{id}}: HTTP {status}: {session}"));
            }
            let count = session["bookings"].as_array().map(Vec::len).unwrap_or(0);
            if Some(count as u64) != want.as_u64() {
                return Err(format!("session bookings: expected {want}, got {count}"));
            }
        }
        other => return Err(format!("unknown expectation '{other}'")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct NoLookup;

    #[async_trait::async_trait]
    impl Lookup for NoLookup {
        async fn get_json(&self, path: &str) -> Result<(u16, Value), String> {
            Err(format!("no server for {path}"))
        }
    }

    fn expect(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn subset_matches_nested_objects() {
        let actual = json!({"a": {"b": 1, "c": 2}, "d": null});
        assert!(subset(&json!({"a": {"b": 1}}), &actual));
        assert!(subset(&json!({"d": null}), &actual));
        assert!(!subset(&json!({"a": {"b": 2}}), &actual));
        assert!(!subset(&json!({"e": 1}), &actual));
    }

    #[tokio::test]
    async fn every_failing_key_is_reported() {
        let body = json!({"intent": {"name": "affirm"}, "reply": "Done.", "awaiting": null, "tool_calls": []});
        let e = expect(json!({"intent": "deny", "reply": "(?i)done", "awaiting": "x", "typo": 1}));
        let failures = check_result(&NoLookup, "s", &e, &body).await;
        assert_eq!(failures.len(), 3, "{failures:?}");
        assert!(failures.iter().any(|f| f.contains("unknown expectation 'typo'")));
    }

    #[test]
    fn transcripts_are_scored_by_word_error_rate() {
        let e = expect(json!({"wer_max": 25}));
        let ok = check_transcript(&e, Some("one way please"), Some("One way, please."));
        assert_eq!((ok.wer, ok.failures.len()), (Some(0.0), 0));
        let bad = check_transcript(&e, Some("one way please"), Some("one weigh"));
        assert!(bad.failures.len() == 1 && bad.wer.is_some_and(|w| w > 60.0), "{bad:?}");
        let strict = expect(json!({"transcript": "go forward ten meters"}));
        assert!(check_transcript(&strict, None, Some("go forward 10 meters")).failures.is_empty());
        assert!(!check_transcript(&strict, None, None).failures.is_empty());
        // No wer_max and no transcript: scored, never failed.
        let loose = check_transcript(&BTreeMap::new(), Some("a b"), Some("c d"));
        assert_eq!((loose.wer, loose.failures.len()), (Some(100.0), 0));
    }
}
