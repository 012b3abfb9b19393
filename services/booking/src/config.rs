//! Knobs of a [`crate::BookingService`] that are not the database URL.

use crate::clock::{Clock, SystemClock};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct BookingConfig {
    /// How long a hold keeps its inventory before it lapses.
    pub hold_ttl: Duration,
    /// Upper bound of the PostgreSQL pool. SQLite always uses a single
    /// connection: one writer at a time is all SQLite allows anyway, and a
    /// single connection also keeps a `sqlite::memory:` database alive.
    pub max_connections: u32,
    /// The source of "now"; tests swap in a [`crate::ManualClock`].
    pub clock: Arc<dyn Clock>,
}

impl BookingConfig {
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_hold_ttl(mut self, ttl: Duration) -> Self {
        self.hold_ttl = ttl;
        self
    }

    pub fn with_max_connections(mut self, max: u32) -> Self {
        self.max_connections = max;
        self
    }
}

impl Default for BookingConfig {
    fn default() -> Self {
        Self { hold_ttl: Duration::from_secs(10 * 60), max_connections: 10, clock: Arc::new(SystemClock) }
    }
}

impl fmt::Debug for BookingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BookingConfig")
            .field("hold_ttl", &self.hold_ttl)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}
