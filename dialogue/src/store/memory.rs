//! The in-process session store: the embedded default when no Redis URL is
//! configured. Sessions die with the process and are not shared between
//! processes; everything else behaves as the Redis store does (JSON
//! round-trip, TTL, versioned writes), so the engine cannot come to rely on
//! something only one store gives.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Saved, SessionStore, StoreError, decode, encode, next_version};
use crate::state::SessionState;

struct Entry {
    version: u64,
    json: String,
    expires: Instant,
}

#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Entry>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock cannot leave an entry half-written
        // (each write replaces a whole entry), so a poisoned map is usable.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops expired sessions; called on writes so memory stays bounded by
    /// the live sessions.
    fn sweep(map: &mut HashMap<String, Entry>, now: Instant) {
        map.retain(|_, e| e.expires > now);
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, state: &SessionState, ttl: Duration) -> Result<bool, StoreError> {
        let json = encode(state)?;
        let now = Instant::now();
        let mut map = self.lock();
        Self::sweep(&mut map, now);
        if map.contains_key(&state.id) {
            return Ok(false);
        }
        map.insert(state.id.clone(), Entry { version: 0, json, expires: now + ttl });
        Ok(true)
    }

    async fn load(&self, id: &str) -> Result<Option<SessionState>, StoreError> {
        let map = self.lock();
        match map.get(id) {
            Some(e) if e.expires > Instant::now() => decode(&e.json, e.version).map(Some),
            _ => Ok(None),
        }
    }

    async fn save(&self, state: &mut SessionState, ttl: Duration) -> Result<Saved, StoreError> {
        let (expected, next, json) = next_version(state)?;
        let now = Instant::now();
        let mut map = self.lock();
        match map.get_mut(&state.id) {
            Some(e) if e.expires > now => {
                if e.version != expected {
                    return Ok(Saved::Conflict);
                }
                *e = Entry { version: next, json, expires: now + ttl };
                state.version = next;
                Ok(Saved::Written)
            }
            _ => Ok(Saved::Missing),
        }
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().remove(id).is_some())
    }

    async fn ttl(&self, id: &str) -> Result<Option<Duration>, StoreError> {
        let now = Instant::now();
        Ok(self.lock().get(id).filter(|e| e.expires > now).map(|e| e.expires - now))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
