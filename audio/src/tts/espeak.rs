//! [`EspeakEngine`]: speech from the `espeak-ng` program.
//!
//! Licensing: espeak-ng is GPL-3.0. voxbook never links it (no bindings, no
//! `libespeak-ng`): the engine runs the separate `espeak-ng` executable
//! and talks to it over pipes only, text on stdin and a WAV file on stdout.
//! Keep it that way; linking would put the whole binary under the GPL.
//!
//! The text goes to the program on stdin (`--stdin`), never through a
//! shell and never as an argument, so text that starts with `-` cannot be
//! read as an option. Text is bounded in length, control characters are
//! replaced by spaces, and each run has a timeout; the child is killed if
//! the run is dropped or times out.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{SpeechAudio, TtsEngine, TtsError};

/// The longest text one call accepts, in characters. Replies are split into
/// chunks of about a sentence first (see [`super::split`]).
pub const DEFAULT_MAX_TEXT_CHARS: usize = 2_000;

/// How long one synthesis may take before the child is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct EspeakEngine {
    /// espeak-ng voice name, e.g. `en-us` (letters, digits, `-`, `_`, `+`).
    pub voice: String,
    /// Speaking rate (espeak-ng's `-s`); clamped to 80..=450.
    pub words_per_minute: u32,
    /// The program to run; `espeak-ng` is looked up on `PATH`.
    pub program: PathBuf,
    pub timeout: Duration,
    pub max_text_chars: usize,
}

impl Default for EspeakEngine {
    fn default() -> Self {
        EspeakEngine {
            voice: "en-us".to_string(),
            words_per_minute: 170,
            program: PathBuf::from("espeak-ng"),
            timeout: DEFAULT_TIMEOUT,
            max_text_chars: DEFAULT_MAX_TEXT_CHARS,
        }
    }
}

impl EspeakEngine {
    pub fn new(voice: impl Into<String>, words_per_minute: u32) -> EspeakEngine {
        EspeakEngine { voice: voice.into(), words_per_minute, ..EspeakEngine::default() }
    }

    /// The arguments for one run (the text itself goes on stdin).
    fn args(&self) -> Result<Vec<String>, TtsError> {
        let voice_ok = !self.voice.is_empty()
            && !self.voice.starts_with('-')
            && self.voice.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+'));
        if !voice_ok {
            return Err(TtsError::InvalidConfig(format!("invalid voice name {:?}", self.voice)));
        }
        let wpm = self.words_per_minute.clamp(80, 450);
        Ok(vec![
            "-v".into(),
            self.voice.clone(),
            "-s".into(),
            wpm.to_string(),
            "-b".into(),
            "1".into(),
            "--stdout".into(),
            "--stdin".into(),
        ])
    }
}

/// Checks the length and makes the text safe to hand to the program:
/// control characters (newlines included) become spaces.
pub fn prepare_text(text: &str, max_chars: usize) -> Result<String, TtsError> {
    let cleaned: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        return Err(TtsError::EmptyText);
    }
    let len = cleaned.chars().count();
    if len > max_chars {
        return Err(TtsError::TextTooLong { len, max: max_chars });
    }
    Ok(cleaned.to_string())
}

#[async_trait]
impl TtsEngine for EspeakEngine {
    async fn synthesize(&self, text: &str) -> Result<SpeechAudio, TtsError> {
        let text = prepare_text(text, self.max_text_chars)?;
        let args = self.args()?;
        let mut child = Command::new(&self.program)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    TtsError::EngineMissing { program: self.program.display().to_string() }
                } else {
                    TtsError::Spawn(e)
                }
            })?;
        let mut stdin = child.stdin.take().ok_or_else(|| TtsError::Io(std::io::Error::other("no stdin pipe")))?;
        let run = async move {
            // Feed stdin while stdout is being read, so neither pipe can fill
            // up and stall the other; closing stdin ends the text.
            let write = async move {
                stdin.write_all(text.as_bytes()).await?;
                stdin.shutdown().await
            };
            let (written, output) = tokio::join!(write, child.wait_with_output());
            (written, output)
        };
        let (written, output) =
            tokio::time::timeout(self.timeout, run).await.map_err(|_| TtsError::Timeout(self.timeout))?;
        let output = output.map_err(TtsError::Io)?;
        if !output.status.success() {
            return Err(TtsError::EngineFailed {
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().chars().take(500).collect(),
            });
        }
        // A write error with a successful exit (the program closed stdin
        // early) is only worth reporting if no audio came back.
        let audio = parse_wav(&output.stdout);
        match (audio, written) {
            (Ok(audio), _) => Ok(audio),
            (Err(_), Err(e)) => Err(TtsError::Io(e)),
            (Err(e), Ok(())) => Err(e),
        }
    }

    fn name(&self) -> &str {
        "espeak-ng"
    }
}

/// Parses a RIFF/WAVE file of 16-bit mono PCM.
///
/// Programs that stream their WAV to a pipe cannot seek back to fill in the
/// sizes, so the RIFF and `data` sizes may be 0, 0xFFFFFFFF or any other
/// placeholder (espeak-ng writes 0x7FFFF000). A `data` size of 0 or one
/// larger than what follows means "to the end of the input".
pub fn parse_wav(bytes: &[u8]) -> Result<SpeechAudio, TtsError> {
    let bad = |m: &str| TtsError::BadAudio(m.to_string());
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a RIFF/WAVE file"));
    }
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let mut pos = 12;
    let mut format: Option<u32> = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let declared = u32_at(pos + 4) as usize;
        let body = pos + 8;
        let remaining = bytes.len() - body;
        if id == b"fmt " {
            if declared < 16 || remaining < 16 {
                return Err(bad("fmt chunk too short"));
            }
            let (audio_format, channels, rate, bits) =
                (u16_at(body), u16_at(body + 2), u32_at(body + 4), u16_at(body + 14));
            // 0xFFFE is WAVE_FORMAT_EXTENSIBLE; with 16 bits and one channel
            // it is plain PCM for our purposes.
            if audio_format != 1 && audio_format != 0xFFFE {
                return Err(TtsError::BadAudio(format!("unsupported WAV format tag {audio_format}")));
            }
            if channels != 1 || bits != 16 {
                return Err(TtsError::BadAudio(format!("need 16-bit mono, got {bits}-bit with {channels} channels")));
            }
            if rate == 0 {
                return Err(bad("sample rate 0"));
            }
            format = Some(rate);
        } else if id == b"data" {
            let Some(sample_rate) = format else { return Err(bad("data chunk before fmt chunk")) };
            let len = if declared == 0 || declared > remaining { remaining } else { declared };
            let samples = bytes[body..body + len]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
                .collect();
            return Ok(SpeechAudio { samples, sample_rate });
        }
        if declared > remaining {
            break;
        }
        // Chunks are padded to an even length.
        pos = body + declared + (declared & 1);
    }
    Err(bad("no data chunk"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, bits: u16, data_size: u32, samples: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        v.extend_from_slice(b"WAVE");
        v.extend_from_slice(b"fmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        v.extend_from_slice(&(rate * 2).to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&data_size.to_le_bytes());
        for s in samples {
            v.extend_from_slice(&s.to_le_bytes());
        }
        v
    }

    #[test]
    fn parses_exact_and_streaming_sizes() {
        let samples = [0i16, 16384, -16384, 32767];
        for size in [8u32, 0, 0xFFFF_FFFF, 0x7FFF_F000] {
            let audio = parse_wav(&wav(22_050, 1, 16, size, &samples)).unwrap();
            assert_eq!(audio.sample_rate, 22_050);
            assert_eq!(audio.samples.len(), 4, "size {size:#x}");
            assert_eq!(audio.samples[1], 0.5);
            assert_eq!(audio.samples[2], -0.5);
        }
        // A declared size shorter than the rest is honoured.
        let audio = parse_wav(&wav(16_000, 1, 16, 4, &samples)).unwrap();
        assert_eq!(audio.samples.len(), 2);
    }

    #[test]
    fn skips_unknown_chunks_with_padding() {
        let mut v = wav(8_000, 1, 16, 4, &[100, -100]);
        // Insert an odd-sized LIST chunk (padded) between fmt and data.
        let data_at = v.len() - 12;
        let mut list = b"LIST".to_vec();
        list.extend_from_slice(&3u32.to_le_bytes());
        list.extend_from_slice(&[1, 2, 3, 0]);
        v.splice(data_at..data_at, list);
        let audio = parse_wav(&v).unwrap();
        assert_eq!(audio.samples.len(), 2);
        assert_eq!(audio.samples[0], 100.0 / 32768.0);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(matches!(parse_wav(b"hello"), Err(TtsError::BadAudio(_))));
        assert!(parse_wav(&wav(16_000, 2, 16, 0, &[1, 2])).is_err());
        assert!(parse_wav(&wav(16_000, 1, 8, 0, &[1, 2])).is_err());
        let header_only = wav(16_000, 1, 16, 0, &[]);
        assert!(parse_wav(&header_only[..36]).is_err());
    }

    #[test]
    fn prepares_text() {
        assert_eq!(prepare_text("  a\nb\0c ", 10).unwrap(), "a b c");
        assert!(matches!(prepare_text(" \n ", 10), Err(TtsError::EmptyText)));
        assert!(matches!(prepare_text("abcdef", 5), Err(TtsError::TextTooLong { len: 6, max: 5 })));
        assert_eq!(prepare_text("-v fr", 10).unwrap(), "-v fr");
    }

    #[test]
    fn refuses_bad_voices() {
        for voice in ["", "--stdout", "en us", "en;rm"] {
            assert!(matches!(EspeakEngine::new(voice, 170).args(), Err(TtsError::InvalidConfig(_))), "{voice:?}");
        }
        assert!(EspeakEngine::new("en-us+f3", 170).args().is_ok());
    }

    fn espeak_installed() -> bool {
        std::process::Command::new("espeak-ng").arg("--version").output().is_ok_and(|o| o.status.success())
    }

    #[tokio::test]
    async fn synthesizes_a_sentence() {
        if !espeak_installed() {
            eprintln!("espeak-ng not installed; skipping");
            return;
        }
        let engine = EspeakEngine::default();
        assert_eq!(engine.name(), "espeak-ng");
        let audio = engine.synthesize("Your flight is booked.").await.unwrap();
        let secs = audio.duration_secs();
        eprintln!("{} Hz, {secs:.2} s, rms {:.3}", audio.sample_rate, audio.rms());
        assert!((0.5..=4.0).contains(&secs), "duration {secs}");
        assert!(audio.rms() > 0.01, "rms {}", audio.rms());
        assert!(audio.samples.iter().all(|s| (-1.0..=1.0).contains(s)));
    }

    #[tokio::test]
    async fn text_starting_with_a_dash_is_spoken_not_parsed() {
        if !espeak_installed() {
            return;
        }
        let audio = EspeakEngine::default().synthesize("--version").await.unwrap();
        assert!(audio.duration_secs() > 0.2);
        assert!(audio.rms() > 0.01);
    }

    #[tokio::test]
    async fn a_missing_program_is_a_clear_error() {
        let engine = EspeakEngine { program: PathBuf::from("/nonexistent/espeak-ng"), ..EspeakEngine::default() };
        let err = engine.synthesize("hello").await.unwrap_err();
        assert!(matches!(err, TtsError::EngineMissing { .. }), "{err}");
        assert!(err.to_string().contains("not found"));
    }

    #[tokio::test]
    async fn a_hanging_program_times_out() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("voxbook-tts-hang-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("hang.sh");
        std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let engine = EspeakEngine { program: script, timeout: Duration::from_millis(300), ..EspeakEngine::default() };
        let started = std::time::Instant::now();
        // A freshly written executable can briefly be "text file busy" while
        // another test thread forks; retry the spawn.
        let mut result = engine.synthesize("hello").await;
        for _ in 0..10 {
            if !matches!(result, Err(TtsError::Spawn(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            result = engine.synthesize("hello").await;
        }
        assert!(matches!(result, Err(TtsError::Timeout(_))), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
