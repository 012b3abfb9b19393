//! The spoken dev set (`samples/spoken/`) and a caller that plays it: a
//! booking call with a goal, spoken by a voice, over the app's session
//! stream (16 kHz PCM) or over Twilio Media Streams (8 kHz mu-law, through
//! the emulated Twilio of [`crate::twilio`]).
//!
//! The caller is goal-driven rather than scripted turn by turn: after
//! each utterance it reads the session (as any client may) and answers
//! what the assistant waits for, says yes to the read-back only when the
//! assistant holds the goal's values, and gives up when it is asked the
//! same thing too often or nothing it can answer. So a misheard word that
//! the dialogue re-asks costs a turn, not the call, and a misheard value
//! that the dialogue would book is caught as the wrong booking. A call
//! is completed when it ends in a booking with every value of the goal.
//!
//! The two natural voices are committed audio (see the set's README);
//! espeak-ng, for comparison, is synthesised at run time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::TestGateway;
use crate::phone::TWILIO_TOKEN;
use crate::speech;
use crate::twilio::{CallConfig, TwilioCall, f32_to_mulaw};

/// The set as `samples/spoken/set.yaml` has it.
#[derive(Debug, Clone, Deserialize)]
pub struct SpokenSet {
    /// The session clock of every call (RFC 3339).
    pub now: String,
    /// Utterance id → what is said.
    pub utterances: BTreeMap<String, String>,
    pub conversations: Vec<Conversation>,
    #[serde(skip)]
    pub dir: PathBuf,
}

/// A caller with a goal.
#[derive(Debug, Clone, Deserialize)]
pub struct Conversation {
    pub name: String,
    /// The first utterance's id.
    pub opening: String,
    /// Slot → the value the booking must have: a city by name, a date
    /// `YYYY-MM-DD`, a number, a choice, or `none`.
    pub goal: BTreeMap<String, serde_yaml_ng::Value>,
    /// What the assistant waits for (a slot, `option`, `confirmation`) →
    /// the utterance id that answers it.
    pub answers: BTreeMap<String, String>,
}

impl SpokenSet {
    /// Loads `samples/spoken/set.yaml`.
    pub fn load() -> anyhow::Result<SpokenSet> {
        let dir = crate::repo_root().join("samples").join("spoken");
        let text = std::fs::read_to_string(dir.join("set.yaml")).context("reading samples/spoken/set.yaml")?;
        let mut set: SpokenSet = serde_yaml_ng::from_str(&text).context("parsing samples/spoken/set.yaml")?;
        set.dir = dir;
        for c in &set.conversations {
            for id in std::iter::once(&c.opening).chain(c.answers.values()) {
                ensure!(set.utterances.contains_key(id), "{}: no utterance {id:?}", c.name);
            }
        }
        Ok(set)
    }

    pub fn text(&self, id: &str) -> anyhow::Result<&str> {
        self.utterances.get(id).map(String::as_str).with_context(|| format!("no utterance {id:?}"))
    }

    pub fn conversation(&self, name: &str) -> anyhow::Result<&Conversation> {
        self.conversations.iter().find(|c| c.name == name).with_context(|| format!("no conversation {name:?}"))
    }

    /// Utterance `id` spoken by `voice`, 16 kHz mono.
    pub fn wide(&self, voice: Voice, id: &str) -> anyhow::Result<Vec<f32>> {
        match voice.dir() {
            Some(dir) => read_flac(&self.dir.join("audio").join(dir).join(format!("{id}.flac"))),
            None => speech::espeak(self.text(id)?, &std::env::temp_dir()),
        }
    }

    /// Utterance `id` spoken by `voice` as a phone line carries it: 8 kHz
    /// mu-law bytes.
    pub fn phone(&self, voice: Voice, id: &str) -> anyhow::Result<Vec<u8>> {
        match voice.dir() {
            Some(dir) => read_mulaw_wav(&self.dir.join("phone").join(dir).join(format!("{id}.wav"))),
            None => f32_to_mulaw(&self.wide(voice, id)?, 16_000),
        }
    }
}

/// Who speaks the caller's part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voice {
    /// Piper's en_US "joe" (medium), a neural voice.
    Joe,
    /// festival's HTS voice of CMU ARCTIC's "slt".
    Slt,
    /// espeak-ng, synthesised at run time (the formant voice the other
    /// tests use), for comparison.
    Espeak,
}

impl Voice {
    pub const NATURAL: [Voice; 2] = [Voice::Joe, Voice::Slt];

    pub fn name(self) -> &'static str {
        match self {
            Voice::Joe => "joe",
            Voice::Slt => "slt",
            Voice::Espeak => "espeak",
        }
    }

    pub fn parse(name: &str) -> Option<Voice> {
        [Voice::Joe, Voice::Slt, Voice::Espeak].into_iter().find(|v| v.name() == name)
    }

    fn dir(self) -> Option<&'static str> {
        match self {
            Voice::Espeak => None,
            other => Some(other.name()),
        }
    }
}

/// How the call reaches the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// The app's session WebSocket, 16 kHz PCM.
    App16k,
    /// A phone call over Twilio Media Streams, 8 kHz mu-law.
    Phone8k,
}

impl Line {
    pub fn name(self) -> &'static str {
        match self {
            Line::App16k => "app 16 kHz",
            Line::Phone8k => "phone 8 kHz",
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Booked with every value of the goal.
    Booked(String),
    /// The read-back held a value other than the goal's (the caller would
    /// have to correct it; this caller stops).
    Wrong(String),
    /// The assistant kept asking something, or asked what the caller has
    /// no answer to.
    Stuck(String),
    /// An utterance got no turn at all.
    NoAnswer(String),
}

impl Outcome {
    pub fn completed(&self) -> bool {
        matches!(self, Outcome::Booked(_))
    }
}

/// One call's record.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub conversation: String,
    pub outcome: Outcome,
    /// (what was said, what the gateway heard) per utterance.
    pub heard: Vec<(String, String)>,
    /// Wall time of the call.
    pub elapsed: Duration,
}

/// Pacing and limits of the caller.
#[derive(Debug, Clone, Copy)]
pub struct CallerConfig {
    /// How many times faster than real time the caller's audio is sent
    /// (the gateway's `audio_max_speed` must allow it).
    pub speed: f64,
    /// Silence after each utterance, in audio time (the endpoint needs
    /// its `end_silence_ms`).
    pub tail: Duration,
    /// How long to wait for an utterance's turn.
    pub turn_timeout: Duration,
    /// Most utterances in one call.
    pub max_utterances: usize,
}

impl Default for CallerConfig {
    fn default() -> Self {
        CallerConfig {
            speed: 1.0,
            tail: Duration::from_millis(700),
            turn_timeout: Duration::from_secs(30),
            max_utterances: 12,
        }
    }
}

/// The Twilio Media Streams route.
pub const MEDIA_PATH: &str = "/v1/telephony/twilio/media";

/// An open call on either line.
enum Call {
    App { sink: SplitSink<crate::gateway::Ws, Message>, drain: tokio::task::JoinHandle<()> },
    Phone(Box<TwilioCall>),
}

/// Plays `conversation` spoken by `voice` over `line` against `gateway`
/// (which must have the Whisper model, and the Twilio token of
/// [`crate::phone::TWILIO_TOKEN`] for the phone line).
pub async fn call(
    gateway: &TestGateway,
    set: &SpokenSet,
    conversation: &Conversation,
    voice: Voice,
    line: Line,
    caller: CallerConfig,
) -> anyhow::Result<CallRecord> {
    let started = Instant::now();
    let (session, mut call) = open(gateway, set, line, caller).await?;
    let mut heard = Vec::new();
    let mut turns = 0u64;
    let mut next = conversation.opening.clone();
    let mut asked: Vec<String> = Vec::new();
    let outcome = loop {
        if heard.len() >= caller.max_utterances {
            break Outcome::Stuck(format!("no booking after {} utterances", heard.len()));
        }
        let said = set.text(&next)?.to_string();
        speak(&mut call, set, voice, line, &next, caller).await?;
        let Some(view) = wait_turn(gateway, &session, turns, caller.turn_timeout).await? else {
            heard.push((said.clone(), String::new()));
            break Outcome::NoAnswer(said);
        };
        turns = view["turns"].as_u64().unwrap_or(turns + 1);
        let user = view["history"]
            .as_array()
            .and_then(|h| h.iter().rev().find(|e| e["turn"].as_u64() == Some(turns)))
            .and_then(|e| e["user"].as_str())
            .unwrap_or_default()
            .to_string();
        heard.push((said, user));
        if next == conversation.answers.get("confirmation").cloned().unwrap_or_default()
            && view["bookings"].as_array().is_some_and(|b| !b.is_empty())
        {
            let reference = view["bookings"][0]["booking_ref"].as_str().unwrap_or_default().to_string();
            break Outcome::Booked(reference);
        }
        let awaiting = view["awaiting"].as_str().unwrap_or_default().to_string();
        if awaiting.is_empty() {
            break Outcome::Stuck(format!("nothing awaited and no booking: {}", last_reply(&view)));
        }
        if awaiting == "confirmation"
            && let Err(why) = check_goal(&conversation.goal, &view["slots"])
        {
            break Outcome::Wrong(why);
        }
        asked.push(awaiting.clone());
        if asked.iter().filter(|a| **a == awaiting).count() > 3 {
            break Outcome::Stuck(format!("asked for {awaiting} four times: {}", last_reply(&view)));
        }
        match conversation.answers.get(&awaiting) {
            Some(id) => next = id.clone(),
            None => break Outcome::Stuck(format!("no answer to {awaiting}: {}", last_reply(&view))),
        }
    };
    close(call).await;
    Ok(CallRecord { conversation: conversation.name.clone(), outcome, heard, elapsed: started.elapsed() })
}

fn last_reply(view: &Value) -> String {
    view["history"].as_array().and_then(|h| h.last()).and_then(|e| e["reply"].as_str()).unwrap_or_default().to_string()
}

async fn open(
    gateway: &TestGateway,
    set: &SpokenSet,
    line: Line,
    caller: CallerConfig,
) -> anyhow::Result<(String, Call)> {
    match line {
        Line::App16k => {
            let session = gateway.session(&set.now).await?;
            // No spoken replies: the caller reads the session instead of
            // listening, so a call takes as long as its own speech.
            let start = json!({"type": "start", "protocol_version": 2,
                "audio": {"encoding": "pcm_s16le", "sample_rate": 16000}});
            let ws = gateway.open_stream(&session, &start).await?;
            let (sink, mut stream) = ws.split();
            // Events are read (and dropped) so the server never waits on a
            // full socket; the session is the record.
            let drain = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
            Ok((session, Call::App { sink, drain }))
        }
        Line::Phone8k => {
            let ws_url = gateway.ws_url(MEDIA_PATH);
            let signature = voxbook_gateway::telephony::signature::twilio_signature(TWILIO_TOKEN, &ws_url, &[]);
            let config = CallConfig::default()
                .with_parameter("now", set.now.clone())
                .with_header("X-Twilio-Signature", signature)
                .with_speed(caller.speed)
                .with_playout_speed(caller.speed.max(1.0));
            let call = TwilioCall::connect(&ws_url, config).await?;
            let key = format!("call:twilio:{}", call.call_sid());
            let session = voxbook_dialogue::conversation::keyed_session_id(&key);
            Ok((session, Call::Phone(Box::new(call))))
        }
    }
}

/// Says utterance `id` and the silence after it, paced at `caller.speed`.
async fn speak(
    call: &mut Call,
    set: &SpokenSet,
    voice: Voice,
    line: Line,
    id: &str,
    caller: CallerConfig,
) -> anyhow::Result<()> {
    match (call, line) {
        (Call::App { sink, .. }, Line::App16k) => {
            let mut audio = set.wide(voice, id)?;
            audio.extend(std::iter::repeat_n(0.0, (caller.tail.as_secs_f64() * 16_000.0) as usize));
            let bytes = speech::pcm_s16le(&audio);
            let frame = Duration::from_secs_f64(0.02 / caller.speed.max(0.01));
            let mut ticker = tokio::time::interval(frame);
            for chunk in bytes.chunks(640) {
                ticker.tick().await;
                sink.send(Message::Binary(chunk.to_vec().into())).await.context("sending caller audio")?;
            }
            Ok(())
        }
        (Call::Phone(call), Line::Phone8k) => {
            let mut audio = set.phone(voice, id)?;
            audio.extend(std::iter::repeat_n(
                crate::twilio::MULAW_SILENCE,
                (caller.tail.as_secs_f64() * 8_000.0) as usize,
            ));
            call.send_audio(&audio).await
        }
        _ => bail!("the call is not on the {} line", line.name()),
    }
}

/// Waits until the session has a turn after `turns`; its view then.
async fn wait_turn(
    gateway: &TestGateway,
    session: &str,
    turns: u64,
    timeout: Duration,
) -> anyhow::Result<Option<Value>> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let (status, view) = gateway.get_json(&format!("/v1/sessions/{session}")).await?;
        if status == 200 && view["turns"].as_u64().is_some_and(|t| t > turns) {
            return Ok(Some(view));
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    Ok(None)
}

async fn close(call: Call) {
    match call {
        Call::App { mut sink, drain } => {
            let _ = sink.send(Message::Text(json!({"type": "stop"}).to_string().into())).await;
            let _ = sink.close().await;
            drain.abort();
        }
        Call::Phone(call) => {
            let _ = call.close().await;
        }
    }
}

/// Whether the session's slots hold the goal; what differs when not.
pub fn check_goal(goal: &BTreeMap<String, serde_yaml_ng::Value>, slots: &Value) -> Result<(), String> {
    for (slot, want) in goal {
        let have = slots.get(slot);
        let ok = match want {
            serde_yaml_ng::Value::String(s) if s == "none" => have.is_some_and(Value::is_null),
            serde_yaml_ng::Value::String(s) => match have {
                Some(Value::String(v)) => v.eq_ignore_ascii_case(s),
                Some(Value::Object(place)) => {
                    place.get("name").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(s))
                }
                // A choice left to its default (cabin) is economy.
                None => slot == "cabin" && s == "economy",
                _ => false,
            },
            serde_yaml_ng::Value::Number(n) => have.and_then(Value::as_u64) == n.as_u64(),
            _ => false,
        };
        if !ok {
            return Err(format!("{slot}: wanted {want:?}, the read-back has {}", have.cloned().unwrap_or(Value::Null)));
        }
    }
    Ok(())
}

/// A 16-bit FLAC file as 16 kHz mono samples.
pub fn read_flac(path: &Path) -> anyhow::Result<Vec<f32>> {
    let mut reader = claxon::FlacReader::open(path).with_context(|| format!("reading {}", path.display()))?;
    let info = reader.streaminfo();
    ensure!(
        info.sample_rate == 16_000 && info.channels == 1 && info.bits_per_sample == 16,
        "{}: expected 16 kHz 16-bit mono FLAC",
        path.display()
    );
    reader.samples().map(|s| Ok(s? as f32 / 32768.0)).collect()
}

/// An 8 kHz mono G.711 mu-law WAV file's bytes (the data chunk).
pub fn read_mulaw_wav(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "{}: not a WAV file",
        path.display()
    );
    let mut at = 12;
    let mut format_ok = false;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]) as usize;
        let body = bytes.get(at + 8..at + 8 + size).with_context(|| format!("{}: truncated chunk", path.display()))?;
        match id {
            b"fmt " => {
                ensure!(body.len() >= 16, "{}: short fmt chunk", path.display());
                let tag = u16::from_le_bytes([body[0], body[1]]);
                let channels = u16::from_le_bytes([body[2], body[3]]);
                let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                // Format 7 is G.711 mu-law.
                format_ok = tag == 7 && channels == 1 && rate == 8_000;
            }
            b"data" => {
                ensure!(format_ok, "{}: expected 8 kHz mono mu-law", path.display());
                return Ok(body.to_vec());
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        at += 8 + size + (size & 1);
    }
    bail!("{}: no data chunk", path.display())
}

/// Word error rate (percent) and task completion of a set of calls.
pub fn score(records: &[CallRecord]) -> (f64, usize, usize) {
    let wer =
        crate::wer::corpus_wer(records.iter().flat_map(|r| r.heard.iter().map(|(s, h)| (s.as_str(), h.as_str()))));
    let completed = records.iter().filter(|r| r.outcome.completed()).count();
    (wer, completed, records.len())
}
