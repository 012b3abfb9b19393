//! `POST /v1/telephony/webhooks/{provider}`: the provider-neutral ASR
//! webhook. A provider that recognises speech itself posts each result as
//! JSON (signed with its own secret, see [`super::verify::generic`]) and
//! gets JSON back: what to say, and whether to listen again, transfer or
//! hang up. Partial results are acknowledged and ignored. The answer's
//! `context` must be echoed in the call's next request; it carries the
//! call's position (see [`super::call`]), so the server keeps no
//! per-request state and a retried delivery gets the same answer.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use voxbook_dialogue::conversation::keyed_session_id;
use voxbook_proto::api::TurnResponse;

use super::call::{self, Input, Position, Step};
use super::verify;
use crate::app::AppState;
use crate::error::ApiError;

/// Longest call or event id accepted.
const MAX_ID_CHARS: usize = 128;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// The provider's id of the call; the session is keyed by it.
    pub call_id: String,
    /// The provider's id of this delivery, the same on every retry; when
    /// absent, `context` identifies the delivery.
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub transcript: Option<String>,
    /// 0 to 1; transcripts below the configured minimum are confirmed.
    #[serde(default)]
    pub confidence: Option<f32>,
    /// False for a partial result, which is acknowledged and ignored.
    #[serde(default = "yes", rename = "final")]
    pub is_final: bool,
    /// Keypad digits pressed (DTMF).
    #[serde(default)]
    pub digits: Option<String>,
    /// The `context` of the previous answer on this call.
    #[serde(default)]
    pub context: Option<String>,
    /// Clock of a new call's session (RFC 3339), for tests and replays.
    #[serde(default)]
    pub now: Option<String>,
}

fn yes() -> bool {
    true
}

/// What the provider should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Say `say`, then listen for the caller.
    Listen,
    /// Say `say`, then transfer the call to `transfer_to`.
    Transfer,
    /// Say `say`, then hang up.
    Hangup,
    /// Nothing (a partial result).
    Wait,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WebhookResponse {
    pub session_id: String,
    pub action: Action,
    pub say: String,
    /// Echo this in the call's next request.
    pub context: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_to: Option<String>,
    /// The dialogue turn, when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<TurnResponse>,
}

pub async fn webhook(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookResponse>, ApiError> {
    verify::generic(&state.telephony, &provider, &headers, &body)?;
    let request: WebhookRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("not a webhook request: {e}")))?;
    let call_id = request.call_id.trim();
    if call_id.is_empty() || call_id.chars().count() > MAX_ID_CHARS {
        return Err(ApiError::bad_request("invalid_call_id", "call_id must be 1 to 128 characters"));
    }
    if request.event_id.as_ref().is_some_and(|e| e.is_empty() || e.chars().count() > MAX_ID_CHARS) {
        return Err(ApiError::bad_request("invalid_event_id", "event_id must be 1 to 128 characters"));
    }
    let at = match request.context.as_deref().filter(|c| !c.is_empty()) {
        Some(context) => serde_json::from_str::<Position>(context)
            .map_err(|_| ApiError::bad_request("invalid_context", "context must be echoed unchanged"))?,
        None => Position::default(),
    };
    if !request.is_final {
        let context = encode(&at);
        return Ok(Json(WebhookResponse {
            session_id: keyed_session_id(&super::call_key(&provider, call_id)),
            action: Action::Wait,
            say: String::new(),
            context,
            transfer_to: None,
            turn: None,
        }));
    }
    let input = Input { transcript: request.transcript, confidence: request.confidence, digits: request.digits };
    let (id, step) =
        call::step_in_call(&state, &provider, call_id, request.now.clone(), &at, input, request.event_id.as_deref())
            .await?;
    let transfer_to = state.telephony.transfer_number.clone();
    let end = |turn: u64| Position { turn, ask: 0, doubt: None };
    let response = match step {
        Step::Reply(turn) => {
            let action = match (turn.handoff, turn.ended, &transfer_to) {
                (true, _, Some(_)) => Action::Transfer,
                (true, _, None) | (false, true, _) => Action::Hangup,
                _ => Action::Listen,
            };
            WebhookResponse {
                session_id: id,
                action,
                say: call::spoken_reply(&turn),
                context: encode(&end(turn.turn)),
                transfer_to: transfer_to.filter(|_| action == Action::Transfer),
                turn: Some(*turn),
            }
        }
        Step::Ask { say, next } => WebhookResponse {
            session_id: id,
            action: Action::Listen,
            say,
            context: encode(&next),
            transfer_to: None,
            turn: None,
        },
        Step::GiveUp { say } => WebhookResponse {
            session_id: id,
            action: if transfer_to.is_some() { Action::Transfer } else { Action::Hangup },
            say,
            context: encode(&at),
            transfer_to,
            turn: None,
        },
    };
    Ok(Json(response))
}

fn encode(at: &Position) -> String {
    serde_json::to_string(at).unwrap_or_default()
}
