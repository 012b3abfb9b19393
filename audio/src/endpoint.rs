//! Voice activity detection and endpointing: from a stream of 16 kHz
//! samples to "speech started", "speech paused", "speech resumed" and
//! "utterance ended" events.
//!
//! VAD is earshot's small neural detector (pure Rust, 16 ms frames). The
//! endpointer turns its per-frame scores into utterances with the
//! configured thresholds. The `Pause` event is the latency trick: it fires
//! as soon as silence begins, carrying the utterance so far, so the
//! recogniser can start decoding while the endpoint silence is still being
//! waited out; if the user speaks again, `Resumed` says that decode is
//! stale. Memory is bounded: an utterance is cut at `max_utterance_ms`.

use crate::INTERNAL_SAMPLE_RATE_HZ;

/// earshot's frame: 256 samples = 16 ms at 16 kHz.
pub const FRAME: usize = 256;
const FRAME_MS: u64 = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    /// VAD score at or above which a frame is speech (0..1).
    pub threshold: f32,
    /// Speech shorter than this is noise: no utterance.
    pub min_speech_ms: u32,
    /// Speech this long already stops a reply being played (barge-in):
    /// shorter than `min_speech_ms`, so the bot falls silent quickly, but
    /// long enough that a click or a cough does not cut it off.
    pub barge_in_ms: u32,
    /// VAD score that counts towards a barge-in. Lower than `threshold`:
    /// the detector scores the first phoneme of an utterance (often a
    /// fricative) low, and at `threshold` the bot would talk on for a
    /// further 50-100 ms. Utterances still need `threshold`.
    pub barge_in_threshold: f32,
    /// Silence after speech that ends an utterance.
    pub end_silence_ms: u32,
    /// Utterances are cut here (bounds memory and decode time).
    pub max_utterance_ms: u32,
    /// Audio kept from before speech was detected (VAD reacts late; the
    /// first phoneme must not be lost).
    pub pre_roll_ms: u32,
    /// Silence that counts as a pause worth decoding speculatively.
    pub pause_ms: u32,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            threshold: 0.5,
            min_speech_ms: 160,
            barge_in_ms: 64,
            barge_in_threshold: 0.3,
            end_silence_ms: 300,
            max_utterance_ms: 15_000,
            pre_roll_ms: 500,
            // Two frames: as early as the VAD can tell, leaving nearly all
            // of the end-of-speech silence for decoding. The gaps inside
            // fluent speech start decodes that are cancelled (inside
            // whisper.cpp) as soon as speech resumes, so eagerness is cheap.
            pause_ms: 32,
        }
    }
}

impl EndpointConfig {
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.threshold) || !(0.0..=1.0).contains(&self.barge_in_threshold) {
            return Err("VAD thresholds must be between 0 and 1".into());
        }
        if self.end_silence_ms < 50 || self.end_silence_ms > 5_000 {
            return Err("end-of-speech silence must be 50..5000 ms".into());
        }
        if self.max_utterance_ms < 1_000 || self.max_utterance_ms > 30_000 {
            return Err("max utterance must be 1000..30000 ms (Whisper hears 30 s at most)".into());
        }
        if self.pause_ms >= self.end_silence_ms {
            return Err("pause must be shorter than the end-of-speech silence".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum EndpointEvent {
    /// Enough voice to stop a reply being played (`barge_in_ms`); an
    /// utterance may or may not follow.
    Onset {
        /// Where the voice began...
        at_ms: u64,
        /// ...and where in the audio it was recognised as voice.
        detected_ms: u64,
    },
    SpeechStarted {
        at_ms: u64,
    },
    /// Silence began; `audio` is the utterance so far. `generation`
    /// identifies it: an `Endpoint` with the same generation has the same
    /// speech (plus silence), so a transcript of this audio is final.
    Pause {
        audio: Vec<f32>,
        speech_end_ms: u64,
        generation: u64,
    },
    Resumed {
        generation: u64,
    },
    Endpoint {
        audio: Vec<f32>,
        speech_end_ms: u64,
        at_ms: u64,
        generation: u64,
        truncated: bool,
    },
}

enum State {
    Idle,
    /// Speech frames seen, not yet `min_speech_ms` of them.
    Candidate {
        speech_ms: u64,
        gap_ms: u64,
        onset_ms: u64,
    },
    Speaking {
        silence_ms: u64,
        paused: bool,
        /// Audible sound since the pause (a trailing fricative the VAD
        /// scored as silence): the pause's audio is then not the whole
        /// utterance, and a decode of it must not be taken as final.
        tail_heard: bool,
    },
}

/// A frame after a pause louder than this share of the utterance's speech
/// level is "heard", even if the VAD called it silence.
const TAIL_LEVEL: f32 = 0.15;

fn rms(frame: &[f32]) -> f32 {
    (frame.iter().map(|s| s * s).sum::<f32>() / frame.len().max(1) as f32).sqrt()
}

pub struct Endpointer {
    config: EndpointConfig,
    detector: Box<earshot::Detector>,
    frame: Vec<f32>,
    /// Recent audio while idle (the pre-roll).
    recent: std::collections::VecDeque<f32>,
    utterance: Vec<f32>,
    state: State,
    /// Samples processed so far: the stream's clock.
    samples: u64,
    speech_end_ms: u64,
    generation: u64,
    /// Running sum and count of speech frames' RMS in this utterance.
    speech_level: (f32, u32),
    /// Voice towards a barge-in, tracked apart from utterances (it has its
    /// own threshold and fires before an utterance is confirmed).
    barge: BargeIn,
}

/// A run of voice at `barge_in_threshold`: where it began, how much voice
/// it holds, the silence since its last voiced frame, and whether its
/// onset was announced (once per run).
#[derive(Debug, Default)]
struct BargeIn {
    start_ms: Option<u64>,
    voiced_ms: u64,
    gap_ms: u64,
    announced: bool,
}

/// Silence that ends a barge-in run: gaps inside one word are shorter.
const BARGE_IN_GAP_MS: u64 = 100;

impl Endpointer {
    pub fn new(config: EndpointConfig) -> Endpointer {
        Endpointer {
            config,
            detector: earshot::Detector::default_boxed(),
            frame: Vec::with_capacity(FRAME),
            recent: std::collections::VecDeque::new(),
            utterance: Vec::new(),
            state: State::Idle,
            samples: 0,
            speech_end_ms: 0,
            generation: 0,
            speech_level: (0.0, 0),
            barge: BargeIn::default(),
        }
    }

    /// Tracks voice towards a barge-in; the onset when it has lasted
    /// `barge_in_ms`.
    fn barge_in(&mut self, score: f32, start_ms: u64, end_ms: u64) -> Option<EndpointEvent> {
        let b = &mut self.barge;
        if score >= self.config.barge_in_threshold {
            b.start_ms.get_or_insert(start_ms);
            b.voiced_ms += FRAME_MS;
            b.gap_ms = 0;
        } else if b.start_ms.is_some() {
            b.gap_ms += FRAME_MS;
            if b.gap_ms > BARGE_IN_GAP_MS {
                *b = BargeIn::default();
            }
        }
        match b.start_ms {
            Some(at_ms) if !b.announced && b.voiced_ms >= u64::from(self.config.barge_in_ms) => {
                b.announced = true;
                Some(EndpointEvent::Onset { at_ms, detected_ms: end_ms })
            }
            _ => None,
        }
    }

    /// Milliseconds of audio seen.
    pub fn now_ms(&self) -> u64 {
        self.samples * 1000 / u64::from(INTERNAL_SAMPLE_RATE_HZ)
    }

    pub fn is_speaking(&self) -> bool {
        matches!(self.state, State::Speaking { .. })
    }

    /// True while speaking and not in a pause: the moment for partials.
    pub fn is_talking(&self) -> bool {
        matches!(self.state, State::Speaking { paused: false, .. })
    }

    /// The utterance heard so far, while one is in progress.
    pub fn current_utterance(&self) -> Option<&[f32]> {
        self.is_speaking().then_some(self.utterance.as_slice())
    }

    /// Ends the stream: an utterance in progress becomes final now.
    pub fn finish(&mut self) -> Option<EndpointEvent> {
        if !self.is_speaking() {
            return None;
        }
        self.state = State::Idle;
        self.generation += 1;
        Some(EndpointEvent::Endpoint {
            audio: std::mem::take(&mut self.utterance),
            speech_end_ms: self.speech_end_ms,
            at_ms: self.now_ms(),
            generation: self.generation,
            truncated: false,
        })
    }

    /// Feeds 16 kHz samples; returns the events they caused, in order.
    pub fn push(&mut self, samples: &[f32]) -> Vec<EndpointEvent> {
        let mut events = Vec::new();
        for &s in samples {
            self.frame.push(s.clamp(-1.0, 1.0));
            if self.frame.len() == FRAME {
                let frame = std::mem::take(&mut self.frame);
                self.on_frame(&frame, &mut events);
                self.frame = frame;
                self.frame.clear();
            }
        }
        events
    }

    fn pre_roll_samples(&self) -> usize {
        (self.config.pre_roll_ms as usize) * (INTERNAL_SAMPLE_RATE_HZ as usize) / 1000
    }

    fn on_frame(&mut self, frame: &[f32], events: &mut Vec<EndpointEvent>) {
        let score = self.detector.predict_f32(frame);
        let speech = score >= self.config.threshold;
        let start_ms = self.now_ms();
        self.samples += FRAME as u64;
        let end_ms = self.now_ms();
        if let Some(onset) = self.barge_in(score, start_ms, end_ms) {
            events.push(onset);
        }
        match &mut self.state {
            State::Idle => {
                self.recent.extend(frame.iter().copied());
                let keep = self.pre_roll_samples() + FRAME;
                while self.recent.len() > keep {
                    self.recent.pop_front();
                }
                if speech {
                    self.state = State::Candidate { speech_ms: FRAME_MS, gap_ms: 0, onset_ms: start_ms };
                    self.speech_level = (rms(frame), 1);
                    self.utterance.clear();
                    self.utterance.extend(self.recent.iter().copied());
                }
            }
            State::Candidate { speech_ms, gap_ms, onset_ms } => {
                self.utterance.extend_from_slice(frame);
                if speech {
                    *speech_ms += FRAME_MS;
                    *gap_ms = 0;
                } else {
                    *gap_ms += FRAME_MS;
                }
                if speech {
                    self.speech_level.0 += rms(frame);
                    self.speech_level.1 += 1;
                }
                if *speech_ms >= u64::from(self.config.min_speech_ms) {
                    events.push(EndpointEvent::SpeechStarted { at_ms: *onset_ms });
                    self.speech_end_ms = end_ms;
                    self.state = State::Speaking { silence_ms: 0, paused: false, tail_heard: false };
                } else if *gap_ms > 100 {
                    // A click or a cough: forget it, keep it as pre-roll.
                    self.recent.clear();
                    self.recent.extend(self.utterance.iter().copied());
                    self.utterance.clear();
                    self.state = State::Idle;
                }
            }
            State::Speaking { silence_ms, paused, tail_heard } => {
                self.utterance.extend_from_slice(frame);
                if speech {
                    if *paused {
                        events.push(EndpointEvent::Resumed { generation: self.generation });
                    }
                    *silence_ms = 0;
                    *paused = false;
                    *tail_heard = false;
                    self.speech_end_ms = end_ms;
                    self.speech_level.0 += rms(frame);
                    self.speech_level.1 += 1;
                } else {
                    let level = self.speech_level.0 / self.speech_level.1.max(1) as f32;
                    if *paused && rms(frame) > TAIL_LEVEL * level {
                        *tail_heard = true;
                    }
                    *silence_ms += FRAME_MS;
                    if !*paused && *silence_ms >= u64::from(self.config.pause_ms) {
                        *paused = true;
                        self.generation += 1;
                        events.push(EndpointEvent::Pause {
                            audio: self.utterance.clone(),
                            speech_end_ms: self.speech_end_ms,
                            generation: self.generation,
                        });
                    }
                }
                let max_samples = self.config.max_utterance_ms as usize * INTERNAL_SAMPLE_RATE_HZ as usize / 1000;
                let ended = *silence_ms >= u64::from(self.config.end_silence_ms);
                let truncated = !ended && self.utterance.len() >= max_samples;
                if ended || truncated {
                    if truncated || *tail_heard {
                        // Cut mid-speech, or sound after the pause: no pause
                        // decode matches this audio.
                        self.generation += 1;
                        self.speech_end_ms = end_ms;
                    }
                    events.push(EndpointEvent::Endpoint {
                        audio: std::mem::take(&mut self.utterance),
                        speech_end_ms: self.speech_end_ms,
                        at_ms: end_ms,
                        generation: self.generation,
                        truncated,
                    });
                    self.recent.clear();
                    self.state = State::Idle;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rough voiced sound: harmonics of 140 Hz with a slow amplitude
    /// wobble, loud enough for the VAD. Real speech is tested with real
    /// recordings in the integration tests.
    fn voiced(ms: usize) -> Vec<f32> {
        let n = ms * 16;
        (0..n)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                let env = 0.6 + 0.4 * (2.0 * std::f32::consts::PI * 4.0 * t).sin();
                let mut s = 0.0;
                for h in 1..12 {
                    s += (2.0 * std::f32::consts::PI * 140.0 * h as f32 * t).sin() / h as f32;
                }
                0.25 * env * s
            })
            .collect()
    }

    #[test]
    fn silence_produces_nothing() {
        let mut e = Endpointer::new(EndpointConfig::default());
        assert!(e.push(&vec![0.0; 16_000 * 3]).is_empty());
        // The clock counts whole 16 ms frames.
        assert!((2_984..=3_000).contains(&e.now_ms()), "{}", e.now_ms());
    }

    #[test]
    fn config_checks() {
        assert!(EndpointConfig::default().check().is_ok());
        assert!(EndpointConfig { end_silence_ms: 10, ..Default::default() }.check().is_err());
        assert!(EndpointConfig { max_utterance_ms: 60_000, ..Default::default() }.check().is_err());
    }

    #[test]
    fn max_length_cuts_an_endless_utterance() {
        let config = EndpointConfig { max_utterance_ms: 1_000, threshold: 0.0, ..Default::default() };
        let mut e = Endpointer::new(config);
        // Threshold 0 makes every frame speech: the cut must come anyway.
        let events = e.push(&voiced(2_500));
        let cut = events.iter().filter(|ev| matches!(ev, EndpointEvent::Endpoint { truncated: true, .. })).count();
        assert!(cut >= 1, "{events:?}");
        for ev in events {
            if let EndpointEvent::Endpoint { audio, .. } = ev {
                assert!(audio.len() <= 16_000 + FRAME + 16 * 300, "{}", audio.len());
            }
        }
    }

    #[test]
    fn speech_is_announced_once_it_lasts_min_speech() {
        // Threshold 0 makes every frame speech, independent of the model.
        let config = EndpointConfig { threshold: 0.0, min_speech_ms: 160, ..Default::default() };
        let mut e = Endpointer::new(config);
        // 48 ms: nothing yet; by 100 ms the barge-in onset (64 ms); the
        // confirmed start only at 160 ms.
        assert!(e.push(&voiced(48)).is_empty());
        assert_eq!(e.push(&voiced(52)), vec![EndpointEvent::Onset { at_ms: 0, detected_ms: 64 }]);
        assert_eq!(e.push(&voiced(300)), vec![EndpointEvent::SpeechStarted { at_ms: 0 }]);
        assert!(e.is_speaking());
    }
}
