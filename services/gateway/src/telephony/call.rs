//! One step of a phone call whose speech the provider recognises: what
//! to do with a transcript (or keypad digits, or silence) before and
//! instead of running a dialogue turn. Shared by Twilio's Gather webhooks
//! and the generic JSON webhook, which differ only in their wire format.
//!
//! A doubtful transcript (below `min_confidence`) is read back for a yes
//! or no instead of being acted on; silence and a "no" are asked again;
//! after `max_reasks` the call goes to a person (or ends politely). The
//! step's position travels with the provider's next request (the Gather
//! action URL, or the JSON `context`), so these answers hold no state and
//! a retried delivery gets the same answer. A delivery that runs a turn
//! carries a key derived from that position, so a retry is answered from
//! the session instead of running the turn and its tool calls again.

use serde::{Deserialize, Serialize};
use voxbook_proto::api::{CreateSession, ParseRequest, SessionCreated, TurnResponse};

use super::dtmf;
use voxbook_dialogue::conversation::keyed_session_id;

use crate::app::AppState;
use crate::error::ApiError;

/// Where the call stands, as echoed back by the provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Turns completed when the caller was prompted.
    pub turn: u64,
    /// How often this prompt has been asked again.
    #[serde(default)]
    pub ask: u32,
    /// A doubtful transcript read back for confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doubt: Option<String>,
}

/// What the caller produced this time.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub transcript: Option<String>,
    /// The provider's recogniser confidence, 0 to 1 (absent: trusted).
    pub confidence: Option<f32>,
    pub digits: Option<String>,
}

/// What to tell the caller next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A dialogue turn ran: say its reply; then listen, transfer or hang
    /// up as the response says.
    Reply(Box<TurnResponse>),
    /// Say `say` and listen again at `next`.
    Ask { say: String, next: Position },
    /// Give up on understanding: say `say`, then transfer (when a number
    /// is configured) or hang up.
    GiveUp { say: String },
}

/// The call's session, created on its first request (webhook or media
/// stream) and found by every later one. Its metadata names the channel,
/// provider and call, plus `extra` (a media stream's custom parameters).
pub async fn session(
    state: &AppState,
    provider: &str,
    call_id: &str,
    now: Option<String>,
    extra: std::collections::BTreeMap<String, String>,
) -> Result<SessionCreated, ApiError> {
    let mut metadata = extra;
    metadata.insert("channel".to_string(), "phone".to_string());
    metadata.insert("provider".to_string(), provider.to_string());
    metadata.insert("call_id".to_string(), call_id.to_string());
    let request = CreateSession { now, metadata };
    let (session, _) = state.conversations.open_keyed(&super::call_key(provider, call_id), &request).await?;
    Ok(session)
}

/// One step of the provider's call `call_id`: in its session, which is
/// created only when missing (a call's first webhook, or one whose
/// session expired), so the common path costs one session load and one
/// conditional save.
pub async fn step_in_call(
    state: &AppState,
    provider: &str,
    call_id: &str,
    now: Option<String>,
    at: &Position,
    input: Input,
    delivery: Option<&str>,
) -> Result<(String, Step), ApiError> {
    let id = keyed_session_id(&super::call_key(provider, call_id));
    match step(state, &id, at, input.clone(), delivery).await {
        Err(e) if e.code == "session_not_found" => {
            let id = session(state, provider, call_id, now, Default::default()).await?.session_id;
            let step = step(state, &id, at, input, delivery).await?;
            Ok((id, step))
        }
        result => result.map(|step| (id, step)),
    }
}

/// Decides and runs one step of the call in session `id`.
/// `delivery` is the provider's id of this delivery, when it has one
/// that survives retries; otherwise the position identifies it.
pub async fn step(
    state: &AppState,
    id: &str,
    at: &Position,
    input: Input,
    delivery: Option<&str>,
) -> Result<Step, ApiError> {
    let phone = &state.telephony;
    let digits = input.digits.as_deref().map(str::trim).filter(|d| !d.is_empty());
    let transcript = input.transcript.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let key = match delivery {
        Some(d) => format!("phone:event:{d}"),
        None => format!("phone:{}:{}", at.turn, at.ask),
    };

    if let Some(doubt) = &at.doubt {
        let answer = match (digits, transcript) {
            (Some(d), _) if d.starts_with('1') => Some(true),
            (Some(d), _) if d.starts_with('2') => Some(false),
            (None, Some(t)) => yes_or_no(state, t),
            _ => None,
        };
        match answer {
            Some(true) => return turn(state, id, doubt, &key).await,
            Some(false) => return reask(state, id, at, "Sorry about that. Please say it again.").await,
            // Something else: treat it as a fresh answer.
            None => {}
        }
    }
    if let Some(digits) = digits {
        let awaiting = state.conversations.awaiting(id).await?;
        return match dtmf::utterance(digits, awaiting.as_deref()) {
            Some(text) => turn(state, id, &text, &key).await,
            None => reask(state, id, at, "Sorry, that key doesn't do anything here.").await,
        };
    }
    let Some(transcript) = transcript else {
        return reask(state, id, at, "Sorry, I didn't hear anything.").await;
    };
    match input.confidence {
        Some(c) if c < phone.min_confidence => {
            if at.ask >= phone.max_reasks {
                return Ok(give_up(state));
            }
            let say = format!("I think you said: {transcript}. Is that right? Press 1 for yes or 2 for no.");
            let next = Position { turn: at.turn, ask: at.ask + 1, doubt: Some(transcript.to_string()) };
            Ok(Step::Ask { say, next })
        }
        _ => turn(state, id, transcript, &key).await,
    }
}

async fn turn(state: &AppState, id: &str, text: &str, key: &str) -> Result<Step, ApiError> {
    let started = std::time::Instant::now();
    let response = state.conversations.deliver(id, text, Some(key)).await?;
    state.metrics.observe_turn("phone", started.elapsed(), &response);
    Ok(Step::Reply(Box::new(response)))
}

/// The caller's yes or no, if the utterance is one.
fn yes_or_no(state: &AppState, text: &str) -> Option<bool> {
    let parsed = state.conversations.parse(&ParseRequest { text: text.to_string(), now: None }).ok()?;
    match parsed.intent.name.as_str() {
        "affirm" => Some(true),
        "deny" => Some(false),
        _ => None,
    }
}

/// Asks the last question again, or gives up after `max_reasks`.
async fn reask(state: &AppState, id: &str, at: &Position, sorry: &str) -> Result<Step, ApiError> {
    if at.ask >= state.telephony.max_reasks {
        return Ok(give_up(state));
    }
    let prompt = state.conversations.last_reply(id).await?;
    let next = Position { turn: at.turn, ask: at.ask + 1, doubt: None };
    Ok(Step::Ask { say: format!("{sorry} {prompt}"), next })
}

fn give_up(state: &AppState) -> Step {
    let say = if state.telephony.transfer_number.is_some() {
        "I'm having trouble understanding. Let me put you through to a colleague."
    } else {
        "I'm having trouble understanding, sorry. Please call again later. Goodbye."
    };
    Step::GiveUp { say: say.to_string() }
}

/// The prompt to say after a reply, with a keypad hint where digits help.
pub fn spoken_reply(response: &TurnResponse) -> String {
    match dtmf::hint(response.awaiting.as_deref()) {
        Some(hint) if !response.ended && !response.handoff => format!("{} {hint}", response.reply),
        _ => response.reply.clone(),
    }
}
