//! Where one turn's time went, collected as the turn runs and sent as a
//! `turn_metrics` event (and observed into the Prometheus histograms) when
//! the reply's first audio leaves, or right after the turn result when the
//! reply is not spoken.

use std::time::{Duration, Instant};

use voxbook_proto::api::TurnResponse;
use voxbook_proto::stream::ServerEvent;

use crate::metrics::Metrics;

#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub turn: u64,
    pub endpoint_to_transcript: Option<Duration>,
    pub asr_decode: Option<Duration>,
    pub dialogue: Duration,
    pub tools_ms: u64,
    /// When the user's speech ended, in ms of the stream's audio clock...
    pub speech_end_ms: Option<u64>,
    /// ...and on this server's clock.
    pub speech_end: Option<Instant>,
    pub reply_started: Option<Instant>,
}

impl Timing {
    /// The timing of a dialogue turn that took `dialogue`, completing
    /// `speech` (what recognition measured before it; default for a typed
    /// turn).
    pub fn of_turn(response: &TurnResponse, dialogue: Duration, speech: Timing) -> Timing {
        Timing {
            turn: response.turn,
            dialogue,
            tools_ms: response.tool_calls.iter().map(|c| c.elapsed_ms).sum(),
            ..speech
        }
    }

    /// The metrics event; `first_audio` is when the reply's first audio
    /// left, if it is spoken.
    pub fn event(&self, metrics: &Metrics, first_audio: Option<Instant>) -> ServerEvent {
        let ms = |d: Duration| d.as_millis() as u64;
        let tts_first_audio = first_audio.zip(self.reply_started).map(|(a, r)| a.saturating_duration_since(r));
        let voice_to_voice = first_audio.zip(self.speech_end).map(|(a, e)| a.saturating_duration_since(e));
        metrics.observe_speech_out(tts_first_audio, voice_to_voice);
        ServerEvent::TurnMetrics {
            turn: self.turn,
            endpoint_to_transcript_ms: self.endpoint_to_transcript.map(ms),
            asr_decode_ms: self.asr_decode.map(ms),
            dialogue_ms: ms(self.dialogue),
            tools_ms: self.tools_ms,
            tts_first_audio_ms: tts_first_audio.map(ms),
            voice_to_voice_ms: voice_to_voice.map(ms),
        }
    }
}
