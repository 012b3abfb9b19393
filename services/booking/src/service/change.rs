//! Changing existing bookings: confirming a hold, modifying, cancelling.
//!
//! Each change is one transaction that writes the booking only if its
//! version is still the one read (a concurrent writer makes us read again
//! and decide again), moves inventory, and records the idempotency key with
//! the answer in `booking_operations`, so a retry gets the same answer and
//! nothing is applied twice.

use super::{BookingService, MAX_ATTEMPTS, fewest_left, over_release, sold_out, stored_spec};
use crate::error::BookingError;
use crate::fingerprint::{fingerprint, opt};
use crate::inventory::{Need, deltas, held_needs};
use crate::offer_id::{MAX_GUESTS, MAX_NIGHTS, MAX_PASSENGERS, OfferSpec};
use crate::refs::normalize_ref;
use crate::store::{
    BookingRow, OperationRow, apply_delta, insert_operation, is_unique_violation, timestamp, update_booking,
};
use crate::validate;
use chrono::NaiveDate;
use voxbook_proto::booking::{Booking, BookingStatus, CancelRequest, ModifyRequest};

/// A change to one booking, as one transaction applies it.
struct Change<'a> {
    /// The booking as read; the write only happens if it is still so.
    before: &'a BookingRow,
    after: BookingRow,
    /// Inventory `before` holds and gives back.
    release: &'a [Need],
    /// Inventory `after` holds and takes.
    take: &'a [Need],
}

/// What one change transaction did.
enum Outcome {
    Done(Box<Booking>),
    /// Someone else changed the booking (or recorded the key) first: read
    /// again and decide again.
    Retry,
}

impl BookingService {
    pub(super) async fn confirm_hold(&self, hold_ref: &str, key: &str) -> Result<Booking, BookingError> {
        let r = normalize_ref(hold_ref).ok_or_else(|| BookingError::NotFound(hold_ref.trim().to_string()))?;
        let fp = fingerprint(&["confirm", &r]);
        for _ in 0..MAX_ATTEMPTS {
            if let Some(answer) = self.replay_change(key, &fp).await? {
                return Ok(answer);
            }
            let attempt = self.try_confirm(&r, key, &fp).await;
            if let Some(booking) = self.settle(key, &fp, attempt).await? {
                return Ok(booking);
            }
        }
        Err(BookingError::Busy)
    }

    async fn try_confirm(&self, r: &str, key: &str, fp: &str) -> Result<Outcome, BookingError> {
        let row = self.load_current(r).await?;
        let after = match row.status {
            BookingStatus::Held => {
                let mut after = row.clone();
                after.status = BookingStatus::Confirmed;
                after.hold_expires_at = None;
                after.updated_at = timestamp(self.now());
                after.version += 1;
                after
            }
            // Confirming twice is harmless: answer the booking as it is.
            BookingStatus::Confirmed => row.clone(),
            BookingStatus::Expired => return Err(BookingError::HoldExpired(r.to_string())),
            BookingStatus::Cancelled => {
                return Err(BookingError::InvalidState(format!("booking {r} was cancelled and cannot be confirmed")));
            }
        };
        let change = Change { before: &row, after, release: &[], take: &[] };
        self.apply_change(key, fp, "confirm", change).await
    }

    /// Cancels a confirmed booking or releases a hold.
    pub async fn cancel(&self, booking_ref: &str, req: &CancelRequest) -> Result<Booking, BookingError> {
        validate::idempotency_key(&req.idempotency_key)?;
        let r = normalize_ref(booking_ref).ok_or_else(|| BookingError::NotFound(booking_ref.trim().to_string()))?;
        let key = req.idempotency_key.as_str();
        let fp = fingerprint(&["cancel", &r]);
        for _ in 0..MAX_ATTEMPTS {
            if let Some(answer) = self.replay_change(key, &fp).await? {
                return Ok(answer);
            }
            let attempt = self.try_cancel(&r, key, &fp).await;
            if let Some(booking) = self.settle(key, &fp, attempt).await? {
                return Ok(booking);
            }
        }
        Err(BookingError::Busy)
    }

    async fn try_cancel(&self, r: &str, key: &str, fp: &str) -> Result<Outcome, BookingError> {
        let row = self.load_current(r).await?;
        match row.status {
            BookingStatus::Held | BookingStatus::Confirmed => {}
            BookingStatus::Cancelled => {
                return Err(BookingError::InvalidState(format!("booking {r} is already cancelled")));
            }
            BookingStatus::Expired => return Err(BookingError::HoldExpired(r.to_string())),
        }
        let mut after = row.clone();
        after.status = BookingStatus::Cancelled;
        after.hold_expires_at = None;
        after.updated_at = timestamp(self.now());
        after.version += 1;
        let release = held_needs(&stored_spec(&row)?);
        let outcome =
            self.apply_change(key, fp, "cancel", Change { before: &row, after, release: &release, take: &[] }).await?;
        if matches!(outcome, Outcome::Done(_)) {
            tracing::info!(booking_ref = %r, "booking cancelled");
        }
        Ok(outcome)
    }

    /// Moves a booking to other dates or another party size: the old
    /// inventory is released and the new taken in one transaction, the price
    /// is recomputed, and the version bumps.
    pub async fn modify(&self, booking_ref: &str, req: &ModifyRequest) -> Result<Booking, BookingError> {
        self.modify_as_of(booking_ref, req, None).await
    }

    /// [`Self::modify`] with the sale window for the new dates counted from
    /// `as_of` when given.
    pub async fn modify_as_of(
        &self,
        booking_ref: &str,
        req: &ModifyRequest,
        as_of: Option<NaiveDate>,
    ) -> Result<Booking, BookingError> {
        validate::idempotency_key(&req.idempotency_key)?;
        let r = normalize_ref(booking_ref).ok_or_else(|| BookingError::NotFound(booking_ref.trim().to_string()))?;
        let key = req.idempotency_key.as_str();
        let fp = fingerprint(&[
            "modify",
            &r,
            &opt(&req.depart_date),
            &opt(&req.return_date),
            &opt(&req.passengers),
            &opt(&req.check_in),
            &opt(&req.nights),
            &opt(&req.guests),
        ]);
        for _ in 0..MAX_ATTEMPTS {
            if let Some(answer) = self.replay_change(key, &fp).await? {
                return Ok(answer);
            }
            let attempt = self.try_modify(&r, req, &fp, self.today(as_of)).await;
            if let Some(booking) = self.settle(key, &fp, attempt).await? {
                return Ok(booking);
            }
        }
        Err(BookingError::Busy)
    }

    async fn try_modify(
        &self,
        r: &str,
        req: &ModifyRequest,
        fp: &str,
        today: NaiveDate,
    ) -> Result<Outcome, BookingError> {
        let row = self.load_current(r).await?;
        match row.status {
            BookingStatus::Held | BookingStatus::Confirmed => {}
            BookingStatus::Cancelled => {
                return Err(BookingError::InvalidState(format!("booking {r} is cancelled and cannot be changed")));
            }
            BookingStatus::Expired => return Err(BookingError::HoldExpired(r.to_string())),
        }
        let old_spec = stored_spec(&row)?;
        let new_spec = self.modified_spec(&old_spec, req, today)?;
        let offer = self.rebuild_offer(new_spec.clone()).map_err(|e| match e {
            // The client asked for a change, not for an offer id.
            BookingError::InvalidOffer(m) => BookingError::InvalidRequest(m),
            other => other,
        })?;
        for need in &offer.needs {
            self.store.ensure(need).await?;
        }
        let left = self.store.availability(&offer.needs).await?;
        let mut after = row.clone();
        after.offer_id = new_spec.encode();
        after.item = offer.item(fewest_left(&offer.needs, &left));
        after.updated_at = timestamp(self.now());
        after.version += 1;
        let release = held_needs(&old_spec);
        let outcome = self
            .apply_change(
                &req.idempotency_key,
                fp,
                "modify",
                Change { before: &row, after, release: &release, take: &offer.needs },
            )
            .await?;
        if matches!(outcome, Outcome::Done(_)) {
            tracing::info!(booking_ref = %r, offer_id = %new_spec, "booking modified");
        }
        Ok(outcome)
    }

    /// Turns one attempt at a change into an answer, `None` meaning "try
    /// again". A refusal (sold out, already cancelled...) may only mean
    /// that a twin request with the same key got there first, in which
    /// case its answer is ours too.
    async fn settle(
        &self,
        key: &str,
        fp: &str,
        attempt: Result<Outcome, BookingError>,
    ) -> Result<Option<Booking>, BookingError> {
        match attempt {
            Ok(Outcome::Done(booking)) => Ok(Some(*booking)),
            Ok(Outcome::Retry) => Ok(None),
            Err(e) if !e.is_internal() => match self.replay_change(key, fp).await? {
                Some(answer) => Ok(Some(answer)),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// The offer a modification asks for, validated.
    fn modified_spec(&self, old: &OfferSpec, req: &ModifyRequest, today: NaiveDate) -> Result<OfferSpec, BookingError> {
        let invalid = |m: &str| Err(BookingError::InvalidRequest(m.to_string()));
        match old {
            OfferSpec::Flight(old) => {
                if req.check_in.is_some() || req.nights.is_some() || req.guests.is_some() {
                    return invalid("check_in, nights and guests apply to hotel bookings");
                }
                if req.depart_date.is_none() && req.return_date.is_none() && req.passengers.is_none() {
                    return invalid("nothing to change: give depart_date, return_date or passengers");
                }
                let mut spec = old.clone();
                if let Some(d) = &req.depart_date {
                    spec.depart_date = validate::parse_date("depart_date", d)?;
                }
                if let Some(d) = &req.return_date {
                    let Some(inbound) = spec.inbound.as_mut() else {
                        return invalid("this is a one-way booking: there is no return to move");
                    };
                    inbound.date = validate::parse_date("return_date", d)?;
                }
                if let Some(p) = req.passengers {
                    validate::count_in_range("passengers", p, MAX_PASSENGERS)?;
                    spec.passengers = p;
                }
                validate::bookable_date("depart_date", spec.depart_date, today)?;
                if let Some(inbound) = &spec.inbound {
                    if inbound.date < spec.depart_date {
                        return invalid("return_date must not be before depart_date");
                    }
                    validate::bookable_date("return_date", inbound.date, today)?;
                }
                Ok(OfferSpec::Flight(spec))
            }
            OfferSpec::Hotel(old) => {
                if req.depart_date.is_some() || req.return_date.is_some() || req.passengers.is_some() {
                    return invalid("depart_date, return_date and passengers apply to flight bookings");
                }
                if req.check_in.is_none() && req.nights.is_none() && req.guests.is_none() {
                    return invalid("nothing to change: give check_in, nights or guests");
                }
                let mut spec = old.clone();
                if let Some(d) = &req.check_in {
                    spec.check_in = validate::parse_date("check_in", d)?;
                }
                if let Some(n) = req.nights {
                    validate::count_in_range("nights", n, MAX_NIGHTS)?;
                    spec.nights = n;
                }
                if let Some(g) = req.guests {
                    validate::count_in_range("guests", g, MAX_GUESTS)?;
                    spec.guests = g;
                }
                validate::bookable_date("check_in", spec.check_in, today)?;
                Ok(OfferSpec::Hotel(spec))
            }
        }
    }

    /// The answer an earlier change with this key gave, if any.
    async fn replay_change(&self, key: &str, fp: &str) -> Result<Option<Booking>, BookingError> {
        if let Some(op) = self.store.operation_by_key(key).await? {
            if op.request_fingerprint != fp {
                return Err(BookingError::IdempotencyConflict);
            }
            return Ok(Some(op.result));
        }
        if self.store.booking_by_key(key).await?.is_some() {
            return Err(BookingError::IdempotencyConflict);
        }
        Ok(None)
    }

    /// One change transaction: write `after` over `before` (if nobody beat
    /// us to it), move inventory, record the key and the answer.
    async fn apply_change(
        &self,
        key: &str,
        fp: &str,
        operation: &str,
        change: Change<'_>,
    ) -> Result<Outcome, BookingError> {
        let Change { before, after, release, take } = change;
        let mut tx = self.store.begin().await?;
        // Written even when nothing changes (a second confirm): the version
        // check still proves the booking is as we read it, and on
        // PostgreSQL the row lock serialises changes to one booking.
        if !update_booking(&mut tx, &after, before.version).await? {
            tx.rollback().await?;
            return Ok(Outcome::Retry);
        }
        for (need, delta) in deltas(release, take) {
            if !apply_delta(&mut tx, &need, delta).await? {
                tx.rollback().await?;
                return Err(if delta < 0 { sold_out(&need) } else { over_release(&need) });
            }
        }
        let answer = after.to_booking();
        let op = OperationRow {
            idempotency_key: key.to_string(),
            booking_ref: after.booking_ref.clone(),
            operation: operation.to_string(),
            request_fingerprint: fp.to_string(),
            result: answer.clone(),
            created_at: after.updated_at.clone(),
        };
        match insert_operation(&mut tx, &op).await {
            Ok(()) => {}
            Err(BookingError::Database(e)) if is_unique_violation(&e) => {
                tx.rollback().await?;
                return Ok(Outcome::Retry);
            }
            Err(e) => return Err(e),
        }
        tx.commit().await?;
        Ok(Outcome::Done(Box::new(answer)))
    }
}
