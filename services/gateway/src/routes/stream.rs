//! `GET /v1/sessions/{id}/stream`: the session as a WebSocket.
//!
//! The protocol is [`voxbook_proto::stream`]: the client opens with
//! `start` (declaring its audio in and the spoken replies it wants), then
//! sends `text` turns, binary audio frames, `ping` and `stop`. This module
//! is the handshake and the translation between that protocol and the
//! shared conversation loop in [`crate::voice`]. A socket that stays
//! silent past the idle timeout, or sends a message over the size limit,
//! is closed.

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use tracing::Instrument;
use voxbook_audio::speech_stream::{self, SpeechStream};
use voxbook_audio::tts::encode::{OutputEncoder, OutputFormat};
use voxbook_proto::stream::{
    AUDIO_PROTOCOL_VERSION, ClientMessage, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, ServerEvent,
};
use voxbook_proto::stream::{AudioEncoding, AudioOutput};

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::SessionId;
use crate::voice::{self, Close, FramePlace, Inbound, Transport, Voice, error};

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

async fn run(state: AppState, id: String, mut socket: WebSocket) {
    state.metrics.open_streams.inc();
    let span = tracing::info_span!("stream", session_id = %id);
    async {
        let close = match handshake(&state, &id, &mut socket).await {
            Ok(started) => {
                let voice = Voice { speech: started.speech, output: started.output, opening: None, channel: "stream" };
                let mut transport = AppSocket { socket: &mut socket, idle: state.stream_idle_timeout };
                voice::converse(&state, &id, &mut transport, voice).await
            }
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

/// What `start` set up.
struct Started {
    speech: Option<SpeechStream>,
    /// How replies are spoken back, when the client asked for it.
    output: Option<OutputFormat>,
}

/// Maps the client's requested output to an encoder format.
fn output_format(spec: AudioOutput) -> Result<OutputFormat, String> {
    let format = match spec.encoding {
        AudioEncoding::PcmS16le => OutputFormat::PcmS16le { sample_rate: spec.sample_rate },
        AudioEncoding::Opus => OutputFormat::Opus { sample_rate: spec.sample_rate },
        AudioEncoding::Mulaw if spec.sample_rate == 8_000 => OutputFormat::Mulaw,
        _ => {
            return Err(format!(
                "cannot speak {:?} at {} Hz (pcm_s16le or opus at 16000/24000, mulaw at 8000)",
                spec.encoding, spec.sample_rate
            ));
        }
    };
    OutputEncoder::new(format, 16_000).map(|_| format).map_err(|e| e.to_string())
}

const POLICY: Close = Some((close_code::POLICY, "protocol error"));

/// Waits for `start` and answers `ready` (starting speech recognition
/// when the client declared audio); Err says how to close instead.
async fn handshake(state: &AppState, id: &str, socket: &mut WebSocket) -> Result<Started, Close> {
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
        Ok(ClientMessage::Start { protocol_version, audio, output })
            if (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&protocol_version) =>
        {
            let output = match output {
                None => None,
                Some(_) if protocol_version < AUDIO_PROTOCOL_VERSION => {
                    let message = format!("spoken replies need protocol version {AUDIO_PROTOCOL_VERSION} or later");
                    send(socket, &error("audio_needs_newer_protocol", message, false)).await;
                    return Err(POLICY);
                }
                Some(spec) => match (state.tts.as_ref(), output_format(spec)) {
                    (None, _) => {
                        let message = "this server has no speech synthesis configured";
                        send(socket, &error("tts_unavailable", message, false)).await;
                        return Err(POLICY);
                    }
                    (_, Err(message)) => {
                        send(socket, &error("unsupported_output", message, false)).await;
                        return Err(POLICY);
                    }
                    (Some(_), Ok(format)) => Some(format),
                },
            };
            let speech = match audio {
                None => None,
                Some(_) if protocol_version < AUDIO_PROTOCOL_VERSION => {
                    let message = format!("audio needs protocol version {AUDIO_PROTOCOL_VERSION} or later");
                    send(socket, &error("audio_needs_newer_protocol", message, false)).await;
                    return Err(POLICY);
                }
                Some(spec) => match state.speech.as_ref() {
                    None => {
                        let message = "this server has no speech recognition configured; send text turns";
                        send(socket, &error("audio_unavailable", message, false)).await;
                        return Err(POLICY);
                    }
                    Some(engine) => {
                        match speech_stream::spawn(spec, engine.config.clone(), engine.recognizer.clone()) {
                            Ok(stream) => Some(stream),
                            Err(e) => {
                                send(socket, &error("unsupported_audio", e.to_string(), false)).await;
                                return Err(POLICY);
                            }
                        }
                    }
                },
            };
            let prompt = match state.conversations.last_reply(id).await {
                Ok(prompt) => prompt,
                Err(e) => {
                    let e = ApiError::from(e);
                    send(socket, &error(e.code, e.message, false)).await;
                    return Err(Some((close_code::POLICY, "session gone")));
                }
            };
            if send(socket, &ServerEvent::Ready { session_id: id.to_string(), protocol_version, prompt }).await {
                Ok(Started { speech, output })
            } else {
                Err(None)
            }
        }
        Ok(ClientMessage::Start { protocol_version, .. }) => {
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

/// The app protocol over an axum WebSocket.
struct AppSocket<'a> {
    socket: &'a mut WebSocket,
    /// A socket silent this long is closed.
    idle: std::time::Duration,
}

impl Transport for AppSocket<'_> {
    async fn recv(&mut self) -> Inbound {
        let message = match tokio::time::timeout(self.idle, self.socket.recv()).await {
            Err(_) => return Inbound::Idle,
            Ok(None) | Ok(Some(Err(_))) => return Inbound::Gone,
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => match serde_json::from_str::<ClientMessage>(&text) {
                Ok(ClientMessage::Text { text, turn_id }) => Inbound::Text { text, turn_id },
                Ok(ClientMessage::Ping { nonce }) => Inbound::Ping { nonce },
                Ok(ClientMessage::Stop) => Inbound::Stop,
                Ok(ClientMessage::Start { .. }) => {
                    Inbound::Invalid(error("already_started", "this stream has already started", true))
                }
                Err(e) => Inbound::Invalid(error("invalid_message", format!("not a stream message: {e}"), true)),
            },
            Message::Binary(frame) => Inbound::Audio(frame.to_vec()),
            Message::Ping(_) | Message::Pong(_) => Inbound::Handled,
            Message::Close(_) => Inbound::Closed,
        }
    }

    async fn event(&mut self, event: &ServerEvent) -> bool {
        send(self.socket, event).await
    }

    async fn audio(&mut self, frame: Vec<u8>, _place: FramePlace) -> bool {
        self.socket.send(Message::Binary(frame.into())).await.is_ok()
    }
}
