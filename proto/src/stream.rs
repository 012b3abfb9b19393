//! The session stream: a WebSocket at `GET /v1/sessions/{id}/stream`.
//!
//! Text frames carry JSON messages tagged by `type`; binary frames carry
//! audio in the format the client declared in `start` (version 2 and up):
//! raw PCM s16le bytes, one Opus packet per frame, or G.711 bytes. The
//! client opens with `start`, naming the protocol version it speaks; the
//! server answers `ready` or an `error` and closes. Versions are whole
//! numbers: a server speaks every version from [`MIN_PROTOCOL_VERSION`] to
//! [`PROTOCOL_VERSION`].
//!
//! With audio, the server detects speech and its end itself and sends
//! `speech_started`, `partial_transcript` (while the user speaks),
//! `speech_stopped`, then `transcript` (final) followed by the turn's
//! `turn_result`. Audio timestamps (`*_ms`) count from the first audio byte.

use serde::{Deserialize, Serialize};

use crate::api::TurnResponse;

/// The newest stream protocol version this crate describes (2: audio in).
pub const PROTOCOL_VERSION: u32 = 2;
/// The first version that carries audio.
pub const AUDIO_PROTOCOL_VERSION: u32 = 2;

/// How the client's binary frames are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioEncoding {
    /// Signed 16-bit little-endian PCM, channels interleaved.
    PcmS16le,
    /// One Opus packet per binary frame.
    Opus,
    /// G.711 mu-law (8 kHz).
    Mulaw,
    /// G.711 A-law (8 kHz).
    Alaw,
}

/// The audio a client wants replies spoken in (binary frames from the
/// server, 20 ms each): `pcm_s16le` at 16 or 24 kHz, `opus` at 16 or
/// 24 kHz, or `mulaw` at 8 kHz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioOutput {
    pub encoding: AudioEncoding,
    pub sample_rate: u32,
}

/// The audio a client will send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioInput {
    pub encoding: AudioEncoding,
    pub sample_rate: u32,
    #[serde(default = "one_channel")]
    pub channels: u16,
}

fn one_channel() -> u16 {
    1
}
/// The oldest version a server still speaks.
pub const MIN_PROTOCOL_VERSION: u32 = 1;

/// Messages from the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message on a stream.
    Start {
        protocol_version: u32,
        /// Present when the client will stream audio (version 2 and up).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio: Option<AudioInput>,
        /// Present when replies should be spoken back (version 2 and up).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<AudioOutput>,
    },
    /// A user utterance as text (typed, or transcribed by the client or a
    /// telephony provider).
    Text {
        text: String,
        /// Optional client id for the turn, echoed in the result.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn_id: Option<String>,
    },
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
    },
    /// The client is done; the server answers `bye` and closes.
    Stop,
}

/// Events from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    Ready {
        session_id: String,
        protocol_version: u32,
        /// The greeting, or the last reply when resuming a conversation.
        prompt: String,
    },
    /// Voice activity began.
    SpeechStarted {
        at_ms: u64,
    },
    /// A best guess at what is being said, while it is being said.
    PartialTranscript {
        text: String,
    },
    /// The end of the utterance was detected (after the configured silence).
    SpeechStopped {
        at_ms: u64,
    },
    /// The final transcript of an utterance; a `turn_result` follows.
    Transcript {
        text: String,
        /// When speech ended in the audio.
        speech_end_ms: u64,
        /// Time from the confirmed endpoint to this transcript, in ms
        /// (near zero when decoding started as the silence began).
        latency_ms: u64,
        /// Decoder time spent on the final transcript, in ms.
        decode_ms: u64,
    },
    TurnResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn_id: Option<String>,
        result: TurnResponse,
    },
    /// A reply starts being spoken; its audio frames follow.
    ReplyStarted {
        turn: u64,
        text: String,
    },
    /// The reply's audio is complete (all frames sent).
    ReplyFinished {
        turn: u64,
    },
    /// Where the time of a turn went, in ms; absent stages did not apply
    /// (a text turn has no ASR; a stream without spoken replies no TTS).
    /// Sent when the reply's first audio leaves, or after the turn result
    /// when replies are not spoken.
    TurnMetrics {
        turn: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint_to_transcript_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        asr_decode_ms: Option<u64>,
        /// The dialogue turn: session load, understanding, tools, save.
        dialogue_ms: u64,
        /// Booking tool calls within the dialogue turn.
        tools_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tts_first_audio_ms: Option<u64>,
        /// End of the user's speech (in the audio) to the reply's first
        /// audio byte on the socket.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voice_to_voice_ms: Option<u64>,
    },
    /// The user spoke over the reply: its audio stopped; `heard` is what
    /// had been played (the session records it as what the user heard).
    Interrupted {
        turn: u64,
        heard: String,
        /// Where in the user's audio (ms from its first byte) the voice
        /// that interrupted began to be detected.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        onset_ms: Option<u64>,
        /// Where in the user's audio that voice was recognised as speech
        /// and the reply stopped: `detected_ms - onset_ms` is the VAD's
        /// share of the barge-in latency.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detected_ms: Option<u64>,
    },
    Error {
        code: String,
        message: String,
        /// False when the server closes the stream after this error.
        recoverable: bool,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
    },
    Bye,
}
