//! `GET /v1/telephony/twilio/media`: a phone call's audio over Twilio's
//! bidirectional Media Streams WebSocket (`<Connect><Stream>`).
//!
//! Twilio sends `connected`, `start` (the call and its audio format),
//! then `media` (base64 mu-law 8 kHz, 20 ms each), `dtmf`, `mark` (our
//! marks, echoed when the audio before them has played) and `stop`. We
//! send `media` (the reply, paced), a `mark` at the end of every spoken
//! sentence or clause, and `clear` on barge-in, which drops whatever
//! Twilio still has buffered. The call runs through the same voice loop
//! as the app stream ([`crate::voice`]) and the same session as the
//! call's Gather webhooks (keyed by `CallSid`).
//!
//! What the caller heard of an interrupted reply comes from the marks:
//! everything up to the last mark Twilio echoed, plus the time since that
//! echo, never past the next mark it has not echoed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::json;
use tracing::Instrument;
use voxbook_audio::speech_stream;
use voxbook_audio::tts::encode::OutputFormat;
use voxbook_audio::tts::speaker::Playback;
use voxbook_proto::stream::{AudioEncoding, AudioInput, ServerEvent};

use super::verify;
use crate::app::AppState;
use crate::error::ApiError;
use crate::voice::{self, CLOSE_NORMAL, CLOSE_POLICY, FramePlace, Inbound, Transport, Voice};

/// Twilio's media messages are small; `start` is the largest.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Twilio sends `connected` and `start` right after the upgrade.
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // Twilio signs the upgrade request like a webhook with no parameters.
    verify::twilio_upgrade(&state.telephony, &headers, &uri)?;
    let ws = ws?;
    Ok(ws.max_message_size(MAX_MESSAGE_BYTES).on_upgrade(move |socket| run(state, socket)))
}

/// Messages Twilio sends; fields we do not use are ignored.
#[derive(Debug, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum TwilioIn {
    Connected,
    Start {
        #[serde(rename = "streamSid")]
        stream_sid: String,
        start: StartInfo,
    },
    Media {
        media: MediaIn,
    },
    Dtmf {
        dtmf: DtmfIn,
    },
    Mark {
        mark: MarkIn,
    },
    Stop,
}

#[derive(Debug, Deserialize)]
struct StartInfo {
    #[serde(rename = "callSid")]
    call_sid: String,
    #[serde(rename = "customParameters", default)]
    custom_parameters: BTreeMap<String, String>,
    #[serde(rename = "mediaFormat")]
    media_format: Option<MediaFormat>,
}

#[derive(Debug, Deserialize)]
struct MediaFormat {
    encoding: String,
    #[serde(rename = "sampleRate")]
    sample_rate: u32,
    #[serde(default = "one")]
    channels: u16,
}

fn one() -> u16 {
    1
}

#[derive(Debug, Deserialize)]
struct MediaIn {
    #[serde(default)]
    track: Option<String>,
    payload: String,
}

#[derive(Debug, Deserialize)]
struct DtmfIn {
    digit: String,
}

#[derive(Debug, Deserialize)]
struct MarkIn {
    name: String,
}

async fn run(state: AppState, mut socket: WebSocket) {
    state.metrics.open_streams.inc();
    let close = match start(&state, &mut socket).await {
        Ok(call) => {
            let span = tracing::info_span!("phone_stream", session_id = %call.session_id, call_sid = %call.call_sid);
            async {
                let Call { session_id, stream_sid, opening, speech, .. } = call;
                let output = state.tts.as_ref().map(|_| OutputFormat::Mulaw);
                let voice = Voice { speech: Some(speech), output, opening: Some(opening), channel: "phone" };
                let mut transport = TwilioMedia::new(&mut socket, stream_sid, state.stream_idle_timeout);
                voice::converse(&state, &session_id, &mut transport, voice).await
            }
            .instrument(span)
            .await
        }
        Err(close) => close,
    };
    if let Some((code, reason)) = close {
        let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    }
    state.metrics.open_streams.dec();
}

/// A call whose stream has started.
struct Call {
    session_id: String,
    call_sid: String,
    stream_sid: String,
    /// Said when the stream opens: the greeting, or the last prompt when
    /// the call moves here from Gather webhooks.
    opening: String,
    speech: speech_stream::SpeechStream,
}

/// Waits for `start`, opens the call's session and its recogniser.
async fn start(state: &AppState, socket: &mut WebSocket) -> Result<Call, voice::Close> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        let message = match tokio::time::timeout_at(deadline, socket.recv()).await {
            Err(_) => {
                tracing::warn!("media stream sent no 'start' in time");
                return Err(Some((CLOSE_POLICY, "no start")));
            }
            Ok(None) | Ok(Some(Err(_))) => return Err(None),
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(Some(Ok(Message::Close(_)))) => return Err(Some((CLOSE_NORMAL, ""))),
            Ok(Some(Ok(_))) => continue,
        };
        let (stream_sid, info) = match serde_json::from_str::<TwilioIn>(&message) {
            Ok(TwilioIn::Connected) => continue,
            Ok(TwilioIn::Start { stream_sid, start }) => (stream_sid, start),
            Ok(other) => {
                tracing::warn!(?other, "media stream message before 'start'");
                return Err(Some((CLOSE_POLICY, "start required")));
            }
            Err(e) => {
                tracing::warn!(error = %e, "not a Twilio media stream message");
                return Err(Some((CLOSE_POLICY, "invalid message")));
            }
        };
        if let Some(format) = &info.media_format
            && (format.encoding != "audio/x-mulaw" || format.sample_rate != 8_000 || format.channels != 1)
        {
            tracing::warn!(?format, "unsupported media stream format");
            return Err(Some((CLOSE_POLICY, "unsupported media format")));
        }
        let Some(engine) = state.speech.as_ref() else {
            tracing::error!("a media stream arrived but this server has no speech recognition configured");
            return Err(Some((CLOSE_POLICY, "no speech recognition")));
        };
        let spec = AudioInput { encoding: AudioEncoding::Mulaw, sample_rate: 8_000, channels: 1 };
        let speech = speech_stream::spawn(spec, engine.config.clone(), engine.recognizer.clone()).map_err(|e| {
            tracing::error!(error = %e, "cannot start recognition for a call");
            Some((CLOSE_POLICY, "audio error"))
        })?;
        let now = info.custom_parameters.get("now").cloned();
        let session = super::call::session(state, "twilio", &info.call_sid, now, info.custom_parameters.clone())
            .await
            .map_err(|e| {
                tracing::error!(code = e.code, message = %e.message, "cannot open the call's session");
                Some((CLOSE_POLICY, "session unavailable"))
            })?;
        return Ok(Call {
            session_id: session.session_id,
            call_sid: info.call_sid,
            stream_sid,
            opening: session.greeting,
            speech,
        });
    }
}

/// A mark we sent: the reply and the audio position it stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SentMark {
    turn: u64,
    end: Duration,
}

/// What Twilio has told us it played of the current reply.
#[derive(Debug, Default)]
struct Heard {
    /// The reply whose audio is going out, and when its first frame left.
    current: Option<(u64, Instant)>,
    /// Marks sent for the current reply and not yet echoed, in order.
    pending: Vec<SentMark>,
    /// The last echoed mark of the current reply, and when it came back.
    echoed: Option<(SentMark, Instant)>,
}

impl Heard {
    fn frame_sent(&mut self, turn: u64, now: Instant) {
        if self.current.map(|(t, _)| t) != Some(turn) {
            *self = Heard { current: Some((turn, now)), ..Heard::default() };
        }
    }

    fn mark_echoed(&mut self, mark: SentMark, now: Instant) {
        if let Some(i) = self.pending.iter().position(|m| *m == mark) {
            self.pending.drain(..=i);
            self.echoed = Some((mark, now));
        }
    }

    /// How much of reply `turn` the caller has heard by `now`.
    fn played(&self, turn: u64, now: Instant) -> Duration {
        let Some((_, first_sent)) = self.current.filter(|(t, _)| *t == turn) else {
            return Duration::ZERO;
        };
        let estimate = match self.echoed {
            Some((mark, at)) => mark.end + now.saturating_duration_since(at),
            None => now.saturating_duration_since(first_sent),
        };
        // Not past a mark Twilio has not confirmed.
        match self.pending.first() {
            Some(next) => estimate.min(next.end),
            None => estimate,
        }
    }
}

/// The Media Streams protocol over an axum WebSocket.
struct TwilioMedia<'a> {
    socket: &'a mut WebSocket,
    stream_sid: String,
    idle: Duration,
    heard: Heard,
}

impl<'a> TwilioMedia<'a> {
    fn new(socket: &'a mut WebSocket, stream_sid: String, idle: Duration) -> Self {
        TwilioMedia { socket, stream_sid, idle, heard: Heard::default() }
    }

    async fn send_json(&mut self, value: serde_json::Value) -> bool {
        self.socket.send(Message::Text(value.to_string().into())).await.is_ok()
    }
}

fn mark_name(mark: SentMark) -> String {
    format!("reply-{}-{}ms", mark.turn, mark.end.as_millis())
}

fn parse_mark(name: &str) -> Option<SentMark> {
    let rest = name.strip_prefix("reply-")?.strip_suffix("ms")?;
    let (turn, end) = rest.split_once('-')?;
    Some(SentMark { turn: turn.parse().ok()?, end: Duration::from_millis(end.parse().ok()?) })
}

impl Transport for TwilioMedia<'_> {
    async fn recv(&mut self) -> Inbound {
        let message = match tokio::time::timeout(self.idle, self.socket.recv()).await {
            Err(_) => return Inbound::Idle,
            Ok(None) | Ok(Some(Err(_))) => return Inbound::Gone,
            Ok(Some(Ok(message))) => message,
        };
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => return Inbound::Closed,
            _ => return Inbound::Handled,
        };
        match serde_json::from_str::<TwilioIn>(&text) {
            Ok(TwilioIn::Media { media }) => {
                if media.track.as_deref().is_some_and(|t| t != "inbound" && t != "inbound_track") {
                    return Inbound::Handled;
                }
                match BASE64.decode(media.payload.as_bytes()) {
                    Ok(audio) => Inbound::Audio(audio),
                    Err(e) => Inbound::Invalid(voice::error("invalid_media", format!("media payload: {e}"), true)),
                }
            }
            Ok(TwilioIn::Dtmf { dtmf }) => Inbound::Digits(dtmf.digit),
            Ok(TwilioIn::Mark { mark }) => {
                if let Some(sent) = parse_mark(&mark.name) {
                    self.heard.mark_echoed(sent, Instant::now());
                }
                Inbound::Handled
            }
            Ok(TwilioIn::Stop) => Inbound::Stop,
            Ok(TwilioIn::Connected) | Ok(TwilioIn::Start { .. }) => Inbound::Handled,
            Err(e) => {
                Inbound::Invalid(voice::error("invalid_message", format!("not a media stream message: {e}"), true))
            }
        }
    }

    async fn event(&mut self, event: &ServerEvent) -> bool {
        // Twilio has no use for our protocol events; the logs do.
        match event {
            ServerEvent::Error { code, message, .. } => tracing::warn!(code, message, "phone stream error"),
            ServerEvent::Transcript { text, .. } => tracing::info!(transcript = %text, "caller said"),
            _ => {}
        }
        true
    }

    async fn audio(&mut self, frame: Vec<u8>, place: FramePlace) -> bool {
        self.heard.frame_sent(place.turn, Instant::now());
        let media =
            json!({"event": "media", "streamSid": self.stream_sid, "media": {"payload": BASE64.encode(&frame)}});
        if !self.send_json(media).await {
            return false;
        }
        if place.ends_chunk {
            let mark = SentMark { turn: place.turn, end: place.end };
            self.heard.pending.push(mark);
            let message = json!({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": mark_name(mark)}});
            return self.send_json(message).await;
        }
        true
    }

    async fn interrupt(&mut self, turn: u64, playback: Playback) -> (String, bool) {
        // What was heard is fixed now, before `clear` makes Twilio echo
        // the marks it drops.
        let played = self.heard.played(turn, Instant::now());
        let heard = playback.stop_after(played);
        self.heard = Heard::default();
        let alive = self.send_json(json!({"event": "clear", "streamSid": self.stream_sid})).await;
        (heard, alive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_names_round_trip() {
        let mark = SentMark { turn: 7, end: Duration::from_millis(1_840) };
        assert_eq!(parse_mark(&mark_name(mark)), Some(mark));
        assert_eq!(parse_mark("someone-else's-mark"), None);
        assert_eq!(parse_mark("reply-x-10ms"), None);
    }

    #[test]
    fn heard_follows_the_echoed_marks_and_never_passes_an_unechoed_one() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut heard = Heard::default();
        heard.frame_sent(3, t0);
        let first = SentMark { turn: 3, end: Duration::from_millis(1_000) };
        let second = SentMark { turn: 3, end: Duration::from_millis(2_500) };
        heard.pending = vec![first, second];
        // Before any echo: the clock since the first frame, capped at the
        // first mark.
        assert_eq!(heard.played(3, at(400)), Duration::from_millis(400));
        assert_eq!(heard.played(3, at(1_600)), Duration::from_millis(1_000));
        // Twilio was slow: the first mark came back at 1.3 s.
        heard.mark_echoed(first, at(1_300));
        assert_eq!(heard.played(3, at(1_800)), Duration::from_millis(1_500));
        assert_eq!(heard.played(3, at(9_000)), Duration::from_millis(2_500));
        // Another reply's progress says nothing about this one.
        assert_eq!(heard.played(4, at(1_800)), Duration::ZERO);
    }

    #[test]
    fn twilio_messages_parse() {
        let start = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"now":"2030-06-03T09:00:00Z"}},"streamSid":"MZ1"}"#;
        match serde_json::from_str::<TwilioIn>(start).unwrap() {
            TwilioIn::Start { stream_sid, start } => {
                assert_eq!(stream_sid, "MZ1");
                assert_eq!(start.call_sid, "CA1");
                assert_eq!(start.custom_parameters["now"], "2030-06-03T09:00:00Z");
            }
            other => panic!("{other:?}"),
        }
        let media = r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"f39/"},"streamSid":"MZ1"}"#;
        assert!(matches!(serde_json::from_str::<TwilioIn>(media).unwrap(), TwilioIn::Media { .. }));
        let mark = r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"reply-1-20ms"}}"#;
        assert!(matches!(serde_json::from_str::<TwilioIn>(mark).unwrap(), TwilioIn::Mark { .. }));
        assert!(serde_json::from_str::<TwilioIn>(r#"{"event":"bogus"}"#).is_err());
    }
}
