//! Flight and hotel searches: validate the question, let the catalogue
//! list what could be sold, read what is left, keep what fits.

use super::{BookingService, MAX_OFFERS, fewest_left};
use crate::catalog::{FlightQuery, HotelQuery, Itinerary, Stay};
use crate::error::BookingError;
use crate::inventory::Need;
use crate::offer_id::{MAX_GUESTS, MAX_NIGHTS, MAX_PASSENGERS};
use crate::validate;
use chrono::NaiveDate;
use voxbook_proto::booking::{FlightOffers, FlightSearch, HotelOffers, HotelSearch};

impl BookingService {
    /// Up to [`MAX_OFFERS`] itineraries with enough seats, cheapest first.
    pub async fn search_flights(&self, req: &FlightSearch) -> Result<FlightOffers, BookingError> {
        self.search_flights_as_of(req, None).await
    }

    /// [`Self::search_flights`] with the sale window counted from `as_of`
    /// when given (a caller's "today", see
    /// [`AS_OF_HEADER`](voxbook_proto::booking::AS_OF_HEADER)).
    pub async fn search_flights_as_of(
        &self,
        req: &FlightSearch,
        as_of: Option<NaiveDate>,
    ) -> Result<FlightOffers, BookingError> {
        let query = self.flight_query(req, self.today(as_of))?;
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
            (it.total_minor(), it.outbound.depart_minute, it.inbound.as_ref().map(|f| f.depart_minute))
        });
        Ok(FlightOffers { offers: offers.into_iter().take(MAX_OFFERS).map(|(it, seats)| it.to_offer(seats)).collect() })
    }

    /// Up to [`MAX_OFFERS`] stays with enough rooms every night, cheapest
    /// first.
    pub async fn search_hotels(&self, req: &HotelSearch) -> Result<HotelOffers, BookingError> {
        self.search_hotels_as_of(req, None).await
    }

    /// [`Self::search_hotels`] with the sale window counted from `as_of`
    /// when given.
    pub async fn search_hotels_as_of(
        &self,
        req: &HotelSearch,
        as_of: Option<NaiveDate>,
    ) -> Result<HotelOffers, BookingError> {
        let query = self.hotel_query(req, self.today(as_of))?;
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
            offers: offers.into_iter().take(MAX_OFFERS).map(|(stay, rooms)| stay.to_offer(rooms)).collect(),
        })
    }

    fn flight_query(&self, req: &FlightSearch, today: NaiveDate) -> Result<FlightQuery, BookingError> {
        let origin = self.known_airport("origin", &req.origin)?;
        let destination = self.known_airport("destination", &req.destination)?;
        if origin == destination {
            return Err(BookingError::InvalidRequest("origin and destination must differ".to_string()));
        }
        let depart_date = validate::parse_date("depart_date", &req.depart_date)?;
        validate::bookable_date("depart_date", depart_date, today)?;
        let return_date = match &req.return_date {
            Some(s) => {
                let date = validate::parse_date("return_date", s)?;
                if date < depart_date {
                    return Err(BookingError::InvalidRequest("return_date must not be before depart_date".to_string()));
                }
                validate::bookable_date("return_date", date, today)?;
                Some(date)
            }
            None => None,
        };
        validate::count_in_range("passengers", req.passengers, MAX_PASSENGERS)?;
        Ok(FlightQuery { origin, destination, depart_date, return_date, passengers: req.passengers, cabin: req.cabin })
    }

    fn hotel_query(&self, req: &HotelSearch, today: NaiveDate) -> Result<HotelQuery, BookingError> {
        let city = self.known_airport("city", &req.city)?;
        let check_in = validate::parse_date("check_in", &req.check_in)?;
        validate::bookable_date("check_in", check_in, today)?;
        validate::count_in_range("nights", req.nights, MAX_NIGHTS)?;
        validate::count_in_range("guests", req.guests, MAX_GUESTS)?;
        Ok(HotelQuery { city, check_in, nights: req.nights, guests: req.guests })
    }

    fn known_airport(&self, field: &str, code: &str) -> Result<String, BookingError> {
        let code = validate::airport_code(code);
        if code.is_empty() {
            return Err(BookingError::InvalidRequest(format!("{field} is required")));
        }
        self.catalog.airport(&code)?;
        Ok(code)
    }
}
