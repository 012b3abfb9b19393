//! What can be sold: itineraries and hotel stays, built from searches or
//! rebuilt from offer ids, priced, and checked against the airports.
//!
//! Everything here is pure. The only thing an offer lacks when it leaves
//! the catalogue is how many seats or rooms are left, which the service
//! reads from the database and fills in with `to_offer`.

use crate::airports::{AirportDirectory, AirportInfo};
use crate::error::BookingError;
use crate::hotels::{Hotel, city_hotels, find_hotel, hotel_city, rooms_needed};
use crate::inventory::{Need, flight_needs, hotel_needs};
use crate::offer_id::{FlightSpec, HotelSpec, InboundSpec, OfferSpec};
use crate::pricing::{flight_fare_minor, money, nightly_rate_minor};
use crate::schedule::{ScheduledFlight, find_flight, route_schedule};
use chrono::{Days, NaiveDate};
use std::sync::Arc;
use voxbook_proto::booking::{Cabin, FlightOffer, HotelOffer};

/// Shortest time between landing and flying back on a return trip.
pub const MIN_TURNAROUND_MINUTES: u32 = 90;

/// A flight search that passed validation, in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlightQuery {
    pub origin: String,
    pub destination: String,
    pub depart_date: NaiveDate,
    pub return_date: Option<NaiveDate>,
    pub passengers: u32,
    pub cabin: Cabin,
}

/// A hotel search that passed validation, in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotelQuery {
    pub city: String,
    pub check_in: NaiveDate,
    pub nights: u32,
    pub guests: u32,
}

/// A priced flight itinerary.
#[derive(Debug, Clone, PartialEq)]
pub struct Itinerary {
    pub spec: FlightSpec,
    pub outbound: ScheduledFlight,
    pub inbound: Option<ScheduledFlight>,
    pub price_per_person_minor: i64,
}

impl Itinerary {
    pub fn offer_id(&self) -> String {
        OfferSpec::Flight(self.spec.clone()).encode()
    }

    pub fn total_minor(&self) -> i64 {
        self.price_per_person_minor * i64::from(self.spec.passengers)
    }

    /// Seats this itinerary takes: one per passenger on each flight.
    pub fn needs(&self) -> Vec<Need> {
        flight_needs(&self.spec)
    }

    pub fn to_offer(&self, seats_left: u32) -> FlightOffer {
        FlightOffer {
            offer_id: self.offer_id(),
            outbound: self.outbound.segment(self.spec.depart_date),
            inbound: self
                .inbound
                .as_ref()
                .zip(self.spec.inbound.as_ref())
                .map(|(flight, leg)| flight.segment(leg.date)),
            passengers: self.spec.passengers,
            cabin: self.spec.cabin,
            price_per_person: money(self.price_per_person_minor),
            total: money(self.total_minor()),
            seats_left,
        }
    }

    /// The dates a traveller has to be able to book (all today or later).
    pub fn dates(&self) -> Vec<NaiveDate> {
        let mut dates = vec![self.spec.depart_date];
        dates.extend(self.spec.inbound.as_ref().map(|i| i.date));
        dates
    }
}

/// A priced hotel stay.
#[derive(Debug, Clone, PartialEq)]
pub struct Stay {
    pub spec: HotelSpec,
    pub hotel: Hotel,
    pub rooms: u32,
    pub nightly_minor: i64,
}

impl Stay {
    pub fn offer_id(&self) -> String {
        OfferSpec::Hotel(self.spec.clone()).encode()
    }

    /// The rate is per room and night.
    pub fn total_minor(&self) -> i64 {
        self.nightly_minor * i64::from(self.spec.nights) * i64::from(self.rooms)
    }

    pub fn nights(&self) -> Vec<NaiveDate> {
        self.spec.check_in.iter_days().take(self.spec.nights as usize).collect()
    }

    pub fn check_out(&self) -> NaiveDate {
        self.spec.check_in.checked_add_days(Days::new(u64::from(self.spec.nights))).unwrap_or(NaiveDate::MAX)
    }

    /// Rooms this stay takes on each night.
    pub fn needs(&self) -> Vec<Need> {
        hotel_needs(&self.spec, self.hotel.rooms_per_night)
    }

    pub fn to_offer(&self, rooms_left: u32) -> HotelOffer {
        HotelOffer {
            offer_id: self.offer_id(),
            hotel_id: self.hotel.hotel_id.clone(),
            hotel_name: self.hotel.name.clone(),
            city: self.hotel.city.clone(),
            city_name: self.hotel.city_name.clone(),
            check_in: self.spec.check_in.format("%Y-%m-%d").to_string(),
            check_out: self.check_out().format("%Y-%m-%d").to_string(),
            nights: self.spec.nights,
            guests: self.spec.guests,
            rooms: self.rooms,
            stars: self.hotel.stars,
            price_per_night: money(self.nightly_minor),
            total: money(self.total_minor()),
            rooms_left,
        }
    }
}

/// The inventory's shape over a set of airports.
#[derive(Debug, Clone)]
pub struct Catalog {
    airports: Arc<AirportDirectory>,
}

impl Catalog {
    pub fn new(airports: Arc<AirportDirectory>) -> Self {
        Self { airports }
    }

    pub fn airports(&self) -> &AirportDirectory {
        &self.airports
    }

    /// A known airport, or `unknown_airport`.
    pub fn airport(&self, code: &str) -> Result<&AirportInfo, BookingError> {
        self.airports.get(code).ok_or_else(|| BookingError::UnknownAirport(code.to_string()))
    }

    /// Rebuilds and prices an itinerary; `invalid_offer` when it names
    /// airports or flights that do not exist or a return that does not
    /// connect.
    pub fn itinerary(&self, spec: FlightSpec) -> Result<Itinerary, BookingError> {
        let invalid = |m: &str| BookingError::InvalidOffer(m.to_string());
        let origin = self.airports.get(&spec.origin).ok_or_else(|| invalid("offer names an unknown airport"))?;
        let destination =
            self.airports.get(&spec.destination).ok_or_else(|| invalid("offer names an unknown airport"))?;
        let outbound = find_flight(origin, destination, &spec.outbound_flight)
            .ok_or_else(|| invalid("offer names a flight that does not fly this route"))?;
        let inbound = match &spec.inbound {
            Some(leg) => {
                let flight = find_flight(destination, origin, &leg.flight)
                    .ok_or_else(|| invalid("offer names a return flight that does not fly this route"))?;
                if !connects(&outbound, spec.depart_date, &flight, leg.date) {
                    return Err(invalid("the return flight leaves before the outbound flight lands"));
                }
                Some(flight)
            }
            None => None,
        };
        Ok(self.price(spec, outbound, inbound))
    }

    /// Rebuilds and prices a stay; `invalid_offer` for unknown hotels.
    pub fn stay(&self, spec: HotelSpec) -> Result<Stay, BookingError> {
        let invalid = || BookingError::InvalidOffer("offer names an unknown hotel".to_string());
        let city = hotel_city(&spec.hotel_id).ok_or_else(invalid)?;
        let airport = self.airports.get(city).ok_or_else(invalid)?;
        let hotel = find_hotel(airport, &spec.hotel_id).ok_or_else(invalid)?;
        Ok(make_stay(spec, hotel))
    }

    /// Every itinerary a search could offer, before availability: all
    /// outbound flights, each paired with every inbound flight that
    /// connects for a return trip.
    pub fn itineraries(&self, q: &FlightQuery) -> Result<Vec<Itinerary>, BookingError> {
        let origin = self.airport(&q.origin)?;
        let destination = self.airport(&q.destination)?;
        let outbound = route_schedule(origin, destination);
        let inbound = match q.return_date {
            Some(_) => route_schedule(destination, origin),
            None => Vec::new(),
        };
        let mut out = Vec::new();
        for flight in &outbound {
            let spec = FlightSpec {
                origin: q.origin.clone(),
                destination: q.destination.clone(),
                depart_date: q.depart_date,
                outbound_flight: flight.flight_no.clone(),
                cabin: q.cabin,
                passengers: q.passengers,
                inbound: None,
            };
            match q.return_date {
                None => out.push(self.price(spec, flight.clone(), None)),
                Some(return_date) => {
                    for back in &inbound {
                        if !connects(flight, q.depart_date, back, return_date) {
                            continue;
                        }
                        let spec = FlightSpec {
                            inbound: Some(InboundSpec { date: return_date, flight: back.flight_no.clone() }),
                            ..spec.clone()
                        };
                        out.push(self.price(spec, flight.clone(), Some(back.clone())));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every stay a hotel search could offer, before availability.
    pub fn stays(&self, q: &HotelQuery) -> Result<Vec<Stay>, BookingError> {
        let airport = self.airport(&q.city)?;
        Ok(city_hotels(airport)
            .into_iter()
            .map(|hotel| {
                let spec = HotelSpec {
                    hotel_id: hotel.hotel_id.clone(),
                    check_in: q.check_in,
                    nights: q.nights,
                    guests: q.guests,
                };
                make_stay(spec, hotel)
            })
            .collect())
    }

    fn price(&self, spec: FlightSpec, outbound: ScheduledFlight, inbound: Option<ScheduledFlight>) -> Itinerary {
        let fare = |flight: &ScheduledFlight, date: NaiveDate| {
            flight_fare_minor(
                &flight.origin,
                &flight.destination,
                &flight.flight_no,
                &date.format("%Y-%m-%d").to_string(),
                spec.cabin,
                flight.distance_km,
            )
        };
        let mut per_person = fare(&outbound, spec.depart_date);
        if let (Some(flight), Some(leg)) = (&inbound, &spec.inbound) {
            per_person += fare(flight, leg.date);
        }
        Itinerary { spec, outbound, inbound, price_per_person_minor: per_person }
    }
}

fn make_stay(spec: HotelSpec, hotel: Hotel) -> Stay {
    let nightly =
        nightly_rate_minor(&hotel.hotel_id, hotel.base_nightly_minor, &spec.check_in.format("%Y-%m-%d").to_string());
    Stay { rooms: rooms_needed(spec.guests), nightly_minor: nightly, spec, hotel }
}

/// Whether the return flight leaves at least the turnaround time after the
/// outbound lands (both in the destination's local time).
pub fn connects(
    outbound: &ScheduledFlight,
    depart_date: NaiveDate,
    inbound: &ScheduledFlight,
    return_date: NaiveDate,
) -> bool {
    let days_between = (return_date - depart_date).num_days();
    if days_between < 0 {
        return false;
    }
    let leave = days_between * 24 * 60 + i64::from(inbound.depart_minute);
    let landed = i64::from(outbound.arrival_minute_from_departure_day());
    leave >= landed + i64::from(MIN_TURNAROUND_MINUTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::new(Arc::new(AirportDirectory::new(vec![
            AirportInfo::new("LHR", "London", 51.47, -0.4543).with_utc_offset(0),
            AirportInfo::new("CDG", "Paris", 49.0097, 2.5479).with_utc_offset(60),
            AirportInfo::new("JFK", "New York", 40.6398, -73.7789).with_utc_offset(-300),
        ])))
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn query(return_date: Option<&str>) -> FlightQuery {
        FlightQuery {
            origin: "LHR".into(),
            destination: "JFK".into(),
            depart_date: d("2026-06-12"),
            return_date: return_date.map(d),
            passengers: 2,
            cabin: Cabin::Economy,
        }
    }

    #[test]
    fn one_way_itineraries_price_per_flight() {
        let c = catalog();
        let its = c.itineraries(&query(None)).unwrap();
        assert_eq!(its.len(), 4);
        for it in &its {
            assert_eq!(it.total_minor(), it.price_per_person_minor * 2);
            let offer = it.to_offer(7);
            assert_eq!(offer.seats_left, 7);
            assert_eq!(offer.total.amount_minor, it.total_minor());
            assert!(offer.inbound.is_none());
            // The offer id rebuilds the same itinerary.
            let spec = match OfferSpec::parse(&offer.offer_id).unwrap() {
                OfferSpec::Flight(f) => f,
                OfferSpec::Hotel(_) => unreachable!(),
            };
            assert_eq!(&c.itinerary(spec).unwrap(), it);
        }
    }

    #[test]
    fn return_price_is_the_sum_of_both_legs() {
        let c = catalog();
        let its = c.itineraries(&query(Some("2026-06-19"))).unwrap();
        assert_eq!(its.len(), 16, "every pair connects a week later");
        for it in &its {
            let out = c.itinerary(FlightSpec { inbound: None, ..it.spec.clone() }).unwrap();
            assert!(it.price_per_person_minor > out.price_per_person_minor);
            assert_eq!(it.needs().len(), 2);
        }
    }

    #[test]
    fn same_day_returns_must_connect() {
        let c = catalog();
        let its = c.itineraries(&query(Some("2026-06-12"))).unwrap();
        assert!(its.len() < 16);
        for it in &its {
            let back = it.inbound.as_ref().unwrap();
            assert!(back.depart_minute >= it.outbound.arrive_minute + MIN_TURNAROUND_MINUTES);
        }
    }

    #[test]
    fn unknown_flights_and_hotels_are_invalid_offers() {
        let c = catalog();
        let mut spec = c.itineraries(&query(None)).unwrap()[0].spec.clone();
        spec.outbound_flight = "VX1".into();
        assert!(matches!(c.itinerary(spec.clone()), Err(BookingError::InvalidOffer(_))));
        spec.origin = "XXX".into();
        assert!(matches!(c.itinerary(spec), Err(BookingError::InvalidOffer(_))));
        let hotel = HotelSpec { hotel_id: "MAD-1".into(), check_in: d("2026-06-12"), nights: 2, guests: 2 };
        assert!(matches!(c.stay(hotel), Err(BookingError::InvalidOffer(_))));
    }

    #[test]
    fn stays_price_rooms_and_nights() {
        let c = catalog();
        let q = HotelQuery { city: "CDG".into(), check_in: d("2026-06-12"), nights: 3, guests: 3 };
        let stays = c.stays(&q).unwrap();
        assert!((4..=6).contains(&stays.len()));
        for s in &stays {
            assert_eq!(s.rooms, 2);
            assert_eq!(s.total_minor(), s.nightly_minor * 3 * 2);
            assert_eq!(s.needs().len(), 3);
            let offer = s.to_offer(10);
            assert_eq!(offer.check_out, "2026-06-15");
            assert!(offer.hotel_name.contains("Paris"));
            assert_eq!(offer.city_name, "Paris");
        }
        assert!(matches!(c.stays(&HotelQuery { city: "MAD".into(), ..q }), Err(BookingError::UnknownAirport(_))));
    }
}
