//! Whisper speech recognition through whisper-rs (whisper.cpp).
//!
//! [`WhisperModel`] loads a ggml model once and is shared (`Send + Sync`,
//! put it in an `Arc`). Decoding needs a whisper.cpp state (decoder
//! buffers, KV caches: about 0.01-0.05 s to create and some tens of MB for
//! tiny.en): [`WhisperModel::transcribe`] makes one per call;
//! [`WhisperModel::new_state`] + [`WhisperModel::transcribe_in`] let a
//! caller keep a pool of [`DecoderState`]s instead. One state decodes one
//! clip at a time (`&mut`); different states run in parallel.
//!
//! whisper.cpp's log lines are routed into `tracing` (targets
//! `whisper_rs::whisper_logging_hook` and `whisper_rs::ggml_logging_hook`)
//! instead of stderr.
//!
//! Two decoding set-ups are provided:
//! - [`DecodeOptions::full_window`]: whisper.cpp's defaults: the encoder
//!   sees the whole 30 s window whatever the clip's length (about 0.85 s
//!   per utterance for tiny.en on 2 cores), with temperature fallback.
//! - [`DecodeOptions::fast_for`]: the reduced window measured on this
//!   project's machines: `audio_ctx` cut to the clip (1500 = 30 s) but
//!   never below 512, a token cap of about 6 per second of audio, and no
//!   fallback (0.2-0.4 s per clip, same word error rate). Cutting the window
//!   to the clip alone made short clips loop ("5 5 5 5 ..."); the floor and
//!   the cap together stopped that.
//!
//! Both decode greedily and without timestamp tokens (one segment per 30 s
//! window): voice turns are short, and this is the mode the converted model
//! is compared against the original CTranslate2 model in.
//!
//! A decode may be given a prompt ([`DecodeOptions::prompt`]): text Whisper
//! takes as what was said just before, which biases it toward those words
//! and their spelling. It is tokenised here and passed as prompt tokens,
//! not through whisper-rs's `set_initial_prompt`, which leaks its CString
//! on every call (whisper-rs 0.16 turns the string into a raw pointer and
//! never frees it) and panics on a NUL byte. Every transcript also carries
//! its words with the recogniser's confidence in each ([`Word`]): the
//! lowest probability of the word's tokens.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState};

/// Samples per second Whisper expects.
pub const SAMPLE_RATE_HZ: u32 = 16_000;
/// The encoder's full window: 1500 positions for 30 s (50 per second).
pub const FULL_AUDIO_CTX: i32 = 1500;
/// Encoder positions per second of audio.
const AUDIO_CTX_PER_SECOND: f32 = 50.0;
/// The smallest window [`DecodeOptions::fast_for`] uses.
pub const MIN_FAST_AUDIO_CTX: i32 = 512;
/// Extra encoder positions past the end of the clip.
const AUDIO_CTX_MARGIN: i32 = 32;
/// Most prompt tokens kept (the end of a longer prompt: Whisper reads a
/// prompt as the text just before the audio, so its end matters most).
/// whisper.cpp itself keeps at most half its 448-token text context.
pub const MAX_PROMPT_TOKENS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    #[error("no Whisper model at {0}")]
    ModelNotFound(PathBuf),
    #[error("could not load the Whisper model {path}: {source} (see the whisper_rs log for details)")]
    Load {
        path: PathBuf,
        #[source]
        source: whisper_rs::WhisperError,
    },
    #[error("could not create a Whisper decoding state: {0}")]
    State(#[source] whisper_rs::WhisperError),
    #[error("Whisper failed to transcribe: {0}")]
    Decode(#[source] whisper_rs::WhisperError),
    #[error("no audio to transcribe")]
    EmptyAudio,
    #[error("the decode was cancelled")]
    Cancelled,
    #[error("invalid decoding options: {0}")]
    InvalidOptions(String),
    #[error("this decoder state belongs to another model")]
    ForeignState,
}

/// How to decode one clip.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeOptions {
    /// CPU threads for whisper.cpp. On a busy machine more threads than
    /// free cores is much slower (ggml's workers spin).
    pub threads: usize,
    /// Encoder positions to use (1500 = 30 s); `None`: the full window.
    pub audio_ctx: Option<i32>,
    /// Most tokens per segment; `None`: no cap.
    pub max_tokens: Option<i32>,
    /// No temperature fallback: one greedy pass, whatever its entropy.
    pub no_fallback: bool,
    /// Spoken language (ISO 639-1); English-only models accept only "en".
    pub language: String,
    /// Text to read as said just before this clip (see the module docs);
    /// `None` or empty: no prompt.
    pub prompt: Option<String>,
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4)
}

impl DecodeOptions {
    /// whisper.cpp's defaults: the full 30 s window, no token cap,
    /// temperature fallback on.
    pub fn full_window() -> Self {
        Self {
            threads: default_threads(),
            audio_ctx: None,
            max_tokens: None,
            no_fallback: false,
            language: "en".into(),
            prompt: None,
        }
    }

    /// The guarded reduced window for a clip of `duration_secs`:
    /// `audio_ctx = max(512, frames for the clip + 32)`, `max_tokens = 6 per
    /// second + 8`, no fallback. Clips of 30 s or more get the full window
    /// (with the same token cap and no fallback).
    pub fn fast_for(duration_secs: f32) -> Self {
        let secs = if duration_secs.is_finite() { duration_secs.max(0.0) } else { 0.0 };
        let needed = (secs * AUDIO_CTX_PER_SECOND).ceil() as i32 + AUDIO_CTX_MARGIN;
        let audio_ctx = needed.max(MIN_FAST_AUDIO_CTX);
        let audio_ctx = (audio_ctx < FULL_AUDIO_CTX).then_some(audio_ctx);
        let max_tokens = (6.0 * secs.min(30.0)).ceil() as i32 + 8;
        Self { audio_ctx, max_tokens: Some(max_tokens), no_fallback: true, ..Self::full_window() }
    }

    fn validate(&self) -> Result<(), AsrError> {
        if self.threads == 0 || self.threads > 256 {
            return Err(AsrError::InvalidOptions(format!("threads = {}", self.threads)));
        }
        if let Some(ctx) = self.audio_ctx
            && !(1..=FULL_AUDIO_CTX).contains(&ctx)
        {
            return Err(AsrError::InvalidOptions(format!("audio_ctx = {ctx} (1 to {FULL_AUDIO_CTX})")));
        }
        if let Some(n) = self.max_tokens
            && n < 1
        {
            return Err(AsrError::InvalidOptions(format!("max_tokens = {n}")));
        }
        let lang_ok = (2..=3).contains(&self.language.len()) && self.language.bytes().all(|b| b.is_ascii_lowercase());
        if !lang_ok {
            return Err(AsrError::InvalidOptions(format!("language = {:?}", self.language)));
        }
        Ok(())
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self::full_window()
    }
}

/// A stretch of recognised text.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub text: String,
    /// From the start of the clip.
    pub start: Duration,
    pub end: Duration,
}

/// One recognised word and how sure the decoder was of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// As decoded, with any punctuation attached ("Boston,").
    pub text: String,
    /// The lowest probability of the word's tokens (0..=1): a word is as
    /// doubtful as its least certain piece.
    pub probability: f32,
}

/// The result of one transcription.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// All segments' text, trimmed and joined with single spaces.
    pub text: String,
    /// The text's words in order, with their confidence.
    pub words: Vec<Word>,
    pub segments: Vec<Segment>,
    /// Wall time of the decode (state creation included).
    pub elapsed: Duration,
    /// The lowest probability of any text token: how sure the decoder was
    /// of its least certain word (1.0 for an empty transcript).
    pub min_token_p: f32,
}

/// A loaded Whisper model.
pub struct WhisperModel {
    ctx: WhisperContext,
    path: PathBuf,
    /// Identifies this model's states (compared by pointer).
    identity: Arc<()>,
}

/// whisper.cpp's abort callback: stop when the flag behind `user_data` is set.
unsafe extern "C" fn abort_when_set(user_data: *mut std::ffi::c_void) -> bool {
    if user_data.is_null() {
        return false;
    }
    // SAFETY: `transcribe_cancellable` passes a pointer to an AtomicBool
    // that lives for the whole decode.
    let flag = unsafe { &*(user_data as *const AtomicBool) };
    flag.load(Ordering::Relaxed)
}

/// A whisper.cpp decoding state of one [`WhisperModel`], reusable across
/// clips (`Send`: it may move between threads, one clip at a time).
pub struct DecoderState {
    state: WhisperState,
    owner: Arc<()>,
}

impl std::fmt::Debug for DecoderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecoderState").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for WhisperModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperModel").field("path", &self.path).finish_non_exhaustive()
    }
}

static LOG_HOOKS: Once = Once::new();

/// Sends whisper.cpp's and ggml's logs to `tracing` (once per process).
pub fn route_logs_to_tracing() {
    LOG_HOOKS.call_once(whisper_rs::install_logging_hooks);
}

impl WhisperModel {
    /// Loads a whisper.cpp ggml model file (CPU).
    pub fn load(path: &Path) -> Result<Self, AsrError> {
        route_logs_to_tracing();
        if !path.is_file() {
            return Err(AsrError::ModelNotFound(path.to_owned()));
        }
        let mut params = WhisperContextParameters::default();
        params.use_gpu(cfg!(feature = "cuda"));
        let ctx = WhisperContext::new_with_params(path, params)
            .map_err(|source| AsrError::Load { path: path.to_owned(), source })?;
        Ok(Self { ctx, path: path.to_owned(), identity: Arc::new(()) })
    }

    /// A new decoding state for this model.
    pub fn new_state(&self) -> Result<DecoderState, AsrError> {
        let state = self.ctx.create_state().map_err(AsrError::State)?;
        Ok(DecoderState { state, owner: self.identity.clone() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the model knows languages other than English.
    pub fn is_multilingual(&self) -> bool {
        self.ctx.is_multilingual()
    }

    /// Transcribes 16 kHz mono f32 samples (in [-1, 1]) with a fresh state.
    /// `elapsed` includes creating the state.
    pub fn transcribe(&self, samples_16k_mono_f32: &[f32], opts: &DecodeOptions) -> Result<Transcript, AsrError> {
        opts.validate()?;
        if samples_16k_mono_f32.is_empty() {
            return Err(AsrError::EmptyAudio);
        }
        let started = Instant::now();
        let mut state = self.new_state()?;
        let mut transcript = self.transcribe_in(&mut state, samples_16k_mono_f32, opts)?;
        transcript.elapsed = started.elapsed();
        Ok(transcript)
    }

    /// Transcribes with a state from [`Self::new_state`] (of this model).
    /// whisper.cpp 1.8.3 returns no segment for clips under 100 ms.
    pub fn transcribe_in(
        &self,
        state: &mut DecoderState,
        samples_16k_mono_f32: &[f32],
        opts: &DecodeOptions,
    ) -> Result<Transcript, AsrError> {
        self.transcribe_cancellable(state, samples_16k_mono_f32, opts, &AtomicBool::new(false))
    }

    /// As [`Self::transcribe_in`], stopping early (with
    /// [`AsrError::Cancelled`]) once `cancel` is set: a speculative decode
    /// whose utterance went on must not keep a decoder busy.
    pub fn transcribe_cancellable(
        &self,
        state: &mut DecoderState,
        samples_16k_mono_f32: &[f32],
        opts: &DecodeOptions,
        cancel: &AtomicBool,
    ) -> Result<Transcript, AsrError> {
        if cancel.load(Ordering::Relaxed) {
            return Err(AsrError::Cancelled);
        }
        opts.validate()?;
        if samples_16k_mono_f32.is_empty() {
            return Err(AsrError::EmptyAudio);
        }
        if !Arc::ptr_eq(&state.owner, &self.identity) {
            return Err(AsrError::ForeignState);
        }
        let started = Instant::now();
        let state = &mut state.state;

        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: if opts.no_fallback { 1 } else { 5 } });
        params.set_n_threads(opts.threads as i32);
        // whisper.cpp's default is already "en"; whisper-rs's setter leaks a
        // small CString per call, so only call it for another language.
        if opts.language != "en" {
            params.set_language(Some(&opts.language));
        }
        params.set_translate(false);
        params.set_no_context(true);
        params.set_no_timestamps(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        if let Some(ctx) = opts.audio_ctx {
            params.set_audio_ctx(ctx);
        }
        if let Some(n) = opts.max_tokens {
            params.set_max_tokens(n);
        }
        if opts.no_fallback {
            params.set_temperature_inc(0.0);
        }
        // Borrowed by `params` until `full` returns (set_tokens takes a
        // slice; nothing is leaked).
        let prompt_tokens = self.prompt_tokens(opts.prompt.as_deref())?;
        if !prompt_tokens.is_empty() {
            params.set_tokens(&prompt_tokens);
        }

        // SAFETY: the callback only reads the AtomicBool behind the user
        // data pointer, and `cancel` outlives `full`, the only call that
        // can invoke it. (whisper-rs's closure-based setter is not used: it
        // leaks its box on every call.)
        unsafe {
            params.set_abort_callback(Some(abort_when_set));
            params.set_abort_callback_user_data(cancel as *const AtomicBool as *mut std::ffi::c_void);
        }
        let outcome = state.full(params, samples_16k_mono_f32);
        if cancel.load(Ordering::Relaxed) {
            return Err(AsrError::Cancelled);
        }
        outcome.map_err(AsrError::Decode)?;

        let mut segments = Vec::new();
        let eot = self.ctx.token_eot();
        let mut min_token_p = 1.0f32;
        let mut words = WordBuilder::default();
        for seg in state.as_iter() {
            for i in 0..seg.n_tokens() {
                if let Some(token) = seg.get_token(i)
                    && token.token_id() < eot
                {
                    let p = token.token_probability();
                    min_token_p = min_token_p.min(p);
                    words.push(&token.to_str_lossy().map_err(AsrError::Decode)?, p);
                }
            }
            let text = seg.to_str_lossy().map_err(AsrError::Decode)?.trim().to_owned();
            let centis = |t: i64| Duration::from_millis(u64::try_from(t).unwrap_or(0) * 10);
            segments.push(Segment { text, start: centis(seg.start_timestamp()), end: centis(seg.end_timestamp()) });
        }
        let text = segments.iter().map(|s| s.text.as_str()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ");
        Ok(Transcript { text, words: words.finish(), segments, elapsed: started.elapsed(), min_token_p })
    }

    /// The prompt as tokens, at most [`MAX_PROMPT_TOKENS`] (its end).
    fn prompt_tokens(&self, prompt: Option<&str>) -> Result<Vec<i32>, AsrError> {
        // NUL cannot cross into C; nothing a prompt needs is lost.
        let text = prompt.unwrap_or_default().replace('\0', " ");
        let text = text.trim();
        if text.is_empty() {
            return Ok(Vec::new());
        }
        // Whisper prompts read as preceding speech: a leading space makes
        // the first word tokenise as it would mid-sentence.
        let text = format!(" {text}");
        // whisper.cpp's tokeniser emits at most one token per byte. Asking
        // for fewer than it needs would make it return minus the count,
        // which whisper-rs 0.16 only checks for -1: room for every byte
        // keeps that path unreachable.
        let mut tokens = self.ctx.tokenize(&text, text.len() + 1).map_err(AsrError::Decode)?;
        let excess = tokens.len().saturating_sub(MAX_PROMPT_TOKENS);
        tokens.drain(..excess);
        Ok(tokens)
    }
}

/// Joins decoded tokens into words: a token that starts with a space
/// starts a word; any other (the rest of a word, punctuation) extends the
/// current one, whose probability becomes the lowest of its tokens.
#[derive(Default)]
struct WordBuilder {
    words: Vec<Word>,
}

impl WordBuilder {
    fn push(&mut self, token: &str, probability: f32) {
        if token.is_empty() {
            return;
        }
        let starts_word = token.starts_with(char::is_whitespace);
        let piece = token.trim();
        match self.words.last_mut() {
            Some(last) if !starts_word => {
                last.text.push_str(piece);
                last.probability = last.probability.min(probability);
            }
            _ if piece.is_empty() => {}
            _ => self.words.push(Word { text: piece.to_string(), probability }),
        }
    }

    fn finish(self) -> Vec<Word> {
        self.words.into_iter().filter(|w| !w.text.is_empty()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_window_is_guarded() {
        let short = DecodeOptions::fast_for(1.5);
        assert_eq!(short.audio_ctx, Some(MIN_FAST_AUDIO_CTX));
        assert_eq!(short.max_tokens, Some(17));
        assert!(short.no_fallback);

        let long = DecodeOptions::fast_for(14.0);
        assert_eq!(long.audio_ctx, Some(700 + AUDIO_CTX_MARGIN));
        assert_eq!(long.max_tokens, Some(92));

        assert_eq!(DecodeOptions::fast_for(29.9).audio_ctx, None);
        assert_eq!(DecodeOptions::fast_for(45.0).audio_ctx, None);
        assert_eq!(DecodeOptions::fast_for(45.0).max_tokens, Some(188));
        assert_eq!(DecodeOptions::fast_for(f32::NAN).audio_ctx, Some(MIN_FAST_AUDIO_CTX));
        assert_eq!(DecodeOptions::fast_for(-3.0).max_tokens, Some(8));
    }

    #[test]
    fn full_window_is_whisper_cpp_default() {
        let o = DecodeOptions::full_window();
        assert_eq!((o.audio_ctx, o.max_tokens, o.no_fallback, o.language.as_str()), (None, None, false, "en"));
        assert!(o.threads >= 1);
        o.validate().unwrap();
    }

    #[test]
    fn bad_options_are_refused() {
        let bad = [
            DecodeOptions { threads: 0, ..DecodeOptions::full_window() },
            DecodeOptions { audio_ctx: Some(0), ..DecodeOptions::full_window() },
            DecodeOptions { audio_ctx: Some(1501), ..DecodeOptions::full_window() },
            DecodeOptions { max_tokens: Some(0), ..DecodeOptions::full_window() },
            DecodeOptions { language: "english".into(), ..DecodeOptions::full_window() },
            DecodeOptions { language: "e\0".into(), ..DecodeOptions::full_window() },
        ];
        for o in bad {
            assert!(matches!(o.validate(), Err(AsrError::InvalidOptions(_))), "{o:?}");
        }
    }

    #[test]
    fn tokens_join_into_words_at_their_least_certain_piece() {
        let mut b = WordBuilder::default();
        for (t, p) in [(" One", 0.9), (" wa", 0.8), ("it", 0.3), (" please", 0.95), (".", 0.99)] {
            b.push(t, p);
        }
        let words = b.finish();
        let got: Vec<(&str, f32)> = words.iter().map(|w| (w.text.as_str(), w.probability)).collect();
        assert_eq!(got, [("One", 0.9), ("wait", 0.3), ("please.", 0.95)]);

        // A first token without a leading space still starts a word.
        let mut b = WordBuilder::default();
        b.push("Yes", 0.7);
        b.push(",", 0.9);
        b.push(" ", 0.1);
        assert_eq!(b.finish(), [Word { text: "Yes,".into(), probability: 0.7 }]);
    }

    #[test]
    fn missing_model_is_a_clear_error() {
        let err = WhisperModel::load(Path::new("/nonexistent/ggml-tiny.en.bin")).unwrap_err();
        assert!(matches!(err, AsrError::ModelNotFound(_)), "{err}");
    }

    #[test]
    fn model_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        fn assert_send<T: Send>() {}
        assert_send_sync::<WhisperModel>();
        assert_send::<DecoderState>();
    }
}
