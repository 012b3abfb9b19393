//! The conversation brain of voxbook: intents and slots, the dialogue
//! manager, the session store and the policy for calling booking tools.
//!
//! It takes text (already transcribed) and answers text. It knows nothing of
//! HTTP, axum, audio or Whisper: the gateway hands it utterances and a
//! [`tools::BookingTools`] implementation, and it hands back replies.

pub mod extract;
