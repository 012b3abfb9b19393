//! The shared Whisper recogniser behind every audio stream: one loaded
//! model, a bounded pool of decoder states, decoding on blocking threads
//! (never on the async runtime), and the guarded fast decode.
//!
//! Decoder states are created once and reused: creating one costs tens of
//! milliseconds, which is most of the latency budget after the endpoint.
//! The pool size bounds CPU use: extra requests wait for a free decoder
//! instead of oversubscribing the cores (ggml's threads spin, so an
//! oversubscribed machine gets much slower, not just fairly shared).
//!
//! Accuracy guard: the reduced window is 3-4x faster than whisper.cpp's
//! 30 s window but loses words it is unsure of ("clubs" heard as "close").
//! A final transcript whose least certain token falls below
//! `fallback_below` is decoded again with the full window, so uncertain
//! utterances pay for accuracy and confident ones (most of them) do not.
//!
//! A decode may carry a prompt (text to bias Whisper toward, such as the
//! answers the caller is expected to give); both passes use it. A prompt
//! can make Whisper repeat what it heard ("the second one, the second
//! one, ..."): a prompted transcript that repeats itself is thrown away
//! and the clip decoded again without the prompt. Results keep each
//! word's confidence so the caller can doubt single words.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::INTERNAL_SAMPLE_RATE_HZ;
use crate::asr::whisper::{AsrError, DecodeOptions, DecoderState, WhisperModel, Word};
use crate::speech_stream::{Purpose, Recognize, RecognizeError, Recognized};

/// Short utterances ("yes") are padded with silence to this length: the
/// model was trained on speech with context around it, and very short
/// inputs decode less reliably.
const MIN_SAMPLES: usize = (INTERNAL_SAMPLE_RATE_HZ as usize) * 11 / 10;
/// Silence appended after speech: 250 ms.
const TAIL_SAMPLES: usize = (INTERNAL_SAMPLE_RATE_HZ as usize) / 4;

pub struct WhisperRecognizer {
    model: Arc<WhisperModel>,
    states: Arc<Mutex<Vec<DecoderState>>>,
    permits: Arc<Semaphore>,
    threads: usize,
    /// Token probability under which a final is re-decoded with the full
    /// window; 0 turns the fallback off.
    fallback_below: f32,
}

/// The default confidence floor of the fast decode, measured on the
/// pocketsphinx clips: every wrong word they produced came with a token
/// probability of 0.32 or less, every right transcript 0.36 or more.
pub const DEFAULT_FALLBACK_BELOW: f32 = 0.35;

impl WhisperRecognizer {
    /// `decoders` states, each decoding with `threads` threads; size
    /// `decoders × threads` to the cores the recogniser may use.
    pub fn new(model: Arc<WhisperModel>, decoders: usize, threads: usize) -> Result<WhisperRecognizer, AsrError> {
        let decoders = decoders.max(1);
        let states = (0..decoders).map(|_| model.new_state()).collect::<Result<Vec<_>, _>>()?;
        Ok(WhisperRecognizer {
            model,
            states: Arc::new(Mutex::new(states)),
            permits: Arc::new(Semaphore::new(decoders)),
            threads: threads.max(1),
            fallback_below: DEFAULT_FALLBACK_BELOW,
        })
    }

    /// Sets the confidence floor of the fast decode (0 disables the
    /// full-window fallback).
    pub fn with_fallback_below(mut self, p: f32) -> Self {
        self.fallback_below = p.clamp(0.0, 1.0);
        self
    }

    /// Transcribes a clip on the calling (blocking) thread with a pooled
    /// state, as a stream's final would be; for tools and tests that are
    /// not on the runtime.
    pub fn transcribe_blocking(
        &self,
        audio: &[f32],
        prompt: Option<&str>,
    ) -> Result<crate::asr::whisper::Transcript, AsrError> {
        let mut state = self.take_state()?;
        let clip = Clip { audio, prompt, cancel: &AtomicBool::new(false) };
        let result = decode_clip(&self.model, self.threads, self.fallback_below, &mut state, clip);
        self.put_state(state);
        result
    }

    fn take_state(&self) -> Result<DecoderState, AsrError> {
        checkout(&self.states, &self.model)
    }

    fn put_state(&self, state: DecoderState) {
        checkin(&self.states, state);
    }
}

/// A pooled state, or a new one when the pool is empty.
fn checkout(pool: &Mutex<Vec<DecoderState>>, model: &WhisperModel) -> Result<DecoderState, AsrError> {
    let pooled = pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
    match pooled {
        Some(state) => Ok(state),
        None => model.new_state(),
    }
}

fn checkin(pool: &Mutex<Vec<DecoderState>>, state: DecoderState) {
    // A panic while holding the lock cannot leave the Vec half-changed.
    pool.lock().unwrap_or_else(|p| p.into_inner()).push(state);
}

/// What one decode is given.
struct Clip<'a> {
    audio: &'a [f32],
    prompt: Option<&'a str>,
    cancel: &'a AtomicBool,
}

/// One guarded fast decode of a clip with a pooled state, falling back to
/// the full window when the fast decode is unsure.
fn decode_clip(
    model: &WhisperModel,
    threads: usize,
    fallback_below: f32,
    state: &mut DecoderState,
    clip: Clip<'_>,
) -> Result<crate::asr::whisper::Transcript, AsrError> {
    let Clip { audio, prompt, cancel } = clip;
    let transcript = decode_guarded(model, threads, fallback_below, state, audio, prompt, cancel)?;
    if prompt.is_some() && repeats_itself(&transcript.words) {
        tracing::debug!(text = %transcript.text, "the prompted decode repeats itself; decoding without the prompt");
        let mut plain = decode_guarded(model, threads, fallback_below, state, audio, None, cancel)?;
        plain.elapsed += transcript.elapsed;
        return Ok(plain);
    }
    Ok(transcript)
}

/// Whether a transcript loops: a phrase of two words or more said twice
/// in a row, or any phrase three times in a row. Callers do repeat a
/// word ("yes, yes"), rarely a whole phrase; Whisper's loops do.
pub fn repeats_itself(words: &[Word]) -> bool {
    let norm: Vec<String> = words
        .iter()
        .map(|w| w.text.chars().filter(|c| c.is_alphanumeric() || *c == '\'').collect::<String>().to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    for len in 1..=norm.len() / 2 {
        let times = if len == 1 { 3 } else { 2 };
        for start in 0..norm.len() {
            let end = start + len * times;
            if end > norm.len() {
                break;
            }
            let first = &norm[start..start + len];
            if (1..times).all(|k| &norm[start + k * len..start + (k + 1) * len] == first) {
                return true;
            }
        }
    }
    false
}

/// [`decode_clip`]'s guarded decode for one prompt (or none).
fn decode_guarded(
    model: &WhisperModel,
    threads: usize,
    fallback_below: f32,
    state: &mut DecoderState,
    audio: &[f32],
    prompt: Option<&str>,
    cancel: &AtomicBool,
) -> Result<crate::asr::whisper::Transcript, AsrError> {
    // A speculative decode starts 32 ms into the silence; give every clip
    // the same quiet tail the endpoint would, so both decode alike.
    let mut padded = audio.to_vec();
    padded.resize((audio.len() + TAIL_SAMPLES).max(MIN_SAMPLES), 0.0);
    let audio = &padded[..];
    let seconds = audio.len() as f32 / INTERNAL_SAMPLE_RATE_HZ as f32;
    let prompt = prompt.map(str::to_string);
    let options = DecodeOptions { threads, prompt: prompt.clone(), ..DecodeOptions::fast_for(seconds) };
    let fast = model.transcribe_cancellable(state, audio, &options, cancel)?;
    if fast.min_token_p >= fallback_below || options.audio_ctx.is_none() {
        return Ok(fast);
    }
    tracing::debug!(min_token_p = fast.min_token_p, text = %fast.text, "unsure fast decode; decoding the full window");
    let full_window = DecodeOptions { threads, prompt, ..DecodeOptions::full_window() };
    let mut full = model.transcribe_cancellable(state, audio, &full_window, cancel)?;
    full.elapsed += fast.elapsed;
    Ok(full)
}

/// Sets its flag when dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Drops what Whisper writes for non-speech: "[BLANK_AUDIO]", "(coughs)",
/// "*music*".
pub fn clean_transcript(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut star = false;
    for c in text.chars() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth = depth.saturating_sub(1),
            '*' => star = !star,
            _ if depth == 0 && !star => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// [`clean_transcript`] for words: drops the words of non-speech
/// annotations (which may span several words, "(door closes)") and keeps
/// the confidence of the rest.
pub fn clean_words(words: Vec<Word>) -> Vec<Word> {
    let mut out = Vec::with_capacity(words.len());
    let mut depth = 0usize;
    let mut star = false;
    for word in words {
        let mut text = String::with_capacity(word.text.len());
        for c in word.text.chars() {
            match c {
                '[' | '(' => depth += 1,
                ']' | ')' => depth = depth.saturating_sub(1),
                '*' => star = !star,
                _ if depth == 0 && !star => text.push(c),
                _ => {}
            }
        }
        let text = text.trim();
        if !text.is_empty() {
            out.push(Word { text: text.to_string(), probability: word.probability });
        }
    }
    out
}

#[async_trait]
impl Recognize for WhisperRecognizer {
    async fn recognize(
        &self,
        audio: Vec<f32>,
        purpose: Purpose,
        prompt: Option<Arc<str>>,
    ) -> Result<Recognized, RecognizeError> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|e| RecognizeError(e.to_string()))?;
        // Set when this future is dropped (the stream aborted a stale
        // speculative decode): whisper.cpp then stops at its next check.
        let cancel = Arc::new(AtomicBool::new(false));
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        let started = Instant::now();
        // The blocking task owns everything it touches: the permit (so a
        // decoder counts as busy until whisper.cpp has really stopped) and
        // the pool (so the state goes back even if this future is dropped).
        let model = self.model.clone();
        let pool = self.states.clone();
        let threads = self.threads;
        // Partials are previews: never worth a full-window decode.
        let fallback = if purpose == Purpose::Final { self.fallback_below } else { 0.0 };
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut state = checkout(&pool, &model)?;
            let clip = Clip { audio: &audio, prompt: prompt.as_deref(), cancel: &cancel };
            let result = decode_clip(&model, threads, fallback, &mut state, clip);
            checkin(&pool, state);
            result
        })
        .await
        .map_err(|e| RecognizeError(format!("decoder thread failed: {e}")))?;
        let transcript = result.map_err(|e| RecognizeError(e.to_string()))?;
        Ok(Recognized {
            text: clean_transcript(&transcript.text),
            words: clean_words(transcript.words),
            decode: started.elapsed(),
        })
    }

    fn idle(&self) -> bool {
        self.permits.available_permits() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_speech_annotations_are_dropped() {
        assert_eq!(clean_transcript("[BLANK_AUDIO]"), "");
        assert_eq!(clean_transcript(" Book a flight (coughs) to Paris. "), "Book a flight to Paris.");
        assert_eq!(clean_transcript("*music* yes"), "yes");
        assert_eq!(clean_transcript("a ] b"), "a b");
    }

    #[test]
    fn loops_are_told_from_repeated_words() {
        let words = |text: &str| -> Vec<Word> {
            text.split_whitespace().map(|t| Word { text: t.into(), probability: 0.9 }).collect()
        };
        assert!(repeats_itself(&words("The second one, the second one, the second")));
        assert!(repeats_itself(&words("Economy please. Economy please.")));
        assert!(repeats_itself(&words("two two two")));
        assert!(!repeats_itself(&words("Yes, yes please.")));
        assert!(!repeats_itself(&words("from Boston to Denver on the fourteenth of July")));
        assert!(!repeats_itself(&words("")));
    }

    #[test]
    fn non_speech_words_are_dropped_with_their_confidence_kept_for_the_rest() {
        let w = |t: &str, p: f32| Word { text: t.into(), probability: p };
        let words =
            vec![w("Book", 0.9), w("(door", 0.2), w("closes)", 0.3), w("Boston.", 0.4), w("[BLANK_AUDIO]", 0.1)];
        assert_eq!(clean_words(words), [w("Book", 0.9), w("Boston.", 0.4)]);
    }
}
