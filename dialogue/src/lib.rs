//! The conversation brain of voxbook: intents and slots, the dialogue
//! manager, the session store and the policy for calling booking tools.
//!
//! It takes text (already transcribed) and answers text. It knows nothing of
//! HTTP, axum, audio or Whisper: the gateway hands it utterances and a
//! [`tools::BookingTools`] implementation, and it hands back replies.

pub mod asr_hint;
pub mod assistant;
pub mod config;
pub mod conversation;
pub mod engine;
pub mod eval;
pub mod extract;
pub mod heard;
pub mod nlu;
pub mod state;
pub mod store;
pub mod template;
pub mod tools;
