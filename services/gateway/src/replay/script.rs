//! The conversation script format (YAML), shared by `voxbook replay` and the
//! end-to-end tests: a session clock and a list of turns, each what the
//! user says and what must come back.
//!
//! A turn says what the user says in exactly one of three ways: `user:`
//! text (sent as a text turn), `say:` text synthesised by espeak-ng and sent
//! as audio, or `audio:` a WAV file (any rate, mono or stereo; a relative
//! path is relative to the script). Text may name the last booking made in
//! the conversation as `{ref}`, `{ref_spelled}` ("v x seven k two p", as ASR
//! writes spelled letters) or `{ref_nato}` ("victor x-ray seven ...").
//! This is a superset of the original `samples/conversations/` format, so
//! those scripts still load; their expectation keys are listed in
//! [`super::check`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use voxbook_audio::resample::StreamResampler;
use voxbook_audio::tts::TtsEngine;
use voxbook_audio::tts::espeak::EspeakEngine;

/// The sample rate everything is streamed at.
pub const SAMPLE_RATE: u32 = 16_000;

#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("parsing {path}: {source}")]
    Parse { path: PathBuf, source: serde_yaml_ng::Error },
    #[error("{path}: turn {turn}: {message}")]
    Turn { path: PathBuf, turn: usize, message: String },
    #[error("reading audio {path}: {source}")]
    Wav { path: PathBuf, source: hound::Error },
    #[error("audio {path}: {message}")]
    Audio { path: PathBuf, message: String },
    #[error("synthesising {text:?} with espeak-ng: {source}")]
    Tts { text: String, source: voxbook_audio::tts::TtsError },
    #[error("{0}")]
    Reference(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub name: String,
    /// The session clock (RFC 3339).
    pub now: String,
    pub turns: Vec<ScriptTurn>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptTurn {
    /// Text sent as a text turn.
    #[serde(default)]
    pub user: Option<String>,
    /// Text spoken by espeak-ng and sent as audio.
    #[serde(default)]
    pub say: Option<String>,
    /// A WAV file sent as audio (relative to the script).
    #[serde(default)]
    pub audio: Option<PathBuf>,
    #[serde(default)]
    pub expect: BTreeMap<String, Value>,
}

/// What a turn sends, as written in the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    Text(&'a str),
    Say(&'a str),
    Audio(&'a Path),
}

impl Input<'_> {
    /// `text`, `say` or `audio`, for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Text(_) => "text",
            Input::Say(_) => "say",
            Input::Audio(_) => "audio",
        }
    }

    pub fn is_audio(&self) -> bool {
        !matches!(self, Input::Text(_))
    }
}

impl ScriptTurn {
    /// The turn's one input; `None` when it has none or several.
    pub fn input(&self) -> Option<Input<'_>> {
        match (&self.user, &self.say, &self.audio) {
            (Some(text), None, None) => Some(Input::Text(text)),
            (None, Some(text), None) => Some(Input::Say(text)),
            (None, None, Some(path)) => Some(Input::Audio(path)),
            _ => None,
        }
    }
}

/// Reads and checks a script: every turn has exactly one input, and audio
/// paths are made absolute (relative to the script's directory).
pub fn load(path: &Path) -> Result<Script, ScriptError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read { path: path.into(), source })?;
    let mut script: Script =
        serde_yaml_ng::from_str(&text).map_err(|source| ScriptError::Parse { path: path.into(), source })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    for (i, turn) in script.turns.iter_mut().enumerate() {
        if turn.input().is_none() {
            return Err(ScriptError::Turn {
                path: path.into(),
                turn: i + 1,
                message: "give exactly one of `user` (text), `say` (text to synthesise) or `audio` (a WAV file)".into(),
            });
        }
        if let Some(audio) = turn.audio.as_mut()
            && audio.is_relative()
        {
            *audio = dir.join(&*audio);
        }
    }
    Ok(script)
}

/// The scripts named by `paths`: files as given, directories as their
/// `*.yaml` files sorted by name.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScriptError> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| ScriptError::Read { path: path.clone(), source })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn digit_word(c: char) -> Option<&'static str> {
    Some(match c {
        '0' => "zero",
        '1' => "one",
        '2' => "two",
        '3' => "three",
        '4' => "four",
        '5' => "five",
        '6' => "six",
        '7' => "seven",
        '8' => "eight",
        '9' => "nine",
        _ => return None,
    })
}

const NATO: [&str; 26] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima",
    "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "x-ray",
    "yankee", "zulu",
];

/// "VX7K2P" → "v x seven k two p"
pub fn spelled(code: &str) -> String {
    code.chars()
        .map(|c| digit_word(c).map(str::to_string).unwrap_or_else(|| c.to_ascii_lowercase().to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// "VX7K2P" → "victor x-ray seven kilo two papa"
pub fn nato(code: &str) -> String {
    code.chars()
        .map(|c| match digit_word(c) {
            Some(w) => w.to_string(),
            None => {
                let i = (c.to_ascii_lowercase() as u8).wrapping_sub(b'a') as usize;
                NATO.get(i).map(|w| w.to_string()).unwrap_or_else(|| c.to_string())
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `template` with `{ref}`, `{ref_spelled}` and `{ref_nato}` replaced by the
/// last booking reference of the conversation.
pub fn fill_ref(template: &str, last_ref: Option<&str>) -> Result<String, ScriptError> {
    if !template.contains("{ref") {
        return Ok(template.to_string());
    }
    let code = last_ref
        .ok_or_else(|| ScriptError::Reference(format!("'{template}' names a booking, but none was made yet")))?;
    Ok(template.replace("{ref_spelled}", &spelled(code)).replace("{ref_nato}", &nato(code)).replace("{ref}", code))
}

/// Mono samples at any rate → 16 kHz.
fn to_16k(samples: &[f32], rate: u32, path: &Path) -> Result<Vec<f32>, ScriptError> {
    let audio_error = |e: voxbook_audio::AudioError| ScriptError::Audio { path: path.into(), message: e.to_string() };
    let mut out = Vec::with_capacity(samples.len() * SAMPLE_RATE as usize / rate.max(1) as usize + 1);
    let mut resampler = StreamResampler::new(rate).map_err(audio_error)?;
    resampler.push(samples, &mut out).map_err(audio_error)?;
    resampler.flush(&mut out).map_err(audio_error)?;
    Ok(out)
}

/// Reads a WAV file (integer PCM of 8-32 bits or 32-bit float, any rate,
/// channels averaged) as 16 kHz mono samples in [-1, 1].
pub fn read_wav(path: &Path) -> Result<Vec<f32>, ScriptError> {
    let wav_error = |source| ScriptError::Wav { path: path.into(), source };
    let mut reader = hound::WavReader::open(path).map_err(wav_error)?;
    let spec = reader.spec();
    let raw: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>().map_err(wav_error)?,
        hound::SampleFormat::Int => {
            if !(8..=32).contains(&spec.bits_per_sample) {
                return Err(ScriptError::Audio {
                    path: path.into(),
                    message: format!("{}-bit samples are not supported", spec.bits_per_sample),
                });
            }
            let scale = (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader.samples::<i32>().map(|s| s.map(|v| v as f32 / scale)).collect::<Result<_, _>>().map_err(wav_error)?
        }
    };
    let channels = usize::from(spec.channels.max(1));
    let mono: Vec<f32> = raw.chunks(channels).map(|c| c.iter().sum::<f32>() / c.len() as f32).collect();
    to_16k(&mono, spec.sample_rate, path)
}

/// Speaks `text` with espeak-ng (out of process) as 16 kHz mono samples.
pub async fn synthesize(engine: &EspeakEngine, text: &str) -> Result<Vec<f32>, ScriptError> {
    let speech = engine.synthesize(text).await.map_err(|source| ScriptError::Tts { text: text.to_string(), source })?;
    to_16k(&speech.samples, speech.sample_rate, Path::new("<espeak-ng>"))
}

/// The voice `say:` turns are spoken in: espeak-ng's US English at 160
/// words a minute, which Whisper tiny.en hears well.
pub fn default_voice() -> EspeakEngine {
    EspeakEngine::new("en-us", 160)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spells_references_as_asr_writes_them() {
        assert_eq!(spelled("VX7K2P"), "v x seven k two p");
        assert_eq!(nato("VX7K2P"), "victor x-ray seven kilo two papa");
        assert_eq!(fill_ref("it's {ref_spelled}", Some("AB1")).ok().as_deref(), Some("it's a b one"));
        assert!(fill_ref("{ref}", None).is_err());
    }

    #[test]
    fn a_turn_has_exactly_one_input() {
        let yaml = "name: x\nnow: \"2030-06-03T09:00:00Z\"\nturns:\n  - user: hi\n  - say: hello\n  - audio: a.wav\n";
        let script: Script = serde_yaml_ng::from_str(yaml).expect("parses");
        let kinds: Vec<_> = script.turns.iter().filter_map(|t| t.input().map(|i| i.kind())).collect();
        assert_eq!(kinds, ["text", "say", "audio"]);
        let both = ScriptTurn { user: Some("a".into()), say: Some("b".into()), ..Default::default() };
        assert!(both.input().is_none());
        assert!(ScriptTurn::default().input().is_none());
    }
}
