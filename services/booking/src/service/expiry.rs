//! Reading bookings, and the expiry of holds that comes with it.
//!
//! A hold past its time is expired when it is next read (by `get`, by a
//! change, by a retried request) or by the periodic sweep, whichever comes
//! first. The status change is guarded by the booking's version, so the
//! inventory is released exactly once however many readers notice at once.

use super::{BookingService, MAX_ATTEMPTS, SWEEP_BATCH, release_all, stored_spec};
use crate::error::BookingError;
use crate::inventory::held_needs;
use crate::refs::normalize_ref;
use crate::store::{BookingRow, parse_timestamp, timestamp, update_booking};
use voxbook_proto::booking::{Booking, BookingStatus};

impl BookingService {
    /// The booking as it stands; a hold past its time is expired (and its
    /// inventory released) on the way.
    pub async fn get(&self, booking_ref: &str) -> Result<Booking, BookingError> {
        let r = normalize_ref(booking_ref).ok_or_else(|| BookingError::NotFound(booking_ref.trim().to_string()))?;
        Ok(self.load_current(&r).await?.to_booking())
    }

    pub(super) async fn load_current(&self, booking_ref: &str) -> Result<BookingRow, BookingError> {
        let row = self
            .store
            .booking_by_ref(booking_ref)
            .await?
            .ok_or_else(|| BookingError::NotFound(booking_ref.to_string()))?;
        self.refresh(row).await
    }

    /// Applies a due expiry to `row`, exactly once even when many readers
    /// notice it at the same time.
    pub(super) async fn refresh(&self, mut row: BookingRow) -> Result<BookingRow, BookingError> {
        for _ in 0..MAX_ATTEMPTS {
            if !self.hold_lapsed(&row)? {
                return Ok(row);
            }
            let mut expired = row.clone();
            expired.status = BookingStatus::Expired;
            expired.updated_at = timestamp(self.now());
            expired.version += 1;
            let release = held_needs(&stored_spec(&row)?);
            let mut tx = self.store.begin().await?;
            if update_booking(&mut tx, &expired, row.version).await? {
                release_all(&mut tx, &release).await?;
                tx.commit().await?;
                tracing::info!(booking_ref = %row.booking_ref, "hold expired");
                return Ok(expired);
            }
            tx.rollback().await?;
            row = self
                .store
                .booking_by_ref(&row.booking_ref)
                .await?
                .ok_or_else(|| BookingError::NotFound(row.booking_ref.clone()))?;
        }
        Err(BookingError::Busy)
    }

    pub(super) fn hold_lapsed(&self, row: &BookingRow) -> Result<bool, BookingError> {
        if row.status != BookingStatus::Held {
            return Ok(false);
        }
        match &row.hold_expires_at {
            Some(at) => Ok(parse_timestamp(at)? <= self.now()),
            None => Ok(false),
        }
    }

    /// Expires every hold whose time ran out (a background sweep, so
    /// abandoned holds give their inventory back even if nobody reads them).
    /// Returns how many were expired.
    pub async fn sweep_expired_holds(&self) -> Result<u64, BookingError> {
        let refs = self.store.expired_hold_refs(self.now(), SWEEP_BATCH).await?;
        let mut expired = 0;
        for r in refs {
            if let Some(row) = self.store.booking_by_ref(&r).await?
                && self.hold_lapsed(&row)?
                && self.refresh(row).await?.status == BookingStatus::Expired
            {
                expired += 1;
            }
        }
        Ok(expired)
    }
}
