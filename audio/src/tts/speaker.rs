//! Speaking one reply: synthesise it chunk by chunk, encode it into 20 ms
//! frames, and hand the frames out at playback pace, so the first audio
//! leaves before the rest is synthesised and the server always knows how
//! much of the reply the listener has heard.
//!
//! Frames are released a little ahead of real time (`lead`) so a client's
//! jitter buffer never runs dry; the listener is taken to hear audio from
//! the first frame onwards in real time. Interrupting a playback stops it
//! at once and says which words were heard (whole chunks, then the share
//! of the current chunk's words that fits the time played).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::encode::{FRAME_MS as FRAME_MS_U32, OutputEncoder, OutputFormat};
use super::split::split_for_speech;
use super::{TtsEngine, TtsError};

const FRAME_MS: u64 = FRAME_MS_U32 as u64;

/// A chunk of the reply and where its audio sits in the playback.
#[derive(Debug, Clone)]
struct Placed {
    text: String,
    start_ms: u64,
    end_ms: u64,
}

#[derive(Debug, Default)]
struct Progress {
    /// When the first frame was released: the listener's clock.
    started: Option<Instant>,
    chunks: Vec<Placed>,
    finished: bool,
}

pub struct Playback {
    /// Encoded frames, in order, paced.
    pub frames: mpsc::Receiver<Vec<u8>>,
    pub text: String,
    progress: Arc<Mutex<Progress>>,
    task: JoinHandle<Result<(), TtsError>>,
}

impl Playback {
    /// Starts speaking `text` with `engine` in `format`.
    pub fn start(engine: Arc<dyn TtsEngine>, format: OutputFormat, text: String, lead: Duration) -> Playback {
        let (tx, rx) = mpsc::channel(8);
        let progress = Arc::new(Mutex::new(Progress::default()));
        // The synthesis runs in the caller's span (a turn's `tts` span).
        let task = tokio::spawn(speak(engine, format, text.clone(), lead, tx, progress.clone()).in_current_span());
        Playback { frames: rx, text, progress, task }
    }

    /// Stops the playback now; returns the words the listener heard,
    /// taking them to hear in real time from the first frame.
    pub fn interrupt(self) -> String {
        self.task.abort();
        let started = lock(&self.progress).started;
        let played = started.map(|s| Instant::now().saturating_duration_since(s)).unwrap_or_default();
        self.stop_after(played)
    }

    /// Stops the playback now; returns the words in its first `played` of
    /// audio (for transports that learn from the listener how far it got).
    pub fn stop_after(self, played: Duration) -> String {
        self.task.abort();
        heard(&lock(&self.progress), played.as_millis() as u64)
    }

    /// True when a chunk of the reply (a sentence or clause) ends exactly
    /// `at` into the audio: a natural place to ask the listener to confirm
    /// it has played that far.
    pub fn chunk_ends_at(&self, at: Duration) -> bool {
        let at = at.as_millis() as u64;
        lock(&self.progress).chunks.iter().any(|c| c.end_ms == at)
    }

    /// How the synthesis ended, once the frames have run out.
    pub async fn outcome(self) -> Result<(), TtsError> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(TtsError::Encode(format!("speaker task failed: {e}"))),
        }
    }
}

fn lock(progress: &Mutex<Progress>) -> std::sync::MutexGuard<'_, Progress> {
    progress.lock().unwrap_or_else(|p| p.into_inner())
}

/// The words in the first `played` ms of the audio.
fn heard(p: &Progress, played: u64) -> String {
    let mut words: Vec<&str> = Vec::new();
    for chunk in &p.chunks {
        if chunk.end_ms <= played {
            words.extend(chunk.text.split_whitespace());
        } else if chunk.start_ms < played {
            let all: Vec<&str> = chunk.text.split_whitespace().collect();
            let share = (played - chunk.start_ms) as f64 / (chunk.end_ms - chunk.start_ms).max(1) as f64;
            let n = ((all.len() as f64) * share).floor() as usize;
            words.extend(all.into_iter().take(n));
            break;
        } else {
            break;
        }
    }
    words.join(" ")
}

async fn speak(
    engine: Arc<dyn TtsEngine>,
    format: OutputFormat,
    text: String,
    lead: Duration,
    frames: mpsc::Sender<Vec<u8>>,
    progress: Arc<Mutex<Progress>>,
) -> Result<(), TtsError> {
    let mut encoder: Option<OutputEncoder> = None;
    let mut position_ms = 0u64;
    let send = |batch: Vec<Vec<u8>>, position_ms: &mut u64| {
        let frames = frames.clone();
        let progress = progress.clone();
        let mut start = *position_ms;
        *position_ms += batch.len() as u64 * FRAME_MS;
        async move {
            for frame in batch {
                let started = *lock(&progress).started.get_or_insert_with(Instant::now);
                let due = started + Duration::from_millis(start);
                tokio::time::sleep_until(tokio::time::Instant::from_std(due.checked_sub(lead).unwrap_or(due))).await;
                if frames.send(frame).await.is_err() {
                    return false;
                }
                start += FRAME_MS;
            }
            true
        }
    };
    for chunk in split_for_speech(&text) {
        let audio = engine.synthesize(&chunk).await?;
        let encoder = match encoder.as_mut() {
            Some(e) => e,
            None => encoder.insert(OutputEncoder::new(format, audio.sample_rate)?),
        };
        let batch = encoder.push(&audio.samples)?;
        let start_ms = position_ms;
        lock(&progress).chunks.push(Placed { text: chunk, start_ms, end_ms: start_ms + batch.len() as u64 * FRAME_MS });
        if !send(batch, &mut position_ms).await {
            return Ok(());
        }
    }
    if let Some(encoder) = encoder.as_mut() {
        let tail = encoder.finish()?;
        send(tail, &mut position_ms).await;
    }
    lock(&progress).finished = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tts::SpeechAudio;
    use async_trait::async_trait;

    /// One second of tone per chunk.
    struct Tone;

    #[async_trait]
    impl TtsEngine for Tone {
        async fn synthesize(&self, _text: &str) -> Result<SpeechAudio, TtsError> {
            let samples = (0..16_000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
            Ok(SpeechAudio { samples, sample_rate: 16_000 })
        }
        fn name(&self) -> &str {
            "tone"
        }
    }

    #[tokio::test]
    async fn frames_flow_at_playback_pace_and_interruption_reports_what_was_heard() {
        let text = "First sentence here. Second sentence follows now. Third one ends it.".to_string();
        let format = OutputFormat::PcmS16le { sample_rate: 16_000 };
        let mut playback = Playback::start(Arc::new(Tone), format, text, Duration::from_millis(100));
        let started = Instant::now();
        let mut received = 0;
        while received < 75 {
            playback.frames.recv().await.expect("frames");
            received += 1;
        }
        // 75 frames = 1.5 s of audio, released no faster than real time
        // minus the lead.
        assert!(started.elapsed() >= Duration::from_millis(1_300), "{:?}", started.elapsed());
        let heard = playback.interrupt();
        assert!(heard.starts_with("First sentence here."), "{heard}");
        assert!(!heard.contains("Third"), "{heard}");
    }

    #[tokio::test]
    async fn what_was_heard_follows_a_confirmed_position_and_chunks_are_marked() {
        let text = "First sentence here. Second sentence follows now.".to_string();
        let format = OutputFormat::PcmS16le { sample_rate: 16_000 };
        let mut playback = Playback::start(Arc::new(Tone), format, text, Duration::from_secs(5));
        // One second of tone per chunk: 50 frames each, the first ends at 1 s.
        let first = playback.frames.recv().await.expect("a frame");
        assert_eq!(first.len(), 640);
        assert!(playback.chunk_ends_at(Duration::from_secs(1)));
        assert!(!playback.chunk_ends_at(Duration::from_millis(500)));
        assert_eq!(playback.stop_after(Duration::from_millis(1_500)), "First sentence here.");
    }

    #[tokio::test]
    async fn a_whole_reply_is_played_to_the_end() {
        let format = OutputFormat::Mulaw;
        let mut playback = Playback::start(Arc::new(Tone), format, "Just one.".into(), Duration::from_secs(5));
        let mut bytes = 0;
        while let Some(frame) = playback.frames.recv().await {
            assert_eq!(frame.len(), 160);
            bytes += frame.len();
        }
        assert!(bytes >= 8_000, "{bytes}");
        playback.outcome().await.unwrap();
    }
}
