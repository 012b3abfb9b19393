//! The real-time conversation loop every audio transport shares: the app's
//! session WebSocket and a telephony provider's media stream.
//!
//! A [`Transport`] turns its wire protocol into [`Inbound`] inputs and
//! carries events and reply audio back out; [`converse`] does the rest.
//! Frames flow one way: caller audio → recogniser → dialogue turn →
//! synthesis → paced reply frames. Barge-in is the one signal that flows
//! back: a voice onset while a reply plays cancels that playback at once,
//! the transport flushes what the listener still has queued, and the
//! session records what was actually heard.
//!
//! A spoken turn reaches the dialogue with the recogniser's confidence in
//! each word ([`Heard`]), so the dialogue can read back a doubtful value
//! instead of acting on it. Before each utterance the recogniser is given
//! the dialogue's hint of what the caller will say next (the awaited
//! slot's answers, cities already mentioned) as its prompt, when the
//! gateway's `asr_prompt` is on.
//!
//! Each turn gets one `turn` tracing span whose children are the stages
//! (`vad_endpoint`, `asr`, `dialogue` with `parse` and `tool_call`, `tts`);
//! see [`spans`].

pub mod spans;
pub mod timing;

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::Instrument;
use voxbook_audio::speech_stream::{Prompt, SpeechEvent, SpeechStream, Word};
use voxbook_audio::tts::encode::{FRAME_MS, OutputFormat};
use voxbook_audio::tts::speaker::Playback;
use voxbook_dialogue::heard::{Heard, HeardWord};
use voxbook_proto::stream::ServerEvent;

use crate::app::AppState;
use crate::error::ApiError;
use spans::TurnSpans;
use timing::Timing;

/// Reply frames are released this far ahead of real time, for the
/// listener's jitter buffer; it bounds how much audio a barge-in must
/// flush.
pub const PLAYBACK_LEAD: Duration = Duration::from_millis(200);

/// How a conversation ends: a WebSocket close code and reason to send, or
/// None when the peer has already gone.
pub type Close = Option<(u16, &'static str)>;

/// What a transport received from its peer.
#[derive(Debug)]
pub enum Inbound {
    /// Caller audio in the format the stream was started with.
    Audio(Vec<u8>),
    /// A typed (or externally transcribed) utterance.
    Text {
        text: String,
        turn_id: Option<String>,
    },
    /// Keypad digits (DTMF) from a phone.
    Digits(String),
    Ping {
        nonce: Option<String>,
    },
    /// The peer is done; finish the utterance in progress, then close.
    Stop,
    /// The peer closed the connection cleanly.
    Closed,
    /// The connection broke.
    Gone,
    /// Nothing arrived within the idle timeout.
    Idle,
    /// The peer sent something this loop need not act on (the transport
    /// dealt with it).
    Handled,
    /// The peer sent something wrong: answer with this (recoverable) error.
    Invalid(ServerEvent),
}

/// Where a reply frame sits in its reply's audio.
#[derive(Debug, Clone, Copy)]
pub struct FramePlace {
    pub turn: u64,
    /// Audio position after this frame.
    pub end: Duration,
    /// A sentence or clause of the reply ends with this frame.
    pub ends_chunk: bool,
}

/// One wire protocol. Every method returns false (or `Gone`) once the peer
/// is unreachable; `recv` must be cancel-safe (it races the recogniser
/// and the playback in a `select!`).
pub trait Transport: Send {
    fn recv(&mut self) -> impl Future<Output = Inbound> + Send;
    /// A protocol event; transports that have no use for one drop it.
    fn event(&mut self, event: &ServerEvent) -> impl Future<Output = bool> + Send;
    /// One 20 ms frame of reply audio.
    fn audio(&mut self, frame: Vec<u8>, place: FramePlace) -> impl Future<Output = bool> + Send;
    /// The reply is being cut off: stop `playback`, flush anything the
    /// listener has queued, and say what they heard. The default trusts
    /// the playback clock.
    fn interrupt(&mut self, _turn: u64, playback: Playback) -> impl Future<Output = (String, bool)> + Send {
        async move { (playback.interrupt(), true) }
    }
}

/// What the stream was started with.
pub struct Voice {
    pub speech: Option<SpeechStream>,
    /// How replies are spoken back, when they are.
    pub output: Option<OutputFormat>,
    /// Said first, before the caller speaks (a phone call opens with the
    /// assistant's greeting; an app shows it instead).
    pub opening: Option<String>,
    /// Metrics label of turns on this loop: "stream", "phone"...
    pub channel: &'static str,
}

/// A reply being spoken.
struct Speaking {
    turn: u64,
    playback: Playback,
    /// Audio released so far.
    sent: Duration,
    started: Instant,
    /// The turn's spans; the `tts` span closes with the playback.
    spans: TurnSpans,
}

/// Runs the conversation until the stream ends; says how to close it.
pub async fn converse<T: Transport>(state: &AppState, id: &str, transport: &mut T, voice: Voice) -> Close {
    Loop::new(state, id, voice).run(transport).await
}

struct Loop<'a> {
    state: &'a AppState,
    id: &'a str,
    channel: &'static str,
    audio: Option<mpsc::Sender<Vec<u8>>>,
    events: Option<mpsc::Receiver<SpeechEvent>>,
    /// The recogniser's prompt, when the dialogue's hints are used.
    prompt: Option<Prompt>,
    output: Option<OutputFormat>,
    speaking: Option<Speaking>,
    /// A spoken turn's timing, sent when its reply's first audio leaves.
    pending_metrics: Option<Timing>,
    /// When the first audio byte arrived: the clock of `speech_end_ms`.
    audio_clock: Option<Instant>,
    /// Spans of the utterance being heard (from speech start to its turn).
    listening: Option<TurnSpans>,
    /// When the utterance being heard started (for the endpoint histogram).
    speech_started: Option<Instant>,
    /// The audio of the utterance whose turn is running, kept when
    /// recordings are on.
    utterance: Option<std::sync::Arc<[f32]>>,
    opening: Option<String>,
}

enum Input {
    Peer(Inbound),
    Speech(Option<SpeechEvent>),
    Frame(Option<Vec<u8>>),
}

impl<'a> Loop<'a> {
    fn new(state: &'a AppState, id: &'a str, voice: Voice) -> Self {
        let (audio, events, prompt) = match voice.speech {
            Some(stream) => (Some(stream.audio), Some(stream.events), Some(stream.prompt)),
            None => (None, None, None),
        };
        let prompt = prompt.filter(|_| state.speech.as_ref().is_some_and(|s| s.prompt));
        Loop {
            state,
            id,
            channel: voice.channel,
            audio,
            events,
            prompt,
            output: voice.output,
            speaking: None,
            pending_metrics: None,
            audio_clock: None,
            listening: None,
            speech_started: None,
            utterance: None,
            opening: voice.opening,
        }
    }

    async fn run<T: Transport>(mut self, transport: &mut T) -> Close {
        self.refresh_prompt().await;
        if let Some(text) = self.opening.take()
            && !self.speak(transport, 0, text, TurnSpans::open(self.id, "opening")).await
        {
            return None;
        }
        loop {
            let input = tokio::select! {
                inbound = transport.recv() => Input::Peer(inbound),
                event = next_event(&mut self.events) => Input::Speech(event),
                frame = next_frame(&mut self.speaking) => Input::Frame(frame),
            };
            let flow = match input {
                Input::Frame(Some(frame)) => self.frame(transport, frame).await,
                Input::Frame(None) => self.reply_done(transport).await,
                Input::Speech(Some(event)) => self.speech(transport, event).await,
                Input::Speech(None) => {
                    // The recogniser ended (its fatal error was reported).
                    self.events = None;
                    Flow::Continue
                }
                Input::Peer(inbound) => self.inbound(transport, inbound).await,
            };
            match flow {
                Flow::Continue => {}
                Flow::End(close) => return close,
            }
        }
    }

    async fn frame<T: Transport>(&mut self, transport: &mut T, frame: Vec<u8>) -> Flow {
        let Some(speaking) = self.speaking.as_mut() else { return Flow::Continue };
        speaking.sent += Duration::from_millis(u64::from(FRAME_MS));
        let place = FramePlace {
            turn: speaking.turn,
            end: speaking.sent,
            ends_chunk: speaking.playback.chunk_ends_at(speaking.sent),
        };
        if speaking.sent == Duration::from_millis(u64::from(FRAME_MS)) {
            speaking.spans.first_audio(speaking.started.elapsed());
        }
        if !transport.audio(frame, place).await {
            return Flow::End(None);
        }
        if let Some(timing) = self.pending_metrics.take()
            && !transport.event(&timing.event(&self.state.metrics, Some(Instant::now()))).await
        {
            return Flow::End(None);
        }
        Flow::Continue
    }

    async fn reply_done<T: Transport>(&mut self, transport: &mut T) -> Flow {
        let Some(Speaking { turn, playback, spans, .. }) = self.speaking.take() else { return Flow::Continue };
        if let Err(e) = playback.outcome().await {
            tracing::warn!(parent: spans.turn(), error = %e, "speech synthesis failed");
            if !transport.event(&error("tts_failed", e.to_string(), true)).await {
                return Flow::End(None);
            }
        }
        drop(spans);
        send(transport, ServerEvent::ReplyFinished { turn }).await
    }

    /// Barge-in: the caller talks over the reply. Stop it now and remember
    /// what they heard of it.
    async fn barge_in<T: Transport>(&mut self, transport: &mut T, onset_ms: u64, detected_ms: u64) -> Flow {
        let Some(Speaking { turn, playback, spans, .. }) = self.speaking.take() else { return Flow::Continue };
        let (heard, alive) = transport.interrupt(turn, playback).await;
        let detection = detected_ms.saturating_sub(onset_ms) as f64 / 1000.0;
        self.state.metrics.barge_in_detection.observe(detection);
        tracing::info!(parent: spans.turn(), heard_words = heard.split_whitespace().count(), "reply interrupted");
        drop(spans);
        self.pending_metrics = None;
        if !alive {
            return Flow::End(None);
        }
        if turn > 0
            && let Err(e) = self.state.conversations.record_heard(self.id, turn, &heard).await
        {
            tracing::warn!(error = %e, "could not record the heard part of a reply");
        }
        send(
            transport,
            ServerEvent::Interrupted { turn, heard, onset_ms: Some(onset_ms), detected_ms: Some(detected_ms) },
        )
        .await
    }

    async fn speech<T: Transport>(&mut self, transport: &mut T, event: SpeechEvent) -> Flow {
        match event {
            SpeechEvent::VoiceOnset { at_ms, detected_ms } => {
                if self.speaking.is_some() {
                    return self.barge_in(transport, at_ms, detected_ms).await;
                }
                Flow::Continue
            }
            SpeechEvent::SpeechStarted { at_ms } => {
                if self.speaking.is_some()
                    && let Flow::End(close) = self.barge_in(transport, at_ms, at_ms).await
                {
                    return Flow::End(close);
                }
                // The next turn begins with the speech that will make it.
                self.listening = Some(TurnSpans::open(self.id, "voice").listening());
                self.speech_started = Some(Instant::now());
                send(transport, ServerEvent::SpeechStarted { at_ms }).await
            }
            SpeechEvent::Partial { text } => send(transport, ServerEvent::PartialTranscript { text }).await,
            SpeechEvent::SpeechStopped { at_ms } => {
                if let Some(spans) = self.listening.as_mut() {
                    spans.endpoint();
                }
                if let Some(started) = self.speech_started.take() {
                    self.state.metrics.vad_endpoint.observe(started.elapsed().as_secs_f64());
                }
                send(transport, ServerEvent::SpeechStopped { at_ms }).await
            }
            SpeechEvent::Final { text, words, speech_end_ms, latency, decode, audio } => {
                self.state.metrics.observe_asr(latency, decode);
                let spans = self.listening.take().unwrap_or_else(|| TurnSpans::open(self.id, "voice"));
                let transcript = ServerEvent::Transcript {
                    text: text.clone(),
                    speech_end_ms,
                    latency_ms: latency.as_millis() as u64,
                    decode_ms: decode.as_millis() as u64,
                };
                if !transport.event(&transcript).await {
                    return Flow::End(None);
                }
                if text.trim().is_empty() {
                    // Breath or noise that got past the VAD: nothing to answer.
                    return Flow::Continue;
                }
                let speech_end = self.audio_clock.map(|t| t + Duration::from_millis(speech_end_ms));
                let speech = Timing {
                    endpoint_to_transcript: Some(latency),
                    asr_decode: Some(decode),
                    speech_end_ms: Some(speech_end_ms),
                    speech_end,
                    ..Timing::default()
                };
                self.utterance = Some(audio);
                let heard = Heard::spoken(&text, heard_words(words));
                self.turn(transport, &heard, None, spans.transcribed(), speech).await
            }
            SpeechEvent::Error { code, message, fatal } => {
                let event = error(code, message, !fatal);
                if !transport.event(&event).await {
                    return Flow::End(None);
                }
                if fatal { Flow::End(Some((CLOSE_POLICY, "audio error"))) } else { Flow::Continue }
            }
        }
    }

    async fn inbound<T: Transport>(&mut self, transport: &mut T, inbound: Inbound) -> Flow {
        match inbound {
            Inbound::Audio(frame) => {
                let Some(tx) = &self.audio else {
                    let message = "audio frames need an audio format in 'start' (protocol version 2)";
                    return send(transport, error("audio_not_negotiated", message, true)).await;
                };
                self.audio_clock.get_or_insert_with(Instant::now);
                match tx.try_send(frame) {
                    Ok(()) => Flow::Continue,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        let message = "audio is arriving faster than it can be processed; frame dropped";
                        send(transport, error("audio_backpressure", message, true)).await
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        let message = "speech recognition has stopped on this stream";
                        send(transport, error("audio_closed", message, true)).await
                    }
                }
            }
            Inbound::Text { text, turn_id } => {
                let spans = TurnSpans::open(self.id, "text");
                self.turn(transport, &Heard::typed(&text), turn_id, spans, Timing::default()).await
            }
            Inbound::Digits(digits) => {
                let awaiting = self.state.conversations.awaiting(self.id).await.ok().flatten();
                match crate::telephony::dtmf::utterance(&digits, awaiting.as_deref()) {
                    Some(text) => {
                        let spans = TurnSpans::open(self.id, "dtmf");
                        self.turn(transport, &Heard::typed(&text), None, spans, Timing::default()).await
                    }
                    None => Flow::Continue,
                }
            }
            Inbound::Ping { nonce } => send(transport, ServerEvent::Pong { nonce }).await,
            Inbound::Stop => {
                // Let an utterance in progress finish first.
                self.audio = None;
                while let Some(events) = self.events.as_mut()
                    && let Some(event) = events.recv().await
                {
                    if let Flow::End(close) = self.speech(transport, event).await {
                        return Flow::End(close);
                    }
                }
                transport.event(&ServerEvent::Bye).await;
                Flow::End(Some((CLOSE_NORMAL, "bye")))
            }
            Inbound::Closed => Flow::End(Some((CLOSE_NORMAL, ""))),
            Inbound::Gone => Flow::End(None),
            Inbound::Idle => {
                transport.event(&error("idle_timeout", "closing an idle stream", false)).await;
                Flow::End(Some((CLOSE_AWAY, "idle")))
            }
            Inbound::Handled => Flow::Continue,
            Inbound::Invalid(event) => send(transport, event).await,
        }
    }

    /// Runs a dialogue turn, sends its result and speaks its reply.
    async fn turn<T: Transport>(
        &mut self,
        transport: &mut T,
        heard: &Heard,
        turn_id: Option<String>,
        spans: TurnSpans,
        speech: Timing,
    ) -> Flow {
        // Only the turn it was heard for may take the utterance's audio.
        let utterance = self.utterance.take();
        let started = Instant::now();
        let result = self.state.conversations.turn_heard(self.id, heard).instrument(spans.dialogue()).await;
        let elapsed = started.elapsed();
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                let e = ApiError::from(e);
                let recoverable = e.code != "session_not_found";
                if !transport.event(&error(e.code, e.message, recoverable)).await || !recoverable {
                    return Flow::End(Some((CLOSE_POLICY, "session gone")));
                }
                return Flow::Continue;
            }
        };
        self.state.metrics.observe_turn(self.channel, elapsed, &response);
        if let (Some(audio), Some(recordings)) = (utterance, self.state.recordings.clone()) {
            let (session, turn) = (self.id.to_string(), response.turn);
            // Off the loop: a slow disk must not delay the reply.
            tokio::task::spawn_blocking(move || {
                if let Err(e) = recordings.save(&session, turn, &audio) {
                    tracing::warn!(error = %e, session_id = %session, turn, "cannot keep a recording");
                }
            });
        }
        spans.record_turn(response.turn, &response.intent.name);
        let reply = (!response.reply.trim().is_empty()).then(|| (response.turn, response.reply.clone()));
        let mut timing = Timing::of_turn(&response, elapsed, speech);
        let event = ServerEvent::TurnResult { turn_id, result: response };
        if !transport.event(&event).await {
            return Flow::End(None);
        }
        // After the result is out (it must not wait on this) and before the
        // reply is spoken: the caller's answer to the reply is the next
        // utterance, and its decode may start as soon as they stop.
        self.refresh_prompt().await;
        match reply {
            Some((turn, text)) if self.output.is_some() && self.state.tts.is_some() => {
                if !self.speak(transport, turn, text, spans).await {
                    return Flow::End(None);
                }
                timing.reply_started = Some(Instant::now());
                self.pending_metrics = Some(timing);
                Flow::Continue
            }
            _ => send(transport, timing.event(&self.state.metrics, None)).await,
        }
    }

    /// Gives the recogniser the dialogue's hint for the next utterance. A
    /// hint that cannot be had (the store is down, the session is gone)
    /// only loses the bias: the turn itself reports those errors.
    async fn refresh_prompt(&self) {
        let Some(prompt) = &self.prompt else { return };
        match self.state.conversations.asr_hint(self.id).await {
            Ok(hint) => prompt.set(Some(&hint)),
            Err(e) => {
                tracing::debug!(error = %e, "no recogniser hint for the next utterance");
                prompt.set(None);
            }
        }
    }

    /// Starts speaking a reply; one still playing is cut off by the newer
    /// one. False when the peer is gone.
    async fn speak<T: Transport>(&mut self, transport: &mut T, turn: u64, text: String, spans: TurnSpans) -> bool {
        let (Some(format), Some(engine)) = (self.output, self.state.tts.clone()) else { return true };
        if let Some(previous) = self.speaking.take() {
            let (_, alive) = transport.interrupt(previous.turn, previous.playback).await;
            if !alive {
                return false;
            }
        }
        if !transport.event(&ServerEvent::ReplyStarted { turn, text: text.clone() }).await {
            return false;
        }
        let spans = spans.speaking();
        let playback = {
            let _tts = spans.tts().enter();
            Playback::start(engine, format, text, PLAYBACK_LEAD)
        };
        self.speaking = Some(Speaking { turn, playback, sent: Duration::ZERO, started: Instant::now(), spans });
        true
    }
}

enum Flow {
    Continue,
    End(Close),
}

/// Sends `event`; ends the loop when the peer is gone.
async fn send<T: Transport>(transport: &mut T, event: ServerEvent) -> Flow {
    if transport.event(&event).await { Flow::Continue } else { Flow::End(None) }
}

pub fn error(code: &str, message: impl Into<String>, recoverable: bool) -> ServerEvent {
    ServerEvent::Error { code: code.into(), message: message.into(), recoverable }
}

// WebSocket close codes (RFC 6455), spelled out so this module does not
// depend on one WebSocket library.
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_AWAY: u16 = 1001;
pub const CLOSE_POLICY: u16 = 1008;

async fn next_frame(speaking: &mut Option<Speaking>) -> Option<Vec<u8>> {
    match speaking {
        Some(s) => s.playback.frames.recv().await,
        None => std::future::pending().await,
    }
}

/// The recogniser's words as the dialogue takes them.
fn heard_words(words: Vec<Word>) -> Vec<HeardWord> {
    words.into_iter().map(|w| HeardWord { word: w.text, probability: w.probability.clamp(0.0, 1.0) }).collect()
}

async fn next_event(events: &mut Option<mpsc::Receiver<SpeechEvent>>) -> Option<SpeechEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
