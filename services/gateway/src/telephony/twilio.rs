//! Twilio's voice webhooks, answered with TwiML.
//!
//! `POST /v1/telephony/twilio/voice` is the incoming-call webhook: it
//! opens the call's session (keyed by `CallSid`) and answers with the
//! greeting inside a `<Gather input="speech dtmf">`, or with
//! `<Connect><Stream>` to move the call's audio onto our own media stream
//! ([`super::media_stream`]), as configured. `POST
//! /v1/telephony/twilio/gather` is the Gather action: Twilio posts the
//! caller's `SpeechResult` (with its `Confidence`) or `Digits`, and we
//! answer with the reply in the next `<Gather>`, or `<Dial>` on handoff,
//! or `<Hangup/>` at the end. The action URL carries the call's position
//! ([`super::call::Position`]) so retried deliveries are recognised.
//!
//! Every request must carry a valid `X-Twilio-Signature`; anything else
//! is refused with 403 before a session is touched. Failures past that
//! point still answer TwiML (an apology and a hang-up), because an HTTP
//! error makes Twilio play its own generic message to the caller.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};

use super::call::{self, Input, Position, Step};
use super::twiml::{Gather, Twiml};
use super::verify;
use crate::app::AppState;
use crate::config::AnswerWith;
use crate::error::ApiError;

pub const GATHER_PATH: &str = "/v1/telephony/twilio/gather";
pub const MEDIA_PATH: &str = "/v1/telephony/twilio/media";

/// A TwiML document as an HTTP response.
struct TwimlResponse(String);

impl IntoResponse for TwimlResponse {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"))], self.0).into_response()
    }
}

/// The signed form of a Twilio webhook.
struct Form {
    params: Vec<(String, String)>,
}

impl Form {
    /// Reads and verifies a webhook: form-encoded (signed over the URL and
    /// the parameters), or JSON (signed over the URL, whose `bodySHA256`
    /// must match the body).
    fn read(state: &AppState, headers: &HeaderMap, uri: &Uri, body: &[u8]) -> Result<Form, ApiError> {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if !json {
            let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
            verify::twilio_form(&state.telephony, headers, uri, &params)?;
            return Ok(Form { params });
        }
        verify::twilio_json(&state.telephony, headers, uri, body)?;
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("not a JSON object: {e}")))?;
        let params = object
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                serde_json::Value::Number(n) => Some((k, n.to_string())),
                serde_json::Value::Bool(b) => Some((k, b.to_string())),
                _ => None,
            })
            .collect();
        Ok(Form { params })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn call_sid(&self) -> Result<&str, ApiError> {
        self.get("CallSid")
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or_else(|| ApiError::bad_request("missing_call_sid", "a Twilio voice webhook carries a CallSid"))
    }
}

pub async fn voice(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = Form::read(&state, &headers, &uri, &body)?;
    let call_sid = form.call_sid()?;
    Ok(respond(&state, answer_call(&state, &headers, call_sid).await))
}

/// The TwiML answer, or the apology when this side failed.
fn respond(state: &AppState, answer: Result<String, ApiError>) -> Response {
    TwimlResponse(answer.unwrap_or_else(|e| apology(state, e))).into_response()
}

async fn answer_call(state: &AppState, headers: &HeaderMap, call_sid: &str) -> Result<String, ApiError> {
    // The greeting, or the last prompt when the call's session exists.
    let session = call::session(state, "twilio", call_sid, None, Default::default()).await?;
    let id = session.session_id;
    tracing::info!(session_id = %id, call_sid, "incoming call");
    match state.telephony.answer_with {
        AnswerWith::Gather => {
            let turns = state.conversations.view(&id).await?.turns;
            Ok(listen(state, &session.greeting, &Position { turn: turns, ask: 0, doubt: None }).render())
        }
        AnswerWith::Stream => {
            let base = verify::provider_url(&state.telephony, headers, &Uri::from_static("/"));
            let ws_base = base.trim_end_matches('/').replacen("http", "ws", 1);
            Ok(Twiml::new().connect_stream(&format!("{ws_base}{MEDIA_PATH}"), &[]).render())
        }
    }
}

pub async fn gather(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = Form::read(&state, &headers, &uri, &body)?;
    let call_sid = form.call_sid()?;
    let at = position(&uri);
    let input = Input {
        transcript: form.get("SpeechResult").map(str::to_string),
        confidence: form.get("Confidence").and_then(|c| c.parse::<f32>().ok()),
        digits: form.get("Digits").map(str::to_string),
    };
    Ok(respond(&state, answer_gather(&state, call_sid, &at, input).await))
}

async fn answer_gather(state: &AppState, call_sid: &str, at: &Position, input: Input) -> Result<String, ApiError> {
    let (_, step) = call::step_in_call(state, "twilio", call_sid, None, at, input, None).await?;
    let document = match step {
        Step::Reply(turn) => {
            let say = call::spoken_reply(&turn);
            if turn.handoff {
                transfer(state, &say)
            } else if turn.ended {
                say_then(state, &say).hangup()
            } else {
                listen(state, &say, &Position { turn: turn.turn, ask: 0, doubt: None })
            }
        }
        Step::Ask { say, next } => listen(state, &say, &next),
        Step::GiveUp { say } => transfer(state, &say),
    };
    Ok(document.render())
}

/// The call's position from the Gather action URL's query.
fn position(uri: &Uri) -> Position {
    let mut at = Position::default();
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "turn" => at.turn = v.parse().unwrap_or(0),
            "ask" => at.ask = v.parse().unwrap_or(0),
            "doubt" if !v.is_empty() => at.doubt = Some(v.into_owned()),
            _ => {}
        }
    }
    at
}

/// The Gather action URL for position `at`.
fn action_url(at: &Position) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("turn", &at.turn.to_string()).append_pair("ask", &at.ask.to_string());
    if let Some(doubt) = &at.doubt {
        query.append_pair("doubt", doubt);
    }
    format!("{GATHER_PATH}?{}", query.finish())
}

/// Says `say` while listening for speech or digits; Twilio posts the
/// result (or an empty one after silence) to the action URL.
fn listen(state: &AppState, say: &str, at: &Position) -> Twiml {
    let phone = &state.telephony;
    let gather = Gather {
        action: action_url(at),
        input: "speech dtmf".into(),
        speech_timeout: Some("auto".into()),
        timeout: Some(6),
        num_digits: None,
        hints: None,
        language: Some(phone.language.clone()),
        action_on_empty_result: true,
        say: Some(say.to_string()),
        say_voice: phone.say_voice.clone(),
    };
    Twiml::new().gather(gather)
}

fn say_then(state: &AppState, say: &str) -> Twiml {
    let phone = &state.telephony;
    Twiml::new().say(say, phone.say_voice.as_deref(), Some(&phone.language))
}

/// Hands the call to a person, or ends it when no number is configured.
fn transfer(state: &AppState, say: &str) -> Twiml {
    match &state.telephony.transfer_number {
        Some(number) => say_then(state, say).dial(number),
        None => say_then(state, say).hangup(),
    }
}

/// What a caller hears when this side fails after the request was
/// accepted: an HTTP error would make Twilio play its own message.
fn apology(state: &AppState, e: ApiError) -> String {
    tracing::error!(code = e.code, message = %e.message, "phone webhook failed");
    say_then(state, "Sorry, something went wrong on our side. Please call again in a few minutes. Goodbye.")
        .hangup()
        .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_survives_the_action_url() {
        let at = Position { turn: 4, ask: 1, doubt: Some("two adults & a child".into()) };
        let uri: Uri = action_url(&at).parse().unwrap();
        assert_eq!(position(&uri), at);
        assert_eq!(position(&"/v1/telephony/twilio/gather".parse().unwrap()), Position::default());
    }
}
