//! Creating bookings: holds and direct bookings of an offer.
//!
//! The booking row is inserted first in the transaction, then the inventory
//! is taken. On PostgreSQL a concurrent twin (same idempotency key) blocks
//! on the key's unique index until the first commits, then fails before it
//! has touched any inventory, rolls back and answers the first's booking.

use super::{BookingService, MAX_ATTEMPTS, fewest_left, left_of, sold_out};
use crate::error::BookingError;
use crate::fingerprint::fingerprint;
use crate::inventory::deltas;
use crate::offer_id::OfferSpec;
use crate::refs::derive_ref;
use crate::store::{BookingRow, apply_delta, insert_booking, is_unique_violation, timestamp};
use crate::validate;
use chrono::NaiveDate;
use voxbook_proto::booking::{BookRequest, Booking, BookingStatus, HoldRequest};

impl BookingService {
    /// Reserves the offer's inventory for the hold TTL.
    pub async fn hold(&self, req: &HoldRequest) -> Result<Booking, BookingError> {
        self.hold_as_of(req, None).await
    }

    /// [`Self::hold`] with the sale window counted from `as_of` when given;
    /// the hold still expires by the service clock.
    pub async fn hold_as_of(&self, req: &HoldRequest, as_of: Option<NaiveDate>) -> Result<Booking, BookingError> {
        validate::idempotency_key(&req.idempotency_key)?;
        let offer_id = req.offer_id.trim();
        let fp = fingerprint(&["hold", offer_id]);
        self.create(offer_id, &req.idempotency_key, &fp, BookingStatus::Held, as_of).await
    }

    /// Books an offer directly (`offer_id`) or confirms a hold (`hold_ref`).
    pub async fn book(&self, req: &BookRequest) -> Result<Booking, BookingError> {
        self.book_as_of(req, None).await
    }

    /// [`Self::book`] with the sale window counted from `as_of` when given
    /// (confirming a hold checks no dates: the hold did).
    pub async fn book_as_of(&self, req: &BookRequest, as_of: Option<NaiveDate>) -> Result<Booking, BookingError> {
        validate::idempotency_key(&req.idempotency_key)?;
        match (&req.offer_id, &req.hold_ref) {
            (Some(offer_id), None) => {
                let offer_id = offer_id.trim();
                let fp = fingerprint(&["book", offer_id]);
                self.create(offer_id, &req.idempotency_key, &fp, BookingStatus::Confirmed, as_of).await
            }
            (None, Some(hold_ref)) => self.confirm_hold(hold_ref, &req.idempotency_key).await,
            (Some(_), Some(_)) => {
                Err(BookingError::InvalidRequest("give either offer_id or hold_ref, not both".to_string()))
            }
            (None, None) => Err(BookingError::InvalidRequest(
                "give offer_id to book an offer or hold_ref to confirm a hold".to_string(),
            )),
        }
    }

    async fn create(
        &self,
        offer_id: &str,
        key: &str,
        fp: &str,
        status: BookingStatus,
        as_of: Option<NaiveDate>,
    ) -> Result<Booking, BookingError> {
        if let Some(existing) = self.replay_creation(key, fp).await? {
            return Ok(existing);
        }
        let spec = OfferSpec::parse(offer_id).map_err(|e| BookingError::InvalidOffer(e.to_string()))?;
        let offer = self.rebuild_offer(spec)?;
        let today = self.today(as_of);
        for date in &offer.dates {
            validate::bookable_date("offer date", *date, today).map_err(|_| {
                BookingError::InvalidOffer("this offer is for a date that has passed or is not on sale yet".to_string())
            })?;
        }
        for need in &offer.needs {
            self.store.ensure(need).await?;
        }
        let short_of = |left: &_| offer.needs.iter().find(|n| left_of(n, left) < n.quantity);
        let mut left = self.store.availability(&offer.needs).await?;
        // Lapsed holds nobody has read yet still count against inventory;
        // give them back before telling a customer the flight is full.
        if short_of(&left).is_some() && self.sweep_expired_holds().await? > 0 {
            left = self.store.availability(&offer.needs).await?;
        }
        if let Some(short) = short_of(&left) {
            return Err(sold_out(short));
        }
        let item = offer.item(fewest_left(&offer.needs, &left));
        let now = self.now();
        let stamp = timestamp(now);
        let hold_expires_at = (status == BookingStatus::Held).then(|| timestamp(now + self.hold_ttl));

        for attempt in 0..MAX_ATTEMPTS {
            let row = BookingRow {
                booking_ref: derive_ref(key, attempt),
                idempotency_key: key.to_string(),
                request_fingerprint: fp.to_string(),
                status,
                offer_id: offer_id.to_string(),
                item: item.clone(),
                created_at: stamp.clone(),
                updated_at: stamp.clone(),
                hold_expires_at: hold_expires_at.clone(),
                version: 1,
            };
            let mut tx = self.store.begin().await?;
            // The booking row goes first: a concurrent twin blocks on the
            // idempotency key here and fails before touching inventory.
            match insert_booking(&mut tx, &row).await {
                Ok(()) => {}
                Err(BookingError::Database(e)) if is_unique_violation(&e) => {
                    tx.rollback().await?;
                    if let Some(existing) = self.replay_creation(key, fp).await? {
                        return Ok(existing);
                    }
                    // Another key's booking has this reference: next one.
                    continue;
                }
                Err(e) => return Err(e),
            }
            for (need, delta) in deltas(&[], &offer.needs) {
                if !apply_delta(&mut tx, &need, delta).await? {
                    tx.rollback().await?;
                    return Err(sold_out(&need));
                }
            }
            tx.commit().await?;
            tracing::info!(
                booking_ref = %row.booking_ref,
                status = status.as_str(),
                offer_id,
                "booking created"
            );
            return Ok(row.to_booking());
        }
        Err(BookingError::Busy)
    }

    /// The booking an earlier request with this key created, if any.
    async fn replay_creation(&self, key: &str, fp: &str) -> Result<Option<Booking>, BookingError> {
        if let Some(row) = self.store.booking_by_key(key).await? {
            if row.request_fingerprint != fp {
                return Err(BookingError::IdempotencyConflict);
            }
            return Ok(Some(self.refresh(row).await?.to_booking()));
        }
        if self.store.operation_by_key(key).await?.is_some() {
            return Err(BookingError::IdempotencyConflict);
        }
        Ok(None)
    }
}
