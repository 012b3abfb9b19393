//! `GET /v1/sessions/{id}/stream`: the session as a WebSocket.
//!
//! The protocol is [`voxbook_proto::stream`]: the client opens with
//! `start`, then sends `text` turns (and `ping`, `stop`); the server
//! answers `ready`, `turn_result`, `pong`, `bye`, or `error`. Turns on one
//! socket run one at a time, in order. Binary frames are reserved for
//! audio, which this protocol version does not negotiate yet, so they get a
//! recoverable error. A socket that stays silent past the idle timeout, or
//! sends a message over the size limit, is closed.

use std::time::Instant;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use tracing::Instrument;
use voxbook_proto::stream::{ClientMessage, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, ServerEvent};

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::SessionId;

/// Largest text message accepted (a turn is at most a few KB of JSON).
const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// The client must say `start` this soon after connecting.
const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn upgrade(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // Refuse before upgrading, so a wrong id is a plain 404.
    state.conversations.last_reply(&id).await?;
    let ws = ws?;
    Ok(ws
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| run(state, id, socket)))
}

async fn send(socket: &mut WebSocket, event: &ServerEvent) -> bool {
    match serde_json::to_string(event) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}

fn error(code: &str, message: impl Into<String>, recoverable: bool) -> ServerEvent {
    ServerEvent::Error { code: code.into(), message: message.into(), recoverable }
}

async fn run(state: AppState, id: String, mut socket: WebSocket) {
    state.metrics.open_streams.inc();
    let span = tracing::info_span!("stream", session_id = %id);
    async {
        let close = match handshake(&state, &id, &mut socket).await {
            Ok(()) => serve(&state, &id, &mut socket).await,
            Err(close) => close,
        };
        // A close frame tells the client the end is deliberate (a dropped
        // socket looks like a network failure and invites reconnects).
        if let Some((code, reason)) = close {
            let frame = CloseFrame { code, reason: reason.into() };
            let _ = socket.send(Message::Close(Some(frame))).await;
        }
    }
    .instrument(span)
    .await;
    state.metrics.open_streams.dec();
}

/// How a stream ends: a close code and reason to send, or None when the
/// client has already gone.
type Close = Option<(u16, &'static str)>;

const POLICY: Close = Some((close_code::POLICY, "protocol error"));

/// Waits for `start` and answers `ready`; Err says how to close instead.
async fn handshake(state: &AppState, id: &str, socket: &mut WebSocket) -> Result<(), Close> {
    let first = match tokio::time::timeout(START_TIMEOUT, socket.recv()).await {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<ClientMessage>(&text),
        Ok(Some(Ok(Message::Close(_)))) => return Err(Some((close_code::NORMAL, ""))),
        Ok(None) | Ok(Some(Err(_))) => return Err(None),
        Ok(Some(Ok(_))) => {
            send(socket, &error("start_required", "the first message must be a JSON 'start' message", false)).await;
            return Err(POLICY);
        }
        Err(_) => {
            send(socket, &error("start_timeout", "no 'start' message within 10 seconds", false)).await;
            return Err(POLICY);
        }
    };
    match first {
        Ok(ClientMessage::Start { protocol_version })
            if (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&protocol_version) =>
        {
            let prompt = match state.conversations.last_reply(id).await {
                Ok(prompt) => prompt,
                Err(e) => {
                    let e = ApiError::from(e);
                    send(socket, &error(e.code, e.message, false)).await;
                    return Err(Some((close_code::POLICY, "session gone")));
                }
            };
            if send(socket, &ServerEvent::Ready { session_id: id.to_string(), protocol_version, prompt }).await {
                Ok(())
            } else {
                Err(None)
            }
        }
        Ok(ClientMessage::Start { protocol_version }) => {
            let message = format!(
                "protocol version {protocol_version} is not spoken here (supported: {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION})"
            );
            send(socket, &error("unsupported_protocol_version", message, false)).await;
            Err(POLICY)
        }
        Ok(_) => {
            send(socket, &error("start_required", "the first message must be 'start'", false)).await;
            Err(POLICY)
        }
        Err(e) => {
            send(socket, &error("invalid_message", format!("not a stream message: {e}"), false)).await;
            Err(POLICY)
        }
    }
}

/// Runs turns until the stream ends; says how to close it.
async fn serve(state: &AppState, id: &str, socket: &mut WebSocket) -> Close {
    loop {
        let message = match tokio::time::timeout(state.stream_idle_timeout, socket.recv()).await {
            Err(_) => {
                send(socket, &error("idle_timeout", "closing an idle stream", false)).await;
                return Some((close_code::AWAY, "idle"));
            }
            Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(message))) => message,
        };
        let event = match message {
            Message::Text(text) => match serde_json::from_str::<ClientMessage>(&text) {
                Ok(ClientMessage::Text { text, turn_id }) => {
                    let started = Instant::now();
                    match state.conversations.turn(id, &text).await {
                        Ok(result) => {
                            state.metrics.observe_turn("stream", started.elapsed(), &result);
                            ServerEvent::TurnResult { turn_id, result }
                        }
                        Err(e) => {
                            let e = ApiError::from(e);
                            let recoverable = e.code != "session_not_found";
                            let event = error(e.code, e.message, recoverable);
                            if !recoverable {
                                send(socket, &event).await;
                                return Some((close_code::POLICY, "session gone"));
                            }
                            event
                        }
                    }
                }
                Ok(ClientMessage::Ping { nonce }) => ServerEvent::Pong { nonce },
                Ok(ClientMessage::Stop) => {
                    send(socket, &ServerEvent::Bye).await;
                    return Some((close_code::NORMAL, "bye"));
                }
                Ok(ClientMessage::Start { .. }) => error("already_started", "this stream has already started", true),
                Err(e) => error("invalid_message", format!("not a stream message: {e}"), true),
            },
            Message::Binary(_) => error(
                "audio_not_negotiated",
                "binary audio frames need an audio format in 'start'; this server version takes text turns only",
                true,
            ),
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => return Some((close_code::NORMAL, "")),
        };
        if !send(socket, &event).await {
            return None;
        }
    }
}
