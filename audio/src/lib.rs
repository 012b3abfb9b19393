//! Audio for voxbook: codecs, resampling, voice activity detection, speech
//! recognition and (later) speech synthesis.
//!
//! This crate depends on `voxbook-proto` only and knows nothing of
//! intents, dialogue or HTTP: audio goes in, text comes out. The gateway
//! wires it to the session stream.

pub mod asr;
pub mod codec;
pub mod convert;
pub mod endpoint;
pub mod models;
pub mod recognizer;
pub mod resample;
pub mod speech_stream;
pub mod tts;

/// The sample rate every internal audio path works at (Whisper's rate).
pub const INTERNAL_SAMPLE_RATE_HZ: u32 = 16_000;

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("unsupported audio: {0}")]
    Unsupported(String),
    #[error("undecodable audio: {0}")]
    Corrupt(String),
}
