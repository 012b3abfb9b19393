//! The schema, created idempotently at startup, and its version.
//!
//! Statements are portable between SQLite and PostgreSQL: `BIGINT` and
//! `TEXT` columns only, and `CREATE ... IF NOT EXISTS`, so running them
//! again on every start is harmless.

use super::Backend;
use crate::error::BookingError;
use crate::store::rows::timestamp;
use chrono::{DateTime, Utc};
use sqlx::{AnyPool, Row};

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

/// Creates whatever is missing and records the version; refuses a database
/// written by a newer schema.
pub(super) async fn migrate(pool: &AnyPool, backend: Backend, now: DateTime<Utc>) -> Result<(), BookingError> {
    let mut tx = pool.begin().await?;
    if backend == Backend::Postgres {
        // Two services starting at once against an empty database would
        // otherwise race on CREATE TABLE IF NOT EXISTS (a known
        // PostgreSQL wart); serialise them.
        sqlx::query("SELECT pg_advisory_xact_lock(7305420091)").execute(&mut *tx).await?;
    }
    for statement in SCHEMA {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    let found: Option<i64> =
        sqlx::query("SELECT MAX(version) FROM schema_version").fetch_one(&mut *tx).await?.try_get(0)?;
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
