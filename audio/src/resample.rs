//! Streaming resampling to the internal 16 kHz with rubato's FFT
//! resampler (band-limited, so 48 kHz microphones do not alias into the
//! speech band). 16 kHz input passes through untouched.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::{AudioError, INTERNAL_SAMPLE_RATE_HZ};

/// Input frames per resampler call: 20 ms at 48 kHz; small enough that
/// audio is not held back, large enough to be efficient.
const CHUNK: usize = 960;

pub struct StreamResampler {
    inner: Option<Fft<f32>>,
    pending: Vec<f32>,
    scratch: Vec<f32>,
}

impl StreamResampler {
    pub fn new(from_rate: u32) -> Result<StreamResampler, AudioError> {
        StreamResampler::between(from_rate, INTERNAL_SAMPLE_RATE_HZ)
    }

    /// A resampler from any rate to any rate (equal rates pass through).
    pub fn between(from_rate: u32, to_rate: u32) -> Result<StreamResampler, AudioError> {
        if from_rate == 0 || to_rate == 0 {
            return Err(AudioError::Unsupported(format!("resampling from {from_rate} Hz to {to_rate} Hz")));
        }
        let inner = if from_rate == to_rate {
            None
        } else {
            let fft = Fft::<f32>::new(from_rate as usize, to_rate as usize, CHUNK, 1, FixedSync::Input)
                .map_err(|e| AudioError::Unsupported(format!("resampling from {from_rate} Hz to {to_rate} Hz: {e}")))?;
            Some(fft)
        };
        let scratch = vec![0.0; inner.as_ref().map(|r| r.output_frames_max()).unwrap_or(0)];
        Ok(StreamResampler { inner, pending: Vec::new(), scratch })
    }

    /// Feeds samples; appends whatever output (16 kHz unless built with
    /// [`StreamResampler::between`]) is ready.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        let Some(resampler) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        let mut offset = 0;
        while self.pending.len() - offset >= resampler.input_frames_next() {
            let needed = resampler.input_frames_next();
            let chunk = &self.pending[offset..offset + needed];
            let written = Self::run(resampler, chunk, &mut self.scratch, None)?;
            out.extend_from_slice(&self.scratch[..written]);
            offset += needed;
        }
        self.pending.drain(..offset);
        Ok(())
    }

    /// Pushes out what is buffered (padding with silence), at stream end.
    pub fn flush(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let Some(resampler) = self.inner.as_mut() else { return Ok(()) };
        if self.pending.is_empty() {
            return Ok(());
        }
        let partial = self.pending.len();
        let mut chunk = std::mem::take(&mut self.pending);
        chunk.resize(resampler.input_frames_next(), 0.0);
        let written = Self::run(resampler, &chunk, &mut self.scratch, Some(partial))?;
        out.extend_from_slice(&self.scratch[..written]);
        Ok(())
    }

    fn run(
        resampler: &mut Fft<f32>,
        chunk: &[f32],
        scratch: &mut [f32],
        partial: Option<usize>,
    ) -> Result<usize, AudioError> {
        let fail = |e: &dyn std::fmt::Display| AudioError::Corrupt(format!("resampler: {e}"));
        let input = InterleavedSlice::new(chunk, 1, chunk.len()).map_err(|e| fail(&e))?;
        let capacity = scratch.len();
        let mut output = InterleavedSlice::new_mut(scratch, 1, capacity).map_err(|e| fail(&e))?;
        let indexing = partial.map(|len| Indexing {
            input_offset: 0,
            output_offset: 0,
            partial_len: Some(len),
            active_channels_mask: None,
        });
        let (_, written) =
            resampler.process_into_buffer(&input, &mut output, indexing.as_ref()).map_err(|e| fail(&e))?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn between_converts_to_the_target_rate() {
        for (from, to) in [(22_050u32, 24_000u32), (22_050, 8_000), (16_000, 24_000)] {
            let mut r = StreamResampler::between(from, to).unwrap();
            let input = vec![0.25f32; from as usize];
            let mut out = Vec::new();
            r.push(&input, &mut out).unwrap();
            r.flush(&mut out).unwrap();
            let expected = to as f32;
            assert!((out.len() as f32 - expected).abs() < 0.1 * expected, "{from}->{to}: {}", out.len());
        }
        assert!(StreamResampler::between(0, 16_000).is_err());
        let mut same = StreamResampler::between(24_000, 24_000).unwrap();
        let mut out = Vec::new();
        same.push(&[0.5], &mut out).unwrap();
        assert_eq!(out, vec![0.5]);
    }

    #[test]
    fn sixteen_khz_passes_through() {
        let mut r = StreamResampler::new(16_000).unwrap();
        let mut out = Vec::new();
        r.push(&[0.1, 0.2, 0.3], &mut out).unwrap();
        assert_eq!(out, vec![0.1, 0.2, 0.3]);
    }

    #[test]
    fn rates_convert_to_the_right_length_and_keep_a_tone() {
        for rate in [8_000u32, 24_000, 44_100, 48_000] {
            let mut r = StreamResampler::new(rate).unwrap();
            let seconds = 1.0;
            let n = (rate as f32 * seconds) as usize;
            // 440 Hz tone in chunks of 20 ms, as a client would send it.
            let tone: Vec<f32> =
                (0..n).map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin() * 0.5).collect();
            let mut out = Vec::new();
            for chunk in tone.chunks((rate / 50) as usize) {
                r.push(chunk, &mut out).unwrap();
            }
            r.flush(&mut out).unwrap();
            let expected = 16_000.0 * seconds;
            assert!((out.len() as f32 - expected).abs() < 0.1 * expected, "{rate}: {} samples", out.len());
            // Energy of the tone survives (RMS of a 0.5 sine ≈ 0.354).
            let middle = &out[out.len() / 4..out.len() * 3 / 4];
            let rms = (middle.iter().map(|s| s * s).sum::<f32>() / middle.len() as f32).sqrt();
            assert!((rms - 0.354).abs() < 0.05, "{rate}: rms {rms}");
        }
    }
}
