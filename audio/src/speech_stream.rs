//! One live audio stream: decode, resample, detect speech, and turn each
//! utterance into a final transcript as soon as possible.
//!
//! A task per stream owns the codec, the resampler and the endpointer, and
//! talks to the shared recogniser. Latency design: when silence begins
//! (`Pause`), the utterance so far is decoded at once; when the endpoint
//! is confirmed `end_silence_ms` later, that decode is usually done and
//! its transcript is final. If the user speaks again in between, the
//! speculative result is thrown away. Partial transcripts are decoded
//! while the user talks, only when a decoder is idle, so they never delay
//! a final one.
//!
//! The caller may set a prompt for the stream's next decodes
//! ([`SpeechStream::prompt`]): text the recogniser is biased toward, such
//! as what the conversation expects to be said next. This module only
//! passes it along; it knows nothing of what it means.
//!
//! Bounds: the input queue is bounded (the caller sees a full queue as
//! backpressure), an utterance is cut at its maximum length, audio
//! arriving faster than `max_speed` times real time (after a burst
//! allowance) is dropped with an error event, and a run of undecodable
//! frames ends the stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use voxbook_proto::stream::AudioInput;

use crate::AudioError;
pub use crate::asr::whisper::Word;
use crate::codec::AudioDecoder;
use crate::endpoint::{EndpointConfig, EndpointEvent, Endpointer};
use crate::resample::StreamResampler;

/// What a decode is for: finals get the full guarded decode; partials may
/// be cheaper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Partial,
    Final,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recognized {
    pub text: String,
    /// The text's words with the recogniser's confidence in each (empty
    /// when the recogniser does not report it).
    pub words: Vec<Word>,
    pub decode: Duration,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct RecognizeError(pub String);

/// Speech to text, shared by every stream.
#[async_trait]
pub trait Recognize: Send + Sync + 'static {
    /// `prompt`: text to bias the decode toward (see the module docs).
    async fn recognize(
        &self,
        audio: Vec<f32>,
        purpose: Purpose,
        prompt: Option<Arc<str>>,
    ) -> Result<Recognized, RecognizeError>;
    /// True when a decoder is free right now (partials only run then).
    fn idle(&self) -> bool;
}

#[derive(Debug, Clone)]
pub struct SpeechStreamConfig {
    pub endpoint: EndpointConfig,
    /// How often a partial transcript is attempted while the user talks;
    /// zero turns partials off.
    pub partial_interval: Duration,
    /// Audio may arrive at most this many times faster than real time...
    pub max_speed: f32,
    /// ...after this much audio ahead of the clock.
    pub burst: Duration,
    /// Frames queued between the socket and this stream.
    pub queue_frames: usize,
}

impl Default for SpeechStreamConfig {
    fn default() -> Self {
        SpeechStreamConfig {
            endpoint: EndpointConfig::default(),
            partial_interval: Duration::from_millis(1000),
            max_speed: 1.5,
            burst: Duration::from_secs(3),
            queue_frames: 256,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SpeechEvent {
    /// Voice heard for the barge-in time: stop any reply being played.
    VoiceOnset {
        /// Where the voice began in the audio, and where it was detected.
        at_ms: u64,
        detected_ms: u64,
    },
    SpeechStarted {
        at_ms: u64,
    },
    Partial {
        text: String,
    },
    SpeechStopped {
        at_ms: u64,
    },
    Final {
        text: String,
        /// `text` word by word, with the recogniser's confidence.
        words: Vec<Word>,
        speech_end_ms: u64,
        latency: Duration,
        decode: Duration,
        /// The utterance as decoded (16 kHz), for callers that keep a
        /// recording of what was said.
        audio: Arc<[f32]>,
    },
    Error {
        code: &'static str,
        message: String,
        fatal: bool,
    },
}

/// Undecodable frames in a row before the stream is given up on.
const MAX_BAD_FRAMES: u32 = 20;

/// The caller's ends of a running stream.
pub struct SpeechStream {
    /// Binary frames in; dropping it ends the stream (after a final).
    pub audio: mpsc::Sender<Vec<u8>>,
    pub events: mpsc::Receiver<SpeechEvent>,
    /// The prompt of the decodes that start from now on.
    pub prompt: Prompt,
}

/// Sets the prompt a stream's recogniser is given. Cheap to call often:
/// decodes read the latest value when they start, nothing queues.
#[derive(Debug, Clone)]
pub struct Prompt(Arc<watch::Sender<Option<Arc<str>>>>);

impl Prompt {
    /// A prompt handle and the receiving end a stream task reads.
    fn channel() -> (Prompt, watch::Receiver<Option<Arc<str>>>) {
        let (tx, rx) = watch::channel(None);
        (Prompt(Arc::new(tx)), rx)
    }

    /// Replaces the prompt; `None` or blank text removes it.
    pub fn set(&self, text: Option<&str>) {
        let text = text.map(str::trim).filter(|t| !t.is_empty()).map(Arc::from);
        // No receiver (the stream ended) is not an error: nothing decodes.
        self.0.send_replace(text);
    }

    /// The prompt decodes get now.
    pub fn current(&self) -> Option<Arc<str>> {
        self.0.borrow().clone()
    }
}

/// Starts a stream task for audio in `spec`.
pub fn spawn(
    spec: AudioInput,
    config: SpeechStreamConfig,
    recognizer: Arc<dyn Recognize>,
) -> Result<SpeechStream, AudioError> {
    config.endpoint.check().map_err(AudioError::Unsupported)?;
    let decoder = AudioDecoder::new(spec)?;
    let resampler = StreamResampler::new(spec.sample_rate)?;
    let (audio_tx, audio_rx) = mpsc::channel(config.queue_frames.max(1));
    let (events_tx, events_rx) = mpsc::channel(64);
    let (prompt, prompt_rx) = Prompt::channel();
    let task = StreamTask {
        prompt: prompt_rx,
        endpointer: Endpointer::new(config.endpoint.clone()),
        config,
        decoder,
        resampler,
        recognizer,
        events: events_tx,
        started: None,
        audio_ms: 0.0,
        rate: spec.sample_rate,
        bad_frames: 0,
        last_rate_error: None,
        speculative: None,
        pending_final: None,
        partial: None,
        last_partial: Instant::now(),
    };
    tokio::spawn(task.run(audio_rx));
    Ok(SpeechStream { audio: audio_tx, events: events_rx, prompt })
}

type Decode = JoinHandle<Result<Recognized, RecognizeError>>;

struct PendingFinal {
    decode: Decode,
    speech_end_ms: u64,
    endpoint_at: Instant,
    audio: Arc<[f32]>,
}

struct StreamTask {
    config: SpeechStreamConfig,
    decoder: AudioDecoder,
    resampler: StreamResampler,
    endpointer: Endpointer,
    recognizer: Arc<dyn Recognize>,
    events: mpsc::Sender<SpeechEvent>,
    /// The prompt decodes start with.
    prompt: watch::Receiver<Option<Arc<str>>>,
    /// Wall time of the first audio frame: the pacing reference.
    started: Option<Instant>,
    /// Audio received, in ms at the client's rate.
    audio_ms: f64,
    rate: u32,
    bad_frames: u32,
    last_rate_error: Option<Instant>,
    /// The decode started at a pause, and its generation.
    speculative: Option<(u64, Decode)>,
    pending_final: Option<PendingFinal>,
    partial: Option<Decode>,
    last_partial: Instant,
}

async fn join(decode: &mut Option<Decode>) -> Result<Recognized, RecognizeError> {
    let Some(handle) = decode.as_mut() else { return std::future::pending().await };
    let out = handle.await.unwrap_or_else(|e| Err(RecognizeError(format!("decoder task failed: {e}"))));
    *decode = None;
    out
}

/// A finished final decode, with its utterance's end, endpoint time and
/// audio.
type FinalDone = (Result<Recognized, RecognizeError>, u64, Instant, Arc<[f32]>);

async fn join_final(slot: &mut Option<PendingFinal>) -> FinalDone {
    let Some(pending) = slot.as_mut() else { return std::future::pending().await };
    let out = (&mut pending.decode).await.unwrap_or_else(|e| Err(RecognizeError(format!("decoder task failed: {e}"))));
    let meta = (pending.speech_end_ms, pending.endpoint_at, pending.audio.clone());
    *slot = None;
    (out, meta.0, meta.1, meta.2)
}

impl StreamTask {
    /// Sends an event; false once the listener is gone. (The future owns
    /// a sender clone: the task holds an Opus decoder, which is not Sync.)
    fn emit(&self, event: SpeechEvent) -> impl Future<Output = bool> + Send + 'static {
        let events = self.events.clone();
        async move { events.send(event).await.is_ok() }
    }

    async fn run(mut self, mut audio: mpsc::Receiver<Vec<u8>>) {
        loop {
            tokio::select! {
                frame = audio.recv() => match frame {
                    Some(frame) => {
                        if !self.on_frame(&frame).await {
                            break;
                        }
                    }
                    None => {
                        self.finish().await;
                        break;
                    }
                },
                (result, speech_end_ms, endpoint_at, audio) = join_final(&mut self.pending_final) => {
                    if !self.deliver(result, speech_end_ms, endpoint_at, audio).await {
                        break;
                    }
                }
                result = join(&mut self.partial) => {
                    if let Ok(recognized) = result
                        && self.endpointer.is_speaking()
                        && !recognized.text.is_empty()
                        && !self.emit(SpeechEvent::Partial { text: recognized.text }).await
                    {
                        break;
                    }
                }
            }
        }
        for task in [self.partial.take(), self.speculative.take().map(|(_, d)| d)].into_iter().flatten() {
            task.abort();
        }
    }

    async fn deliver(
        &mut self,
        result: Result<Recognized, RecognizeError>,
        speech_end_ms: u64,
        endpoint_at: Instant,
        audio: Arc<[f32]>,
    ) -> bool {
        match result {
            Ok(r) => {
                self.emit(SpeechEvent::Final {
                    text: r.text,
                    words: r.words,
                    speech_end_ms,
                    latency: endpoint_at.elapsed(),
                    decode: r.decode,
                    audio,
                })
                .await
            }
            Err(e) => self.emit(SpeechEvent::Error { code: "asr_failed", message: e.0, fatal: false }).await,
        }
    }

    /// Waits for a final decode still in flight and delivers it.
    async fn flush_final(&mut self) -> bool {
        match self.pending_final.take() {
            Some(mut pending) => {
                let result = (&mut pending.decode).await.unwrap_or_else(|e| Err(RecognizeError(e.to_string())));
                self.deliver(result, pending.speech_end_ms, pending.endpoint_at, pending.audio).await
            }
            None => true,
        }
    }

    /// Pacing: is this frame more audio than the clock allows?
    fn too_fast(&mut self, samples: usize) -> bool {
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        let frame_ms = samples as f64 * 1000.0 / f64::from(self.rate);
        let allowed = started.elapsed().as_secs_f64() * 1000.0 * f64::from(self.config.max_speed)
            + self.config.burst.as_secs_f64() * 1000.0;
        if self.audio_ms + frame_ms > allowed {
            return true;
        }
        self.audio_ms += frame_ms;
        false
    }

    async fn on_frame(&mut self, frame: &[u8]) -> bool {
        let mut samples = Vec::new();
        if let Err(e) = self.decoder.decode(frame, &mut samples) {
            self.bad_frames += 1;
            let fatal = self.bad_frames >= MAX_BAD_FRAMES;
            let message = if fatal { format!("{e}; too many undecodable frames, closing") } else { e.to_string() };
            self.emit(SpeechEvent::Error { code: "invalid_audio", message, fatal }).await;
            return !fatal;
        }
        self.bad_frames = 0;
        if self.too_fast(samples.len()) {
            let quiet = self.last_rate_error.is_some_and(|t| t.elapsed() < Duration::from_secs(1));
            if !quiet {
                self.last_rate_error = Some(Instant::now());
                let message = format!(
                    "audio is arriving faster than {}x real time; frames are being dropped",
                    self.config.max_speed
                );
                return self.emit(SpeechEvent::Error { code: "audio_too_fast", message, fatal: false }).await;
            }
            return true;
        }
        let mut resampled = Vec::with_capacity(samples.len() * 2);
        if let Err(e) = self.resampler.push(&samples, &mut resampled) {
            return self.emit(SpeechEvent::Error { code: "invalid_audio", message: e.to_string(), fatal: false }).await;
        }
        let events = self.endpointer.push(&resampled);
        for event in events {
            if !self.on_endpoint_event(event).await {
                return false;
            }
        }
        self.maybe_partial();
        true
    }

    fn decode(&self, audio: Vec<f32>, purpose: Purpose) -> Decode {
        let recognizer = self.recognizer.clone();
        let prompt = self.prompt.borrow().clone();
        tokio::spawn(async move { recognizer.recognize(audio, purpose, prompt).await })
    }

    fn maybe_partial(&mut self) {
        if self.config.partial_interval.is_zero()
            || self.partial.is_some()
            || !self.endpointer.is_talking()
            || self.last_partial.elapsed() < self.config.partial_interval
            || !self.recognizer.idle()
        {
            return;
        }
        if let Some(audio) = self.endpointer.current_utterance() {
            let audio = audio.to_vec();
            self.last_partial = Instant::now();
            self.partial = Some(self.decode(audio, Purpose::Partial));
        }
    }

    async fn on_endpoint_event(&mut self, event: EndpointEvent) -> bool {
        match event {
            EndpointEvent::Onset { at_ms, detected_ms } => {
                self.emit(SpeechEvent::VoiceOnset { at_ms, detected_ms }).await
            }
            EndpointEvent::SpeechStarted { at_ms } => {
                self.last_partial = Instant::now();
                self.emit(SpeechEvent::SpeechStarted { at_ms }).await
            }
            EndpointEvent::Pause { audio, generation, .. } => {
                if let Some((_, stale)) = self.speculative.take() {
                    stale.abort();
                }
                self.speculative = Some((generation, self.decode(audio, Purpose::Final)));
                true
            }
            EndpointEvent::Resumed { generation } => {
                if let Some((g, stale)) = self.speculative.take() {
                    if g == generation {
                        stale.abort();
                    } else {
                        self.speculative = Some((g, stale));
                    }
                }
                true
            }
            EndpointEvent::Endpoint { audio, speech_end_ms, at_ms, generation, .. } => {
                let kept: Arc<[f32]> = Arc::from(audio.as_slice());
                if !self.emit(SpeechEvent::SpeechStopped { at_ms }).await {
                    return false;
                }
                if let Some(partial) = self.partial.take() {
                    partial.abort();
                }
                let decode = match self.speculative.take() {
                    Some((g, decode)) if g == generation => decode,
                    other => {
                        if let Some((_, stale)) = other {
                            stale.abort();
                        }
                        self.decode(audio, Purpose::Final)
                    }
                };
                // One utterance right after another: deliver in order.
                if !self.flush_final().await {
                    return false;
                }
                self.pending_final =
                    Some(PendingFinal { decode, speech_end_ms, endpoint_at: Instant::now(), audio: kept });
                true
            }
        }
    }

    async fn finish(&mut self) {
        let mut tail = Vec::new();
        if self.resampler.flush(&mut tail).is_ok() {
            for event in self.endpointer.push(&tail) {
                if !self.on_endpoint_event(event).await {
                    return;
                }
            }
        }
        if let Some(event) = self.endpointer.finish()
            && !self.on_endpoint_event(event).await
        {
            return;
        }
        self.flush_final().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use voxbook_proto::stream::AudioEncoding;

    /// Real speech ("go forward ten meters"), 16 kHz s16le, from Debian's
    /// pocketsphinx-testdata (installed by deploy/setup.sh).
    const GOFORWARD: &str = "/usr/share/pocketsphinx/test/data/goforward.raw";

    /// Says how much audio it was given; counts its decodes.
    struct Fake {
        decodes: AtomicUsize,
        delay: Duration,
    }

    #[async_trait]
    impl Recognize for Fake {
        async fn recognize(
            &self,
            audio: Vec<f32>,
            _purpose: Purpose,
            _prompt: Option<Arc<str>>,
        ) -> Result<Recognized, RecognizeError> {
            self.decodes.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            Ok(Recognized { text: format!("{} samples", audio.len()), words: Vec::new(), decode: self.delay })
        }
        fn idle(&self) -> bool {
            true
        }
    }

    fn pcm16(rate: u32) -> AudioInput {
        AudioInput { encoding: AudioEncoding::PcmS16le, sample_rate: rate, channels: 1 }
    }

    async fn collect(mut events: mpsc::Receiver<SpeechEvent>) -> Vec<SpeechEvent> {
        let mut out = Vec::new();
        while let Some(e) = events.recv().await {
            out.push(e);
        }
        out
    }

    #[tokio::test]
    async fn an_utterance_becomes_one_final_transcript() {
        let speech = std::fs::read(GOFORWARD).expect("pocketsphinx-testdata is installed");
        let fake = Arc::new(Fake { decodes: AtomicUsize::new(0), delay: Duration::from_millis(20) });
        let config = SpeechStreamConfig { max_speed: 1000.0, partial_interval: Duration::ZERO, ..Default::default() };
        let stream = spawn(pcm16(16_000), config, fake.clone()).unwrap();
        let silence = vec![0u8; 32_000]; // 1 s
        for chunk in speech.chunks(640).chain(silence.chunks(640)) {
            stream.audio.send(chunk.to_vec()).await.unwrap();
        }
        drop(stream.audio);
        let events = collect(stream.events).await;
        let starts = events.iter().filter(|e| matches!(e, SpeechEvent::SpeechStarted { .. })).count();
        let finals: Vec<_> = events.iter().filter(|e| matches!(e, SpeechEvent::Final { .. })).collect();
        assert!(starts >= 1, "{events:?}");
        assert_eq!(finals.len(), starts, "one final per utterance: {events:?}");
        assert!(events.iter().any(|e| matches!(e, SpeechEvent::SpeechStopped { .. })));
        assert!(!events.iter().any(|e| matches!(e, SpeechEvent::Error { .. })), "{events:?}");
    }

    #[tokio::test]
    async fn partials_arrive_while_the_user_talks() {
        let speech = std::fs::read(GOFORWARD).expect("pocketsphinx-testdata is installed");
        let fake = Arc::new(Fake { decodes: AtomicUsize::new(0), delay: Duration::from_millis(5) });
        let config = SpeechStreamConfig {
            max_speed: 1000.0,
            partial_interval: Duration::from_millis(100),
            ..Default::default()
        };
        let stream = spawn(pcm16(16_000), config, fake.clone()).unwrap();
        // Real time: partials are paced by the wall clock.
        for chunk in speech.chunks(640).chain(vec![0u8; 32_000].chunks(640)) {
            stream.audio.send(chunk.to_vec()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(stream.audio);
        let events = collect(stream.events).await;
        let partials = events.iter().filter(|e| matches!(e, SpeechEvent::Partial { .. })).count();
        assert!(partials >= 1, "{events:?}");
        // Partials come between the start of speech and its end.
        let first_partial = events.iter().position(|e| matches!(e, SpeechEvent::Partial { .. }));
        let started = events.iter().position(|e| matches!(e, SpeechEvent::SpeechStarted { .. }));
        assert!(started < first_partial, "{events:?}");
    }

    #[tokio::test]
    async fn audio_much_faster_than_real_time_is_refused() {
        let fake = Arc::new(Fake { decodes: AtomicUsize::new(0), delay: Duration::ZERO });
        let config = SpeechStreamConfig { max_speed: 1.5, burst: Duration::from_millis(500), ..Default::default() };
        let stream = spawn(pcm16(16_000), config, fake).unwrap();
        // Ten seconds of audio at once.
        for _ in 0..500 {
            stream.audio.send(vec![0u8; 640]).await.unwrap();
        }
        drop(stream.audio);
        let events = collect(stream.events).await;
        assert!(
            events.iter().any(|e| matches!(e, SpeechEvent::Error { code: "audio_too_fast", fatal: false, .. })),
            "{events:?}"
        );
    }

    #[tokio::test]
    async fn a_run_of_garbage_ends_the_stream() {
        let fake = Arc::new(Fake { decodes: AtomicUsize::new(0), delay: Duration::ZERO });
        let spec = AudioInput { encoding: AudioEncoding::Opus, sample_rate: 16_000, channels: 1 };
        let stream = spawn(spec, SpeechStreamConfig::default(), fake).unwrap();
        for _ in 0..40 {
            if stream.audio.send(Vec::new()).await.is_err() {
                break;
            }
        }
        let events = collect(stream.events).await;
        assert!(
            events.iter().any(|e| matches!(e, SpeechEvent::Error { code: "invalid_audio", fatal: true, .. })),
            "{events:?}"
        );
    }
}
