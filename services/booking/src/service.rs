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
use crate::catalog::{Catalog, FlightQuery, HotelQuery, Itinerary, Stay};
use crate::clock::Clock;
use crate::config::BookingConfig;
use crate::error::BookingError;
use crate::fingerprint::{fingerprint, opt};
use crate::inventory::{InventoryKey, Need, deltas, held_needs};
use crate::offer_id::{MAX_GUESTS, MAX_NIGHTS, MAX_PASSENGERS, OfferSpec};
use crate::refs::{derive_ref, normalize_ref};
use crate::store::{
    BookingRow, OperationRow, Store, apply_delta, insert_booking, insert_operation,
    is_unique_violation, parse_timestamp, timestamp, update_booking,
};
use crate::validate;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use voxbook_proto::booking::{
    BookRequest, BookedItem, Booking, BookingStatus, CancelRequest, FlightOffers, FlightSearch,
    HoldRequest, HotelOffers, HotelSearch, ModifyRequest,
};

/// Offers returned by a search.
pub const MAX_OFFERS: usize = 5;
/// Rounds of optimistic retry before answering `busy`; each round only
/// repeats because another writer made progress.
const MAX_ATTEMPTS: u32 = 16;
/// Holds expired per sweep, so one sweep stays short.
const SWEEP_BATCH: i64 = 200;

pub struct BookingService {
    store: Store,
    catalog: Catalog,
    clock: Arc<dyn Clock>,
    hold_ttl: chrono::Duration,
}

/// What the change transaction did.
enum Outcome {
    Done(Box<Booking>),
    /// Someone else changed the booking (or recorded the key) first: read
    /// again and decide again.
    Retry,
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
            .map_err(|_| BookingError::InvalidRequest("hold TTL is out of range".to_string()))?;
        Ok(Self {
            store,
            catalog: Catalog::new(airports),
            clock: config.clock,
            hold_ttl,
        })
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

    fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    /// Checks the database answers.
    pub async fn health(&self) -> Result<(), BookingError> {
        self.store.ping().await
    }

    /// Closes the database pool; call on shutdown.
    pub async fn close(&self) {
        self.store.close().await;
    }

    // ----- search -------------------------------------------------------

    /// Up to [`MAX_OFFERS`] itineraries with enough seats, cheapest first.
    pub async fn search_flights(&self, req: &FlightSearch) -> Result<FlightOffers, BookingError> {
        let query = self.flight_query(req)?;
        let itineraries = self.catalog.itineraries(&query)?;
        let needs: Vec<Need> = itineraries.iter().flat_map(Itinerary::needs).collect();
        let left = self.store.availability(&needs).await?;
        let mut offers: Vec<(Itinerary, u32)> = itineraries
            .into_iter()
            .filter_map(|it| {
                let seats = fewest_left(&it.needs(), &left);
                (seats >= query.passengers).then_some((it, seats))
            })
            .collect();
        offers.sort_by_key(|(it, _)| {
            (
                it.total_minor(),
                it.outbound.depart_minute,
                it.inbound.as_ref().map(|f| f.depart_minute),
            )
        });
        Ok(FlightOffers {
            offers: offers
                .into_iter()
                .take(MAX_OFFERS)
                .map(|(it, seats)| it.to_offer(seats))
                .collect(),
        })
    }

    /// Up to [`MAX_OFFERS`] stays with enough rooms every night, cheapest
    /// first.
    pub async fn search_hotels(&self, req: &HotelSearch) -> Result<HotelOffers, BookingError> {
        let query = self.hotel_query(req)?;
        let stays = self.catalog.stays(&query)?;
        let needs: Vec<Need> = stays.iter().flat_map(Stay::needs).collect();
        let left = self.store.availability(&needs).await?;
        let mut offers: Vec<(Stay, u32)> = stays
            .into_iter()
            .filter_map(|stay| {
                let rooms = fewest_left(&stay.needs(), &left);
                (rooms >= stay.rooms).then_some((stay, rooms))
            })
            .collect();
        offers.sort_by(|(a, _), (b, _)| {
            a.total_minor()
                .cmp(&b.total_minor())
                .then(b.hotel.stars.cmp(&a.hotel.stars))
                .then(a.hotel.hotel_id.cmp(&b.hotel.hotel_id))
        });
        Ok(HotelOffers {
            offers: offers
                .into_iter()
                .take(MAX_OFFERS)
                .map(|(stay, rooms)| stay.to_offer(rooms))
                .collect(),
        })
    }

    fn flight_query(&self, req: &FlightSearch) -> Result<FlightQuery, BookingError> {
        let origin = self.known_airport("origin", &req.origin)?;
        let destination = self.known_airport("destination", &req.destination)?;
        if origin == destination {
            return Err(BookingError::InvalidRequest(
                "origin and destination must differ".to_string(),
            ));
        }
        let today = self.today();
        let depart_date = validate::parse_date("depart_date", &req.depart_date)?;
        validate::bookable_date("depart_date", depart_date, today)?;
        let return_date = match &req.return_date {
            Some(s) => {
                let date = validate::parse_date("return_date", s)?;
                if date < depart_date {
                    return Err(BookingError::InvalidRequest(
                        "return_date must not be before depart_date".to_string(),
                    ));
                }
                validate::bookable_date("return_date", date, today)?;
                Some(date)
            }
            None => None,
        };
        validate::count_in_range("passengers", req.passengers, MAX_PASSENGERS)?;
        Ok(FlightQuery {
            origin,
            destination,
            depart_date,
            return_date,
            passengers: req.passengers,
            cabin: req.cabin,
        })
    }

    fn hotel_query(&self, req: &HotelSearch) -> Result<HotelQuery, BookingError> {
        let city = self.known_airport("city", &req.city)?;
        let check_in = validate::parse_date("check_in", &req.check_in)?;
        validate::bookable_date("check_in", check_in, self.today())?;
        validate::count_in_range("nights", req.nights, MAX_NIGHTS)?;
        validate::count_in_range("guests", req.guests, MAX_GUESTS)?;
        Ok(HotelQuery {
            city,
            check_in,
            nights: req.nights,
            guests: req.guests,
        })
    }

    fn known_airport(&self, field: &str, code: &str) -> Result<String, BookingError> {
        let code = validate::airport_code(code);
        if code.is_empty() {
            return Err(BookingError::InvalidRequest(format!("{field} is required")));
        }
        self.catalog.airport(&code)?;
        Ok(code)
    }

    // ----- creating bookings -------------------------------------------

    /// Reserves the offer's inventory for the hold TTL.
    pub async fn hold(&self, req: &HoldRequest) -> Result<Booking, BookingError> {
        validate::idempotency_key(&req.idempotency_key)?;
        let offer_id = req.offer_id.trim();
        let fp = fingerprint(&["hold", offer_id]);
        self.create(offer_id, &req.idempotency_key, &fp, BookingStatus::Held)
            .await
    }

    /// Books an offer directly (`offer_id`) or confirms a hold (`hold_ref`).
    pub async fn book(&self, req: &BookRequest) -> Result<Booking, BookingError> {
        validate::idempotency_key(&req.idempotency_key)?;
        match (&req.offer_id, &req.hold_ref) {
            (Some(offer_id), None) => {
                let offer_id = offer_id.trim();
                let fp = fingerprint(&["book", offer_id]);
                self.create(
                    offer_id,
                    &req.idempotency_key,
                    &fp,
                    BookingStatus::Confirmed,
                )
                .await
            }
            (None, Some(hold_ref)) => self.confirm_hold(hold_ref, &req.idempotency_key).await,
            (Some(_), Some(_)) => Err(BookingError::InvalidRequest(
                "give either offer_id or hold_ref, not both".to_string(),
            )),
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
    ) -> Result<Booking, BookingError> {
        if let Some(existing) = self.replay_creation(key, fp).await? {
            return Ok(existing);
        }
        let spec =
            OfferSpec::parse(offer_id).map_err(|e| BookingError::InvalidOffer(e.to_string()))?;
        let offer = self.rebuild_offer(spec)?;
        let today = self.today();
        for date in &offer.dates {
            validate::bookable_date("offer date", *date, today).map_err(|_| {
                BookingError::InvalidOffer(
                    "this offer is for a date that has passed or is not on sale yet".to_string(),
                )
            })?;
        }
        for need in &offer.needs {
            self.store.ensure(need).await?;
        }
        let left = self.store.availability(&offer.needs).await?;
        if let Some(short) = offer.needs.iter().find(|n| left_of(n, &left) < n.quantity) {
            return Err(sold_out(short));
        }
        let item = offer.item(fewest_left(&offer.needs, &left));
        let now = self.now();
        let stamp = timestamp(now);
        let hold_expires_at =
            (status == BookingStatus::Held).then(|| timestamp(now + self.hold_ttl));

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

    fn rebuild_offer(&self, spec: OfferSpec) -> Result<BuiltOffer, BookingError> {
        Ok(match spec {
            OfferSpec::Flight(f) => BuiltOffer::flight(self.catalog.itinerary(f)?),
            OfferSpec::Hotel(h) => BuiltOffer::hotel(self.catalog.stay(h)?),
        })
    }

    // ----- reading -------------------------------------------------------

    /// The booking as it stands; a hold past its time is expired (and its
    /// inventory released) on the way.
    pub async fn get(&self, booking_ref: &str) -> Result<Booking, BookingError> {
        let r = normalize_ref(booking_ref)
            .ok_or_else(|| BookingError::NotFound(booking_ref.trim().to_string()))?;
        Ok(self.load_current(&r).await?.to_booking())
    }

    async fn load_current(&self, booking_ref: &str) -> Result<BookingRow, BookingError> {
        let row = self
            .store
            .booking_by_ref(booking_ref)
            .await?
            .ok_or_else(|| BookingError::NotFound(booking_ref.to_string()))?;
        self.refresh(row).await
    }

    /// Applies a due expiry to `row`, exactly once even when many readers
    /// notice it at the same time.
    async fn refresh(&self, mut row: BookingRow) -> Result<BookingRow, BookingError> {
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

    fn hold_lapsed(&self, row: &BookingRow) -> Result<bool, BookingError> {
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
        let refs = self
            .store
            .expired_hold_refs(self.now(), SWEEP_BATCH)
            .await?;
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

    // ----- changing bookings -------------------------------------------

    async fn confirm_hold(&self, hold_ref: &str, key: &str) -> Result<Booking, BookingError> {
        let r = normalize_ref(hold_ref)
            .ok_or_else(|| BookingError::NotFound(hold_ref.trim().to_string()))?;
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
                return Err(BookingError::InvalidState(format!(
                    "booking {r} was cancelled and cannot be confirmed"
                )));
            }
        };
        self.apply_change(key, fp, "confirm", &row, after, &[], &[])
            .await
    }

    /// Cancels a confirmed booking or releases a hold.
    pub async fn cancel(
        &self,
        booking_ref: &str,
        req: &CancelRequest,
    ) -> Result<Booking, BookingError> {
        validate::idempotency_key(&req.idempotency_key)?;
        let r = normalize_ref(booking_ref)
            .ok_or_else(|| BookingError::NotFound(booking_ref.trim().to_string()))?;
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
                return Err(BookingError::InvalidState(format!(
                    "booking {r} is already cancelled"
                )));
            }
            BookingStatus::Expired => return Err(BookingError::HoldExpired(r.to_string())),
        }
        let mut after = row.clone();
        after.status = BookingStatus::Cancelled;
        after.hold_expires_at = None;
        after.updated_at = timestamp(self.now());
        after.version += 1;
        let release = held_needs(&stored_spec(&row)?);
        let outcome = self
            .apply_change(key, fp, "cancel", &row, after, &release, &[])
            .await?;
        if matches!(outcome, Outcome::Done(_)) {
            tracing::info!(booking_ref = %r, "booking cancelled");
        }
        Ok(outcome)
    }

    /// Moves a booking to other dates or another party size: the old
    /// inventory is released and the new taken in one transaction, the price
    /// is recomputed, and the version bumps.
    pub async fn modify(
        &self,
        booking_ref: &str,
        req: &ModifyRequest,
    ) -> Result<Booking, BookingError> {
        validate::idempotency_key(&req.idempotency_key)?;
        let r = normalize_ref(booking_ref)
            .ok_or_else(|| BookingError::NotFound(booking_ref.trim().to_string()))?;
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
            let attempt = self.try_modify(&r, req, &fp).await;
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
    ) -> Result<Outcome, BookingError> {
        let row = self.load_current(r).await?;
        match row.status {
            BookingStatus::Held | BookingStatus::Confirmed => {}
            BookingStatus::Cancelled => {
                return Err(BookingError::InvalidState(format!(
                    "booking {r} is cancelled and cannot be changed"
                )));
            }
            BookingStatus::Expired => return Err(BookingError::HoldExpired(r.to_string())),
        }
        let old_spec = stored_spec(&row)?;
        let new_spec = self.modified_spec(&old_spec, req)?;
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
                &row,
                after,
                &release,
                &offer.needs,
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
    fn modified_spec(
        &self,
        old: &OfferSpec,
        req: &ModifyRequest,
    ) -> Result<OfferSpec, BookingError> {
        let invalid = |m: &str| Err(BookingError::InvalidRequest(m.to_string()));
        let today = self.today();
        match old {
            OfferSpec::Flight(old) => {
                if req.check_in.is_some() || req.nights.is_some() || req.guests.is_some() {
                    return invalid("check_in, nights and guests apply to hotel bookings");
                }
                if req.depart_date.is_none()
                    && req.return_date.is_none()
                    && req.passengers.is_none()
                {
                    return invalid(
                        "nothing to change: give depart_date, return_date or passengers",
                    );
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
                if req.depart_date.is_some()
                    || req.return_date.is_some()
                    || req.passengers.is_some()
                {
                    return invalid(
                        "depart_date, return_date and passengers apply to flight bookings",
                    );
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
    #[allow(clippy::too_many_arguments)]
    async fn apply_change(
        &self,
        key: &str,
        fp: &str,
        operation: &str,
        before: &BookingRow,
        after: BookingRow,
        release: &[Need],
        take: &[Need],
    ) -> Result<Outcome, BookingError> {
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
                return Err(if delta < 0 {
                    sold_out(&need)
                } else {
                    over_release(&need)
                });
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

/// An offer rebuilt from its spec, with what it takes.
struct BuiltOffer {
    kind: BuiltKind,
    needs: Vec<Need>,
    dates: Vec<NaiveDate>,
}

enum BuiltKind {
    Flight(Itinerary),
    Hotel(Stay),
}

impl BuiltOffer {
    fn flight(it: Itinerary) -> Self {
        BuiltOffer {
            needs: it.needs(),
            dates: it.dates(),
            kind: BuiltKind::Flight(it),
        }
    }

    fn hotel(stay: Stay) -> Self {
        BuiltOffer {
            needs: stay.needs(),
            dates: vec![stay.spec.check_in],
            kind: BuiltKind::Hotel(stay),
        }
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
        .map_err(|e| BookingError::Corrupt(format!("booking {} has offer id {e}", row.booking_ref)))
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
    BookingError::Corrupt(format!(
        "releasing {} would exceed its capacity",
        need.key.describe()
    ))
}
