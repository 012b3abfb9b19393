//! Scripted conversations (`samples/conversations/*.yaml`) and a player
//! that runs them through the HTTP API and checks every turn.
//!
//! A script is a clock and a list of turns; each turn is what the user says
//! and what must come back. User text may name the last booking made in
//! the conversation as `{ref}`, `{ref_spelled}` ("v x seven k two p", as
//! ASR writes spelled letters) or `{ref_nato}` ("victor x-ray seven ...").
//!
//! Expectation keys: `intent`, `reply` (regular expression), `awaiting`,
//! `flow` (null or a name), `slots` (a subset of the turn's slots),
//! `tool_calls` (the exact list of tool names, in order), `booking`
//! (the status the booking service now reports for the turn's booking),
//! `booking_date` (its outbound or check-in date), `booking_item` (a
//! subset of the booked item as the service reports it), `no_booking`, `ended`,
//! `handoff`, `session_bookings` (bookings recorded in the session).
//! An unknown key fails the script, so a typo cannot pass silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::gateway::TestGateway;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub name: String,
    /// The session clock (RFC 3339).
    pub now: String,
    pub turns: Vec<ScriptTurn>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptTurn {
    pub user: String,
    #[serde(default)]
    pub expect: BTreeMap<String, Value>,
}

pub fn conversations_dir() -> PathBuf {
    crate::repo_root().join("samples").join("conversations")
}

pub fn load(path: &Path) -> anyhow::Result<Script> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_yaml_ng::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Every script in `samples/conversations/`, sorted by file name.
pub fn load_all() -> anyhow::Result<Vec<(PathBuf, Script)>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(conversations_dir())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    paths.into_iter().map(|p| load(&p).map(|s| (p, s))).collect()
}

fn digit_word(c: char) -> Option<&'static str> {
    Some(match c {
        '0' => "zero",
        '1' => "one",
        '2' => "two",
        '3' => "three",
        '4' => "four",
        '5' => "five",
        '6' => "six",
        '7' => "seven",
        '8' => "eight",
        '9' => "nine",
        _ => return None,
    })
}

const NATO: [&str; 26] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima",
    "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "x-ray",
    "yankee", "zulu",
];

/// "VX7K2P" → "v x seven k two p"
pub fn spelled(code: &str) -> String {
    code.chars()
        .map(|c| digit_word(c).map(str::to_string).unwrap_or_else(|| c.to_ascii_lowercase().to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// "VX7K2P" → "victor x-ray seven kilo two papa"
pub fn nato(code: &str) -> String {
    code.chars()
        .map(|c| match digit_word(c) {
            Some(w) => w.to_string(),
            None => {
                let i = (c.to_ascii_lowercase() as u8).wrapping_sub(b'a') as usize;
                NATO.get(i).map(|w| w.to_string()).unwrap_or_else(|| c.to_string())
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One conversation being played.
pub struct Run<'s> {
    pub script: &'s Script,
    pub session: String,
    /// The last booking reference any turn returned.
    pub last_ref: Option<String>,
    pub next_turn: usize,
}

/// True when every key of `expected` is in `actual` with a matching value
/// (objects recursively; anything else by equality).
pub fn subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e.iter().all(|(k, v)| a.get(k).is_some_and(|av| subset(v, av))),
        _ => expected == actual,
    }
}

impl<'s> Run<'s> {
    pub async fn start(gateway: &TestGateway, script: &'s Script) -> anyhow::Result<Run<'s>> {
        let session = gateway.session(&script.now).await?;
        Ok(Run { script, session, last_ref: None, next_turn: 0 })
    }

    pub fn finished(&self) -> bool {
        self.next_turn >= self.script.turns.len()
    }

    fn user_text(&self, template: &str) -> anyhow::Result<String> {
        if !template.contains("{ref") {
            return Ok(template.to_string());
        }
        let code =
            self.last_ref.as_deref().ok_or_else(|| anyhow!("'{template}' names a booking, but none was made yet"))?;
        Ok(template.replace("{ref_spelled}", &spelled(code)).replace("{ref_nato}", &nato(code)).replace("{ref}", code))
    }

    /// Plays the next turn on `gateway` and checks its expectations.
    pub async fn step(&mut self, gateway: &TestGateway) -> anyhow::Result<Value> {
        let index = self.next_turn;
        let turn = self.script.turns.get(index).ok_or_else(|| anyhow!("no turn {index}"))?;
        let text = self.user_text(&turn.user)?;
        let (status, body) = gateway.turn(&self.session, &text).await?;
        self.next_turn += 1;
        let context = || format!("script '{}', turn {} ({text:?})\nresponse: {body:#}", self.script.name, index + 1);
        if status != 200 {
            bail!("HTTP {status} in {}", context());
        }
        if let Some(code) = body["booking_ref"].as_str() {
            self.last_ref = Some(code.to_string());
        }
        self.check(gateway, &turn.expect, &body).await.with_context(context)?;
        Ok(body)
    }

    async fn check(&self, gateway: &TestGateway, expect: &BTreeMap<String, Value>, body: &Value) -> anyhow::Result<()> {
        for (key, want) in expect {
            match key.as_str() {
                "intent" => {
                    if body["intent"]["name"] != *want {
                        bail!("intent: expected {want}, got {}", body["intent"]["name"]);
                    }
                }
                "reply" => {
                    let pattern = want.as_str().ok_or_else(|| anyhow!("reply must be a string"))?;
                    let re = regex::Regex::new(pattern)?;
                    let reply = body["reply"].as_str().unwrap_or_default();
                    if !re.is_match(reply) {
                        bail!("reply {reply:?} does not match /{pattern}/");
                    }
                }
                "awaiting" | "flow" | "ended" | "handoff" => {
                    if body[key] != *want {
                        bail!("{key}: expected {want}, got {}", body[key]);
                    }
                }
                "slots" => {
                    if !subset(want, &body["slots"]) {
                        bail!("slots: expected at least {want}, got {}", body["slots"]);
                    }
                }
                "tool_calls" => {
                    let got: Vec<Value> = body["tool_calls"]
                        .as_array()
                        .map(|calls| calls.iter().map(|c| c["name"].clone()).collect())
                        .unwrap_or_default();
                    if Value::Array(got.clone()) != *want {
                        bail!("tool_calls: expected {want}, got {got:?}");
                    }
                }
                "no_booking" => {
                    if want == &Value::Bool(true) && !body["booking_ref"].is_null() {
                        bail!("expected no booking, got {}", body["booking_ref"]);
                    }
                }
                "booking" | "booking_date" | "booking_item" => {
                    let code = body["booking_ref"]
                        .as_str()
                        .ok_or_else(|| anyhow!("{key}: the turn returned no booking_ref"))?;
                    let (status, booking) = gateway.get_json(&format!("/v1/bookings/{code}")).await?;
                    if status != 200 {
                        bail!("GET /v1/bookings/{code}: HTTP {status}: {booking}");
                    }
                    if key == "booking" && booking["status"] != *want {
                        bail!("booking {code}: expected status {want}, got {}", booking["status"]);
                    }
                    if key == "booking_item" && !subset(want, &booking["item"]) {
                        bail!("booking {code}: expected the item to include {want}, got {}", booking["item"]);
                    }
                    if key == "booking_date" {
                        let item = &booking["item"];
                        let date = item["outbound"]["date"].as_str().or(item["check_in"].as_str());
                        if date != want.as_str() {
                            bail!("booking {code}: expected date {want}, got {date:?}");
                        }
                    }
                }
                "session_bookings" => {
                    let (_, session) = gateway.get_json(&format!("/v1/sessions/{}", self.session)).await?;
                    let count = session["bookings"].as_array().map(Vec::len).unwrap_or(0);
                    if Some(count as u64) != want.as_u64() {
                        bail!("session bookings: expected {want}, got {count}");
                    }
                }
                other => bail!("unknown expectation '{other}'"),
            }
        }
        Ok(())
    }
}

/// Plays a whole script, turn `i` on `gateways[i % len]`.
pub async fn play(script: &Script, gateways: &[&TestGateway]) -> anyhow::Result<()> {
    let first = gateways.first().ok_or_else(|| anyhow!("no gateway"))?;
    let mut run = Run::start(first, script).await?;
    while !run.finished() {
        let gateway = gateways[run.next_turn % gateways.len()];
        run.step(gateway).await?;
    }
    Ok(())
}

/// The session clock of a script as UTC, for the booking service.
pub fn script_now(script: &Script) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    Ok(chrono::DateTime::parse_from_rfc3339(&script.now)?.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spells_references_as_asr_writes_them() {
        assert_eq!(spelled("VX7K2P"), "v x seven k two p");
        assert_eq!(nato("VX7K2P"), "victor x-ray seven kilo two papa");
    }

    #[test]
    fn subset_matches_nested_objects() {
        let actual = serde_json::json!({"a": {"b": 1, "c": 2}, "d": null});
        assert!(subset(&serde_json::json!({"a": {"b": 1}}), &actual));
        assert!(subset(&serde_json::json!({"d": null}), &actual));
        assert!(!subset(&serde_json::json!({"a": {"b": 2}}), &actual));
        assert!(!subset(&serde_json::json!({"e": 1}), &actual));
    }
}
