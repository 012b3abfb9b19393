//! The mel filterbank Whisper was trained with.
//!
//! OpenAI's Whisper ships `mel_filters.npz`, which holds librosa's
//! `librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)` (and `n_mels=128`
//! for large-v3): triangular filters on the *Slaney* mel scale (linear below
//! 1 kHz, logarithmic above), each scaled by Slaney's area normalisation
//! `2 / (f[i+2] - f[i])` so every filter has the same area. whisper.cpp does
//! not compute it: it reads it from the model file (`n_mel`, `n_fft`, then
//! `n_mel * n_fft` f32, row-major, one row per mel band). CTranslate2 models
//! do not carry it (faster-whisper computes it in Python), so the converter
//! computes it here.
//!
//! The arithmetic is done in f64 and rounded to f32 once; librosa rounds
//! the triangles to f32 before normalising, so a value may differ from the
//! `.npz` in its last bit, far below anything the model can notice.

/// Hz per mel below the break frequency (Slaney: 200/3 Hz per mel).
const F_SP: f64 = 200.0 / 3.0;
/// Where the scale turns logarithmic.
const MIN_LOG_HZ: f64 = 1000.0;
/// `MIN_LOG_HZ` in mels.
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

/// ln(6.4) / 27: the log-region step, as in the Auditory Toolbox.
fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Hertz to Slaney mels.
pub fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ { MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step() } else { hz / F_SP }
}

/// Slaney mels to hertz.
pub fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL { MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp() } else { F_SP * mel }
}

/// A mel filterbank: `n_mels` rows of `n_freqs` weights, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct MelFilterbank {
    pub n_mels: usize,
    /// `n_fft / 2 + 1`: the bins of a real FFT.
    pub n_freqs: usize,
    pub weights: Vec<f32>,
}

impl MelFilterbank {
    /// The weight of FFT bin `freq` in band `mel`.
    pub fn get(&self, mel: usize, freq: usize) -> Option<f32> {
        if mel >= self.n_mels || freq >= self.n_freqs {
            return None;
        }
        self.weights.get(mel * self.n_freqs + freq).copied()
    }
}

/// librosa's `filters.mel(sr, n_fft, n_mels, fmin=0, fmax=sr/2, htk=False,
/// norm="slaney")`.
///
/// Returns `None` for degenerate arguments (zero sizes or sample rate).
pub fn slaney_filterbank(sample_rate: u32, n_fft: usize, n_mels: usize) -> Option<MelFilterbank> {
    if sample_rate == 0 || n_fft < 2 || n_mels == 0 {
        return None;
    }
    let n_freqs = n_fft / 2 + 1;
    let sr = f64::from(sample_rate);
    let f_max = sr / 2.0;

    // Centre frequencies of the FFT bins: linspace(0, sr/2, n_freqs).
    let fft_freqs: Vec<f64> = (0..n_freqs).map(|k| k as f64 * sr / n_fft as f64).collect();

    // n_mels + 2 points evenly spaced in mels between 0 Hz and f_max, in Hz.
    let mel_max = hz_to_mel(f_max);
    let n_points = n_mels + 2;
    let mel_freqs: Vec<f64> = (0..n_points).map(|i| mel_to_hz(mel_max * i as f64 / (n_points - 1) as f64)).collect();

    let mut weights = Vec::with_capacity(n_mels * n_freqs);
    for i in 0..n_mels {
        let (lo, centre, hi) = (mel_freqs[i], mel_freqs[i + 1], mel_freqs[i + 2]);
        let rise = centre - lo;
        let fall = hi - centre;
        let norm = 2.0 / (hi - lo);
        for &f in &fft_freqs {
            let lower = (f - lo) / rise;
            let upper = (hi - f) / fall;
            let w = lower.min(upper).max(0.0);
            weights.push((w * norm) as f32);
        }
    }
    Some(MelFilterbank { n_mels, n_freqs, weights })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f64) -> bool {
        (f64::from(a) - b).abs() <= 1e-6 * b.abs().max(1e-3)
    }

    #[test]
    fn scale_round_trips_and_breaks_at_one_khz() {
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(200.0) - 3.0).abs() < 1e-12);
        for hz in [0.0, 50.0, 999.0, 1000.0, 1234.5, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9, "{hz}");
        }
    }

    #[test]
    fn matches_librosa_whisper_filters() {
        // Reference values from an independent numpy transcription of
        // librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) (float64).
        let fb = slaney_filterbank(16_000, 400, 80).expect("filterbank");
        assert_eq!((fb.n_mels, fb.n_freqs, fb.weights.len()), (80, 201, 80 * 201));
        let expected: &[(usize, usize, f64)] = &[
            (0, 0, 0.0),
            (0, 1, 0.024862593984176087),
            (0, 2, 0.0),
            (1, 1, 0.00199082188809807),
            (1, 2, 0.022871772096078016),
            (10, 10, 0.019908218880980696),
            (10, 11, 0.004954375103195403),
            (40, 42, 0.00541110509868314),
            (40, 43, 0.01473556574143909),
            (40, 44, 0.0065181896946609665),
            (40, 45, 0.0),
            (79, 186, 0.00036674167978492585),
            (79, 192, 0.003164711739176461),
            (79, 199, 0.00044875902758905584),
            (79, 200, 0.0),
        ];
        for &(m, f, want) in expected {
            let got = fb.get(m, f).expect("in range");
            assert!(close(got, want), "mel {m} bin {f}: {got} != {want}");
        }
        // Row sums from the same reference.
        let row_sum = |m: usize| -> f64 { (0..fb.n_freqs).map(|f| f64::from(fb.weights[m * fb.n_freqs + f])).sum() };
        assert!((row_sum(0) - 0.024862593984176087).abs() < 1e-7, "{}", row_sum(0));
        assert!((row_sum(60) - 0.02510154118105604).abs() < 1e-7, "{}", row_sum(60));
        assert!((row_sum(79) - 0.024925339738858847).abs() < 1e-7, "{}", row_sum(79));
        assert!(fb.weights.iter().all(|w| w.is_finite() && *w >= 0.0));
    }

    #[test]
    fn degenerate_arguments_are_refused() {
        assert!(slaney_filterbank(0, 400, 80).is_none());
        assert!(slaney_filterbank(16_000, 1, 80).is_none());
        assert!(slaney_filterbank(16_000, 400, 0).is_none());
    }
}
