//! Twilio's side of a bidirectional Media Streams WebSocket
//! (`<Connect><Stream>`), so a test can be the phone caller: it connects to
//! the gateway like Twilio does, sends `connected` and `start`, streams the
//! caller's audio as 20 ms mu-law `media` messages at the pace of a real
//! call (or a chosen number of times faster), sends `dtmf` and `stop`, and
//! on the other side emulates Twilio's playout buffer: the server's audio is
//! "played" at 8000 bytes a second from when it arrives, each server `mark`
//! is echoed when the audio queued before it has played, and `clear` drops
//! the unplayed audio and echoes the pending marks at once. Everything is
//! recorded with its `Instant`, and anything the server sends that Twilio
//! would not understand is recorded as a protocol violation.
//!
//! The message formats and the mark/clear semantics follow Twilio's
//! "Media Streams - WebSocket Messages" page,
//! <https://www.twilio.com/docs/voice/media-streams/websocket-messages>:
//! a mark is sent back "when the audio ends (or if there is no audio
//! buffered)", and a `clear` "empties all buffered audio and causes any
//! `mark` messages to be sent back".
//!
//! The pure parts (message building, framing, pacing, the playout buffer,
//! checking the server's messages) are separate from the socket so they can
//! be tested with explicit `Instant`s.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use voxbook_audio::codec::{mulaw_decode, mulaw_encode};
use voxbook_audio::resample::StreamResampler;

/// Media Streams audio is always mu-law at 8 kHz, mono.
pub const SAMPLE_RATE_HZ: u32 = 8_000;
/// Twilio sends the caller's audio in 20 ms messages: 160 mu-law bytes.
pub const FRAME_BYTES: usize = 160;
/// The audio in one caller `media` message.
pub const FRAME: Duration = Duration::from_millis(20);
/// Mu-law for a zero sample, what a quiet line carries.
pub const MULAW_SILENCE: u8 = 0xFF;

/// How often waits look again: their conditions depend on time passing
/// (playout, quiet periods), not only on messages, so they poll.
const POLL: Duration = Duration::from_millis(5);
/// How long `close` waits for the server to answer the close handshake.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Done = oneshot::Sender<Result<(), String>>;

/// A Twilio SID: a two-letter prefix and 32 hex digits, like Twilio's.
pub fn new_sid(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// How the call presents itself and behaves.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// `streamSid` ("MZ…"); the server must echo it on every message.
    pub stream_sid: String,
    /// `start.callSid` ("CA…").
    pub call_sid: String,
    /// `start.accountSid` ("AC…").
    pub account_sid: String,
    /// `start.customParameters`: the `<Parameter>`s of the `<Stream>`.
    pub custom_parameters: BTreeMap<String, String>,
    /// Extra headers on the upgrade request, e.g. `X-Twilio-Signature`
    /// (Twilio signs the upgrade like a webhook with no parameters).
    pub headers: Vec<(String, String)>,
    /// How much faster than real time the caller's audio goes out (1.0: a
    /// real call). Timestamps stay in audio time: 20 ms a frame.
    pub speed: f64,
    /// How much faster than real time the server's audio is "played" (1.0:
    /// as on a phone). Marks echo accordingly.
    pub playout_speed: f64,
    /// Send silence whenever the caller has nothing queued, as a real call
    /// does (Twilio streams the line continuously). Off: only queued audio.
    pub continuous: bool,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            stream_sid: new_sid("MZ"),
            call_sid: new_sid("CA"),
            account_sid: new_sid("AC"),
            custom_parameters: BTreeMap::new(),
            headers: Vec::new(),
            speed: 1.0,
            playout_speed: 1.0,
            continuous: true,
        }
    }
}

impl CallConfig {
    /// Adds a `start.customParameters` entry.
    pub fn with_parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.custom_parameters.insert(name.into(), value.into());
        self
    }

    /// Adds a header to the upgrade request.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Uses this `callSid` (e.g. the one the Gather webhooks used).
    pub fn with_call_sid(mut self, call_sid: impl Into<String>) -> Self {
        self.call_sid = call_sid.into();
        self
    }

    /// Sends the caller's audio `speed` times faster than real time.
    pub fn with_speed(mut self, speed: f64) -> Self {
        self.speed = speed;
        self
    }

    /// Plays the server's audio `speed` times faster than real time.
    pub fn with_playout_speed(mut self, speed: f64) -> Self {
        self.playout_speed = speed;
        self
    }

    /// Whether silence fills the gaps between the caller's utterances.
    pub fn with_continuous(mut self, continuous: bool) -> Self {
        self.continuous = continuous;
        self
    }
}

/// Builds the messages Twilio sends, numbering them as Twilio does: one
/// `sequenceNumber` over every message after `connected` (starting at 1
/// with `start`), and one `chunk` count over the `media` messages.
#[derive(Debug, Clone)]
pub struct Outbound {
    stream_sid: String,
    call_sid: String,
    account_sid: String,
    sequence: u64,
    chunk: u64,
}

impl Outbound {
    pub fn new(stream_sid: &str, call_sid: &str, account_sid: &str) -> Outbound {
        Outbound {
            stream_sid: stream_sid.into(),
            call_sid: call_sid.into(),
            account_sid: account_sid.into(),
            sequence: 0,
            chunk: 0,
        }
    }

    fn next_sequence(&mut self) -> String {
        self.sequence += 1;
        self.sequence.to_string()
    }

    /// The first message, before any numbering.
    pub fn connected() -> Value {
        json!({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    }

    /// The stream's metadata: a `<Connect><Stream>` carries the inbound
    /// track only.
    pub fn start(&mut self, custom_parameters: &BTreeMap<String, String>) -> Value {
        json!({
            "event": "start",
            "sequenceNumber": self.next_sequence(),
            "start": {
                "accountSid": self.account_sid,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "customParameters": custom_parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": SAMPLE_RATE_HZ, "channels": 1},
            },
            "streamSid": self.stream_sid,
        })
    }

    /// One frame of the caller's audio at `timestamp` from the stream start.
    pub fn media(&mut self, payload: &[u8], timestamp: Duration) -> Value {
        self.chunk += 1;
        json!({
            "event": "media",
            "sequenceNumber": self.next_sequence(),
            "media": {
                "track": "inbound",
                "chunk": self.chunk.to_string(),
                "timestamp": timestamp.as_millis().to_string(),
                "payload": BASE64.encode(payload),
            },
            "streamSid": self.stream_sid,
        })
    }

    /// A key press; Twilio names this track `inbound_track`, unlike media.
    pub fn dtmf(&mut self, digit: char) -> Value {
        json!({
            "event": "dtmf",
            "streamSid": self.stream_sid,
            "sequenceNumber": self.next_sequence(),
            "dtmf": {"track": "inbound_track", "digit": digit.to_string()},
        })
    }

    /// The echo of one of the server's marks.
    pub fn mark(&mut self, name: &str) -> Value {
        json!({
            "event": "mark",
            "sequenceNumber": self.next_sequence(),
            "streamSid": self.stream_sid,
            "mark": {"name": name},
        })
    }

    /// The call ended.
    pub fn stop(&mut self) -> Value {
        json!({
            "event": "stop",
            "sequenceNumber": self.next_sequence(),
            "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
            "streamSid": self.stream_sid,
        })
    }
}

/// Cuts mu-law audio into 160-byte frames, padding the last with silence
/// (a phone line has no short frames).
pub fn frames(audio: &[u8]) -> impl Iterator<Item = [u8; FRAME_BYTES]> + '_ {
    audio.chunks(FRAME_BYTES).map(|chunk| {
        let mut frame = [MULAW_SILENCE; FRAME_BYTES];
        frame[..chunk.len()].copy_from_slice(chunk);
        frame
    })
}

/// When each caller frame goes out: frame slot `k` is due at
/// `start + k × 20 ms / speed` and stamped `k × 20 ms`. Deadlines come from
/// the start, so the rate does not drift; a frame is never put in a slot
/// already past by a whole frame, so after an idle gap (or a stall) the
/// stream resumes at the present instead of bursting to catch up, and the
/// timestamps show the gap as Twilio's would.
#[derive(Debug, Clone)]
pub struct Pacer {
    start: Instant,
    frame_nanos: u64,
    next_slot: u64,
}

impl Pacer {
    pub fn new(start: Instant, speed: f64) -> anyhow::Result<Pacer> {
        ensure!(speed.is_finite() && speed > 0.0 && speed <= 1_000.0, "speed {speed} is not in (0, 1000]");
        let frame_nanos = ((FRAME.as_nanos() as f64 / speed).round() as u64).max(1);
        Ok(Pacer { start, frame_nanos, next_slot: 0 })
    }

    fn slot_at(&self, now: Instant) -> u64 {
        self.next_slot.max(now.saturating_duration_since(self.start).as_nanos() as u64 / self.frame_nanos)
    }

    fn deadline(&self, slot: u64) -> Instant {
        self.start + Duration::from_nanos(self.frame_nanos.saturating_mul(slot))
    }

    /// When the next frame is due, asked at `now`.
    pub fn peek(&self, now: Instant) -> Instant {
        self.deadline(self.slot_at(now))
    }

    /// Takes the next slot at `now`: its deadline and its timestamp.
    pub fn take(&mut self, now: Instant) -> (Instant, Duration) {
        let slot = self.slot_at(now);
        self.next_slot = slot + 1;
        (self.deadline(slot), FRAME * u32::try_from(slot).unwrap_or(u32::MAX))
    }
}

#[derive(Debug)]
enum Queued {
    Audio { start: Instant, end: Instant, bytes: Vec<u8> },
    Mark { id: usize, due: Instant },
}

/// What a `clear` did to the playout buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleared {
    /// Marks whose audio had played by the time of the clear (echo them as
    /// played), with when they came due.
    pub due: Vec<(usize, Instant)>,
    /// Marks still waiting, echoed because of the clear.
    pub flushed: Vec<usize>,
    /// Audio bytes dropped unplayed.
    pub dropped_bytes: usize,
}

/// Twilio's playout buffer, driven by explicit instants: audio plays at a
/// fixed byte rate from when it arrives (or when the audio before it ends),
/// a mark comes due when everything queued before it has played (at once
/// if nothing is), and a clear drops what has not played yet. Marks are
/// identified by the caller's ids, since a server may reuse names.
#[derive(Debug)]
pub struct Playout {
    bytes_per_sec: u64,
    queue: VecDeque<Queued>,
    /// When everything queued so far will have played.
    tail: Option<Instant>,
    /// Bytes of the audio at the head of the queue already played.
    head_played: usize,
    played: Vec<u8>,
}

impl Playout {
    pub fn new(bytes_per_sec: u64) -> Playout {
        Playout {
            bytes_per_sec: bytes_per_sec.max(1),
            queue: VecDeque::new(),
            tail: None,
            head_played: 0,
            played: Vec::new(),
        }
    }

    fn duration_of(&self, bytes: usize) -> Duration {
        // Rounded up, so that the bytes counted at `end` are all of them.
        let nanos = (bytes as u128 * 1_000_000_000).div_ceil(u128::from(self.bytes_per_sec));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn bytes_in(&self, elapsed: Duration) -> usize {
        usize::try_from(elapsed.as_nanos() * u128::from(self.bytes_per_sec) / 1_000_000_000).unwrap_or(usize::MAX)
    }

    fn queue_end(&self, now: Instant) -> Instant {
        self.tail.map_or(now, |tail| tail.max(now))
    }

    /// Audio from the server arriving at `now`.
    pub fn push_audio(&mut self, bytes: Vec<u8>, now: Instant) {
        if bytes.is_empty() {
            return;
        }
        let start = self.queue_end(now);
        let end = start + self.duration_of(bytes.len());
        self.tail = Some(end);
        self.queue.push_back(Queued::Audio { start, end, bytes });
    }

    /// A mark from the server arriving at `now`; [`Playout::advance`] says
    /// when it comes due.
    pub fn push_mark(&mut self, id: usize, now: Instant) {
        let due = self.queue_end(now);
        self.queue.push_back(Queued::Mark { id, due });
    }

    /// Plays up to `now`; returns the marks that came due, in order, with
    /// when they did.
    pub fn advance(&mut self, now: Instant) -> Vec<(usize, Instant)> {
        let mut due_marks = Vec::new();
        while let Some(front) = self.queue.front() {
            match front {
                Queued::Audio { start, end, bytes } => {
                    let upto = if now >= *end {
                        bytes.len()
                    } else if now > *start {
                        self.bytes_in(now - *start).min(bytes.len())
                    } else {
                        0
                    };
                    if upto > self.head_played {
                        self.played.extend_from_slice(&bytes[self.head_played..upto]);
                        self.head_played = upto;
                    }
                    if upto < bytes.len() {
                        break;
                    }
                    self.head_played = 0;
                }
                Queued::Mark { id, due } => {
                    if now < *due {
                        break;
                    }
                    due_marks.push((*id, *due));
                }
            }
            self.queue.pop_front();
        }
        due_marks
    }

    /// A `clear` at `now`: plays up to `now`, drops the rest of the audio
    /// and gives back every pending mark.
    pub fn clear(&mut self, now: Instant) -> Cleared {
        let due = self.advance(now);
        let mut cleared = Cleared { due, flushed: Vec::new(), dropped_bytes: 0 };
        for (i, item) in self.queue.drain(..).enumerate() {
            match item {
                Queued::Audio { bytes, .. } => {
                    let played = if i == 0 { self.head_played } else { 0 };
                    cleared.dropped_bytes += bytes.len() - played;
                }
                Queued::Mark { id, .. } => cleared.flushed.push(id),
            }
        }
        self.head_played = 0;
        self.tail = self.tail.map(|tail| tail.min(now));
        cleared
    }

    /// When the next pending mark comes due (marks are due in order).
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.iter().find_map(|item| match item {
            Queued::Mark { due, .. } => Some(*due),
            Queued::Audio { .. } => None,
        })
    }

    /// When everything received so far will have played (None: nothing
    /// ever arrived).
    pub fn tail(&self) -> Option<Instant> {
        self.tail
    }

    /// Whether audio is still playing (or waiting to) at `now`.
    pub fn is_playing(&self, now: Instant) -> bool {
        self.tail.is_some_and(|tail| tail > now)
    }

    /// The audio played as of the last [`Playout::advance`].
    pub fn played(&self) -> &[u8] {
        &self.played
    }
}

/// A message the server may send on a bidirectional stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// Audio to play (decoded mu-law).
    Media(Vec<u8>),
    /// A mark to echo once the audio before it has played.
    Mark(String),
    /// Drop the buffered audio.
    Clear,
}

/// Reads one text message from the server as Twilio would, or says what
/// about it Twilio would not accept.
pub fn parse_server_message(text: &str, stream_sid: &str) -> Result<ServerMessage, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let object = value.as_object().ok_or("not a JSON object")?;
    let event = object.get("event").and_then(Value::as_str).ok_or("no string 'event'")?;
    match object.get("streamSid") {
        None => return Err(format!("'{event}' without streamSid")),
        Some(Value::String(sid)) if sid == stream_sid => {}
        Some(other) => return Err(format!("'{event}' for streamSid {other}, not {stream_sid}")),
    }
    match event {
        "media" => {
            let payload = object
                .get("media")
                .and_then(|m| m.get("payload"))
                .and_then(Value::as_str)
                .ok_or("media without a string media.payload")?;
            BASE64.decode(payload).map(ServerMessage::Media).map_err(|e| format!("media.payload is not base64: {e}"))
        }
        "mark" => object
            .get("mark")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .map(|name| ServerMessage::Mark(name.to_string()))
            .ok_or_else(|| "mark without a string mark.name".to_string()),
        "clear" => Ok(ServerMessage::Clear),
        other => Err(format!("unknown event '{other}'")),
    }
}

/// One of the server's marks and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkRecord {
    pub name: String,
    /// When the server's mark arrived.
    pub sent_at: Instant,
    /// When the audio before it finished playing, or the clear that flushed it.
    pub played_at: Option<Instant>,
    /// When the echo went back to the server.
    pub echoed_at: Option<Instant>,
    /// Echoed because a `clear` flushed it, not because its audio played.
    pub cleared: bool,
}

/// A `clear` from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearRecord {
    pub at: Instant,
    /// Audio bytes dropped unplayed.
    pub dropped_bytes: usize,
    /// Marks echoed because of it, in order.
    pub flushed_marks: Vec<String>,
}

/// Something the server sent that Twilio would not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub at: Instant,
    pub problem: String,
    /// The message (its start, if long).
    pub message: String,
}

/// How the connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub at: Instant,
    /// The server's close code, when it sent a close frame.
    pub code: Option<u16>,
    pub reason: String,
}

/// What happened on the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The first frame of caller audio (`bytes` queued in all) went out.
    CallerAudioStart {
        bytes: usize,
    },
    /// The last frame of that caller audio went out.
    CallerAudioEnd {
        bytes: usize,
    },
    DtmfSent {
        digit: char,
    },
    /// The caller hung up (`stop` sent).
    StopSent,
    /// Server audio arrived.
    Media {
        bytes: usize,
    },
    /// A server mark arrived.
    Mark {
        name: String,
    },
    /// A mark went back to the server.
    MarkEchoed {
        name: String,
        cleared: bool,
    },
    Clear {
        dropped_bytes: usize,
        flushed_marks: Vec<String>,
    },
    Violation {
        problem: String,
    },
    Closed {
        code: Option<u16>,
        reason: String,
    },
}

/// An [`Event`] and when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedEvent {
    pub at: Instant,
    pub event: Event,
}

/// What the reader and writer tasks share with the test.
#[derive(Debug)]
struct State {
    started_at: Instant,
    playout: Playout,
    received: Vec<u8>,
    last_media_at: Option<Instant>,
    marks: Vec<MarkRecord>,
    clears: Vec<ClearRecord>,
    violations: Vec<Violation>,
    timeline: Vec<TimedEvent>,
    closed: Option<Closed>,
    /// Why the writer can no longer send, if it cannot.
    broken: Option<String>,
    /// Marks to echo go to the writer, which owns the socket's sending half.
    echoes: mpsc::UnboundedSender<usize>,
}

impl State {
    fn record(&mut self, at: Instant, event: Event) {
        self.timeline.push(TimedEvent { at, event });
    }

    /// Plays up to `now` and hands the marks that came due to the writer.
    /// Everything that reads the playout goes through here, so no due
    /// mark is ever taken without being echoed.
    fn settle(&mut self, now: Instant) {
        for (id, due) in self.playout.advance(now) {
            self.mark_played(id, due, false);
        }
    }

    fn mark_played(&mut self, id: usize, at: Instant, cleared: bool) {
        if let Some(mark) = self.marks.get_mut(id) {
            mark.played_at = Some(at);
            mark.cleared = cleared;
        }
        // The writer is gone only once the call is closed; nothing to echo then.
        let _ = self.echoes.send(id);
    }

    fn violation(&mut self, at: Instant, problem: String, message: &str) {
        let message: String = message.chars().take(200).collect();
        self.record(at, Event::Violation { problem: problem.clone() });
        self.violations.push(Violation { at, problem, message });
    }

    /// Takes one message from the socket; true when the connection is over.
    fn receive(&mut self, message: Option<Result<Message, String>>, now: Instant, stream_sid: &str) -> bool {
        let message = match message {
            None => {
                self.close(now, None, "connection ended".into());
                return true;
            }
            Some(Err(e)) => {
                self.close(now, None, format!("connection failed: {e}"));
                return true;
            }
            Some(Ok(message)) => message,
        };
        match message {
            Message::Text(text) => match parse_server_message(text.as_str(), stream_sid) {
                Ok(parsed) => self.apply(parsed, now),
                Err(problem) => self.violation(now, problem, text.as_str()),
            },
            Message::Binary(bytes) => {
                self.violation(now, format!("binary frame of {} bytes", bytes.len()), "");
            }
            Message::Close(frame) => {
                let (code, reason) =
                    frame.map_or((None, String::new()), |f| (Some(u16::from(f.code)), f.reason.as_str().to_string()));
                self.close(now, code, reason);
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
        false
    }

    fn close(&mut self, at: Instant, code: Option<u16>, reason: String) {
        if self.closed.is_none() {
            self.record(at, Event::Closed { code, reason: reason.clone() });
            self.closed = Some(Closed { at, code, reason });
        }
    }

    fn apply(&mut self, message: ServerMessage, now: Instant) {
        // Earlier marks come due before this message changes the buffer.
        self.settle(now);
        match message {
            ServerMessage::Media(bytes) => {
                self.record(now, Event::Media { bytes: bytes.len() });
                self.received.extend_from_slice(&bytes);
                self.last_media_at = Some(now);
                self.playout.push_audio(bytes, now);
            }
            ServerMessage::Mark(name) => {
                self.record(now, Event::Mark { name: name.clone() });
                let id = self.marks.len();
                self.marks.push(MarkRecord { name, sent_at: now, played_at: None, echoed_at: None, cleared: false });
                self.playout.push_mark(id, now);
                // Due at once when nothing is buffered.
                self.settle(now);
            }
            ServerMessage::Clear => {
                let cleared = self.playout.clear(now);
                for (id, due) in cleared.due {
                    self.mark_played(id, due, false);
                }
                let flushed_marks: Vec<String> =
                    cleared.flushed.iter().filter_map(|&id| self.marks.get(id).map(|m| m.name.clone())).collect();
                for id in cleared.flushed {
                    self.mark_played(id, now, true);
                }
                self.record(
                    now,
                    Event::Clear { dropped_bytes: cleared.dropped_bytes, flushed_marks: flushed_marks.clone() },
                );
                self.clears.push(ClearRecord { at: now, dropped_bytes: cleared.dropped_bytes, flushed_marks });
            }
        }
    }

    fn echoed_marks(&self) -> usize {
        self.marks.iter().filter(|m| m.echoed_at.is_some()).count()
    }

    /// When the caller last heard the server: the end of the audio played
    /// or queued, or the last audio to arrive (the call's start if none).
    fn last_sound(&self) -> Instant {
        [self.last_media_at, self.playout.tail()].into_iter().flatten().max().unwrap_or(self.started_at)
    }

    fn summary(&self) -> String {
        format!(
            "received {} bytes, played {}, {} marks ({} echoed), {} clears, {} violations, closed: {:?}",
            self.received.len(),
            self.playout.played().len(),
            self.marks.len(),
            self.echoed_marks(),
            self.clears.len(),
            self.violations.len(),
            self.closed.as_ref().map(|c| (c.code, c.reason.as_str())),
        )
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not hide what was recorded.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Caller-side work, sent in order.
#[derive(Debug)]
enum Work {
    Audio { bytes: Vec<u8>, sent: usize, done: Done },
    Dtmf { digit: char, done: Done },
    Raw { text: String, done: Done },
}

impl Work {
    fn fail(self, why: &str) {
        let (Work::Audio { done, .. } | Work::Dtmf { done, .. } | Work::Raw { done, .. }) = self;
        let _ = done.send(Err(why.to_string()));
    }
}

#[derive(Debug)]
enum Command {
    Queue(Work),
    Stop(Done),
    Close(Done),
}

/// Owns the socket's sending half: paces the caller's frames, and sends
/// DTMF, mark echoes and `stop` with one sequence count.
struct Writer {
    sink: SplitSink<Socket, Message>,
    shared: Arc<Shared>,
    outbound: Outbound,
    pacer: Pacer,
    continuous: bool,
    queue: VecDeque<Work>,
    stopped: bool,
}

impl Writer {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>, mut echoes: mpsc::UnboundedReceiver<usize>) {
        loop {
            self.send_controls().await;
            let deadline = self.wants_frame().then(|| self.pacer.peek(Instant::now()));
            tokio::select! {
                biased;
                Some(id) = echoes.recv() => self.echo(id).await,
                command = commands.recv() => match command {
                    Some(Command::Queue(work)) => self.enqueue(work),
                    Some(Command::Stop(done)) => {
                        let result = self.stop().await;
                        let _ = done.send(result);
                    }
                    Some(Command::Close(done)) => {
                        self.close().await;
                        let _ = done.send(Ok(()));
                        return;
                    }
                    // The call was dropped: hang up.
                    None => {
                        self.close().await;
                        return;
                    }
                },
                () = sleep_until(deadline) => self.send_frame().await,
            }
        }
    }

    fn broken(&self) -> Option<String> {
        self.shared.lock().broken.clone()
    }

    fn wants_frame(&self) -> bool {
        !self.stopped
            && self.broken().is_none()
            && (self.continuous || matches!(self.queue.front(), Some(Work::Audio { .. })))
    }

    fn enqueue(&mut self, work: Work) {
        if self.stopped {
            work.fail("the caller has hung up");
        } else if let Some(why) = self.broken() {
            work.fail(&why);
        } else {
            self.queue.push_back(work);
        }
    }

    async fn send(&mut self, value: Value) -> Result<(), String> {
        self.send_text(value.to_string()).await
    }

    async fn send_text(&mut self, text: String) -> Result<(), String> {
        if let Some(why) = self.broken() {
            return Err(why);
        }
        if let Err(e) = self.sink.send(Message::Text(text.into())).await {
            let why = format!("cannot send: {e}");
            self.shared.lock().broken = Some(why.clone());
            for work in self.queue.drain(..) {
                work.fail(&why);
            }
            return Err(why);
        }
        Ok(())
    }

    /// DTMF and raw messages go out as soon as the audio queued before
    /// them has.
    async fn send_controls(&mut self) {
        while matches!(self.queue.front(), Some(Work::Dtmf { .. } | Work::Raw { .. })) {
            let Some(work) = self.queue.pop_front() else { break };
            match work {
                Work::Dtmf { digit, done } => {
                    let message = self.outbound.dtmf(digit);
                    let result = self.send(message).await;
                    if result.is_ok() {
                        self.shared.lock().record(Instant::now(), Event::DtmfSent { digit });
                    }
                    let _ = done.send(result);
                }
                Work::Raw { text, done } => {
                    let result = self.send_text(text).await;
                    let _ = done.send(result);
                }
                Work::Audio { .. } => self.queue.push_front(work),
            }
        }
    }

    async fn send_frame(&mut self) {
        let (_, timestamp) = self.pacer.take(Instant::now());
        let mut frame = [MULAW_SILENCE; FRAME_BYTES];
        let mut finished = None;
        if let Some(Work::Audio { bytes, sent, .. }) = self.queue.front_mut() {
            if *sent == 0 {
                self.shared.lock().record(Instant::now(), Event::CallerAudioStart { bytes: bytes.len() });
            }
            let end = (*sent + FRAME_BYTES).min(bytes.len());
            frame[..end - *sent].copy_from_slice(&bytes[*sent..end]);
            *sent = end;
            if end == bytes.len() {
                finished = self.queue.pop_front();
            }
        }
        let message = self.outbound.media(&frame, timestamp);
        let result = self.send(message).await;
        if let Some(Work::Audio { bytes, done, .. }) = finished {
            if result.is_ok() {
                self.shared.lock().record(Instant::now(), Event::CallerAudioEnd { bytes: bytes.len() });
            }
            let _ = done.send(result);
        }
    }

    async fn echo(&mut self, id: usize) {
        // After a hang-up nothing plays, and Twilio says nothing more.
        if self.stopped {
            return;
        }
        let Some((name, cleared)) = self.shared.lock().marks.get(id).map(|m| (m.name.clone(), m.cleared)) else {
            return;
        };
        let message = self.outbound.mark(&name);
        if self.send(message).await.is_ok() {
            let now = Instant::now();
            let mut state = self.shared.lock();
            if let Some(mark) = state.marks.get_mut(id) {
                mark.echoed_at = Some(now);
            }
            state.record(now, Event::MarkEchoed { name, cleared });
        }
    }

    async fn stop(&mut self) -> Result<(), String> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        for work in self.queue.drain(..) {
            work.fail("the caller hung up");
        }
        let message = self.outbound.stop();
        self.send(message).await?;
        self.shared.lock().record(Instant::now(), Event::StopSent);
        Ok(())
    }

    /// Hangs up and closes; the server may have closed first, so failures
    /// to send are of no interest here.
    async fn close(&mut self) {
        let _ = self.stop().await;
        let frame = CloseFrame { code: CloseCode::Normal, reason: "".into() };
        let _ = self.sink.send(Message::Close(Some(frame))).await;
    }
}

/// Sleeps until `deadline`, or forever without one (a disabled branch).
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

/// Owns the socket's receiving half: records what the server sends and
/// wakes up when a mark comes due.
async fn read_loop(mut stream: SplitStream<Socket>, shared: Arc<Shared>, stream_sid: String) {
    loop {
        let due = shared.lock().playout.next_due();
        let message = tokio::select! {
            message = stream.next() => message,
            () = sleep_until(due) => {
                shared.lock().settle(Instant::now());
                continue;
            }
        };
        let now = Instant::now();
        let mut state = shared.lock();
        let ended = state.receive(message.map(|m| m.map_err(|e| e.to_string())), now, &stream_sid);
        state.settle(now);
        if ended {
            break;
        }
    }
}

/// Caller audio on its way out; [`Sending::done`] waits for its last frame.
#[derive(Debug)]
pub struct Sending(oneshot::Receiver<Result<(), String>>);

impl Sending {
    /// Waits until the last frame has been sent.
    pub async fn done(self) -> anyhow::Result<()> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => bail!("caller audio not sent: {why}"),
            Err(_) => bail!("caller audio not sent: the call is gone"),
        }
    }
}

enum Check {
    Done,
    NotYet,
    Never(String),
}

/// A phone call as Twilio places it on the server's Media Streams socket.
#[derive(Debug)]
pub struct TwilioCall {
    config: CallConfig,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl TwilioCall {
    /// Connects to `url` (`ws://…`), sends `connected` and `start`, and
    /// starts streaming (silence, if `config.continuous`) and listening.
    pub async fn connect(url: &str, config: CallConfig) -> anyhow::Result<TwilioCall> {
        ensure!(
            config.playout_speed.is_finite() && config.playout_speed > 0.0,
            "playout speed {} is not positive",
            config.playout_speed
        );
        let mut request = url.into_client_request().with_context(|| format!("not a WebSocket URL: {url}"))?;
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).with_context(|| format!("header name {name:?}"))?;
            let value = HeaderValue::from_str(value).with_context(|| format!("header value {value:?}"))?;
            request.headers_mut().append(name, value);
        }
        // Without TCP_NODELAY small messages (a mark echo, one frame) can
        // sit out a delayed ACK, 40 ms on Linux: noise in latency tests.
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .with_context(|| format!("opening the media stream at {url}"))?;
        let (mut sink, stream) = socket.split();
        let mut outbound = Outbound::new(&config.stream_sid, &config.call_sid, &config.account_sid);
        sink.send(Message::Text(Outbound::connected().to_string().into())).await.context("sending 'connected'")?;
        let start = outbound.start(&config.custom_parameters);
        sink.send(Message::Text(start.to_string().into())).await.context("sending 'start'")?;
        // The stream's clock starts with its first media slot, right after 'start'.
        let started_at = Instant::now();
        let pacer = Pacer::new(started_at, config.speed)?;
        let bytes_per_sec = (f64::from(SAMPLE_RATE_HZ) * config.playout_speed).round() as u64;
        let (echo_tx, echo_rx) = mpsc::unbounded_channel();
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                started_at,
                playout: Playout::new(bytes_per_sec),
                received: Vec::new(),
                last_media_at: None,
                marks: Vec::new(),
                clears: Vec::new(),
                violations: Vec::new(),
                timeline: Vec::new(),
                closed: None,
                broken: None,
                echoes: echo_tx,
            }),
        });
        let writer = Writer {
            sink,
            shared: shared.clone(),
            outbound,
            pacer,
            continuous: config.continuous,
            queue: VecDeque::new(),
            stopped: false,
        };
        let tasks = vec![
            tokio::spawn(writer.run(command_rx, echo_rx)),
            tokio::spawn(read_loop(stream, shared.clone(), config.stream_sid.clone())),
        ];
        Ok(TwilioCall { config, shared, commands: command_tx, tasks: Mutex::new(tasks) })
    }

    pub fn stream_sid(&self) -> &str {
        &self.config.stream_sid
    }

    pub fn call_sid(&self) -> &str {
        &self.config.call_sid
    }

    /// When `start` went out: the stream's time zero.
    pub fn started_at(&self) -> Instant {
        self.shared.lock().started_at
    }

    fn command(&self, command: Command) -> anyhow::Result<()> {
        self.commands.send(command).map_err(|_| anyhow::anyhow!("the call is closed"))
    }

    async fn run(&self, what: &str, make: impl FnOnce(Done) -> Command) -> anyhow::Result<()> {
        let (done, result) = oneshot::channel();
        self.command(make(done))?;
        match result.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => bail!("{what}: {why}"),
            Err(_) => bail!("{what}: the call is gone"),
        }
    }

    /// Queues 8 kHz mu-law caller audio behind what is already queued and
    /// returns at once (to talk over the server, say).
    pub fn queue_audio(&self, mulaw: Vec<u8>) -> Sending {
        let (done, result) = oneshot::channel();
        if let Err(Command::Queue(work)) =
            self.commands.send(Command::Queue(Work::Audio { bytes: mulaw, sent: 0, done })).map_err(|e| e.0)
        {
            work.fail("the call is closed");
        }
        Sending(result)
    }

    /// Sends 8 kHz mu-law caller audio in 20 ms frames at the call's pace;
    /// returns when the last frame is out.
    pub async fn send_audio(&self, mulaw: &[u8]) -> anyhow::Result<()> {
        self.queue_audio(mulaw.to_vec()).done().await
    }

    /// Sends 16-bit PCM at `rate` Hz as caller audio.
    pub async fn send_pcm(&self, samples: &[i16], rate: u32) -> anyhow::Result<()> {
        self.send_audio(&pcm16_to_mulaw(samples, rate)?).await
    }

    /// Sends `duration` of silence (rounded up to whole frames).
    pub async fn send_silence(&self, duration: Duration) -> anyhow::Result<()> {
        let bytes = (duration.as_nanos() * u128::from(SAMPLE_RATE_HZ)).div_ceil(1_000_000_000);
        self.send_audio(&vec![MULAW_SILENCE; usize::try_from(bytes)?]).await
    }

    /// Presses a key (0-9, *, #, A-D), after the audio already queued.
    pub async fn send_dtmf(&self, digit: char) -> anyhow::Result<()> {
        ensure!(matches!(digit, '0'..='9' | '*' | '#' | 'A'..='D'), "{digit:?} is not a DTMF key");
        self.run("dtmf", |done| Command::Queue(Work::Dtmf { digit, done })).await
    }

    /// Sends any text message, after the audio already queued (for tests of
    /// what the server does with messages Twilio would not send).
    pub async fn send_raw(&self, text: impl Into<String>) -> anyhow::Result<()> {
        let text = text.into();
        self.run("raw message", |done| Command::Queue(Work::Raw { text, done })).await
    }

    /// Hangs up: drops the caller audio not yet sent and sends `stop`. The
    /// socket stays open, to see what the server does next.
    pub async fn stop(&self) -> anyhow::Result<()> {
        self.run("stop", Command::Stop).await
    }

    /// Hangs up (if not yet) and closes the socket, waiting briefly for the
    /// server's side of the close. What was recorded stays readable.
    pub async fn close(&self) -> anyhow::Result<()> {
        // Already closed: the writer is gone and there is nothing to do.
        if self.run("close", Command::Close).await.is_err() {
            return Ok(());
        }
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(CLOSE_WAIT, task).await.is_err() {
                abort.abort();
            }
        }
        Ok(())
    }

    /// All audio the server sent, played or not (mu-law).
    pub fn received_mulaw(&self) -> Vec<u8> {
        self.shared.lock().received.clone()
    }

    /// The audio the caller has heard by now (mu-law): what arrived, less
    /// what is still buffered and what a `clear` dropped.
    pub fn played_mulaw(&self) -> Vec<u8> {
        let mut state = self.shared.lock();
        state.settle(Instant::now());
        state.playout.played().to_vec()
    }

    /// The audio heard by now as 16-bit PCM at `rate` Hz (16 000 for Whisper).
    pub fn played_pcm(&self, rate: u32) -> anyhow::Result<Vec<i16>> {
        mulaw_to_pcm16(&self.played_mulaw(), rate)
    }

    /// The audio heard by now as samples in [-1, 1] at `rate` Hz.
    pub fn played_f32(&self, rate: u32) -> anyhow::Result<Vec<f32>> {
        mulaw_to_f32(&self.played_mulaw(), rate)
    }

    pub fn received_bytes(&self) -> usize {
        self.shared.lock().received.len()
    }

    pub fn played_bytes(&self) -> usize {
        let mut state = self.shared.lock();
        state.settle(Instant::now());
        state.playout.played().len()
    }

    /// Whether server audio is still playing (or queued) now.
    pub fn is_playing(&self) -> bool {
        self.shared.lock().playout.is_playing(Instant::now())
    }

    /// The server's marks, in the order they arrived.
    pub fn marks(&self) -> Vec<MarkRecord> {
        let mut state = self.shared.lock();
        state.settle(Instant::now());
        state.marks.clone()
    }

    pub fn clears(&self) -> Vec<ClearRecord> {
        self.shared.lock().clears.clone()
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.shared.lock().violations.clone()
    }

    /// Fails, listing them, if the server sent anything Twilio would reject.
    pub fn ensure_no_violations(&self) -> anyhow::Result<()> {
        let violations = self.violations();
        ensure!(
            violations.is_empty(),
            "the server broke the Media Streams protocol: {:?}",
            violations.iter().map(|v| format!("{} in {}", v.problem, v.message)).collect::<Vec<_>>()
        );
        Ok(())
    }

    /// Everything that happened, in order.
    pub fn timeline(&self) -> Vec<TimedEvent> {
        let mut state = self.shared.lock();
        state.settle(Instant::now());
        state.timeline.clone()
    }

    /// How the connection ended, once it has.
    pub fn closed(&self) -> Option<Closed> {
        self.shared.lock().closed.clone()
    }

    async fn wait(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&State, Instant) -> Check,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            let (result, summary) = {
                let mut state = self.shared.lock();
                state.settle(now);
                (check(&state, now), state.summary())
            };
            match result {
                Check::Done => return Ok(()),
                Check::Never(why) => bail!("{what}: {why} ({summary})"),
                Check::NotYet if now >= deadline => bail!("timed out after {timeout:?} waiting for {what} ({summary})"),
                Check::NotYet => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Waits until `count` marks in all have been echoed to the server.
    pub async fn wait_for_marks(&self, count: usize, timeout: Duration) -> anyhow::Result<()> {
        self.wait(&format!("{count} echoed marks"), timeout, |state, _| {
            if state.echoed_marks() >= count {
                Check::Done
            } else if state.closed.is_some() || state.broken.is_some() {
                Check::Never("the connection is over".into())
            } else {
                Check::NotYet
            }
        })
        .await
    }

    /// Waits until `count` clears in all have arrived.
    pub async fn wait_for_clears(&self, count: usize, timeout: Duration) -> anyhow::Result<()> {
        self.wait(&format!("{count} clears"), timeout, |state, _| {
            if state.clears.len() >= count {
                Check::Done
            } else if state.closed.is_some() {
                Check::Never("the connection is over".into())
            } else {
                Check::NotYet
            }
        })
        .await
    }

    /// Waits until `bytes` of server audio in all have arrived.
    pub async fn wait_for_audio(&self, bytes: usize, timeout: Duration) -> anyhow::Result<()> {
        self.wait(&format!("{bytes} bytes of server audio"), timeout, |state, _| {
            if state.received.len() >= bytes {
                Check::Done
            } else if state.closed.is_some() {
                Check::Never("the connection is over".into())
            } else {
                Check::NotYet
            }
        })
        .await
    }

    /// Waits until the caller has heard nothing for `quiet`: all server
    /// audio has played and none has arrived for that long (counted from
    /// the call's start if none ever did). A closed connection is silent.
    pub async fn wait_for_silence(&self, quiet: Duration, timeout: Duration) -> anyhow::Result<()> {
        self.wait(&format!("{quiet:?} of silence"), timeout, |state, now| {
            if now.saturating_duration_since(state.last_sound()) >= quiet { Check::Done } else { Check::NotYet }
        })
        .await
    }

    /// Waits until the connection has ended (the server closed it, or it broke).
    pub async fn wait_for_close(&self, timeout: Duration) -> anyhow::Result<Closed> {
        self.wait(
            "the connection to end",
            timeout,
            |state, _| {
                if state.closed.is_some() { Check::Done } else { Check::NotYet }
            },
        )
        .await?;
        self.closed().context("closed without a record")
    }
}

impl Drop for TwilioCall {
    fn drop(&mut self) {
        // The tasks hold the socket; a test that forgot `close` must not
        // leave a call streaming silence into the next test.
        for task in self.tasks.get_mut().unwrap_or_else(|e| e.into_inner()).drain(..) {
            task.abort();
        }
    }
}

fn to_i16(sample: f32) -> i16 {
    (sample * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16
}

fn resample(samples: Vec<f32>, from: u32, to: u32) -> anyhow::Result<Vec<f32>> {
    if from == to {
        return Ok(samples);
    }
    let mut resampler = StreamResampler::between(from, to)?;
    let mut out = Vec::with_capacity(samples.len() * to as usize / from.max(1) as usize + 1);
    resampler.push(&samples, &mut out)?;
    resampler.flush(&mut out)?;
    Ok(out)
}

/// Samples in [-1, 1] at `rate` Hz → 8 kHz mu-law, as a phone would carry them.
pub fn f32_to_mulaw(samples: &[f32], rate: u32) -> anyhow::Result<Vec<u8>> {
    let resampled = resample(samples.to_vec(), rate, SAMPLE_RATE_HZ)?;
    Ok(resampled.into_iter().map(|s| mulaw_encode(to_i16(s))).collect())
}

/// 16-bit PCM at `rate` Hz → 8 kHz mu-law.
pub fn pcm16_to_mulaw(samples: &[i16], rate: u32) -> anyhow::Result<Vec<u8>> {
    f32_to_mulaw(&samples.iter().map(|&s| f32::from(s) / 32_768.0).collect::<Vec<_>>(), rate)
}

/// 8 kHz mu-law → samples in [-1, 1] at `rate` Hz.
pub fn mulaw_to_f32(mulaw: &[u8], rate: u32) -> anyhow::Result<Vec<f32>> {
    resample(mulaw.iter().map(|&b| f32::from(mulaw_decode(b)) / 32_768.0).collect(), SAMPLE_RATE_HZ, rate)
}

/// 8 kHz mu-law → 16-bit PCM at `rate` Hz.
pub fn mulaw_to_pcm16(mulaw: &[u8], rate: u32) -> anyhow::Result<Vec<i16>> {
    if rate == SAMPLE_RATE_HZ {
        return Ok(mulaw.iter().map(|&b| mulaw_decode(b)).collect());
    }
    Ok(mulaw_to_f32(mulaw, rate)?.into_iter().map(to_i16).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn audio_is_cut_into_padded_frames() {
        let audio: Vec<u8> = (0..400).map(|i| (i % 200) as u8).collect();
        let cut: Vec<_> = frames(&audio).collect();
        assert_eq!(cut.len(), 3);
        assert_eq!(&cut[0][..], &audio[..160]);
        assert_eq!(&cut[2][..80], &audio[320..]);
        assert!(cut[2][80..].iter().all(|&b| b == MULAW_SILENCE));
        assert_eq!(frames(&[]).count(), 0);
        assert_eq!(mulaw_encode(0), MULAW_SILENCE);
    }

    #[test]
    fn messages_are_numbered_as_twilio_numbers_them() {
        let mut out = Outbound::new("MZ1", "CA1", "AC1");
        assert_eq!(Outbound::connected()["event"], "connected");
        assert!(Outbound::connected().get("sequenceNumber").is_none());
        let params = BTreeMap::from([("now".to_string(), "2030-06-03T09:00:00Z".to_string())]);
        let start = out.start(&params);
        assert_eq!(start["sequenceNumber"], "1");
        assert_eq!(start["streamSid"], "MZ1");
        assert_eq!(start["start"]["streamSid"], "MZ1");
        assert_eq!(start["start"]["callSid"], "CA1");
        assert_eq!(start["start"]["accountSid"], "AC1");
        assert_eq!(start["start"]["tracks"], json!(["inbound"]));
        assert_eq!(start["start"]["customParameters"]["now"], "2030-06-03T09:00:00Z");
        assert_eq!(
            start["start"]["mediaFormat"],
            json!({"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1})
        );
        let first = out.media(&[0xFF; 160], ms(0));
        let second = out.media(&[0x7F; 160], ms(20));
        assert_eq!(first["sequenceNumber"], "2");
        assert_eq!(first["media"]["chunk"], "1");
        assert_eq!(first["media"]["timestamp"], "0");
        assert_eq!(first["media"]["track"], "inbound");
        assert_eq!(second["sequenceNumber"], "3");
        assert_eq!(second["media"]["chunk"], "2");
        assert_eq!(second["media"]["timestamp"], "20");
        let payload = second["media"]["payload"].as_str().unwrap();
        assert_eq!(BASE64.decode(payload).unwrap(), vec![0x7F; 160]);
        let dtmf = out.dtmf('5');
        assert_eq!(dtmf["sequenceNumber"], "4");
        assert_eq!(dtmf["dtmf"], json!({"track": "inbound_track", "digit": "5"}));
        let mark = out.mark("reply-1-20ms");
        assert_eq!(mark["sequenceNumber"], "5");
        assert_eq!(mark["mark"]["name"], "reply-1-20ms");
        assert_eq!(mark["streamSid"], "MZ1");
        let stop = out.stop();
        assert_eq!(stop["sequenceNumber"], "6");
        assert_eq!(stop["stop"], json!({"accountSid": "AC1", "callSid": "CA1"}));
        // Media chunks count media only.
        assert_eq!(out.media(&[0; 160], ms(40))["media"]["chunk"], "3");
    }

    #[test]
    fn sids_look_like_twilios() {
        let sid = new_sid("MZ");
        assert_eq!(sid.len(), 34);
        assert!(sid.starts_with("MZ") && sid[2..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(new_sid("CA"), new_sid("CA"));
    }

    #[test]
    fn frames_are_paced_from_the_start_without_bursts() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, 1.0).unwrap();
        assert_eq!(pacer.take(t0), (t0, ms(0)));
        // Asked early, the next frame still waits for its slot.
        assert_eq!(pacer.peek(t0 + ms(5)), t0 + ms(20));
        assert_eq!(pacer.take(t0 + ms(20)), (t0 + ms(20), ms(20)));
        // A little late: its own slot, sent at once; the rate does not drift.
        assert_eq!(pacer.take(t0 + ms(45)), (t0 + ms(40), ms(40)));
        assert_eq!(pacer.peek(t0 + ms(45)), t0 + ms(60));
        // After an idle second: resumes at the present, no burst of old slots.
        assert_eq!(pacer.take(t0 + ms(1_013)), (t0 + ms(1_000), ms(1_000)));
        assert_eq!(pacer.take(t0 + ms(1_013)), (t0 + ms(1_020), ms(1_020)));

        // Four times faster: 5 ms apart, stamped in audio time.
        let mut fast = Pacer::new(t0, 4.0).unwrap();
        assert_eq!(fast.take(t0), (t0, ms(0)));
        assert_eq!(fast.take(t0), (t0 + ms(5), ms(20)));
        assert_eq!(fast.take(t0 + ms(10)), (t0 + ms(10), ms(40)));
        assert!(Pacer::new(t0, 0.0).is_err());
        assert!(Pacer::new(t0, f64::NAN).is_err());
    }

    #[test]
    fn marks_echo_when_the_audio_before_them_has_played() {
        let t0 = Instant::now();
        let at = |n| t0 + ms(n);
        let mut playout = Playout::new(8_000);
        // Nothing buffered: a mark is due at once.
        playout.push_mark(0, t0);
        assert_eq!(playout.advance(t0), vec![(0, t0)]);
        // 200 ms of audio, then a mark 10 ms later: due when the audio ends.
        playout.push_audio(vec![1; 1_600], t0);
        playout.push_mark(1, at(10));
        assert_eq!(playout.next_due(), Some(at(200)));
        assert!(playout.advance(at(100)).is_empty());
        assert_eq!(playout.played().len(), 800);
        assert!(playout.is_playing(at(199)));
        assert_eq!(playout.advance(at(200)), vec![(1, at(200))]);
        assert_eq!(playout.played().len(), 1_600);
        assert!(!playout.is_playing(at(200)));
        // Audio queued behind audio plays after it; after an underrun it
        // starts when it arrives.
        playout.push_audio(vec![2; 800], at(300));
        playout.push_audio(vec![3; 800], at(310));
        playout.push_mark(2, at(320));
        assert_eq!(playout.next_due(), Some(at(500)));
        assert!(playout.advance(at(499)).is_empty());
        // Advancing late reports the instant the mark came due, not the call's.
        assert_eq!(playout.advance(at(700)), vec![(2, at(500))]);
        let played = playout.played();
        assert_eq!(played.len(), 3_200);
        assert!(played[1_600..2_400].iter().all(|&b| b == 2) && played[2_400..].iter().all(|&b| b == 3));
        assert_eq!(playout.next_due(), None);
    }

    #[test]
    fn clear_drops_unplayed_audio_and_flushes_pending_marks() {
        let t0 = Instant::now();
        let at = |n| t0 + ms(n);
        let mut playout = Playout::new(8_000);
        playout.push_audio(vec![1; 800], t0); // 0–100 ms
        playout.push_mark(0, t0);
        playout.push_audio(vec![2; 1_600], t0); // 100–300 ms
        playout.push_mark(1, t0);
        playout.push_audio(vec![3; 800], t0); // 300–400 ms
        playout.push_mark(2, t0);
        let cleared = playout.clear(at(150));
        assert_eq!(cleared.due, vec![(0, at(100))]);
        assert_eq!(cleared.flushed, vec![1, 2]);
        assert_eq!(cleared.dropped_bytes, 2_000);
        assert_eq!(playout.played().len(), 1_200);
        assert!(playout.played()[800..].iter().all(|&b| b == 2));
        assert!(!playout.is_playing(at(150)));
        assert_eq!(playout.next_due(), None);
        // Audio after the clear plays from when it arrives.
        playout.push_audio(vec![4; 80], at(160));
        playout.push_mark(3, at(160));
        assert_eq!(playout.next_due(), Some(at(170)));
        // A clear with nothing buffered drops nothing.
        assert_eq!(playout.clear(at(170)), Cleared { due: vec![(3, at(170))], flushed: vec![], dropped_bytes: 0 });
        assert_eq!(playout.played().len(), 1_280);
    }

    #[test]
    fn server_messages_are_checked_as_twilio_would() {
        let sid = "MZ1";
        let media = r#"{"event":"media","streamSid":"MZ1","media":{"payload":"f39/"}}"#;
        assert_eq!(parse_server_message(media, sid), Ok(ServerMessage::Media(vec![0x7F, 0x7F, 0x7F])));
        let mark = r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"m1"}}"#;
        assert_eq!(parse_server_message(mark, sid), Ok(ServerMessage::Mark("m1".into())));
        assert_eq!(parse_server_message(r#"{"event":"clear","streamSid":"MZ1"}"#, sid), Ok(ServerMessage::Clear));
        for bad in [
            "not json",
            "[1]",
            r#"{"streamSid":"MZ1"}"#,
            r#"{"event":"clear"}"#,
            r#"{"event":"clear","streamSid":"MZ2"}"#,
            r#"{"event":"clear","streamSid":null}"#,
            r#"{"event":"stop","streamSid":"MZ1"}"#,
            r#"{"event":"media","streamSid":"MZ1","media":{}}"#,
            r#"{"event":"media","streamSid":"MZ1","media":{"payload":"***"}}"#,
            r#"{"event":"mark","streamSid":"MZ1","mark":{"name":7}}"#,
        ] {
            assert!(parse_server_message(bad, sid).is_err(), "{bad}");
        }
    }

    #[test]
    fn pcm_converts_to_and_from_phone_audio() {
        // One second of a 440 Hz tone at 16 kHz.
        let tone: Vec<i16> = (0..16_000)
            .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin() * 8_000.0) as i16)
            .collect();
        let mulaw = pcm16_to_mulaw(&tone, 16_000).unwrap();
        assert!((mulaw.len() as i64 - 8_000).abs() < 800, "{}", mulaw.len());
        let back = mulaw_to_pcm16(&mulaw, 16_000).unwrap();
        assert!((back.len() as i64 - 16_000).abs() < 1_600, "{}", back.len());
        let peak = back.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((6_000..10_000).contains(&peak), "{peak}");
        let narrow = mulaw_to_pcm16(&mulaw, 8_000).unwrap();
        assert_eq!(narrow.len(), mulaw.len());
        assert_eq!(mulaw_to_pcm16(&[MULAW_SILENCE; 4], 8_000).unwrap(), vec![0; 4]);
    }

    type ServerSocket = WebSocketStream<TcpStream>;

    /// The next text message from the caller, as JSON.
    async fn next_json(ws: &mut ServerSocket) -> anyhow::Result<Value> {
        loop {
            if let Message::Text(text) = ws.next().await.context("socket ended")?? {
                return Ok(serde_json::from_str(text.as_str())?);
            }
        }
    }

    /// The next mark echo, skipping anything else.
    async fn next_mark(ws: &mut ServerSocket) -> anyhow::Result<Value> {
        loop {
            let value = next_json(ws).await?;
            if value["event"] == "mark" {
                return Ok(value);
            }
        }
    }

    /// A stand-in for the gateway: reads the call's opening, plays a reply
    /// with marks, interrupts it with a clear, and breaks the protocol once.
    async fn fake_server(listener: tokio::net::TcpListener) -> anyhow::Result<Vec<Value>> {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let mut ws = tokio_tungstenite::accept_async(tcp).await?;
        let mut received = Vec::new();
        // connected, start, three frames of caller audio, a key.
        for _ in 0..6 {
            received.push(next_json(&mut ws).await?);
        }
        let sid = received[1]["streamSid"].as_str().context("no streamSid")?.to_string();
        let text = |value: Value| Message::Text(value.to_string().into());
        let media = |n: usize| {
            text(json!({"event": "media", "streamSid": sid, "media": {"payload": BASE64.encode(vec![0x55u8; n])}}))
        };
        let mark = |name: &str| text(json!({"event": "mark", "streamSid": sid, "mark": {"name": name}}));
        // 200 ms of audio and a mark: echoed once the audio has played.
        ws.send(media(1_600)).await?;
        ws.send(mark("first")).await?;
        let sent = Instant::now();
        received.push(next_mark(&mut ws).await?);
        let waited = sent.elapsed();
        ensure!(waited >= ms(180) && waited < ms(600), "echo after {waited:?}");
        // A second of audio and two marks, cleared 100 ms in: both marks
        // come back at once.
        ws.send(media(8_000)).await?;
        ws.send(mark("second")).await?;
        ws.send(media(800)).await?;
        ws.send(mark("third")).await?;
        tokio::time::sleep(ms(100)).await;
        ws.send(text(json!({"event": "clear", "streamSid": sid}))).await?;
        let cleared = Instant::now();
        received.push(next_mark(&mut ws).await?);
        received.push(next_mark(&mut ws).await?);
        ensure!(cleared.elapsed() < ms(100), "clear echoes took {:?}", cleared.elapsed());
        ws.send(text(json!({"event": "clear", "streamSid": "MZ-someone-else"}))).await?;
        // Whatever else comes, until the caller hangs up and closes.
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                received.push(serde_json::from_str(text.as_str())?);
            }
        }
        Ok(received)
    }

    #[tokio::test]
    async fn a_continuous_call_fills_the_gaps_with_silence_in_real_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/media", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            tcp.set_nodelay(true)?;
            let mut ws = tokio_tungstenite::accept_async(tcp).await?;
            next_json(&mut ws).await?;
            next_json(&mut ws).await?;
            let mut frames = Vec::new();
            for _ in 0..15 {
                let frame = next_json(&mut ws).await?;
                frames.push((Instant::now(), frame));
            }
            anyhow::Ok(frames)
        });
        let call = TwilioCall::connect(&url, CallConfig::default()).await.unwrap();
        tokio::time::sleep(ms(100)).await;
        call.send_audio(&[0x22; 160]).await.unwrap();
        let frames = server.await.unwrap().unwrap();
        call.close().await.unwrap();

        let mut last_timestamp = None;
        let mut spoken = 0;
        for (i, (_, frame)) in frames.iter().enumerate() {
            assert_eq!(frame["event"], "media");
            assert_eq!(frame["media"]["chunk"], (i + 1).to_string());
            let timestamp: u64 = frame["media"]["timestamp"].as_str().unwrap().parse().unwrap();
            assert_eq!(timestamp % 20, 0);
            assert!(last_timestamp.is_none_or(|last| timestamp > last), "{timestamp} after {last_timestamp:?}");
            last_timestamp = Some(timestamp);
            let payload = BASE64.decode(frame["media"]["payload"].as_str().unwrap()).unwrap();
            assert_eq!(payload.len(), FRAME_BYTES);
            if payload == [0x22; FRAME_BYTES] {
                spoken += 1;
            } else {
                assert!(payload.iter().all(|&b| b == MULAW_SILENCE));
            }
        }
        assert_eq!(spoken, 1);
        // Fourteen 20 ms steps at the pace of a call, not a burst.
        let span = frames[14].0 - frames[0].0;
        assert!(span >= ms(250) && span < ms(800), "{span:?}");
    }

    #[tokio::test]
    async fn a_call_against_a_fake_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/media", listener.local_addr().unwrap());
        let server = tokio::spawn(fake_server(listener));
        let config =
            CallConfig::default().with_parameter("now", "2030-06-03T09:00:00Z").with_continuous(false).with_speed(10.0);
        let call = TwilioCall::connect(&url, config).await.unwrap();
        let sending = call.queue_audio(vec![0x11; 400]);
        call.send_dtmf('7').await.unwrap();
        sending.done().await.unwrap();
        call.wait_for_marks(3, Duration::from_secs(5)).await.unwrap();
        call.wait_for_silence(ms(50), Duration::from_secs(5)).await.unwrap();
        // The server's stray clear arrives after the echoes.
        tokio::time::sleep(ms(50)).await;
        call.close().await.unwrap();
        let received = server.await.unwrap().unwrap();

        // What the server saw.
        assert_eq!(received[0]["event"], "connected");
        assert_eq!(received[1]["event"], "start");
        assert_eq!(received[1]["start"]["customParameters"]["now"], "2030-06-03T09:00:00Z");
        for (i, frame) in received[2..5].iter().enumerate() {
            assert_eq!(frame["event"], "media");
            assert_eq!(frame["sequenceNumber"], (i + 2).to_string());
            assert_eq!(frame["media"]["chunk"], (i + 1).to_string());
            assert_eq!(frame["media"]["timestamp"], (i * 20).to_string());
        }
        assert_eq!(received[5]["dtmf"]["digit"], "7");
        let names: Vec<_> = received[6..9].iter().map(|m| m["mark"]["name"].as_str().unwrap_or("")).collect();
        assert_eq!(names, ["first", "second", "third"]);
        assert_eq!(received[6]["sequenceNumber"], "6");
        assert_eq!(received.last().unwrap()["event"], "stop");

        // What the caller recorded.
        let marks = call.marks();
        assert_eq!(marks.iter().map(|m| m.cleared).collect::<Vec<_>>(), [false, true, true]);
        assert!(marks.iter().all(|m| m.echoed_at.is_some()));
        let clears = call.clears();
        assert_eq!(clears.len(), 1);
        assert_eq!(clears[0].flushed_marks, ["second", "third"]);
        assert_eq!(call.received_bytes(), 1_600 + 8_000 + 800);
        // 200 ms, then about 100 ms of the second reply before the clear.
        let played = call.played_bytes();
        assert!((2_200..4_000).contains(&played), "{played}");
        assert_eq!(clears[0].dropped_bytes, call.received_bytes() - played);
        let violations = call.violations();
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].problem.contains("MZ-someone-else"));
        assert!(call.ensure_no_violations().is_err());
        assert!(call.timeline().iter().any(|e| matches!(e.event, Event::StopSent)));
        assert!(call.send_audio(&[0; 160]).await.is_err());
    }
}
