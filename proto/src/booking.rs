//! The booking service's HTTP API: search, hold, book, get, modify, cancel.
//!
//! Dates are ISO 8601 calendar dates (`YYYY-MM-DD`) and times are local
//! `HH:MM` strings, so the types stay plain strings on the wire; the service
//! validates them and answers `invalid_request` when they do not parse.
//! Airports are IATA codes (`LHR`); hotel cities are IATA airport codes
//! too, standing for the city the airport serves.
//!
//! Offers are self-describing: an `offer_id` encodes everything needed to
//! rebuild the offer, so search is stateless and a hold or a booking only
//! needs the id. Every write carries an `idempotency_key`: the same key
//! always yields the same booking, and a key reused with a different request
//! is rejected with `idempotency_conflict`.

use serde::{Deserialize, Serialize};

/// Request header with the caller's "today" (`YYYY-MM-DD`) for the sale
/// window checks of searches, holds, bookings and changes: a date is on
/// sale from that day to 365 days after it. The gateway sends it for
/// sessions whose clock is fixed (demos, QA replays) so that the reference
/// service sells the dates those sessions talk about; without it the
/// service uses its own clock. A real booking backend keeps its own clock
/// and may ignore it. Hold expiry and timestamps never follow it.
pub const AS_OF_HEADER: &str = "x-voxbook-as-of";

/// Travel class of a flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Cabin {
    #[default]
    Economy,
    PremiumEconomy,
    Business,
    First,
}

impl Cabin {
    pub const ALL: [Cabin; 4] = [Cabin::Economy, Cabin::PremiumEconomy, Cabin::Business, Cabin::First];

    /// The snake_case name used on the wire and in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            Cabin::Economy => "economy",
            Cabin::PremiumEconomy => "premium_economy",
            Cabin::Business => "business",
            Cabin::First => "first",
        }
    }

    /// The words a person would say.
    pub fn spoken(self) -> &'static str {
        match self {
            Cabin::Economy => "economy",
            Cabin::PremiumEconomy => "premium economy",
            Cabin::Business => "business",
            Cabin::First => "first class",
        }
    }

    pub fn parse(name: &str) -> Option<Cabin> {
        Cabin::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// An amount of money in minor units (cents), so sums are exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
}

/// `POST /v1/flights/search`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlightSearch {
    pub origin: String,
    pub destination: String,
    pub depart_date: String,
    /// Present for a return trip; absent for one-way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_date: Option<String>,
    pub passengers: u32,
    #[serde(default)]
    pub cabin: Cabin,
}

/// One flight on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlightSegment {
    pub flight_no: String,
    pub origin: String,
    pub destination: String,
    pub date: String,
    pub depart_time: String,
    pub arrive_time: String,
    /// 1 when the flight lands the next day.
    pub arrive_day_offset: u32,
    pub duration_minutes: u32,
}

/// A bookable itinerary: an outbound flight and, for a return trip, an
/// inbound one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlightOffer {
    pub offer_id: String,
    pub outbound: FlightSegment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound: Option<FlightSegment>,
    pub passengers: u32,
    pub cabin: Cabin,
    pub price_per_person: Money,
    pub total: Money,
    /// The fewest seats left on any flight of the itinerary.
    pub seats_left: u32,
}

/// `POST /v1/hotels/search`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotelSearch {
    /// IATA code of the airport serving the city.
    pub city: String,
    pub check_in: String,
    pub nights: u32,
    pub guests: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotelOffer {
    pub offer_id: String,
    pub hotel_id: String,
    pub hotel_name: String,
    pub city: String,
    pub city_name: String,
    pub check_in: String,
    pub check_out: String,
    pub nights: u32,
    pub guests: u32,
    pub rooms: u32,
    pub stars: u32,
    pub price_per_night: Money,
    pub total: Money,
    /// The fewest rooms left on any night of the stay.
    pub rooms_left: u32,
}

/// Search results, cheapest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlightOffers {
    pub offers: Vec<FlightOffer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotelOffers {
    pub offers: Vec<HotelOffer>,
}

/// `POST /v1/holds`: reserve the inventory of an offer for a short time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRequest {
    pub offer_id: String,
    pub idempotency_key: String,
}

/// `POST /v1/bookings`: book an offer directly, or confirm a hold by giving
/// its `booking_ref` instead of an `offer_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ref: Option<String>,
    pub idempotency_key: String,
}

/// `POST /v1/bookings/{ref}/modify`: only the fields that change are given.
/// Flights take `depart_date`, `return_date` and `passengers`; hotels take
/// `check_in`, `nights` and `guests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ModifyRequest {
    pub idempotency_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depart_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passengers: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_in: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nights: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guests: Option<u32>,
}

/// `POST /v1/bookings/{ref}/cancel` (also releases a hold).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequest {
    pub idempotency_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    /// Inventory reserved until `hold_expires_at`; not yet a booking.
    Held,
    Confirmed,
    Cancelled,
    /// A hold that ran out before it was confirmed; its inventory is back.
    Expired,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Held => "held",
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Expired => "expired",
        }
    }
}

/// What was booked: the offer it came from, as it stands after any change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BookedItem {
    Flight(FlightOffer),
    Hotel(HotelOffer),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// Six characters from an alphabet without look- or sound-alikes
    /// (no 0/O, 1/I/L), easy to read out and to hear.
    pub booking_ref: String,
    pub status: BookingStatus,
    pub item: BookedItem,
    /// RFC 3339 timestamps.
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_expires_at: Option<String>,
    /// Bumped by every change; a modify or cancel answers the new version.
    pub version: u32,
}
