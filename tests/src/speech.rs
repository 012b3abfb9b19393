//! Speech material for the ASR tests and benchmarks: real human speech
//! with reference transcripts from Debian's pocketsphinx-testdata, and
//! booking utterances synthesised by espeak-ng (run as a separate program:
//! espeak-ng is GPL, voxbook does not link it).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use voxbook_audio::resample::StreamResampler;

pub const POCKETSPHINX_DATA: &str = "/usr/share/pocketsphinx/test/data";

/// A clip with what is said in it.
#[derive(Debug, Clone)]
pub struct Clip {
    pub name: String,
    /// 16 kHz mono.
    pub audio: Vec<f32>,
    pub reference: String,
}

impl Clip {
    pub fn seconds(&self) -> f32 {
        self.audio.len() as f32 / 16_000.0
    }
}

/// Samples in [-1, 1] as 16-bit little-endian PCM bytes.
pub fn pcm_s16le(samples: &[f32]) -> Vec<u8> {
    samples.iter().flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect()
}

/// Reads a WAV file as 16 kHz mono f32.
pub fn read_wav(path: &Path) -> anyhow::Result<Vec<f32>> {
    let mut reader = hound::WavReader::open(path).with_context(|| format!("reading {}", path.display()))?;
    let spec = reader.spec();
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        bail!("{}: expected 16-bit PCM", path.display());
    }
    let channels = usize::from(spec.channels.max(1));
    let raw: Vec<f32> = reader.samples::<i16>().map(|s| s.map(|v| f32::from(v) / 32768.0)).collect::<Result<_, _>>()?;
    let mono: Vec<f32> = raw.chunks(channels).map(|c| c.iter().sum::<f32>() / c.len() as f32).collect();
    let mut out = Vec::new();
    let mut resampler = StreamResampler::new(spec.sample_rate)?;
    resampler.push(&mono, &mut out)?;
    resampler.flush(&mut out)?;
    Ok(out)
}

/// Parses a pocketsphinx transcription file: `<s> words </s> (id)`.
fn transcriptions(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (words, id) = line.rsplit_once('(').context("no (id)")?;
        let id = id.trim().trim_end_matches(')').to_string();
        let words = words.replace("<s>", "").replace("</s>", "");
        out.push((id, words.split_whitespace().collect::<Vec<_>>().join(" ")));
    }
    Ok(out)
}

/// The LibriVox and card-game clips of pocketsphinx-testdata.
pub fn human_clips() -> anyhow::Result<Vec<Clip>> {
    let base = Path::new(POCKETSPHINX_DATA);
    if !base.is_dir() {
        bail!("{POCKETSPHINX_DATA} is missing: install Debian's pocketsphinx-testdata (deploy/setup.sh does)");
    }
    let mut clips = Vec::new();
    // "go forward ten meters", the clip pocketsphinx's own tests decode.
    let raw = std::fs::read(base.join("goforward.raw")).context("reading goforward.raw")?;
    let audio = raw.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect();
    clips.push(Clip { name: "goforward".into(), audio, reference: "go forward ten meters".into() });
    for (dir, file) in [("librivox", "transcription"), ("cards", "cards.transcription")] {
        for (id, reference) in transcriptions(&base.join(dir).join(file))? {
            let wav = base.join(dir).join(format!("{id}.wav"));
            clips.push(Clip { name: format!("{dir}/{id}"), audio: read_wav(&wav)?, reference });
        }
    }
    Ok(clips)
}

/// Booking utterances as a caller would say them.
pub const BOOKING_SENTENCES: [&str; 12] = [
    "I need a flight from London to Paris",
    "On the twelfth of June",
    "One way please",
    "Two passengers",
    "The second one",
    "Yes please",
    "I would like a hotel in Barcelona for three nights",
    "Can you cancel my reservation",
    "What is the status of my booking",
    "I want to change the date of my trip",
    "No thanks that is all",
    "Can I speak to a person",
];

/// Synthesises `text` with espeak-ng into a 16 kHz mono clip.
pub fn espeak(text: &str, dir: &Path) -> anyhow::Result<Vec<f32>> {
    let file: PathBuf = dir.join(format!("espeak-{}.wav", uuid::Uuid::new_v4().simple()));
    let status = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "160", "-w"])
        .arg(&file)
        .arg(text)
        .status()
        .context("running espeak-ng (install the espeak-ng package: deploy/setup.sh does)")?;
    if !status.success() {
        bail!("espeak-ng failed on {text:?}");
    }
    let audio = read_wav(&file)?;
    let _ = std::fs::remove_file(&file);
    Ok(audio)
}

pub fn synthetic_clips() -> anyhow::Result<Vec<Clip>> {
    let dir = std::env::temp_dir();
    BOOKING_SENTENCES
        .iter()
        .enumerate()
        .map(|(i, s)| Ok(Clip { name: format!("espeak/{i:02}"), audio: espeak(s, &dir)?, reference: s.to_string() }))
        .collect()
}

/// The Whisper model the tests use: VOXBOOK_WHISPER_MODEL, else the one
/// `voxbook models install` puts in models/. Missing is an error that says
/// how to install it: the speech tests never pass silently without one.
pub fn model_path() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("VOXBOOK_WHISPER_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("models").join("ggml-tiny.en.bin"));
    if !path.is_file() {
        bail!("no Whisper model at {}: run `cargo run --bin voxbook -- models install`", path.display());
    }
    Ok(path)
}

/// Where speech begins in 16 kHz `audio`, in ms: the first 10 ms window
/// louder than -40 dBFS (espeak-ng clips open with a few ms of silence;
/// the VAD's reaction is measured from here).
pub fn onset_ms(audio: &[f32]) -> Option<u64> {
    const WINDOW: usize = 160;
    audio
        .chunks(WINDOW)
        .position(|w| (w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32).sqrt() >= 0.01)
        .map(|i| (i * 10) as u64)
}
