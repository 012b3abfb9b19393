//! Speech synthesis: the groundwork for speaking replies back on a stream.
//!
//! - [`TtsEngine`]: text in, mono f32 audio out (one engine per process,
//!   shared by all streams).
//! - [`espeak::EspeakEngine`]: the engine behind it today, `espeak-ng` run
//!   as a separate program.
//! - [`split::split_for_speech`]: cuts a reply into chunks that can be
//!   synthesized one by one, so speaking starts before the whole reply is
//!   synthesized.
//! - [`encode::OutputEncoder`]: turns engine audio into the fixed-duration
//!   frames a client asked for (PCM, G.711 mu-law, Opus).

pub mod encode;
pub mod espeak;
pub mod openai;
pub mod speaker;
pub mod split;

use async_trait::async_trait;

/// Synthesized speech: mono samples in [-1, 1] at `sample_rate`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechAudio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

impl SpeechAudio {
    /// Length in seconds.
    pub fn duration_secs(&self) -> f32 {
        if self.sample_rate == 0 { 0.0 } else { self.samples.len() as f32 / self.sample_rate as f32 }
    }

    /// Root mean square level (0 for silence or no samples).
    pub fn rms(&self) -> f32 {
        if self.samples.is_empty() {
            return 0.0;
        }
        (self.samples.iter().map(|s| s * s).sum::<f32>() / self.samples.len() as f32).sqrt()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    #[error("nothing to say: the text is empty")]
    EmptyText,
    #[error("text too long to synthesize: {len} characters (limit {max})")]
    TextTooLong { len: usize, max: usize },
    #[error("speech engine program {program:?} not found; install it (e.g. `apt-get install espeak-ng`)")]
    EngineMissing { program: String },
    #[error("invalid speech engine settings: {0}")]
    InvalidConfig(String),
    #[error("speech engine could not be started: {0}")]
    Spawn(std::io::Error),
    #[error("speech engine I/O: {0}")]
    Io(std::io::Error),
    #[error("speech engine timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("speech engine failed ({status}): {stderr}")]
    EngineFailed { status: String, stderr: String },
    #[error("speech engine output is not usable audio: {0}")]
    BadAudio(String),
    #[error("encoding speech: {0}")]
    Encode(String),
}

/// A text-to-speech engine. Implementations must be cheap to share across
/// streams (`Send + Sync`) and must not block the async runtime.
#[async_trait]
pub trait TtsEngine: Send + Sync {
    /// Synthesizes `text` (one chunk from [`split::split_for_speech`]).
    async fn synthesize(&self, text: &str) -> Result<SpeechAudio, TtsError>;

    /// A short name for logs and metrics.
    fn name(&self) -> &str;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_and_rms() {
        let audio = SpeechAudio { samples: vec![0.5, -0.5, 0.5, -0.5], sample_rate: 4 };
        assert_eq!(audio.duration_secs(), 1.0);
        assert!((audio.rms() - 0.5).abs() < 1e-6);
        let empty = SpeechAudio { samples: vec![], sample_rate: 0 };
        assert_eq!(empty.duration_secs(), 0.0);
        assert_eq!(empty.rms(), 0.0);
    }

    /// A reply, split, synthesized chunk by chunk and streamed as mu-law
    /// frames, as the speaking path will do it.
    #[tokio::test]
    async fn a_reply_streams_through_split_synthesize_and_encode() {
        use encode::{OutputEncoder, OutputFormat};
        let engine = espeak::EspeakEngine::default();
        if std::process::Command::new(&engine.program).arg("--version").output().is_err() {
            eprintln!("espeak-ng not installed; skipping");
            return;
        }
        let reply = "I found a flight at 8:15 for 99.50 euros. Shall I book it, Mr. Smith?";
        let chunks = split::split_for_speech(reply);
        assert_eq!(chunks, vec!["I found a flight at 8:15 for 99.50 euros.", "Shall I book it, Mr. Smith?"]);
        let mut encoder: Option<OutputEncoder> = None;
        let mut frames = Vec::new();
        let mut seconds = 0.0;
        for chunk in &chunks {
            let audio = engine.synthesize(chunk).await.unwrap();
            seconds += audio.duration_secs();
            let encoder = match encoder.as_mut() {
                Some(e) => e,
                None => encoder.insert(OutputEncoder::new(OutputFormat::Mulaw, audio.sample_rate).unwrap()),
            };
            frames.extend(encoder.push(&audio.samples).unwrap());
        }
        frames.extend(encoder.unwrap().finish().unwrap());
        assert!(frames.iter().all(|f| f.len() == 160));
        let streamed = frames.len() as f32 * 0.020;
        assert!((streamed - seconds).abs() < 0.1, "streamed {streamed} s of {seconds} s");
        assert!(seconds > 2.0, "{seconds}");
    }
}
