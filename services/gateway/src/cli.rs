//! The `voxbook` commands other than `serve`: model installation and a
//! quick transcription from the shell.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use voxbook_audio::asr::whisper::{DecodeOptions, WhisperModel};
use voxbook_audio::models::{self, InstallOutcome, InstallStep};
use voxbook_audio::resample::StreamResampler;

/// `voxbook models install`: a progress bar per step.
pub fn install_models(dir: &Path) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0);
    bar.enable_steady_tick(Duration::from_millis(120));
    let bytes = ProgressStyle::with_template("{spinner} {prefix:>11} [{bar:30}] {bytes}/{total_bytes} {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let spinner = ProgressStyle::with_template("{spinner} {prefix:>11} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let step = std::cell::Cell::new(None::<InstallStep>);
    let progress = |s: InstallStep, done: u64, total: u64| {
        if step.get() != Some(s) {
            step.set(Some(s));
            bar.set_prefix(s.label());
            bar.set_style(if total > 0 { bytes.clone() } else { spinner.clone() });
            bar.set_length(total);
            bar.reset();
        }
        bar.set_position(done);
    };
    let installed = models::install(dir, &progress)
        .with_context(|| format!("installing the Whisper model into {}", dir.display()))?;
    bar.finish_and_clear();
    let what = match installed.outcome {
        InstallOutcome::AlreadyInstalled => "already installed",
        InstallOutcome::Reverified => "present, verified",
        InstallOutcome::Installed => "installed",
    };
    println!(
        "{}: {what} ({:.1} MB, sha256 {}), test clip heard as {:?}",
        installed.path.display(),
        installed.size as f64 / 1e6,
        &installed.sha256[..16.min(installed.sha256.len())],
        installed.transcript
    );
    Ok(())
}

/// Reads a WAV file as 16 kHz mono samples.
fn read_wav(file: &Path) -> anyhow::Result<Vec<f32>> {
    let mut reader = hound::WavReader::open(file).with_context(|| format!("cannot read {} as WAV", file.display()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let raw: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => {
            reader.samples::<i16>().map(|s| s.map(|v| f32::from(v) / 32768.0)).collect::<Result<_, _>>()?
        }
        (hound::SampleFormat::Int, bits @ (8 | 24 | 32)) => {
            let scale = (1i64 << (bits - 1)) as f32;
            reader.samples::<i32>().map(|s| s.map(|v| v as f32 / scale)).collect::<Result<_, _>>()?
        }
        (hound::SampleFormat::Float, 32) => reader.samples::<f32>().collect::<Result<_, _>>()?,
        (format, bits) => bail!("unsupported WAV sample format {format:?} {bits}-bit"),
    };
    let mono: Vec<f32> = raw.chunks(channels).map(|c| c.iter().sum::<f32>() / c.len() as f32).collect();
    let mut out = Vec::with_capacity(mono.len());
    let mut resampler = StreamResampler::new(spec.sample_rate)?;
    resampler.push(&mono, &mut out)?;
    resampler.flush(&mut out)?;
    Ok(out)
}

/// `voxbook transcribe FILE.wav`
pub fn transcribe(file: &Path, model: &Path, full_window: bool, audio_ctx: Option<i32>) -> anyhow::Result<()> {
    if !model.is_file() {
        bail!("no Whisper model at {}: run `voxbook models install` (or pass --model)", model.display());
    }
    let audio = read_wav(file)?;
    let seconds = audio.len() as f32 / 16_000.0;
    let model = WhisperModel::load(model)?;
    let mut options =
        if full_window { DecodeOptions::full_window() } else { DecodeOptions::fast_for(seconds.max(1.1)) };
    if audio_ctx.is_some() {
        options.audio_ctx = audio_ctx;
    }
    let transcript = model.transcribe(&audio, &options)?;
    println!("{}", transcript.text);
    eprintln!(
        "{seconds:.2} s of audio, decoded in {} ms, least certain token p = {:.2}",
        transcript.elapsed.as_millis(),
        transcript.min_token_p
    );
    Ok(())
}
