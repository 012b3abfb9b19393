//! Decoding what clients send into mono f32 samples at the client's rate:
//! PCM s16le (any common rate, mono or stereo), Opus packets, and G.711
//! mu-law / A-law (telephony, 8 kHz). Also the G.711 encoders the
//! telephony path and the tests need.
//!
//! Decoders are per stream and keep the little state a stream needs (an
//! odd PCM byte split across frames, the Opus decoder's history).

use voxbook_proto::stream::{AudioEncoding, AudioInput};

use crate::AudioError;

/// Sample rates accepted for PCM input.
pub const PCM_RATES: [u32; 7] = [8_000, 11_025, 16_000, 22_050, 24_000, 44_100, 48_000];
/// Opus decodes at these rates only.
pub const OPUS_RATES: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];
/// Largest Opus frame: 120 ms at 48 kHz, per channel.
const OPUS_MAX_FRAME: usize = 5_760;

pub struct AudioDecoder {
    spec: AudioInput,
    /// A PCM byte left over when a frame split a sample in two.
    carry: Vec<u8>,
    opus: Option<opus::Decoder>,
    opus_buffer: Vec<f32>,
}

impl std::fmt::Debug for AudioDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioDecoder").field("spec", &self.spec).finish_non_exhaustive()
    }
}

impl AudioDecoder {
    /// Checks the declared format and builds its decoder.
    pub fn new(spec: AudioInput) -> Result<AudioDecoder, AudioError> {
        if !(1..=2).contains(&spec.channels) {
            return Err(AudioError::Unsupported(format!("{} channels (1 or 2 are supported)", spec.channels)));
        }
        let mut opus = None;
        match spec.encoding {
            AudioEncoding::PcmS16le if !PCM_RATES.contains(&spec.sample_rate) => {
                return Err(AudioError::Unsupported(format!(
                    "PCM at {} Hz (supported: {PCM_RATES:?})",
                    spec.sample_rate
                )));
            }
            AudioEncoding::Mulaw | AudioEncoding::Alaw if spec.sample_rate != 8_000 => {
                return Err(AudioError::Unsupported(format!("G.711 at {} Hz (G.711 is 8000 Hz)", spec.sample_rate)));
            }
            AudioEncoding::Opus => {
                if !OPUS_RATES.contains(&spec.sample_rate) {
                    return Err(AudioError::Unsupported(format!(
                        "Opus at {} Hz (supported: {OPUS_RATES:?})",
                        spec.sample_rate
                    )));
                }
                let channels = if spec.channels == 2 { opus::Channels::Stereo } else { opus::Channels::Mono };
                opus = Some(
                    opus::Decoder::new(spec.sample_rate, channels)
                        .map_err(|e| AudioError::Unsupported(format!("Opus decoder: {e}")))?,
                );
            }
            _ => {}
        }
        Ok(AudioDecoder { spec, carry: Vec::new(), opus, opus_buffer: vec![0.0; OPUS_MAX_FRAME * 2] })
    }

    pub fn spec(&self) -> AudioInput {
        self.spec
    }

    /// Decodes one binary frame, appending mono samples in [-1, 1] to `out`.
    pub fn decode(&mut self, frame: &[u8], out: &mut Vec<f32>) -> Result<(), AudioError> {
        let channels = usize::from(self.spec.channels);
        match self.spec.encoding {
            AudioEncoding::PcmS16le => {
                let mut bytes = std::mem::take(&mut self.carry);
                bytes.extend_from_slice(frame);
                let whole = bytes.len() - bytes.len() % (2 * channels);
                self.carry = bytes[whole..].to_vec();
                let samples =
                    bytes[..whole].chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0);
                downmix(samples, channels, out);
            }
            AudioEncoding::Mulaw => downmix(frame.iter().map(|&b| f32::from(mulaw_decode(b)) / 32768.0), channels, out),
            AudioEncoding::Alaw => downmix(frame.iter().map(|&b| f32::from(alaw_decode(b)) / 32768.0), channels, out),
            AudioEncoding::Opus => {
                let decoder = self.opus.as_mut().ok_or_else(|| AudioError::Unsupported("no Opus decoder".into()))?;
                if frame.is_empty() {
                    return Err(AudioError::Corrupt("empty Opus packet".into()));
                }
                let frames = decoder
                    .decode_float(frame, &mut self.opus_buffer, false)
                    .map_err(|e| AudioError::Corrupt(format!("Opus packet: {e}")))?;
                downmix(self.opus_buffer[..frames * channels].iter().copied(), channels, out);
            }
        }
        Ok(())
    }
}

fn downmix(samples: impl Iterator<Item = f32>, channels: usize, out: &mut Vec<f32>) {
    if channels == 1 {
        out.extend(samples);
        return;
    }
    let mut sum = 0.0;
    for (i, s) in samples.enumerate() {
        sum += s;
        if i % channels == channels - 1 {
            out.push(sum / channels as f32);
            sum = 0.0;
        }
    }
}

/// G.711 mu-law byte → 16-bit linear sample.
pub fn mulaw_decode(byte: u8) -> i16 {
    let u = !byte;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// 16-bit linear sample → G.711 mu-law byte.
pub fn mulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let exponent = (31 - (s as u32).leading_zeros()).saturating_sub(7).min(7) as i32;
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// G.711 A-law byte → 16-bit linear sample.
pub fn alaw_decode(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let exponent = (a >> 4) & 0x07;
    let mantissa = i32::from(a & 0x0f);
    let magnitude = if exponent == 0 { (mantissa << 4) + 8 } else { ((mantissa << 4) + 0x108) << (exponent - 1) };
    (if a & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

/// 16-bit linear sample → G.711 A-law byte.
pub fn alaw_encode(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s >= 0 {
        0x80
    } else {
        s = -s - 1;
        0
    };
    s = s.min(32_767);
    let byte = if s < 256 {
        (s >> 4) as u8
    } else {
        let exponent = (31 - (s as u32).leading_zeros()) as i32 - 7;
        let mantissa = (s >> (exponent + 3)) & 0x0f;
        ((exponent << 4) as u8) | mantissa as u8
    };
    (sign | byte) ^ 0x55
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(encoding: AudioEncoding, sample_rate: u32, channels: u16) -> AudioInput {
        AudioInput { encoding, sample_rate, channels }
    }

    #[test]
    fn g711_known_values() {
        assert_eq!(mulaw_decode(0xff), 0);
        assert_eq!(mulaw_decode(0x00), -32_124);
        assert_eq!(mulaw_decode(0x80), 32_124);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0x55), -8);
    }

    #[test]
    fn g711_round_trips_within_quantisation() {
        for s in (-32_000i32..32_000).step_by(97) {
            let s = s as i16;
            let mu = mulaw_decode(mulaw_encode(s));
            let a = alaw_decode(alaw_encode(s));
            let tolerance = (i32::from(s).abs() / 16).max(16);
            assert!((i32::from(mu) - i32::from(s)).abs() <= tolerance, "mu-law {s} → {mu}");
            assert!((i32::from(a) - i32::from(s)).abs() <= tolerance, "A-law {s} → {a}");
        }
    }

    #[test]
    fn pcm_keeps_a_sample_split_across_frames() {
        let mut d = AudioDecoder::new(spec(AudioEncoding::PcmS16le, 16_000, 1)).unwrap();
        let mut out = Vec::new();
        let bytes = 16_384i16.to_le_bytes();
        d.decode(&bytes[..1], &mut out).unwrap();
        assert!(out.is_empty());
        d.decode(&bytes[1..], &mut out).unwrap();
        assert_eq!(out, vec![0.5]);
    }

    #[test]
    fn stereo_is_downmixed() {
        let mut d = AudioDecoder::new(spec(AudioEncoding::PcmS16le, 48_000, 2)).unwrap();
        let mut out = Vec::new();
        let frame: Vec<u8> = [16_384i16, 0, -16_384, -16_384].iter().flat_map(|s| s.to_le_bytes()).collect();
        d.decode(&frame, &mut out).unwrap();
        assert_eq!(out, vec![0.25, -0.5]);
    }

    #[test]
    fn unsupported_formats_are_refused() {
        assert!(AudioDecoder::new(spec(AudioEncoding::PcmS16le, 12_345, 1)).is_err());
        assert!(AudioDecoder::new(spec(AudioEncoding::Mulaw, 16_000, 1)).is_err());
        assert!(AudioDecoder::new(spec(AudioEncoding::Opus, 44_100, 1)).is_err());
        assert!(AudioDecoder::new(spec(AudioEncoding::PcmS16le, 16_000, 3)).is_err());
    }

    #[test]
    fn opus_round_trip_and_garbage() {
        let mut encoder = opus::Encoder::new(16_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let tone: Vec<f32> = (0..320).map(|i| (i as f32 * 0.2).sin() * 0.3).collect();
        let packet = encoder.encode_vec_float(&tone, 4000).unwrap();
        let mut d = AudioDecoder::new(spec(AudioEncoding::Opus, 16_000, 1)).unwrap();
        let mut out = Vec::new();
        d.decode(&packet, &mut out).unwrap();
        assert_eq!(out.len(), 320);
        assert!(d.decode(&[], &mut out).is_err());
        // Random bytes either decode to something or fail cleanly; never panic.
        let _ = d.decode(&[0xff, 0x13, 0x77, 0x00, 0x42], &mut out);
    }
}
