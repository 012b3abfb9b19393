//! Persistence: the inventory counts, the bookings and the idempotency
//! record of changes, in SQLite or PostgreSQL through sqlx's `Any` driver.
//!
//! Only portable SQL is used (`$n` placeholders, `INSERT ... ON CONFLICT DO
//! NOTHING`, `BIGINT`/`TEXT` columns), so one set of statements serves both
//! databases. Correctness under concurrency rests on the database, not on
//! locks in this process: inventory is taken by a conditional `UPDATE` that
//! only succeeds while enough is left (and a `CHECK` forbids negative
//! counts outright), and the `UNIQUE` idempotency key decides which of two
//! identical concurrent requests wins.
//!
//! `schema` creates the tables, `rows` maps them to types, `writes`
//! holds the statements a booking transaction is made of; reads live here.

mod rows;
mod schema;
mod writes;

pub use rows::{BookingRow, OperationRow, parse_timestamp, timestamp};
pub use schema::SCHEMA_VERSION;
pub use writes::{apply_delta, insert_booking, insert_operation, update_booking};

use crate::error::BookingError;
use crate::inventory::{InventoryKey, Need};
use chrono::{DateTime, NaiveDate, Utc};
use rows::{SELECT_BOOKING_BY_KEY, SELECT_BOOKING_BY_REF, booking_from_row};
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, Row, Transaction};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Whether a statement failed on a `UNIQUE` or primary key constraint: the
/// signal that a concurrent twin request (or an existing reference) won.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The connection pool, and which database it talks to.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// A few things differ: pool sizing, SQLite pragmas, PostgreSQL's
    /// advisory lock around schema creation.
    backend: Backend,
}

impl Store {
    /// Connects and creates the schema. `url` is a `postgres://` URL, a
    /// `sqlite:` URL (`sqlite://path.db`, `sqlite::memory:`) or a bare file
    /// path, which means SQLite; SQLite files are created when missing.
    pub async fn connect(url: &str, max_connections: u32, now: DateTime<Utc>) -> Result<Self, BookingError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalize_url(url)?;
        let pool = match backend {
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(max_connections.max(1))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&url)
                    .await?
            }
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    // One writer is all SQLite allows; one connection also
                    // keeps an in-memory database alive, so it must never be
                    // reaped for idleness or age.
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                            // In-memory databases answer "memory" here; fine.
                            sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
        };
        let store = Store { pool, backend };
        schema::migrate(&store.pool, store.backend, now).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool (waits for connections in use to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn ping(&self) -> Result<(), BookingError> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    pub async fn begin(&self) -> Result<Transaction<'static, Any>, BookingError> {
        Ok(self.pool.begin().await?)
    }

    /// What is left of each unit; untouched units are at capacity.
    pub async fn availability(&self, needs: &[Need]) -> Result<HashMap<InventoryKey, u32>, BookingError> {
        let mut out = HashMap::new();
        // Hotel nights are read per hotel with one range query.
        let mut hotel_ranges: HashMap<&str, (NaiveDate, NaiveDate)> = HashMap::new();
        for need in needs {
            if out.contains_key(&need.key) {
                continue;
            }
            match &need.key {
                InventoryKey::Flight(key) => {
                    let left: Option<i64> =
                        sqlx::query("SELECT seats_left FROM flight_inventory WHERE flight_key = $1")
                            .bind(key.as_str())
                            .fetch_optional(&self.pool)
                            .await?
                            .map(|row| row.try_get(0))
                            .transpose()?;
                    out.insert(need.key.clone(), count(left, need.capacity));
                }
                InventoryKey::HotelNight { hotel_id, night } => {
                    let range = hotel_ranges.entry(hotel_id).or_insert((*night, *night));
                    range.0 = range.0.min(*night);
                    range.1 = range.1.max(*night);
                }
            }
        }
        let mut stored: HashMap<(String, String), i64> = HashMap::new();
        for (hotel_id, (first, last)) in hotel_ranges {
            let rows = sqlx::query(
                "SELECT night, rooms_left FROM hotel_inventory
                 WHERE hotel_id = $1 AND night >= $2 AND night <= $3",
            )
            .bind(hotel_id)
            .bind(first.format("%Y-%m-%d").to_string())
            .bind(last.format("%Y-%m-%d").to_string())
            .fetch_all(&self.pool)
            .await?;
            for row in rows {
                let night: String = row.try_get(0)?;
                let left: i64 = row.try_get(1)?;
                stored.insert((hotel_id.to_string(), night), left);
            }
        }
        for need in needs {
            if let InventoryKey::HotelNight { hotel_id, night } = &need.key {
                let night = night.format("%Y-%m-%d").to_string();
                let left = stored.get(&(hotel_id.clone(), night)).copied();
                out.insert(need.key.clone(), count(left, need.capacity));
            }
        }
        Ok(out)
    }

    /// Creates the unit's row at full capacity if it was never touched.
    /// Runs outside the booking transaction: the row is harmless if that
    /// transaction fails, and creating it beforehand keeps the transaction
    /// to plain row updates taken in key order.
    pub async fn ensure(&self, need: &Need) -> Result<(), BookingError> {
        let capacity = i64::from(need.capacity);
        match &need.key {
            InventoryKey::Flight(key) => {
                sqlx::query(
                    "INSERT INTO flight_inventory (flight_key, capacity, seats_left)
                     VALUES ($1, $2, $2) ON CONFLICT (flight_key) DO NOTHING",
                )
                .bind(key.as_str())
                .bind(capacity)
                .execute(&self.pool)
                .await?;
            }
            InventoryKey::HotelNight { hotel_id, night } => {
                sqlx::query(
                    "INSERT INTO hotel_inventory (hotel_id, night, capacity, rooms_left)
                     VALUES ($1, $2, $3, $3) ON CONFLICT (hotel_id, night) DO NOTHING",
                )
                .bind(hotel_id.as_str())
                .bind(night.format("%Y-%m-%d").to_string())
                .bind(capacity)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    pub async fn booking_by_ref(&self, booking_ref: &str) -> Result<Option<BookingRow>, BookingError> {
        let row = sqlx::query(SELECT_BOOKING_BY_REF).bind(booking_ref).fetch_optional(&self.pool).await?;
        row.map(|r| booking_from_row(&r)).transpose()
    }

    pub async fn booking_by_key(&self, key: &str) -> Result<Option<BookingRow>, BookingError> {
        let row = sqlx::query(SELECT_BOOKING_BY_KEY).bind(key).fetch_optional(&self.pool).await?;
        row.map(|r| booking_from_row(&r)).transpose()
    }

    pub async fn operation_by_key(&self, key: &str) -> Result<Option<OperationRow>, BookingError> {
        let row = sqlx::query(
            "SELECT idempotency_key, booking_ref, operation, request_fingerprint, result_json,
                    created_at
             FROM booking_operations WHERE idempotency_key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let result_json: String = row.try_get(4)?;
        Ok(Some(OperationRow {
            idempotency_key: row.try_get(0)?,
            booking_ref: row.try_get(1)?,
            operation: row.try_get(2)?,
            request_fingerprint: row.try_get(3)?,
            result: serde_json::from_str(&result_json)
                .map_err(|e| BookingError::Corrupt(format!("operation result: {e}")))?,
            created_at: row.try_get(5)?,
        }))
    }

    /// References of holds whose time ran out before `now`.
    pub async fn expired_hold_refs(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<String>, BookingError> {
        let rows = sqlx::query(
            "SELECT booking_ref FROM bookings
             WHERE status = 'held' AND hold_expires_at <= $1
             ORDER BY hold_expires_at LIMIT $2",
        )
        .bind(timestamp(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| r.try_get::<String, _>(0).map_err(BookingError::from)).collect()
    }

    /// Inventory left on one unit, for tests and operators.
    pub async fn units_left(&self, key: &InventoryKey) -> Result<Option<u32>, BookingError> {
        let row = match key {
            InventoryKey::Flight(k) => {
                sqlx::query("SELECT seats_left FROM flight_inventory WHERE flight_key = $1")
                    .bind(k.as_str())
                    .fetch_optional(&self.pool)
                    .await?
            }
            InventoryKey::HotelNight { hotel_id, night } => {
                sqlx::query("SELECT rooms_left FROM hotel_inventory WHERE hotel_id = $1 AND night = $2")
                    .bind(hotel_id.as_str())
                    .bind(night.format("%Y-%m-%d").to_string())
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        row.map(|r| r.try_get::<i64, _>(0).map(|n| n.max(0) as u32)).transpose().map_err(BookingError::from)
    }
}

fn count(stored: Option<i64>, capacity: u32) -> u32 {
    stored.map_or(capacity, |n| n.clamp(0, i64::from(u32::MAX)) as u32)
}

/// Splits out the backend and makes SQLite URLs create their file.
pub fn normalize_url(url: &str) -> Result<(Backend, String), BookingError> {
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_string()));
    }
    let sqlite = if url.starts_with("sqlite:") {
        url.to_string()
    } else if url.contains("://") || url.is_empty() {
        return Err(BookingError::Config("database URL must be postgres://..., sqlite:... or a file path".to_string()));
    } else {
        format!("sqlite://{url}")
    };
    let in_memory = sqlite.contains(":memory:") || sqlite.contains("mode=memory");
    if in_memory || sqlite.contains("mode=") {
        return Ok((Backend::Sqlite, sqlite));
    }
    let separator = if sqlite.contains('?') { '&' } else { '?' };
    Ok((Backend::Sqlite, format!("{sqlite}{separator}mode=rwc")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            normalize_url("sqlite://voxbook.db").unwrap(),
            (Backend::Sqlite, "sqlite://voxbook.db?mode=rwc".into())
        );
        assert_eq!(normalize_url("/tmp/x.db").unwrap(), (Backend::Sqlite, "sqlite:///tmp/x.db?mode=rwc".into()));
        assert_eq!(normalize_url("sqlite::memory:").unwrap(), (Backend::Sqlite, "sqlite::memory:".into()));
        assert_eq!(normalize_url("sqlite://x.db?mode=ro").unwrap(), (Backend::Sqlite, "sqlite://x.db?mode=ro".into()));
        assert_eq!(normalize_url("postgres://u@h/db").unwrap().0, Backend::Postgres);
        assert!(normalize_url("mysql://u@h/db").is_err());
    }
}
