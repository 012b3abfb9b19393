//! What a turn's words came with: typed text is exactly what the user
//! meant, a transcript is the recogniser's best guess, word by word.
//!
//! The engine uses the recogniser's per-word confidence to decide how far
//! to trust a value: a city, date or count heard with low confidence is
//! read back ("From Boston, and when would you like to leave?") or
//! confirmed, never booked silently. The dialogue knows nothing of
//! Whisper: the gateway turns whatever its recogniser reports into this.

use serde::{Deserialize, Serialize};

/// Below this probability a recognised word is doubtful.
pub const DOUBTFUL_BELOW: f32 = 0.5;

/// One recognised word and how sure the recogniser was of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeardWord {
    /// The word as transcribed (any case, punctuation allowed).
    pub word: String,
    /// 0..=1: the lowest probability among the word's tokens.
    pub probability: f32,
}

/// One user turn as it reached the dialogue.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Heard {
    pub text: String,
    /// Empty for typed text (nothing to doubt) and for recognisers that do
    /// not report per-word confidence.
    pub words: Vec<HeardWord>,
}

impl Heard {
    /// Typed (or externally transcribed) text, trusted as it is.
    pub fn typed(text: &str) -> Heard {
        Heard { text: text.to_string(), words: Vec::new() }
    }

    /// A transcript with per-word confidence.
    pub fn spoken(text: &str, words: Vec<HeardWord>) -> Heard {
        Heard { text: text.to_string(), words }
    }
}
