//! The writes a booking transaction is made of.
//!
//! Each takes the transaction's connection; none commits. The inventory
//! statements are conditional `UPDATE`s, so the database decides, row by
//! row and under its own locks, whether there is enough left.

use super::rows::{BookingRow, OperationRow, item_json};
use crate::error::BookingError;
use crate::inventory::{InventoryKey, Need};
use sqlx::AnyConnection;

/// Applies one inventory change inside a transaction. A take (negative
/// delta) succeeds only while enough is left; a release only while it stays
/// within capacity, so a double release is caught instead of minting seats.
/// Returns whether the row changed.
pub async fn apply_delta(conn: &mut AnyConnection, need: &Need, delta: i64) -> Result<bool, BookingError> {
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

pub async fn insert_booking(conn: &mut AnyConnection, row: &BookingRow) -> Result<(), BookingError> {
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

pub async fn insert_operation(conn: &mut AnyConnection, op: &OperationRow) -> Result<(), BookingError> {
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
