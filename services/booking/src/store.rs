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
//! Timestamps are stored as RFC 3339 text in UTC with millisecond precision
//! (`2026-06-12T09:30:00.000Z`), which sorts as text in both databases.

use crate::error::BookingError;
use crate::inventory::{InventoryKey, Need};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};
use std::collections::HashMap;
use std::time::Duration;
use voxbook_proto::booking::{BookedItem, Booking, BookingStatus};

/// Bumped whenever the schema below changes shape.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: [&str; 7] = [
    "CREATE TABLE IF NOT EXISTS schema_version (
        version BIGINT PRIMARY KEY,
        applied_at TEXT NOT NULL
    )",
    // Rows appear on first touch with the deterministic capacity; the
    // capacity is kept so releases can never push a count above it.
    "CREATE TABLE IF NOT EXISTS flight_inventory (
        flight_key TEXT PRIMARY KEY,
        capacity BIGINT NOT NULL,
        seats_left BIGINT NOT NULL,
        CHECK (seats_left >= 0 AND seats_left <= capacity)
    )",
    "CREATE TABLE IF NOT EXISTS hotel_inventory (
        hotel_id TEXT NOT NULL,
        night TEXT NOT NULL,
        capacity BIGINT NOT NULL,
        rooms_left BIGINT NOT NULL,
        PRIMARY KEY (hotel_id, night),
        CHECK (rooms_left >= 0 AND rooms_left <= capacity)
    )",
    "CREATE TABLE IF NOT EXISTS bookings (
        booking_ref TEXT PRIMARY KEY,
        idempotency_key TEXT NOT NULL UNIQUE,
        request_fingerprint TEXT NOT NULL,
        status TEXT NOT NULL,
        offer_id TEXT NOT NULL,
        item_json TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        hold_expires_at TEXT,
        version BIGINT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS bookings_by_hold_expiry
        ON bookings (status, hold_expires_at)",
    // Idempotency record of changes to existing bookings (confirm, modify,
    // cancel): the answer given the first time, replayed on a retry.
    "CREATE TABLE IF NOT EXISTS booking_operations (
        idempotency_key TEXT PRIMARY KEY,
        booking_ref TEXT NOT NULL,
        operation TEXT NOT NULL,
        request_fingerprint TEXT NOT NULL,
        result_json TEXT NOT NULL,
        created_at TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS booking_operations_by_ref
        ON booking_operations (booking_ref)",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A booking as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct BookingRow {
    pub booking_ref: String,
    pub idempotency_key: String,
    pub request_fingerprint: String,
    pub status: BookingStatus,
    /// The offer as it stands now; the inventory the booking holds is
    /// derived from it, so it changes together with `item`.
    pub offer_id: String,
    pub item: BookedItem,
    pub created_at: String,
    pub updated_at: String,
    pub hold_expires_at: Option<String>,
    pub version: u32,
}

impl BookingRow {
    pub fn to_booking(&self) -> Booking {
        Booking {
            booking_ref: self.booking_ref.clone(),
            status: self.status,
            item: self.item.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            hold_expires_at: self.hold_expires_at.clone(),
            version: self.version,
        }
    }

    /// Whether this booking currently holds inventory.
    pub fn holds_inventory(&self) -> bool {
        matches!(self.status, BookingStatus::Held | BookingStatus::Confirmed)
    }
}

/// A change made under an idempotency key, and the answer it gave.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationRow {
    pub idempotency_key: String,
    pub booking_ref: String,
    pub operation: String,
    pub request_fingerprint: String,
    pub result: Booking,
    pub created_at: String,
}

/// The canonical stored form of a timestamp.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, BookingError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| BookingError::Corrupt(format!("bad stored timestamp {s:?}")))
}

pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects and creates the schema. `url` is a `postgres://` URL, a
    /// `sqlite:` URL (`sqlite://path.db`, `sqlite::memory:`) or a bare file
    /// path, which means SQLite; SQLite files are created when missing.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        now: DateTime<Utc>,
    ) -> Result<Self, BookingError> {
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
                            sqlx::query("PRAGMA busy_timeout = 5000")
                                .execute(&mut *conn)
                                .await?;
                            // In-memory databases answer "memory" here; fine.
                            sqlx::query("PRAGMA journal_mode = WAL")
                                .execute(&mut *conn)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
        };
        let store = Store { pool, backend };
        store.migrate(now).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool (waits for connections in use to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrate(&self, now: DateTime<Utc>) -> Result<(), BookingError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // Two services starting at once against an empty database would
            // otherwise race on CREATE TABLE IF NOT EXISTS (a known
            // PostgreSQL wart); serialise them.
            sqlx::query("SELECT pg_advisory_xact_lock(7305420091)")
                .execute(&mut *tx)
                .await?;
        }
        for statement in SCHEMA {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        let found: Option<i64> = sqlx::query("SELECT MAX(version) FROM schema_version")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if let Some(found) = found
            && found > SCHEMA_VERSION
        {
            return Err(BookingError::Corrupt(format!(
                "database schema version {found} is newer than this service ({SCHEMA_VERSION})"
            )));
        }
        sqlx::query(
            "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(SCHEMA_VERSION)
        .bind(timestamp(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), BookingError> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    pub async fn begin(&self) -> Result<Transaction<'static, Any>, BookingError> {
        Ok(self.pool.begin().await?)
    }

    /// What is left of each unit; untouched units are at capacity.
    pub async fn availability(
        &self,
        needs: &[Need],
    ) -> Result<HashMap<InventoryKey, u32>, BookingError> {
        let mut out = HashMap::new();
        // Hotel nights are read per hotel with one range query.
        let mut hotel_ranges: HashMap<&str, (NaiveDate, NaiveDate)> = HashMap::new();
        for need in needs {
            if out.contains_key(&need.key) {
                continue;
            }
            match &need.key {
                InventoryKey::Flight(key) => {
                    let left: Option<i64> = sqlx::query(
                        "SELECT seats_left FROM flight_inventory WHERE flight_key = $1",
                    )
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

    pub async fn booking_by_ref(
        &self,
        booking_ref: &str,
    ) -> Result<Option<BookingRow>, BookingError> {
        let row = sqlx::query(SELECT_BOOKING_BY_REF)
            .bind(booking_ref)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| booking_from_row(&r)).transpose()
    }

    pub async fn booking_by_key(&self, key: &str) -> Result<Option<BookingRow>, BookingError> {
        let row = sqlx::query(SELECT_BOOKING_BY_KEY)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
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
    pub async fn expired_hold_refs(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<String>, BookingError> {
        let rows = sqlx::query(
            "SELECT booking_ref FROM bookings
             WHERE status = 'held' AND hold_expires_at <= $1
             ORDER BY hold_expires_at LIMIT $2",
        )
        .bind(timestamp(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(BookingError::from))
            .collect()
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
                sqlx::query(
                    "SELECT rooms_left FROM hotel_inventory WHERE hotel_id = $1 AND night = $2",
                )
                .bind(hotel_id.as_str())
                .bind(night.format("%Y-%m-%d").to_string())
                .fetch_optional(&self.pool)
                .await?
            }
        };
        row.map(|r| r.try_get::<i64, _>(0).map(|n| n.max(0) as u32))
            .transpose()
            .map_err(BookingError::from)
    }
}

fn count(stored: Option<i64>, capacity: u32) -> u32 {
    stored.map_or(capacity, |n| n.clamp(0, i64::from(u32::MAX)) as u32)
}

/// Applies one inventory change inside a transaction. A take (negative
/// delta) succeeds only while enough is left; a release only while it stays
/// within capacity, so a double release is caught instead of minting seats.
/// Returns whether the row changed.
pub async fn apply_delta(
    conn: &mut AnyConnection,
    need: &Need,
    delta: i64,
) -> Result<bool, BookingError> {
    let amount = delta.abs();
    let result = match (&need.key, delta < 0) {
        (InventoryKey::Flight(key), true) => {
            sqlx::query(
                "UPDATE flight_inventory SET seats_left = seats_left - $1
                 WHERE flight_key = $2 AND seats_left >= $1",
            )
            .bind(amount)
            .bind(key.as_str())
            .execute(&mut *conn)
            .await?
        }
        (InventoryKey::Flight(key), false) => {
            sqlx::query(
                "UPDATE flight_inventory SET seats_left = seats_left + $1
                 WHERE flight_key = $2 AND seats_left + $1 <= capacity",
            )
            .bind(amount)
            .bind(key.as_str())
            .execute(&mut *conn)
            .await?
        }
        (InventoryKey::HotelNight { hotel_id, night }, true) => {
            sqlx::query(
                "UPDATE hotel_inventory SET rooms_left = rooms_left - $1
                 WHERE hotel_id = $2 AND night = $3 AND rooms_left >= $1",
            )
            .bind(amount)
            .bind(hotel_id.as_str())
            .bind(night.format("%Y-%m-%d").to_string())
            .execute(&mut *conn)
            .await?
        }
        (InventoryKey::HotelNight { hotel_id, night }, false) => {
            sqlx::query(
                "UPDATE hotel_inventory SET rooms_left = rooms_left + $1
                 WHERE hotel_id = $2 AND night = $3 AND rooms_left + $1 <= capacity",
            )
            .bind(amount)
            .bind(hotel_id.as_str())
            .bind(night.format("%Y-%m-%d").to_string())
            .execute(&mut *conn)
            .await?
        }
    };
    Ok(result.rows_affected() == 1)
}

pub async fn insert_booking(
    conn: &mut AnyConnection,
    row: &BookingRow,
) -> Result<(), BookingError> {
    let item_json = item_json(&row.item)?;
    sqlx::query(
        "INSERT INTO bookings (booking_ref, idempotency_key, request_fingerprint, status,
             offer_id, item_json, created_at, updated_at, hold_expires_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(row.booking_ref.as_str())
    .bind(row.idempotency_key.as_str())
    .bind(row.request_fingerprint.as_str())
    .bind(row.status.as_str())
    .bind(row.offer_id.as_str())
    .bind(item_json)
    .bind(row.created_at.as_str())
    .bind(row.updated_at.as_str())
    .bind(row.hold_expires_at.clone())
    .bind(i64::from(row.version))
    .execute(&mut *conn)
    .await
    .map_err(BookingError::Database)?;
    Ok(())
}

/// Writes the changeable fields of `row` if the stored version is still
/// `expected_version` (optimistic concurrency: on PostgreSQL a concurrent
/// writer blocks on the row, then sees the new version and matches
/// nothing). Returns whether it was written.
pub async fn update_booking(
    conn: &mut AnyConnection,
    row: &BookingRow,
    expected_version: u32,
) -> Result<bool, BookingError> {
    let item_json = item_json(&row.item)?;
    let result = sqlx::query(
        "UPDATE bookings SET status = $1, offer_id = $2, item_json = $3, updated_at = $4,
             hold_expires_at = $5, version = $6
         WHERE booking_ref = $7 AND version = $8",
    )
    .bind(row.status.as_str())
    .bind(row.offer_id.as_str())
    .bind(item_json)
    .bind(row.updated_at.as_str())
    .bind(row.hold_expires_at.clone())
    .bind(i64::from(row.version))
    .bind(row.booking_ref.as_str())
    .bind(i64::from(expected_version))
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn insert_operation(
    conn: &mut AnyConnection,
    op: &OperationRow,
) -> Result<(), BookingError> {
    let result_json = serde_json::to_string(&op.result)
        .map_err(|e| BookingError::Corrupt(format!("cannot serialise result: {e}")))?;
    sqlx::query(
        "INSERT INTO booking_operations (idempotency_key, booking_ref, operation,
             request_fingerprint, result_json, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(op.idempotency_key.as_str())
    .bind(op.booking_ref.as_str())
    .bind(op.operation.as_str())
    .bind(op.request_fingerprint.as_str())
    .bind(result_json)
    .bind(op.created_at.as_str())
    .execute(&mut *conn)
    .await
    .map_err(BookingError::Database)?;
    Ok(())
}

const SELECT_BOOKING_BY_REF: &str = "SELECT booking_ref, idempotency_key, request_fingerprint,
        status, offer_id, item_json, created_at, updated_at, hold_expires_at, version
     FROM bookings WHERE booking_ref = $1";

const SELECT_BOOKING_BY_KEY: &str = "SELECT booking_ref, idempotency_key, request_fingerprint,
        status, offer_id, item_json, created_at, updated_at, hold_expires_at, version
     FROM bookings WHERE idempotency_key = $1";

fn booking_from_row(row: &sqlx::any::AnyRow) -> Result<BookingRow, BookingError> {
    let status: String = row.try_get(3)?;
    let item_json: String = row.try_get(5)?;
    let version: i64 = row.try_get(9)?;
    Ok(BookingRow {
        booking_ref: row.try_get(0)?,
        idempotency_key: row.try_get(1)?,
        request_fingerprint: row.try_get(2)?,
        status: parse_status(&status)?,
        offer_id: row.try_get(4)?,
        item: serde_json::from_str(&item_json)
            .map_err(|e| BookingError::Corrupt(format!("booking item: {e}")))?,
        created_at: row.try_get(6)?,
        updated_at: row.try_get(7)?,
        hold_expires_at: row.try_get(8)?,
        version: u32::try_from(version)
            .map_err(|_| BookingError::Corrupt(format!("booking version {version}")))?,
    })
}

fn parse_status(s: &str) -> Result<BookingStatus, BookingError> {
    [
        BookingStatus::Held,
        BookingStatus::Confirmed,
        BookingStatus::Cancelled,
        BookingStatus::Expired,
    ]
    .into_iter()
    .find(|st| st.as_str() == s)
    .ok_or_else(|| BookingError::Corrupt(format!("unknown booking status {s:?}")))
}

fn item_json(item: &BookedItem) -> Result<String, BookingError> {
    serde_json::to_string(item)
        .map_err(|e| BookingError::Corrupt(format!("cannot serialise item: {e}")))
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
        return Err(BookingError::InvalidRequest(
            "database URL must be postgres://..., sqlite:... or a file path".to_string(),
        ));
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
        assert_eq!(
            normalize_url("/tmp/x.db").unwrap(),
            (Backend::Sqlite, "sqlite:///tmp/x.db?mode=rwc".into())
        );
        assert_eq!(
            normalize_url("sqlite::memory:").unwrap(),
            (Backend::Sqlite, "sqlite::memory:".into())
        );
        assert_eq!(
            normalize_url("sqlite://x.db?mode=ro").unwrap(),
            (Backend::Sqlite, "sqlite://x.db?mode=ro".into())
        );
        assert_eq!(
            normalize_url("postgres://u@h/db").unwrap().0,
            Backend::Postgres
        );
        assert!(normalize_url("mysql://u@h/db").is_err());
    }

    #[test]
    fn timestamps_sort_as_text() {
        use chrono::TimeZone;
        let a = Utc.with_ymd_and_hms(2026, 6, 12, 9, 5, 0).unwrap();
        let b = a + chrono::Duration::milliseconds(1);
        assert_eq!(timestamp(a), "2026-06-12T09:05:00.000Z");
        assert!(timestamp(a) < timestamp(b));
        assert_eq!(parse_timestamp(&timestamp(b)).unwrap(), b);
    }
}
