//! The gateway's configuration, loaded once at start-up from a TOML file,
//! then environment variables, then command-line flags (each overriding
//! the one before), into one explicit [`Config`] that is passed down.
//! Nothing reads the environment after this.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;
use voxbook_audio::speech_stream::SpeechStreamConfig;
use voxbook_dialogue::tools::RetryPolicy;

/// Flags of `voxbook serve`; each also reads a `VOXBOOK_*` variable.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML config file.
    #[arg(long, env = "VOXBOOK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "VOXBOOK_LISTEN")]
    pub listen: Option<String>,
    /// Redis URL for sessions; in-process sessions when absent.
    #[arg(long, env = "VOXBOOK_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix for Redis keys.
    #[arg(long, env = "VOXBOOK_REDIS_PREFIX")]
    pub redis_prefix: Option<String>,
    /// Database of the in-process booking service (sqlite:// or postgres://).
    #[arg(long, env = "VOXBOOK_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Base URL of a remote booking service; in-process when absent.
    #[arg(long, env = "VOXBOOK_BOOKING_URL")]
    pub booking_url: Option<String>,
    /// Assistant config (YAML); the shipped travel assistant when absent.
    #[arg(long, env = "VOXBOOK_ASSISTANT")]
    pub assistant: Option<PathBuf>,
    /// API keys accepted on client routes, comma-separated.
    #[arg(long, env = "VOXBOOK_API_KEYS", value_delimiter = ',')]
    pub api_keys: Option<Vec<String>>,
    /// Tokens of the admin API (assistant config uploads), comma-separated;
    /// none turns the admin API off.
    #[arg(long, env = "VOXBOOK_ADMIN_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub admin_tokens: Option<Vec<String>>,
    /// Session time-to-live in seconds.
    #[arg(long, env = "VOXBOOK_SESSION_TTL_SECS")]
    pub session_ttl_secs: Option<u64>,
    /// Whisper model (ggml) for audio streams; models/ggml-tiny.en.bin when
    /// it exists, else audio is off.
    #[arg(long, env = "VOXBOOK_ASR_MODEL")]
    pub asr_model: Option<PathBuf>,
    /// Silence that ends an utterance, in ms.
    #[arg(long, env = "VOXBOOK_END_SILENCE_MS")]
    pub end_silence_ms: Option<u32>,
    /// How much faster than real time a client may send audio.
    #[arg(long, env = "VOXBOOK_AUDIO_MAX_SPEED")]
    pub audio_max_speed: Option<f32>,
    /// API key of an OpenAI-compatible speech endpoint (tts_engine = "openai").
    #[arg(long, env = "VOXBOOK_TTS_API_KEY", hide_env_values = true)]
    pub tts_api_key: Option<String>,
    /// Twilio auth tokens that sign Twilio's webhooks, comma-separated
    /// (the current one first; two while rotating).
    #[arg(long, env = "VOXBOOK_TWILIO_AUTH_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub twilio_auth_tokens: Option<Vec<String>>,
    /// Keep every spoken turn's audio here for QA (`voxbook replay --record`).
    #[arg(long, env = "VOXBOOK_RECORDINGS_DIR")]
    pub recordings_dir: Option<PathBuf>,
    /// The public base URL telephony providers call (https://voice.example.com),
    /// when a proxy in front changes the URL this server sees.
    #[arg(long, env = "VOXBOOK_PUBLIC_URL")]
    pub public_url: Option<String>,
}

/// The TOML file's shape; every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub redis_url: Option<String>,
    pub redis_prefix: Option<String>,
    pub database_url: Option<String>,
    pub booking_url: Option<String>,
    pub assistant: Option<PathBuf>,
    pub api_keys: Option<Vec<String>>,
    pub admin_tokens: Option<Vec<String>>,
    pub session_ttl_secs: Option<u64>,
    pub max_body_bytes: Option<usize>,
    pub tool_attempt_timeout_ms: Option<u64>,
    pub tool_budget_ms: Option<u64>,
    pub tool_max_attempts: Option<u32>,
    pub config_poll_ms: Option<u64>,
    pub asr_model: Option<PathBuf>,
    pub asr_decoders: Option<usize>,
    pub asr_threads: Option<usize>,
    pub vad_threshold: Option<f32>,
    pub min_speech_ms: Option<u32>,
    pub end_silence_ms: Option<u32>,
    pub max_utterance_ms: Option<u32>,
    pub audio_max_speed: Option<f32>,
    pub partial_interval_ms: Option<u64>,
    pub asr_fallback_below: Option<f32>,
    pub asr_prompt: Option<bool>,
    pub barge_in_min_speech_ms: Option<u32>,
    pub barge_in_vad_threshold: Option<f32>,
    pub tts_engine: Option<String>,
    pub tts_voice: Option<String>,
    pub tts_wpm: Option<u32>,
    pub tts_base_url: Option<String>,
    pub tts_model: Option<String>,
    pub tts_api_key: Option<String>,
    pub telephony: Option<TelephonyFile>,
    pub recordings_dir: Option<PathBuf>,
}

/// The `[telephony]` table of the TOML file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelephonyFile {
    pub twilio_auth_tokens: Option<Vec<String>>,
    pub public_url: Option<String>,
    pub answer_with: Option<AnswerWith>,
    pub min_confidence: Option<f32>,
    pub max_reasks: Option<u32>,
    pub transfer_number: Option<String>,
    pub say_voice: Option<String>,
    pub language: Option<String>,
    pub signature_tolerance_secs: Option<i64>,
    /// Secrets of generic JSON webhooks, by provider name.
    pub webhook_secrets: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

/// How an incoming call is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerWith {
    /// `<Gather input="speech dtmf">`: the provider recognises speech and
    /// posts each transcript; replies are `<Say>`s.
    #[default]
    Gather,
    /// `<Connect><Stream>`: the call's audio comes here over a Media
    /// Streams WebSocket, through our own ASR and TTS.
    Stream,
}

/// Phone calls: provider secrets and how calls are handled.
#[derive(Debug, Clone)]
pub struct TelephonyConfig {
    /// Tokens Twilio signs with; empty refuses every Twilio request.
    pub twilio_auth_tokens: Vec<String>,
    /// The base URL providers call, for rebuilding the URL they signed
    /// behind a proxy; None derives it from the request's Host header and
    /// `X-Forwarded-Proto`.
    pub public_url: Option<String>,
    pub answer_with: AnswerWith,
    /// Provider transcripts less confident than this are confirmed with
    /// the caller before the dialogue acts on them.
    pub min_confidence: f32,
    /// How often a call is asked again (after silence, a doubtful
    /// transcript or a "no" to "did you say...") before it is handed to a
    /// person.
    pub max_reasks: u32,
    /// Where `<Dial>` transfers a call on handoff; None ends the call
    /// politely instead.
    pub transfer_number: Option<String>,
    /// Twilio `<Say>` voice (e.g. "Polly.Joanna"); the provider's default
    /// when None.
    pub say_voice: Option<String>,
    /// Language for the provider's recogniser and voice.
    pub language: String,
    /// Generic webhooks older or newer than this are refused (replays).
    pub signature_tolerance_secs: i64,
    /// Secrets of generic JSON webhooks, by provider name; a provider not
    /// listed is refused.
    pub webhook_secrets: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for TelephonyConfig {
    fn default() -> Self {
        TelephonyConfig {
            twilio_auth_tokens: Vec::new(),
            public_url: None,
            answer_with: AnswerWith::Gather,
            min_confidence: 0.5,
            max_reasks: 2,
            transfer_number: None,
            say_voice: None,
            language: "en-US".into(),
            signature_tolerance_secs: 300,
            webhook_secrets: Default::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    /// In-process booking service database; SQLite file by default.
    pub database_url: String,
    pub booking_url: Option<String>,
    pub assistant: Option<PathBuf>,
    /// Empty means authentication is off (loopback only).
    pub api_keys: Vec<String>,
    /// Tokens of the admin API; empty turns it off (its routes answer 404).
    pub admin_tokens: Vec<String>,
    pub session_ttl: Duration,
    pub max_body_bytes: usize,
    pub retry: RetryPolicy,
    /// How often the assistant file is checked for changes; None disables
    /// hot reload.
    pub config_poll: Option<Duration>,
    pub asr: AsrConfig,
    pub tts: TtsConfig,
    pub telephony: TelephonyConfig,
    /// Where spoken turns are recorded (QA and staging only); None keeps
    /// no audio.
    pub recordings_dir: Option<PathBuf>,
}

/// Speech synthesis for spoken replies.
#[derive(Debug, Clone)]
pub struct TtsConfig {
    /// "espeak" (the embedded default, run out of process), "openai" (any
    /// OpenAI-compatible speech endpoint) or "none".
    pub engine: String,
    pub voice: String,
    pub words_per_minute: u32,
    /// For "openai": the API base (`https://api.openai.com/v1`), model and key.
    pub base_url: String,
    pub model: String,
    pub api_key: String,
}

impl Default for TtsConfig {
    fn default() -> Self {
        TtsConfig {
            engine: "espeak".into(),
            voice: "en-us".into(),
            words_per_minute: 170,
            base_url: "https://api.openai.com/v1".into(),
            model: "gpt-4o-mini-tts".into(),
            api_key: String::new(),
        }
    }
}

impl TtsConfig {
    /// The configured engine, or None when synthesis is off.
    pub fn engine(&self) -> Option<std::sync::Arc<dyn voxbook_audio::tts::TtsEngine>> {
        match self.engine.as_str() {
            "espeak" => Some(std::sync::Arc::new(voxbook_audio::tts::espeak::EspeakEngine::new(
                &self.voice,
                self.words_per_minute,
            ))),
            "openai" => Some(std::sync::Arc::new(voxbook_audio::tts::openai::OpenAiEngine::new(
                &self.base_url,
                &self.api_key,
                &self.model,
                &self.voice,
            ))),
            _ => None,
        }
    }
}

/// Speech recognition for audio streams.
#[derive(Debug, Clone)]
pub struct AsrConfig {
    /// None: audio streams are refused with `audio_unavailable`.
    pub model: Option<PathBuf>,
    /// Decoder states decoding at once.
    pub decoders: usize,
    /// Threads per decode.
    pub threads: usize,
    /// Token probability under which a final transcript is decoded again
    /// with the full window (0 turns the fallback off).
    pub fallback_below: f32,
    /// Prompt Whisper with what the dialogue expects next (the awaited
    /// slot's answers, the cities mentioned); see samples/spoken/README.md
    /// for what it does to accuracy.
    pub prompt: bool,
    pub stream: SpeechStreamConfig,
}

/// Where `voxbook models install` puts the default model.
pub const DEFAULT_ASR_MODEL: &str = "models/ggml-tiny.en.bin";

impl Default for AsrConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        AsrConfig {
            model: None,
            decoders: 1,
            threads: cores.clamp(1, 4),
            fallback_below: voxbook_audio::recognizer::DEFAULT_FALLBACK_BELOW,
            prompt: true,
            stream: SpeechStreamConfig::default(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            redis_url: None,
            redis_prefix: "voxbook:".into(),
            database_url: "sqlite://voxbook-booking.db".into(),
            booking_url: None,
            assistant: None,
            api_keys: Vec::new(),
            admin_tokens: Vec::new(),
            session_ttl: Duration::from_secs(30 * 60),
            max_body_bytes: 64 * 1024,
            retry: RetryPolicy::default(),
            config_poll: Some(Duration::from_secs(2)),
            asr: AsrConfig::default(),
            tts: TtsConfig::default(),
            telephony: TelephonyConfig::default(),
            recordings_dir: None,
        }
    }
}

impl Config {
    /// File, then environment and flags (clap has merged those two).
    pub fn load(args: &ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let mut c = Config::default();
        let listen = args.listen.clone().or(file.listen);
        if let Some(listen) = listen {
            c.listen = listen.parse().with_context(|| format!("--listen '{listen}' is not HOST:PORT"))?;
        }
        c.redis_url = args.redis_url.clone().or(file.redis_url).filter(|u| !u.is_empty());
        if let Some(prefix) = args.redis_prefix.clone().or(file.redis_prefix) {
            c.redis_prefix = prefix;
        }
        if let Some(db) = args.database_url.clone().or(file.database_url) {
            c.database_url = db;
        }
        c.booking_url = args.booking_url.clone().or(file.booking_url).filter(|u| !u.is_empty());
        c.assistant = args.assistant.clone().or(file.assistant);
        c.api_keys = args
            .api_keys
            .clone()
            .or(file.api_keys)
            .unwrap_or_default()
            .into_iter()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        c.admin_tokens = args
            .admin_tokens
            .clone()
            .or(file.admin_tokens)
            .unwrap_or_default()
            .into_iter()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        if let Some(ttl) = args.session_ttl_secs.or(file.session_ttl_secs) {
            c.session_ttl = Duration::from_secs(ttl);
        }
        if let Some(n) = file.max_body_bytes {
            c.max_body_bytes = n;
        }
        if let Some(ms) = file.tool_attempt_timeout_ms {
            c.retry.attempt_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = file.tool_budget_ms {
            c.retry.budget = Duration::from_millis(ms);
        }
        if let Some(n) = file.tool_max_attempts {
            c.retry.max_attempts = n;
        }
        if let Some(ms) = file.config_poll_ms {
            c.config_poll = (ms > 0).then(|| Duration::from_millis(ms));
        }
        c.asr.model = match args.asr_model.clone().or(file.asr_model) {
            Some(path) if path.as_os_str().is_empty() => None,
            Some(path) => Some(path),
            None => Some(PathBuf::from(DEFAULT_ASR_MODEL)).filter(|p| p.is_file()),
        };
        if let Some(n) = file.asr_decoders {
            c.asr.decoders = n;
        }
        if let Some(n) = file.asr_threads {
            c.asr.threads = n;
        }
        let endpoint = &mut c.asr.stream.endpoint;
        if let Some(v) = file.vad_threshold {
            endpoint.threshold = v;
        }
        if let Some(v) = file.min_speech_ms {
            endpoint.min_speech_ms = v;
        }
        if let Some(v) = file.barge_in_min_speech_ms {
            endpoint.barge_in_ms = v;
        }
        if let Some(v) = file.barge_in_vad_threshold {
            endpoint.barge_in_threshold = v;
        }
        if let Some(v) = args.end_silence_ms.or(file.end_silence_ms) {
            endpoint.end_silence_ms = v;
        }
        if let Some(v) = file.max_utterance_ms {
            endpoint.max_utterance_ms = v;
        }
        if let Some(v) = args.audio_max_speed.or(file.audio_max_speed) {
            c.asr.stream.max_speed = v;
        }
        if let Some(engine) = file.tts_engine {
            c.tts.engine = engine;
        }
        if let Some(voice) = file.tts_voice {
            c.tts.voice = voice;
        }
        if let Some(wpm) = file.tts_wpm {
            c.tts.words_per_minute = wpm;
        }
        if let Some(url) = file.tts_base_url {
            c.tts.base_url = url;
        }
        if let Some(model) = file.tts_model {
            c.tts.model = model;
        }
        if let Some(key) = args.tts_api_key.clone().or(file.tts_api_key) {
            c.tts.api_key = key;
        }
        if let Some(p) = file.asr_fallback_below {
            c.asr.fallback_below = p;
        }
        if let Some(on) = file.asr_prompt {
            c.asr.prompt = on;
        }
        if let Some(ms) = file.partial_interval_ms {
            c.asr.stream.partial_interval = Duration::from_millis(ms);
        }
        c.recordings_dir = args.recordings_dir.clone().or(file.recordings_dir).filter(|p| !p.as_os_str().is_empty());
        let phone = file.telephony.unwrap_or_default();
        let t = &mut c.telephony;
        t.twilio_auth_tokens = args
            .twilio_auth_tokens
            .clone()
            .or(phone.twilio_auth_tokens)
            .unwrap_or_default()
            .into_iter()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        t.public_url = args
            .public_url
            .clone()
            .or(phone.public_url)
            .map(|u| u.trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty());
        if let Some(v) = phone.answer_with {
            t.answer_with = v;
        }
        if let Some(v) = phone.min_confidence {
            t.min_confidence = v;
        }
        if let Some(v) = phone.max_reasks {
            t.max_reasks = v;
        }
        t.transfer_number = phone.transfer_number.filter(|n| !n.trim().is_empty());
        t.say_voice = phone.say_voice.filter(|v| !v.trim().is_empty());
        if let Some(v) = phone.language {
            t.language = v;
        }
        if let Some(v) = phone.signature_tolerance_secs {
            t.signature_tolerance_secs = v;
        }
        if let Some(v) = phone.webhook_secrets {
            t.webhook_secrets = v;
        }
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> anyhow::Result<()> {
        if !self.listen.ip().is_loopback() && self.api_keys.is_empty() {
            bail!(
                "refusing to listen on {} without API keys: set VOXBOOK_API_KEYS (or api_keys in the config file), or listen on a loopback address",
                self.listen
            );
        }
        if self.admin_tokens.iter().any(|t| self.api_keys.contains(t)) {
            bail!("an admin token must not also be an API key");
        }
        if self.session_ttl < Duration::from_secs(10) {
            bail!("session TTL must be at least 10 seconds");
        }
        if self.retry.max_attempts == 0 {
            bail!("tool_max_attempts must be at least 1");
        }
        if self.max_body_bytes < 1024 {
            bail!("max_body_bytes must be at least 1024");
        }
        self.asr.stream.endpoint.check().map_err(|e| anyhow::anyhow!("audio endpointing: {e}"))?;
        if !matches!(self.tts.engine.as_str(), "espeak" | "openai" | "none") {
            bail!("tts_engine must be \"espeak\", \"openai\" or \"none\"");
        }
        let t = &self.telephony;
        if !(0.0..=1.0).contains(&t.min_confidence) {
            bail!("telephony.min_confidence must be between 0 and 1");
        }
        if !(1..=3600).contains(&t.signature_tolerance_secs) {
            bail!("telephony.signature_tolerance_secs must be between 1 and 3600");
        }
        if let Some(url) = &t.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            bail!("telephony.public_url must start with https:// or http://");
        }
        if let Some((provider, _)) = t.webhook_secrets.iter().find(|(_, s)| s.iter().all(|s| s.trim().is_empty())) {
            bail!("telephony.webhook_secrets.{provider} has no secret");
        }
        if !(0.0..=1.0).contains(&self.asr.fallback_below) {
            bail!("asr_fallback_below must be between 0 and 1");
        }
        if !(1.0..=100.0).contains(&self.asr.stream.max_speed) {
            bail!("audio_max_speed must be between 1 and 100");
        }
        if self.asr.decoders == 0 || self.asr.decoders > 64 || self.asr.threads == 0 || self.asr.threads > 64 {
            bail!("asr_decoders and asr_threads must be between 1 and 64");
        }
        if let Some(model) = &self.asr.model
            && !model.is_file()
        {
            bail!("no Whisper model at {} (run `voxbook models install`)", model.display());
        }
        Ok(())
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_loopback_without_keys() {
        let c = Config::load(&ServeArgs::default()).unwrap();
        assert!(c.listen.ip().is_loopback());
        assert!(c.api_keys.is_empty());
        assert!(c.redis_url.is_none());
    }

    #[test]
    fn public_listen_requires_keys() {
        let args = ServeArgs { listen: Some("0.0.0.0:8080".into()), ..Default::default() };
        let err = Config::load(&args).unwrap_err().to_string();
        assert!(err.contains("without API keys"), "{err}");
        let args =
            ServeArgs { listen: Some("0.0.0.0:8080".into()), api_keys: Some(vec!["k1".into()]), ..Default::default() };
        assert!(Config::load(&args).is_ok());
    }

    #[test]
    fn the_shipped_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/voxbook.toml");
        let file = read_file(&path).unwrap();
        let phone = file.telephony.unwrap();
        assert_eq!(phone.answer_with, Some(AnswerWith::Gather));
        assert_eq!(phone.max_reasks, Some(2));
    }

    #[test]
    fn telephony_settings_are_checked() {
        let dir = std::env::temp_dir().join(format!("voxbook-phone-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("voxbook.toml");
        std::fs::write(&path, "[telephony]\nanswer_with = \"stream\"\npublic_url = \"https://voice.example.com/\"\n")
            .unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            twilio_auth_tokens: Some(vec![" t1 ".into(), "".into()]),
            ..Default::default()
        };
        let c = Config::load(&args).unwrap();
        assert_eq!(c.telephony.answer_with, AnswerWith::Stream);
        assert_eq!(c.telephony.public_url.as_deref(), Some("https://voice.example.com"));
        assert_eq!(c.telephony.twilio_auth_tokens, ["t1"]);
        std::fs::write(&path, "[telephony]\nmin_confidence = 1.5\n").unwrap();
        let err = Config::load(&ServeArgs { config: Some(path.clone()), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("min_confidence"), "{err}");
        std::fs::write(&path, "[telephony]\npublic_url = \"voice.example.com\"\n").unwrap();
        assert!(Config::load(&ServeArgs { config: Some(path), ..Default::default() }).is_err());
    }

    #[test]
    fn admin_tokens_are_trimmed_and_never_api_keys() {
        let args = ServeArgs { admin_tokens: Some(vec![" a1 ".into(), "".into()]), ..Default::default() };
        assert_eq!(Config::load(&args).unwrap().admin_tokens, ["a1"]);
        let args = ServeArgs { api_keys: Some(vec!["a1".into()]), ..args };
        assert!(Config::load(&args).unwrap_err().to_string().contains("admin token"));
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("voxbook-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("voxbook.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nsession_ttl_secs = 60\n").unwrap();
        let args =
            ServeArgs { config: Some(path.clone()), listen: Some("127.0.0.1:9100".into()), ..Default::default() };
        let c = Config::load(&args).unwrap();
        assert_eq!(c.listen.port(), 9100);
        assert_eq!(c.session_ttl, Duration::from_secs(60));
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        assert!(Config::load(&ServeArgs { config: Some(path), ..Default::default() }).is_err());
    }
}
