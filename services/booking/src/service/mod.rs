//! The booking service: search, hold, book, get, modify and cancel.
//!
//! Searches are pure catalogue work plus a read of the inventory counts.
//! Every write runs in one database transaction that changes the booking
//! row and the inventory together, so a booking and the seats it holds can
//! never disagree, and every write is idempotent:
//!
//! * creating a booking (hold, or direct book) is keyed by the `UNIQUE`
//!   idempotency key of the booking row, inserted first in the
//!   transaction: of two identical concurrent requests the database lets
//!   one insert, the other fails on the key, rolls back and answers the
//!   winner's booking;
//! * changing a booking (confirm a hold, modify, cancel) writes the booking
//!   only if its version is still the one read (optimistic concurrency),
//!   and records the key with the answer in `booking_operations` in the same
//!   transaction; a retry finds the record and gets the same answer.
//!
//! A key belongs to one request: reusing it for another request, or for a
//! different kind of write, is `idempotency_conflict`.

use crate::airports::AirportDirectory;
use crate::catalog::{Catalog, Itinerary, Stay};
use crate::clock::Clock;
use crate::config::BookingConfig;
use crate::error::BookingError;
use crate::inventory::{InventoryKey, Need, deltas};
use crate::offer_id::OfferSpec;
use crate::store::{BookingRow, Store, apply_delta};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use voxbook_proto::booking::BookedItem;

mod change;
mod create;
mod expiry;
mod search;

/// Offers returned by a search.
pub const MAX_OFFERS: usize = 5;
/// Rounds of optimistic retry before answering `busy`; each round only
/// repeats because another writer made progress.
const MAX_ATTEMPTS: u32 = 16;
/// Holds expired per sweep, so one sweep stays short.
const SWEEP_BATCH: i64 = 200;

/// The booking service. Every method takes `&self`; share one instance
/// behind an `Arc` (the HTTP router and the gateway both do).
pub struct BookingService {
    store: Store,
    /// Pure: schedules, hotels and prices for the known airports.
    catalog: Catalog,
    /// Every "now" comes from here, so tests can move time.
    clock: Arc<dyn Clock>,
    hold_ttl: chrono::Duration,
}

impl BookingService {
    /// Connects to `database_url` (see [`Store::connect`] for the accepted
    /// forms), creates the schema if needed, and serves the inventory of
    /// `airports`.
    pub async fn connect(
        database_url: &str,
        airports: Arc<AirportDirectory>,
        config: BookingConfig,
    ) -> Result<Self, BookingError> {
        let now = config.clock.now();
        let store = Store::connect(database_url, config.max_connections, now).await?;
        let hold_ttl = chrono::Duration::from_std(config.hold_ttl)
            .map_err(|_| BookingError::Config("hold TTL is out of range".to_string()))?;
        Ok(Self { store, catalog: Catalog::new(airports), clock: config.clock, hold_ttl })
    }

    pub fn airports(&self) -> &AirportDirectory {
        self.catalog.airports()
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The store, for operators and tests that look at inventory counts.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The day a request's sale window counts from: the caller's as-of
    /// date when it sent one (a demo or QA session with a fixed clock, see
    /// [`crate::http::AS_OF_HEADER`]), else the service clock's. Only the
    /// sale window moves with it; hold expiry and timestamps stay on the
    /// service clock, because they are about real time passing.
    fn today(&self, as_of: Option<NaiveDate>) -> NaiveDate {
        as_of.unwrap_or_else(|| self.now().date_naive())
    }

    /// Checks the database answers.
    pub async fn health(&self) -> Result<(), BookingError> {
        self.store.ping().await
    }

    /// Closes the database pool; call on shutdown.
    pub async fn close(&self) {
        self.store.close().await;
    }

    fn rebuild_offer(&self, spec: OfferSpec) -> Result<BuiltOffer, BookingError> {
        Ok(match spec {
            OfferSpec::Flight(f) => BuiltOffer::flight(self.catalog.itinerary(f)?),
            OfferSpec::Hotel(h) => BuiltOffer::hotel(self.catalog.stay(h)?),
        })
    }
}

/// An offer rebuilt from its spec, with what it takes.
struct BuiltOffer {
    kind: BuiltKind,
    /// The inventory it takes.
    needs: Vec<Need>,
    /// Travel dates, which must all still be on sale when it is booked.
    dates: Vec<NaiveDate>,
}

enum BuiltKind {
    Flight(Itinerary),
    Hotel(Stay),
}

impl BuiltOffer {
    fn flight(it: Itinerary) -> Self {
        BuiltOffer { needs: it.needs(), dates: it.dates(), kind: BuiltKind::Flight(it) }
    }

    fn hotel(stay: Stay) -> Self {
        BuiltOffer { needs: stay.needs(), dates: vec![stay.spec.check_in], kind: BuiltKind::Hotel(stay) }
    }

    fn item(&self, left: u32) -> BookedItem {
        match &self.kind {
            BuiltKind::Flight(it) => BookedItem::Flight(it.to_offer(left)),
            BuiltKind::Hotel(stay) => BookedItem::Hotel(stay.to_offer(left)),
        }
    }
}

fn stored_spec(row: &BookingRow) -> Result<OfferSpec, BookingError> {
    OfferSpec::parse(&row.offer_id)
        .map_err(|e| BookingError::Corrupt(format!("booking {}: stored {e}", row.booking_ref)))
}

async fn release_all(conn: &mut sqlx::AnyConnection, release: &[Need]) -> Result<(), BookingError> {
    for (need, delta) in deltas(release, &[]) {
        if !apply_delta(conn, &need, delta).await? {
            return Err(over_release(&need));
        }
    }
    Ok(())
}

fn left_of(need: &Need, left: &HashMap<InventoryKey, u32>) -> u32 {
    left.get(&need.key).copied().unwrap_or(need.capacity)
}

fn fewest_left(needs: &[Need], left: &HashMap<InventoryKey, u32>) -> u32 {
    needs.iter().map(|n| left_of(n, left)).min().unwrap_or(0)
}

fn sold_out(need: &Need) -> BookingError {
    let what = match &need.key {
        InventoryKey::Flight(_) => "seats",
        InventoryKey::HotelNight { .. } => "rooms",
    };
    BookingError::SoldOut(format!("not enough {what} left on {}", need.key.describe()))
}

fn over_release(need: &Need) -> BookingError {
    BookingError::Corrupt(format!("releasing {} would exceed its capacity", need.key.describe()))
}
