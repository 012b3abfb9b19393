//! Where session state lives between turns.
//!
//! Two stores implement one contract: Redis (the production store, shared
//! by every gateway process) and an in-process map (the embedded default
//! when no Redis URL is configured). Both store the state as JSON with a
//! time-to-live refreshed on every write, and both write only if the stored
//! version is still the one the turn started from (optimistic concurrency):
//! two concurrent turns on one session cannot overwrite each other, the
//! loser retries on the winner's state.

mod memory;
mod redis_store;

pub use memory::MemoryStore;
pub use redis_store::RedisStore;

use std::time::Duration;

use async_trait::async_trait;

use crate::state::SessionState;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    #[error("stored session is corrupt: {0}")]
    Corrupt(String),
}

/// The answer to a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Written; the state's version is now `expected + 1`.
    Written,
    /// Someone else wrote first; reload and redo the turn.
    Conflict,
    /// The session expired or was deleted meanwhile.
    Missing,
}

#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session (version 0). False if the id is taken.
    async fn create(&self, state: &SessionState, ttl: Duration) -> Result<bool, StoreError>;
    /// The session with its stored version, None if absent or expired.
    async fn load(&self, id: &str) -> Result<Option<SessionState>, StoreError>;
    /// Writes `state` if the stored version is still `state.version`, and
    /// bumps the version (in the store and in `state`).
    async fn save(&self, state: &mut SessionState, ttl: Duration) -> Result<Saved, StoreError>;
    async fn delete(&self, id: &str) -> Result<bool, StoreError>;
    /// Time left before the session expires.
    async fn ttl(&self, id: &str) -> Result<Option<Duration>, StoreError>;
    /// Cheap liveness check for readiness probes.
    async fn ping(&self) -> Result<(), StoreError>;
}

fn encode(state: &SessionState) -> Result<String, StoreError> {
    serde_json::to_string(state).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The next version of `state` and its JSON, for a conditional write.
fn next_version(state: &SessionState) -> Result<(u64, u64, String), StoreError> {
    let expected = state.version;
    let mut next = state.clone();
    next.version = expected + 1;
    Ok((expected, expected + 1, encode(&next)?))
}

fn decode(text: &str, version: u64) -> Result<SessionState, StoreError> {
    let mut state: SessionState = serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    state.version = version;
    Ok(state)
}
