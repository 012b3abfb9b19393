//! Bookings and recorded operations as stored, and their conversions.
//!
//! Timestamps are stored as RFC 3339 text in UTC with millisecond precision
//! (`2026-06-12T09:30:00.000Z`): that text sorts like the instants it
//! names in both databases, and is what clients see.

use crate::error::BookingError;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Row;
use voxbook_proto::booking::{BookedItem, Booking, BookingStatus};

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

pub(super) const SELECT_BOOKING_BY_REF: &str = "SELECT booking_ref, idempotency_key, request_fingerprint,
        status, offer_id, item_json, created_at, updated_at, hold_expires_at, version
     FROM bookings WHERE booking_ref = $1";

pub(super) const SELECT_BOOKING_BY_KEY: &str = "SELECT booking_ref, idempotency_key, request_fingerprint,
        status, offer_id, item_json, created_at, updated_at, hold_expires_at, version
     FROM bookings WHERE idempotency_key = $1";

pub(super) fn booking_from_row(row: &sqlx::any::AnyRow) -> Result<BookingRow, BookingError> {
    let status: String = row.try_get(3)?;
    let item_json: String = row.try_get(5)?;
    let version: i64 = row.try_get(9)?;
    Ok(BookingRow {
        booking_ref: row.try_get(0)?,
        idempotency_key: row.try_get(1)?,
        request_fingerprint: row.try_get(2)?,
        status: parse_status(&status)?,
        offer_id: row.try_get(4)?,
        item: serde_json::from_str(&item_json).map_err(|e| BookingError::Corrupt(format!("booking item: {e}")))?,
        created_at: row.try_get(6)?,
        updated_at: row.try_get(7)?,
        hold_expires_at: row.try_get(8)?,
        version: u32::try_from(version).map_err(|_| BookingError::Corrupt(format!("booking version {version}")))?,
    })
}

fn parse_status(s: &str) -> Result<BookingStatus, BookingError> {
    [BookingStatus::Held, BookingStatus::Confirmed, BookingStatus::Cancelled, BookingStatus::Expired]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| BookingError::Corrupt(format!("unknown booking status {s:?}")))
}

pub(super) fn item_json(item: &BookedItem) -> Result<String, BookingError> {
    serde_json::to_string(item).map_err(|e| BookingError::Corrupt(format!("cannot serialise item: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_sort_as_text() {
        use chrono::TimeZone;
        let a = Utc.with_ymd_and_hms(2026, 6, 12, 9, 5, 0).unwrap();
        let b = a + chrono::Duration::milliseconds(1);
        assert_eq!(timestamp(a), "2026-06-12T09:05:00.000Z");
        assert!(timestamp(a) < timestamp(b));
        assert_eq!(parse_timestamp(&timestamp(b)).unwrap(), b);
    }

    #[test]
    fn statuses_round_trip() {
        for st in [BookingStatus::Held, BookingStatus::Confirmed, BookingStatus::Cancelled, BookingStatus::Expired] {
            assert_eq!(parse_status(st.as_str()).unwrap(), st);
        }
        assert!(parse_status("pending").is_err());
    }
}
