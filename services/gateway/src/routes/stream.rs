//! `GET /v1/sessions/{id}/stream`: the session as a WebSocket.
//!
//! The protocol is [`voxbook_proto::stream`]: the client opens with
//! `start`, then sends `text` turns (and `ping`, `stop`); the server
//! answers `ready`, `turn_result`, `pong`, `bye`, or `error`. Turns on one
//! socket run one at a time, in order. Binary frames are reserved for
//! audio, which this protocol version does not negotiate yet, so they get a
//! recoverable error. A socket that stays silent past the idle timeout, or
//! sends a message over the size limit, is closed.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use tokio::sync::mpsc;
use tracing::Instrument;
use voxbook_audio::speech_stream::{self, SpeechEvent, SpeechStream};
use voxbook_audio::tts::encode::{OutputEncoder, OutputFormat};
use voxbook_audio::tts::speaker::Playback;
use voxbook_proto::stream::{
    AUDIO_PROTOCOL_VERSION, ClientMessage, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, ServerEvent,
};
use voxbook_proto::stream::{AudioEncoding, AudioOutput};

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
            Ok(started) => serve(&state, &id, &mut socket, started).await,
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

/// Frames are released this far ahead of real time, for the client's
/// jitter buffer.
const PLAYBACK_LEAD: std::time::Duration = std::time::Duration::from_millis(200);

/// How a stream ends: a close code and reason to send, or None when the
/// client has already gone.
type Close = Option<(u16, &'static str)>;

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

/// Runs turns until the stream ends; says how to close it.
async fn serve(state: &AppState, id: &str, socket: &mut WebSocket, started: Started) -> Close {
    let (audio, mut events) = match started.speech {
        Some(stream) => (Some(stream.audio), Some(stream.events)),
        None => (None, None),
    };
    let output = started.output;
    // The reply being spoken, with its turn number.
    let mut playback: Option<(u64, Playback)> = None;
    // A spoken turn's timing, sent when its reply's first audio leaves.
    let mut pending_metrics: Option<Timing> = None;
    // When the first audio byte arrived: the clock of `speech_end_ms`.
    let mut audio_clock: Option<Instant> = None;
    loop {
        let next = tokio::select! {
            message = tokio::time::timeout(state.stream_idle_timeout, socket.recv()) => Input::Socket(message),
            event = next_event(&mut events) => Input::Speech(event),
            frame = next_frame(&mut playback) => Input::Frame(frame),
        };
        let event = match next {
            Input::Frame(Some(frame)) => {
                if socket.send(Message::Binary(frame.into())).await.is_err() {
                    return None;
                }
                if let Some(timing) = pending_metrics.take()
                    && !send(socket, &timing.event(state, Some(Instant::now()))).await
                {
                    return None;
                }
                continue;
            }
            Input::Frame(None) => {
                let Some((turn, done)) = playback.take() else { continue };
                if let Err(e) = done.outcome().await {
                    tracing::warn!(error = %e, "speech synthesis failed");
                    send(socket, &error("tts_failed", e.to_string(), true)).await;
                }
                ServerEvent::ReplyFinished { turn }
            }
            Input::Speech(Some(ev @ (SpeechEvent::VoiceOnset { .. } | SpeechEvent::SpeechStarted { .. })))
                if playback.is_some() =>
            {
                // Barge-in: the user talks over the reply. Stop it now and
                // remember what they heard of it.
                let Some((turn, stopped)) = playback.take() else { continue };
                let heard = stopped.interrupt();
                if let Err(e) = state.conversations.record_heard(id, turn, &heard).await {
                    tracing::warn!(error = %e, "could not record the heard part of a reply");
                }
                if !send(socket, &ServerEvent::Interrupted { turn, heard }).await {
                    return None;
                }
                if let SpeechEvent::SpeechStarted { at_ms } = ev
                    && !send(socket, &ServerEvent::SpeechStarted { at_ms }).await
                {
                    return None;
                }
                continue;
            }
            Input::Speech(None) => {
                // The recogniser ended (fatal audio error, reported already).
                events = None;
                continue;
            }
            Input::Speech(Some(event)) => match speech_event(state, id, event).await {
                SpeechOutcome::Send(events_out, timing) => {
                    for e in &events_out {
                        if !send(socket, e).await {
                            return None;
                        }
                    }
                    if let Some(mut timing) = timing {
                        timing.speech_end =
                            audio_clock.zip(timing.speech_end_ms).map(|(t, ms)| t + Duration::from_millis(ms));
                        let reply = events_out.iter().find_map(spoken_reply);
                        if !after_turn(state, socket, output, &mut playback, &mut pending_metrics, reply, timing).await
                        {
                            return None;
                        }
                    }
                    continue;
                }
                SpeechOutcome::Fatal(event) => {
                    send(socket, &event).await;
                    return Some((close_code::POLICY, "audio error"));
                }
            },
            Input::Socket(Err(_)) => {
                send(socket, &error("idle_timeout", "closing an idle stream", false)).await;
                return Some((close_code::AWAY, "idle"));
            }
            Input::Socket(Ok(None)) | Input::Socket(Ok(Some(Err(_)))) => return None,
            Input::Socket(Ok(Some(Ok(message)))) => match message {
                Message::Text(text) => match serde_json::from_str::<ClientMessage>(&text) {
                    Ok(ClientMessage::Text { text, turn_id }) => {
                        match run_turn(state, id, &text, turn_id, "stream").await {
                            Ok((event, dialogue)) => {
                                if !send(socket, &event).await {
                                    return None;
                                }
                                if let Some(timing) = Timing::for_result(&event, dialogue) {
                                    let reply = spoken_reply(&event);
                                    let sent = after_turn(
                                        state,
                                        socket,
                                        output,
                                        &mut playback,
                                        &mut pending_metrics,
                                        reply,
                                        timing,
                                    )
                                    .await;
                                    if !sent {
                                        return None;
                                    }
                                }
                                continue;
                            }
                            Err(event) => {
                                send(socket, &event).await;
                                return Some((close_code::POLICY, "session gone"));
                            }
                        }
                    }
                    Ok(ClientMessage::Ping { nonce }) => ServerEvent::Pong { nonce },
                    Ok(ClientMessage::Stop) => {
                        // Let an utterance in progress finish first.
                        drop(audio);
                        if let Some(events) = events.as_mut() {
                            while let Some(event) = events.recv().await {
                                if let SpeechOutcome::Send(out, _) = speech_event(state, id, event).await {
                                    for e in out {
                                        send(socket, &e).await;
                                    }
                                }
                            }
                        }
                        send(socket, &ServerEvent::Bye).await;
                        return Some((close_code::NORMAL, "bye"));
                    }
                    Ok(ClientMessage::Start { .. }) => {
                        error("already_started", "this stream has already started", true)
                    }
                    Err(e) => error("invalid_message", format!("not a stream message: {e}"), true),
                },
                Message::Binary(frame) => match &audio {
                    None => error(
                        "audio_not_negotiated",
                        "binary audio frames need an audio format in 'start' (protocol version 2)",
                        true,
                    ),
                    Some(tx) => {
                        audio_clock.get_or_insert_with(Instant::now);
                        match tx.try_send(frame.to_vec()) {
                            Ok(()) => continue,
                            Err(mpsc::error::TrySendError::Full(_)) => error(
                                "audio_backpressure",
                                "audio is arriving faster than it can be processed; frame dropped",
                                true,
                            ),
                            Err(mpsc::error::TrySendError::Closed(_)) => {
                                error("audio_closed", "speech recognition has stopped on this stream", true)
                            }
                        }
                    }
                },
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Close(_) => return Some((close_code::NORMAL, "")),
            },
        };
        if !send(socket, &event).await {
            return None;
        }
    }
}

/// After a turn result: speak the reply (its metrics follow its first
/// audio) or send the metrics now. False when the socket is gone.
async fn after_turn(
    state: &AppState,
    socket: &mut WebSocket,
    output: Option<OutputFormat>,
    playback: &mut Option<(u64, Playback)>,
    pending_metrics: &mut Option<Timing>,
    reply: Option<(u64, String)>,
    mut timing: Timing,
) -> bool {
    let spoken = output.is_some() && state.tts.is_some() && reply.is_some();
    if let Some(reply) = reply
        && !speak(state, socket, output, playback, reply).await
    {
        return false;
    }
    if spoken {
        timing.reply_started = Some(Instant::now());
        *pending_metrics = Some(timing);
        true
    } else {
        send(socket, &timing.event(state, None)).await
    }
}

/// Where a turn's time went, collected until its metrics event is sent.
#[derive(Debug, Clone, Copy, Default)]
struct Timing {
    turn: u64,
    endpoint_to_transcript: Option<std::time::Duration>,
    asr_decode: Option<std::time::Duration>,
    dialogue: std::time::Duration,
    tools_ms: u64,
    /// When the user's speech ended, in ms of the stream's audio clock...
    speech_end_ms: Option<u64>,
    /// ...and on this server's clock.
    speech_end: Option<Instant>,
    reply_started: Option<Instant>,
}

impl Timing {
    fn for_result(event: &ServerEvent, dialogue: std::time::Duration) -> Option<Timing> {
        match event {
            ServerEvent::TurnResult { result, .. } => Some(Timing {
                turn: result.turn,
                dialogue,
                tools_ms: result.tool_calls.iter().map(|c| c.elapsed_ms).sum(),
                ..Timing::default()
            }),
            _ => None,
        }
    }

    /// The metrics event; `first_audio` is when the reply's first audio
    /// left, if it is spoken.
    fn event(&self, state: &AppState, first_audio: Option<Instant>) -> ServerEvent {
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        let tts_first_audio = first_audio.zip(self.reply_started).map(|(a, r)| a.saturating_duration_since(r));
        let voice_to_voice = first_audio.zip(self.speech_end).map(|(a, e)| a.saturating_duration_since(e));
        state.metrics.observe_speech_out(tts_first_audio, voice_to_voice);
        ServerEvent::TurnMetrics {
            turn: self.turn,
            endpoint_to_transcript_ms: self.endpoint_to_transcript.map(ms),
            asr_decode_ms: self.asr_decode.map(ms),
            dialogue_ms: ms(self.dialogue),
            tools_ms: self.tools_ms,
            tts_first_audio_ms: tts_first_audio.map(ms),
            voice_to_voice_ms: voice_to_voice.map(ms),
        }
    }
}

/// The turn and reply of a turn result.
fn spoken_reply(event: &ServerEvent) -> Option<(u64, String)> {
    match event {
        ServerEvent::TurnResult { result, .. } if !result.reply.trim().is_empty() => {
            Some((result.turn, result.reply.clone()))
        }
        _ => None,
    }
}

/// Starts speaking a reply (when the client asked for spoken replies); a
/// reply still playing is cut off by the newer one. False when the socket
/// is gone.
async fn speak(
    state: &AppState,
    socket: &mut WebSocket,
    output: Option<OutputFormat>,
    playback: &mut Option<(u64, Playback)>,
    (turn, text): (u64, String),
) -> bool {
    let (Some(format), Some(engine)) = (output, state.tts.clone()) else { return true };
    if let Some((_, previous)) = playback.take() {
        previous.interrupt();
    }
    if !send(socket, &ServerEvent::ReplyStarted { turn, text: text.clone() }).await {
        return false;
    }
    *playback = Some((turn, Playback::start(engine, format, text, PLAYBACK_LEAD)));
    true
}

async fn next_frame(playback: &mut Option<(u64, Playback)>) -> Option<Vec<u8>> {
    match playback {
        Some((_, p)) => p.frames.recv().await,
        None => std::future::pending().await,
    }
}

enum Input {
    Socket(Result<Option<Result<Message, axum::Error>>, tokio::time::error::Elapsed>),
    Speech(Option<SpeechEvent>),
    Frame(Option<Vec<u8>>),
}

enum SpeechOutcome {
    /// Events to send, and the timing of the turn they contain, if any.
    Send(Vec<ServerEvent>, Option<Timing>),
    Fatal(Box<ServerEvent>),
}

async fn next_event(events: &mut Option<mpsc::Receiver<SpeechEvent>>) -> Option<SpeechEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs one dialogue turn; Err is a fatal error event (the session is gone).
async fn run_turn(
    state: &AppState,
    id: &str,
    text: &str,
    turn_id: Option<String>,
    channel: &str,
) -> Result<(ServerEvent, Duration), ServerEvent> {
    let started = Instant::now();
    match state.conversations.turn(id, text).await {
        Ok(result) => {
            let elapsed = started.elapsed();
            state.metrics.observe_turn(channel, elapsed, &result);
            Ok((ServerEvent::TurnResult { turn_id, result }, elapsed))
        }
        Err(e) => {
            let e = ApiError::from(e);
            let recoverable = e.code != "session_not_found";
            let event = error(e.code, e.message, recoverable);
            if recoverable { Ok((event, Duration::ZERO)) } else { Err(event) }
        }
    }
}

/// Maps a recogniser event to what the client hears; a final transcript
/// also runs the dialogue turn.
async fn speech_event(state: &AppState, id: &str, event: SpeechEvent) -> SpeechOutcome {
    match event {
        SpeechEvent::SpeechStarted { at_ms } => SpeechOutcome::Send(vec![ServerEvent::SpeechStarted { at_ms }], None),
        // Only meaningful while a reply plays (handled by the caller).
        SpeechEvent::VoiceOnset { .. } => SpeechOutcome::Send(Vec::new(), None),
        SpeechEvent::Partial { text } => SpeechOutcome::Send(vec![ServerEvent::PartialTranscript { text }], None),
        SpeechEvent::SpeechStopped { at_ms } => SpeechOutcome::Send(vec![ServerEvent::SpeechStopped { at_ms }], None),
        SpeechEvent::Final { text, speech_end_ms, latency, decode } => {
            state.metrics.observe_asr(latency, decode);
            let transcript = ServerEvent::Transcript {
                text: text.clone(),
                speech_end_ms,
                latency_ms: latency.as_millis() as u64,
                decode_ms: decode.as_millis() as u64,
            };
            if text.trim().is_empty() {
                // Breath or noise that got past the VAD: nothing to answer.
                return SpeechOutcome::Send(vec![transcript], None);
            }
            match run_turn(state, id, &text, None, "voice").await {
                Ok((result, dialogue)) => {
                    let timing = Timing::for_result(&result, dialogue).map(|t| Timing {
                        endpoint_to_transcript: Some(latency),
                        asr_decode: Some(decode),
                        speech_end_ms: Some(speech_end_ms),
                        ..t
                    });
                    SpeechOutcome::Send(vec![transcript, result], timing)
                }
                Err(fatal) => SpeechOutcome::Fatal(Box::new(fatal)),
            }
        }
        SpeechEvent::Error { code, message, fatal } => {
            let event = error(code, message, !fatal);
            if fatal { SpeechOutcome::Fatal(Box::new(event)) } else { SpeechOutcome::Send(vec![event], None) }
        }
    }
}
