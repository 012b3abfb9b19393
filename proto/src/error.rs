//! The JSON error body every voxbook HTTP edge answers with.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable `code` plus a human message.
///
/// Clients branch on `code` (it never changes meaning); `message` is for
/// people and may be reworded. Internals (stack traces, SQL, hostnames) never
/// appear in either.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into() }
    }
}
