//! The session stream: a WebSocket at `GET /v1/sessions/{id}/stream`.
//!
//! Text frames carry JSON messages tagged by `type`; binary frames are
//! reserved for audio (the speech issues add them, announced by an `audio`
//! field in `start`). The client opens with `start`, naming the protocol
//! version it speaks; the server answers `ready` or an `error` and closes.
//! Versions are whole numbers: a server speaks every version from
//! [`MIN_PROTOCOL_VERSION`] to [`PROTOCOL_VERSION`].

use serde::{Deserialize, Serialize};

use crate::api::TurnResponse;

/// The newest stream protocol version this crate describes.
pub const PROTOCOL_VERSION: u32 = 1;
/// The oldest version a server still speaks.
pub const MIN_PROTOCOL_VERSION: u32 = 1;

/// Messages from the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message on a stream.
    Start { protocol_version: u32 },
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
    TurnResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn_id: Option<String>,
        result: TurnResponse,
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
