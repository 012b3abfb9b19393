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
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use voxbook_proto::stream::{ClientMessage, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, ServerEvent};

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::SessionId;

/// Largest text message accepted (a turn is at most a few KB of JSON).
const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// The client must say `start` this soon after connecting.
const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn upgrade(State(state): State<AppState>, SessionId(id): SessionId, ws: WebSocketUpgrade) -> Result<Response, ApiError> {
    // Refuse before upgrading, so a wrong id is a plain 404.
    state.conversations.last_reply(&id).await?;
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
    let _enter = span.enter();
    if handshake(&state, &id, &mut socket).await {
        serve(&state, &id, &mut socket).await;
    }
    state.metrics.open_streams.dec();
}

/// Waits for `start` and answers `ready`; false when the stream must close.
async fn handshake(state: &AppState, id: &str, socket: &mut WebSocket) -> bool {
    let first = match tokio::time::timeout(START_TIMEOUT, socket.recv()).await {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<ClientMessage>(&text),
        Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return false,
        Ok(Some(Ok(_))) => {
            send(socket, &error("start_required", "the first message must be a JSON 'start' message", false)).await;
            return false;
        }
        Err(_) => {
            send(socket, &error("start_timeout", "no 'start' message within 10 seconds", false)).await;
            return false;
        }
    };
    match first {
        Ok(ClientMessage::Start { protocol_version }) if (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&protocol_version) => {
            let prompt = match state.conversations.last_reply(id).await {
                Ok(prompt) => prompt,
                Err(e) => {
                    let e = ApiError::from(e);
                    send(socket, &error(e.code, e.message, false)).await;
                    return false;
                }
            };
            send(socket, &ServerEvent::Ready { session_id: id.to_string(), protocol_version, prompt }).await
        }
        Ok(ClientMessage::Start { protocol_version }) => {
            let message = format!("protocol version {protocol_version} is not spoken here (supported: {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION})");
            send(socket, &error("unsupported_protocol_version", message, false)).await;
            false
        }
        Ok(_) => {
            send(socket, &error("start_required", "the first message must be 'start'", false)).await;
            false
        }
        Err(e) => {
            send(socket, &error("invalid_message", format!("not a stream message: {e}"), false)).await;
            false
        }
    }
}

async fn serve(state: &AppState, id: &str, socket: &mut WebSocket) {
    loop {
        let message = match tokio::time::timeout(state.stream_idle_timeout, socket.recv()).await {
            Err(_) => {
                send(socket, &error("idle_timeout", "closing an idle stream", false)).await;
                return;
            }
            Ok(None) | Ok(Some(Err(_))) => return,
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
                                return;
                            }
                            event
                        }
                    }
                }
                Ok(ClientMessage::Ping { nonce }) => ServerEvent::Pong { nonce },
                Ok(ClientMessage::Stop) => {
                    send(socket, &ServerEvent::Bye).await;
                    return;
                }
                Ok(ClientMessage::Start { .. }) => error("already_started", "this stream has already started", true),
                Err(e) => error("invalid_message", format!("not a stream message: {e}"), true),
            },
            Message::Binary(_) => error("audio_not_negotiated", "binary audio frames need an audio format in 'start'; this server version takes text turns only", true),
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => return,
        };
        if !send(socket, &event).await {
            return;
        }
    }
}
