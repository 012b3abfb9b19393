//! Audio for voxbook: codecs, resampling, voice activity detection, speech
//! recognition and speech synthesis.
//!
//! This crate is the skeleton the speech issues fill in. Its boundary is set
//! already: it depends on `voxbook-proto` only, and it knows nothing of
//! intents, dialogue or HTTP. Audio goes in, text comes out (and the reverse
//! for synthesis).

/// The sample rate every internal audio path works at (Whisper's rate).
pub const INTERNAL_SAMPLE_RATE_HZ: u32 = 16_000;
