//! The converted Whisper model against the original.
//!
//! "A converted model must give the same transcripts as the original":
//! `fixtures/ct2_reference.json` holds what the original CTranslate2 model
//! transcribes for real recordings from Debian's `pocketsphinx-testdata`
//! (made by `audio/scripts/ct2_reference.py`); these tests transcribe the
//! same clips with the converted ggml model through whisper-rs, with the
//! matching decode (greedy, no timestamps, no fallback, full window), and
//! compare lowercase words without punctuation, numbers as the models write
//! them.
//!
//! The model is `$VOXBOOK_WHISPER_MODEL` or `<repo>/models/ggml-tiny.en.bin`.
//! Without one the tests fail and say how to install it: a skipped check
//! would pass for the wrong reason.
//!
//! Ignored helpers, run by hand:
//! - `install_default_model`: `models::install` into `<repo>/models`.
//! - `measure_decode_times`: conversion-free timings, full vs fast window.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use voxbook_audio::asr::whisper::{DecodeOptions, WhisperModel};
use voxbook_audio::models::{self, DEFAULT_MODEL_FILE, normalise_transcript};

/// Decoding tests take turns: two at once would put 2 × threads spinning
/// ggml workers on the cores and slow both down several times.
static DECODING: Mutex<()> = Mutex::new(());

const TESTDATA_HINT: &str = "install Debian's pocketsphinx-testdata (apt-get install pocketsphinx-testdata)";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

fn model_path() -> PathBuf {
    match std::env::var_os("VOXBOOK_WHISPER_MODEL") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root().join(models::DEFAULT_MODELS_DIR).join(DEFAULT_MODEL_FILE),
    }
}

fn require_model() -> PathBuf {
    let path = model_path();
    assert!(
        path.is_file(),
        "no converted Whisper model at {}.\nInstall it first: `voxbook models install` from the repository root \
         (or `cargo test -p voxbook-audio --test converted_model -- --ignored install_default_model`), \
         or point VOXBOOK_WHISPER_MODEL at a converted ggml model.",
        path.display()
    );
    path
}

struct Fixture {
    testdata: PathBuf,
    clips: BTreeMap<String, String>,
}

fn fixture() -> Fixture {
    let path = repo_root().join("audio/tests/fixtures/ct2_reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    let testdata = PathBuf::from(json["testdata"].as_str().expect("testdata path"));
    let clips = json["clips"]
        .as_object()
        .expect("clips")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("transcript").to_owned()))
        .collect::<BTreeMap<_, _>>();
    assert!(clips.len() >= 10, "fixture has {} clips", clips.len());
    Fixture { testdata, clips }
}

/// 16 kHz mono 16-bit audio: `.raw` (s16le) or a PCM `.wav`.
fn load_clip(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}; {TESTDATA_HINT}", path.display()));
    let pcm: &[u8] = if path.extension().is_some_and(|e| e == "wav") { wav_pcm(&bytes, path) } else { &bytes };
    pcm.chunks_exact(2).map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0).collect()
}

/// The `data` chunk of a 16 kHz, mono, 16-bit PCM WAV file.
fn wav_pcm<'a>(bytes: &'a [u8], path: &Path) -> &'a [u8] {
    assert!(bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE", "{}: not WAV", path.display());
    let mut pos = 12;
    let mut format_ok = false;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = &bytes[pos + 8..(pos + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
            let rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
            format_ok = u16_at(0) == 1 && u16_at(2) == 1 && rate == 16_000 && u16_at(14) == 16;
        } else if id == b"data" {
            assert!(format_ok, "{}: not 16 kHz mono 16-bit PCM", path.display());
            return body;
        }
        pos += 8 + len + (len & 1);
    }
    panic!("{}: no data chunk", path.display());
}

/// Word-level edit distance.
fn word_errors(reference: &str, hypothesis: &str) -> usize {
    let r: Vec<&str> = reference.split_whitespace().collect();
    let h: Vec<&str> = hypothesis.split_whitespace().collect();
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(rw != hw)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[h.len()]
}

fn threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(4)
}

/// Transcribes every fixture clip; returns (clip, reference, ours, seconds of audio, decode time).
fn transcribe_all(model: &WhisperModel, fx: &Fixture, opts_for: impl Fn(f32) -> DecodeOptions) -> Vec<Row> {
    fx.clips
        .iter()
        .map(|(clip, reference)| {
            let audio = load_clip(&fx.testdata.join(clip));
            let secs = audio.len() as f32 / 16_000.0;
            let t = model.transcribe(&audio, &opts_for(secs)).unwrap_or_else(|e| panic!("{clip}: {e}"));
            Row { clip: clip.clone(), reference: reference.clone(), ours: t.text, secs, elapsed: t.elapsed }
        })
        .collect()
}

struct Row {
    clip: String,
    reference: String,
    ours: String,
    secs: f32,
    elapsed: Duration,
}

#[test]
fn converted_model_transcribes_like_the_ctranslate2_original() {
    let path = require_model();
    let _turn = DECODING.lock().unwrap_or_else(|p| p.into_inner());
    let fx = fixture();
    let model = WhisperModel::load(&path).expect("the converted model loads");
    let rows = transcribe_all(&model, &fx, |_| DecodeOptions {
        threads: threads(),
        no_fallback: true,
        ..DecodeOptions::full_window()
    });

    let mut differing = Vec::new();
    let (mut errors, mut words) = (0, 0);
    for r in &rows {
        let (want, got) = (normalise_transcript(&r.reference), normalise_transcript(&r.ours));
        println!("{:<58} {:>5.2}s  ct2: {want}\n{:<66} ggml: {got}", r.clip, r.elapsed.as_secs_f32(), "");
        words += want.split_whitespace().count();
        if want != got {
            errors += word_errors(&want, &got);
            differing.push(format!("{}: ct2 {want:?} vs ggml {got:?}", r.clip));
        }
    }
    // Identical on every clip when measured (13 clips, 2 threads). f16
    // weights in both, but CTranslate2 computes in f32 where whisper.cpp
    // rounds activations to f16 for its matrix products, so a near-tie
    // between two tokens could flip on another CPU or thread count: allow at
    // most one differing clip, within 1 word error per 50 reference words.
    println!("{} of {} clips differ; {errors} word errors in {words} words", differing.len(), rows.len());
    assert!(
        differing.len() <= 1 && errors * 50 <= words,
        "the converted model disagrees with the original:\n{}",
        differing.join("\n")
    );
}

#[test]
fn fast_window_agrees_with_the_full_window() {
    let path = require_model();
    let _turn = DECODING.lock().unwrap_or_else(|p| p.into_inner());
    let fx = fixture();
    let model = WhisperModel::load(&path).expect("the converted model loads");
    let rows =
        transcribe_all(&model, &fx, |secs| DecodeOptions { threads: threads(), ..DecodeOptions::fast_for(secs) });
    let (mut errors, mut words) = (0, 0);
    for r in &rows {
        let (want, got) = (normalise_transcript(&r.reference), normalise_transcript(&r.ours));
        println!("{:<58} fast: {got}", r.clip);
        words += want.split_whitespace().count();
        errors += word_errors(&want, &got);
        // The guard against repetition loops.
        let n = got.split_whitespace().count();
        assert!(n <= (6.0 * r.secs) as usize + 8, "{}: {n} words from {:.1} s: {got:?}", r.clip, r.secs);
    }
    // Measured: 8 word errors in 103 words against the full-window reference
    // ("8" for "eight", "close" for "clubs"), on par with the full window's
    // own error rate against what was said. 15% catches a broken window.
    println!("fast window vs CTranslate2: {errors} word errors in {words} words");
    assert!(
        errors * 100 <= words * 15,
        "the fast window drifts from the full decode: {errors} errors in {words} words"
    );
}
