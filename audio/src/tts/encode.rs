//! Turning synthesized speech (mono f32 at the engine's rate) into what a
//! client asked to hear: fixed 20 ms frames of PCM s16le (16 or 24 kHz),
//! G.711 mu-law (8 kHz) or Opus (16 or 24 kHz, one packet per frame).
//!
//! [`OutputEncoder`] is streaming: feed it audio as chunks are synthesized
//! and send each frame it returns; [`OutputEncoder::finish`] pads the last
//! frame with silence.

use crate::codec::mulaw_encode;
use crate::resample::StreamResampler;

use super::TtsError;

/// Duration of every output frame.
pub const FRAME_MS: u32 = 20;

/// Rates PCM output is offered at.
pub const PCM_OUTPUT_RATES: [u32; 2] = [16_000, 24_000];
/// Rates Opus output is offered at.
pub const OPUS_OUTPUT_RATES: [u32; 2] = [16_000, 24_000];

/// Largest Opus packet we ask the encoder for (far above 20 ms of speech).
const OPUS_MAX_PACKET: usize = 4_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Little-endian signed 16-bit mono PCM at 16 or 24 kHz.
    PcmS16le { sample_rate: u32 },
    /// G.711 mu-law at 8 kHz.
    Mulaw,
    /// One Opus packet per 20 ms frame, mono, at 16 or 24 kHz.
    Opus { sample_rate: u32 },
}

impl OutputFormat {
    pub fn sample_rate(self) -> u32 {
        match self {
            OutputFormat::PcmS16le { sample_rate } | OutputFormat::Opus { sample_rate } => sample_rate,
            OutputFormat::Mulaw => 8_000,
        }
    }

    /// Samples in one frame.
    pub fn frame_samples(self) -> usize {
        (self.sample_rate() * FRAME_MS / 1_000) as usize
    }

    fn check(self) -> Result<(), TtsError> {
        match self {
            OutputFormat::PcmS16le { sample_rate } if !PCM_OUTPUT_RATES.contains(&sample_rate) => {
                Err(TtsError::Encode(format!("PCM output at {sample_rate} Hz (supported: {PCM_OUTPUT_RATES:?})")))
            }
            OutputFormat::Opus { sample_rate } if !OPUS_OUTPUT_RATES.contains(&sample_rate) => {
                Err(TtsError::Encode(format!("Opus output at {sample_rate} Hz (supported: {OPUS_OUTPUT_RATES:?})")))
            }
            _ => Ok(()),
        }
    }
}

/// Streaming encoder from engine audio to output frames of [`FRAME_MS`].
pub struct OutputEncoder {
    format: OutputFormat,
    resampler: StreamResampler,
    /// Resampled audio not yet making up a whole frame.
    pending: Vec<f32>,
    opus: Option<opus::Encoder>,
    packet: Vec<u8>,
}

impl std::fmt::Debug for OutputEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputEncoder").field("format", &self.format).finish_non_exhaustive()
    }
}

impl OutputEncoder {
    /// An encoder for `format`, fed audio at `input_rate` (the engine's).
    pub fn new(format: OutputFormat, input_rate: u32) -> Result<OutputEncoder, TtsError> {
        format.check()?;
        let resampler =
            StreamResampler::between(input_rate, format.sample_rate()).map_err(|e| TtsError::Encode(e.to_string()))?;
        let opus = match format {
            OutputFormat::Opus { sample_rate } => Some(
                opus::Encoder::new(sample_rate, opus::Channels::Mono, opus::Application::Voip)
                    .map_err(|e| TtsError::Encode(format!("Opus encoder: {e}")))?,
            ),
            _ => None,
        };
        Ok(OutputEncoder { format, resampler, pending: Vec::new(), opus, packet: vec![0; OPUS_MAX_PACKET] })
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// Feeds samples; returns every whole frame now ready, in order.
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<Vec<u8>>, TtsError> {
        self.resampler.push(samples, &mut self.pending).map_err(|e| TtsError::Encode(e.to_string()))?;
        self.drain_frames()
    }

    /// Ends the stream: flushes the resampler and pads the last frame with
    /// silence. The encoder can be reused for a new stream afterwards.
    pub fn finish(&mut self) -> Result<Vec<Vec<u8>>, TtsError> {
        self.resampler.flush(&mut self.pending).map_err(|e| TtsError::Encode(e.to_string()))?;
        let n = self.format.frame_samples();
        let rest = self.pending.len() % n;
        if rest != 0 {
            self.pending.resize(self.pending.len() + n - rest, 0.0);
        }
        self.drain_frames()
    }

    fn drain_frames(&mut self) -> Result<Vec<Vec<u8>>, TtsError> {
        let n = self.format.frame_samples();
        let whole = self.pending.len() / n * n;
        let mut frames = Vec::with_capacity(whole / n);
        for frame in self.pending[..whole].chunks_exact(n) {
            frames.push(encode_frame(self.format, self.opus.as_mut(), &mut self.packet, frame)?);
        }
        self.pending.drain(..whole);
        Ok(frames)
    }
}

fn to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

fn encode_frame(
    format: OutputFormat,
    opus: Option<&mut opus::Encoder>,
    packet: &mut [u8],
    frame: &[f32],
) -> Result<Vec<u8>, TtsError> {
    match format {
        OutputFormat::PcmS16le { .. } => Ok(frame.iter().flat_map(|&s| to_i16(s).to_le_bytes()).collect()),
        OutputFormat::Mulaw => Ok(frame.iter().map(|&s| mulaw_encode(to_i16(s))).collect()),
        OutputFormat::Opus { .. } => {
            let encoder = opus.ok_or_else(|| TtsError::Encode("Opus encoder missing".into()))?;
            let clamped: Vec<f32> = frame.iter().map(|s| s.clamp(-1.0, 1.0)).collect();
            let len = encoder.encode_float(&clamped, packet).map_err(|e| TtsError::Encode(format!("Opus: {e}")))?;
            Ok(packet[..len].to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::mulaw_decode;

    fn tone(rate: u32, seconds: f32, hz: f32, amplitude: f32) -> Vec<f32> {
        let n = (rate as f32 * seconds) as usize;
        (0..n).map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin() * amplitude).collect()
    }

    fn rms(samples: &[f32]) -> f32 {
        (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt()
    }

    fn encode_all(format: OutputFormat, input_rate: u32, audio: &[f32]) -> Vec<Vec<u8>> {
        let mut encoder = OutputEncoder::new(format, input_rate).unwrap();
        let mut frames = Vec::new();
        // Engine audio arrives in uneven pieces.
        for piece in audio.chunks(777) {
            frames.extend(encoder.push(piece).unwrap());
        }
        frames.extend(encoder.finish().unwrap());
        frames
    }

    #[test]
    fn frame_sizes_are_twenty_milliseconds() {
        for (format, bytes) in [
            (OutputFormat::PcmS16le { sample_rate: 16_000 }, 640),
            (OutputFormat::PcmS16le { sample_rate: 24_000 }, 960),
            (OutputFormat::Mulaw, 160),
        ] {
            let frames = encode_all(format, 22_050, &tone(22_050, 0.5, 300.0, 0.5));
            assert!(!frames.is_empty());
            assert!(frames.iter().all(|f| f.len() == bytes), "{format:?}");
            // About half a second of frames (25), give or take the padding.
            assert!((25..=27).contains(&frames.len()), "{format:?}: {} frames", frames.len());
        }
    }

    #[test]
    fn finish_pads_the_last_frame_with_silence() {
        let format = OutputFormat::PcmS16le { sample_rate: 16_000 };
        let mut encoder = OutputEncoder::new(format, 16_000).unwrap();
        assert!(encoder.push(&[0.5; 100]).unwrap().is_empty());
        let frames = encoder.finish().unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].len(), 640);
        let samples: Vec<i16> = frames[0].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        assert!(samples[..100].iter().all(|&s| s == to_i16(0.5)));
        assert!(samples[100..].iter().all(|&s| s == 0));
        // Nothing left over afterwards.
        assert!(encoder.finish().unwrap().is_empty());
    }

    #[test]
    fn pcm_at_the_same_rate_is_exact() {
        let format = OutputFormat::PcmS16le { sample_rate: 24_000 };
        let mut encoder = OutputEncoder::new(format, 24_000).unwrap();
        let input: Vec<f32> = (0..480).map(|i| i as f32 / 480.0 - 0.5).collect();
        let frames = encoder.push(&input).unwrap();
        assert_eq!(frames.len(), 1);
        let back: Vec<i16> = frames[0].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        let expected: Vec<i16> = input.iter().map(|&s| to_i16(s)).collect();
        assert_eq!(back, expected);
        // Out-of-range samples are clipped, not wrapped.
        assert_eq!(to_i16(1.5), i16::MAX);
        assert_eq!(to_i16(-1.5), -i16::MAX);
    }

    #[test]
    fn mulaw_round_trip_keeps_the_signal() {
        let input = tone(8_000, 0.2, 440.0, 0.5);
        let frames = encode_all(OutputFormat::Mulaw, 8_000, &input);
        let decoded: Vec<f32> = frames.concat().iter().map(|&b| mulaw_decode(b) as f32 / 32768.0).collect();
        assert!(decoded.len() >= input.len());
        let error: Vec<f32> = input.iter().zip(&decoded).map(|(a, b)| a - b).collect();
        // G.711 is ~38 dB SNR on a loud tone; well under 5% error.
        assert!(rms(&error) < 0.05 * rms(&input), "error rms {}", rms(&error));
        assert!(decoded[input.len()..].iter().all(|s| s.abs() < 0.001));
    }

    #[test]
    fn opus_round_trip() {
        for rate in OPUS_OUTPUT_RATES {
            let input = tone(22_050, 1.0, 440.0, 0.5);
            let frames = encode_all(OutputFormat::Opus { sample_rate: rate }, 22_050, &input);
            assert!((49..=52).contains(&frames.len()), "{rate}: {} packets", frames.len());
            let mut decoder = opus::Decoder::new(rate, opus::Channels::Mono).unwrap();
            let mut decoded = Vec::new();
            let mut buffer = vec![0.0f32; 5_760];
            for packet in &frames {
                assert!(!packet.is_empty() && packet.len() < OPUS_MAX_PACKET);
                let n = decoder.decode_float(packet, &mut buffer, false).unwrap();
                assert_eq!(n, (rate / 50) as usize, "one packet is one 20 ms frame");
                decoded.extend_from_slice(&buffer[..n]);
            }
            let middle = &decoded[decoded.len() / 4..decoded.len() * 3 / 4];
            // RMS of a 0.5 sine is about 0.354.
            assert!((rms(middle) - 0.354).abs() < 0.08, "{rate}: rms {}", rms(middle));
        }
    }

    #[test]
    fn unsupported_formats_are_refused() {
        assert!(OutputEncoder::new(OutputFormat::PcmS16le { sample_rate: 44_100 }, 22_050).is_err());
        assert!(OutputEncoder::new(OutputFormat::Opus { sample_rate: 48_000 }, 22_050).is_err());
        assert!(OutputEncoder::new(OutputFormat::Mulaw, 0).is_err());
        assert_eq!(OutputFormat::Mulaw.frame_samples(), 160);
        assert_eq!(OutputFormat::Opus { sample_rate: 24_000 }.frame_samples(), 480);
    }
}
