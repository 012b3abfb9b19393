//! The gateway's REST API: sessions, turns, NLU parsing.
//!
//! These are the shapes mobile apps, telephony adapters and QA tools code
//! against. Slot values are plain JSON: a place is
//! `{"name": "London", "code": "LHR", "country": "GB"}`, a date is
//! `"2026-06-12"`, a count is a number, a choice (cabin) is its name, a
//! booking reference is its six letters, and an explicit "none" (a one-way
//! trip's `return_date`) is `null`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `POST /v1/sessions`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// The session's clock (RFC 3339). Relative dates ("next friday") are
    /// resolved against it; when absent the server's clock is used. Tests
    /// and QA replays set it so conversations are deterministic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<String>,
    /// Free-form caller metadata kept with the session (channel, app
    /// version, call id...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionCreated {
    pub session_id: String,
    pub greeting: String,
    /// What the assistant waits for first (normally null: an open question).
    pub awaiting: Option<String>,
    pub expires_in_seconds: u64,
}

/// `POST /v1/sessions/{id}/turns`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnRequest {
    pub text: String,
}

/// The intent the parser picked for an utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentOut {
    pub name: String,
    /// 0.0 to 1.0.
    pub confidence: f32,
}

/// One call the dialogue made to a booking tool during a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallOut {
    pub name: String,
    pub ok: bool,
    /// The tool's answer when `ok`, else `{"code": ..., "message": ...}`.
    pub result: Value,
    /// Attempts made (more than 1 when retried).
    pub attempts: u32,
    pub elapsed_ms: u64,
}

/// The answer to one turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnResponse {
    pub session_id: String,
    /// Counts turns in this session from 1.
    pub turn: u64,
    /// What the assistant says.
    pub reply: String,
    pub intent: IntentOut,
    /// The active flow's slots after this turn (all filled so far).
    pub slots: BTreeMap<String, Value>,
    pub tool_calls: Vec<ToolCallOut>,
    /// A slot name, `"option"` or `"confirmation"`, or null when the
    /// assistant asks an open question.
    pub awaiting: Option<String>,
    /// Set when this turn made, changed or cancelled a booking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_ref: Option<String>,
    /// The flow the conversation is in after this turn, if any.
    pub flow: Option<String>,
    /// The caller should be transferred to a person.
    pub handoff: bool,
    /// The conversation is over (goodbye or handoff); later turns start anew.
    pub ended: bool,
}

/// `POST /v1/nlu/parse`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseRequest {
    pub text: String,
    /// Clock for relative dates (RFC 3339); the server's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParseResponse {
    pub intent: IntentOut,
    /// Runner-up intents, best first.
    pub alternatives: Vec<IntentOut>,
    pub slots: BTreeMap<String, Value>,
}

/// `GET /v1/sessions/{id}`: the session's context, for support and QA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    pub session_id: String,
    pub created_at: String,
    pub now: String,
    pub turns: u64,
    pub flow: Option<String>,
    pub slots: BTreeMap<String, Value>,
    pub awaiting: Option<String>,
    /// Options offered and not yet chosen.
    pub options: Vec<Value>,
    /// Flows set aside by a digression, innermost last.
    pub suspended: Vec<String>,
    pub bookings: Vec<BookingSummary>,
    pub history: Vec<HistoryEntry>,
    pub ended: bool,
    pub expires_in_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingSummary {
    pub booking_ref: String,
    pub kind: String,
    pub status: String,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub turn: u64,
    pub user: String,
    pub reply: String,
    /// What the user actually heard of a spoken reply they interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heard: Option<String>,
    pub intent: String,
    pub at: String,
}
