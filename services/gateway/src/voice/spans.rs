//! The tracing spans of one conversation turn.
//!
//! Every turn gets one `turn` span (a child of the stream's span) whose
//! children are its stages, each open exactly as long as the stage runs:
//! `vad_endpoint` (speech start until the endpoint is confirmed), `asr`
//! (endpoint until the final transcript), the dialogue crate's `dialogue`
//! span (with `parse` and `tool_call` inside), and `tts` (the reply from
//! its first synthesis until its last frame or the interruption). The
//! recogniser and the speaker run in their own tasks, so the stages are
//! spans this loop opens and closes on their events rather than spans
//! entered around one future.

use tracing::Span;
use tracing::field::Empty;

pub struct TurnSpans {
    turn: Span,
    /// The stage running now; replacing it closes the previous stage.
    stage: Option<Span>,
}

impl TurnSpans {
    /// A new turn, started by `source` ("voice", "text", "dtmf",
    /// "opening"). Its number and intent are recorded once known.
    pub fn open(session_id: &str, source: &'static str) -> TurnSpans {
        let turn = tracing::info_span!("turn", session_id = %session_id, source, turn = Empty, intent = Empty);
        TurnSpans { turn, stage: None }
    }

    pub fn turn(&self) -> &Span {
        &self.turn
    }

    /// The caller started speaking: the VAD is waiting for the endpoint.
    pub fn listening(mut self) -> TurnSpans {
        self.stage = Some(tracing::info_span!(parent: &self.turn, "vad_endpoint"));
        self
    }

    /// The endpoint was confirmed: the final transcript is being decoded.
    pub fn endpoint(&mut self) {
        self.stage = Some(tracing::info_span!(parent: &self.turn, "asr"));
    }

    /// The transcript is in; the dialogue runs next (instrumented with
    /// [`TurnSpans::dialogue`]).
    pub fn transcribed(mut self) -> TurnSpans {
        self.stage = None;
        self
    }

    /// The span to run the dialogue turn in: the dialogue crate opens its
    /// `dialogue` span inside it.
    pub fn dialogue(&self) -> Span {
        self.turn.clone()
    }

    pub fn record_turn(&self, turn: u64, intent: &str) {
        self.turn.record("turn", turn);
        self.turn.record("intent", intent);
    }

    /// The reply is being spoken.
    pub fn speaking(mut self) -> TurnSpans {
        self.stage = Some(tracing::info_span!(parent: &self.turn, "tts", first_audio_ms = Empty));
        self
    }

    /// The `tts` span (or the turn's, outside speaking).
    pub fn tts(&self) -> &Span {
        self.stage.as_ref().unwrap_or(&self.turn)
    }

    /// The reply's first audio frame left.
    pub fn first_audio(&self, since_start: std::time::Duration) {
        self.tts().record("first_audio_ms", since_start.as_millis() as u64);
    }
}
