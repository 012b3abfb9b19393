//! The daily flight schedule between two airports.
//!
//! Every ordered pair of distinct known airports has flights every day, the
//! same flights at the same times whatever the date, as a real timetable
//! would. How many (3 to 6) depends on the distance; flight numbers and
//! departure times are drawn from a stable hash of the pair, so they never
//! change across restarts, and the flight numbers of a route are the key a
//! modification uses to move a booking to another date.

use crate::airports::{AirportInfo, great_circle_km};
use crate::stable_hash::{stable_hash, stable_range};
use chrono::NaiveDate;
use voxbook_proto::booking::FlightSegment;

/// The carrier prefix of every flight number.
pub const CARRIER: &str = "VX";
/// Cruise speed used to turn distance into block time.
const CRUISE_KMH: f64 = 800.0;
/// Taxi, climb and descent on top of the cruise.
const GROUND_MINUTES: f64 = 30.0;
/// First and last possible departure, local time, in minutes after midnight.
const FIRST_DEPARTURE: u32 = 6 * 60;
const LAST_DEPARTURE: u32 = 22 * 60 + 30;
const MINUTES_PER_DAY: i64 = 24 * 60;

/// One flight of a route's daily schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledFlight {
    pub flight_no: String,
    pub origin: String,
    pub destination: String,
    /// Local time at the origin, minutes after midnight.
    pub depart_minute: u32,
    /// Local time at the destination, minutes after midnight of the
    /// arrival day.
    pub arrive_minute: u32,
    /// Days between departure and arrival, in local dates (0, 1 or 2).
    pub arrive_day_offset: u32,
    pub duration_minutes: u32,
    /// Kept because fares are a function of it.
    pub distance_km: f64,
}

impl ScheduledFlight {
    /// This flight on a given departure date.
    pub fn segment(&self, date: NaiveDate) -> FlightSegment {
        FlightSegment {
            flight_no: self.flight_no.clone(),
            origin: self.origin.clone(),
            destination: self.destination.clone(),
            date: date.format("%Y-%m-%d").to_string(),
            depart_time: hhmm(self.depart_minute),
            arrive_time: hhmm(self.arrive_minute),
            arrive_day_offset: self.arrive_day_offset,
            duration_minutes: self.duration_minutes,
        }
    }

    /// Arrival as minutes after midnight of the departure date, in the
    /// destination's local time (used to check a same-day return connects).
    pub fn arrival_minute_from_departure_day(&self) -> u32 {
        self.arrive_day_offset * MINUTES_PER_DAY as u32 + self.arrive_minute
    }
}

/// Flights a day on a route of this length.
pub fn flights_per_day(distance_km: f64) -> usize {
    match distance_km {
        d if d < 1_000.0 => 6,
        d if d < 3_000.0 => 5,
        d if d < 6_000.0 => 4,
        _ => 3,
    }
}

/// Block time: cruise at 800 km/h plus 30 minutes, rounded up to 5 minutes.
pub fn duration_minutes(distance_km: f64) -> u32 {
    let raw = distance_km.max(0.0) / CRUISE_KMH * 60.0 + GROUND_MINUTES;
    round_up_to_5(raw.ceil() as u32)
}

/// The route's flights, earliest departure first. Empty when both ends are
/// the same airport.
pub fn route_schedule(origin: &AirportInfo, destination: &AirportInfo) -> Vec<ScheduledFlight> {
    if origin.iata == destination.iata {
        return Vec::new();
    }
    let (o, d) = (origin.iata.as_str(), destination.iata.as_str());
    let distance_km = great_circle_km(origin, destination);
    let duration = duration_minutes(distance_km);
    let count = flights_per_day(distance_km);
    let first_number = stable_range(&["flight-number", o, d], 100, 8_999);
    // Local clock difference the flight crosses, destination minus origin.
    let clock_shift = i64::from(destination.utc_offset_minutes - origin.utc_offset_minutes);
    // Westbound across many zones an early flight would land "yesterday";
    // the day's departures then start late enough to land on the same date,
    // which keeps arrive_day_offset non-negative.
    let earliest_same_day = -(i64::from(duration) + clock_shift);
    let start = if earliest_same_day > i64::from(FIRST_DEPARTURE) {
        round_up_to_5(earliest_same_day as u32)
    } else {
        FIRST_DEPARTURE
    };
    let end = LAST_DEPARTURE.max(start + count as u32 * 30);
    // Whole five-minute steps keep every departure on a :x0 or :x5.
    let slot = (end - start) / count as u32 / 5 * 5;

    (0..count)
        .map(|i| {
            let index = i.to_string();
            let jitter_span = u64::from(slot.saturating_sub(30) / 5);
            let jitter = (stable_hash(&["departure", o, d, &index]) % (jitter_span + 1)) as u32 * 5;
            let depart = (start + i as u32 * slot + jitter).min(MINUTES_PER_DAY as u32 - 5);
            let arrival = (i64::from(depart) + i64::from(duration) + clock_shift).max(0);
            ScheduledFlight {
                flight_no: format!("{CARRIER}{}", first_number + i as u64),
                origin: o.to_string(),
                destination: d.to_string(),
                depart_minute: depart,
                arrive_minute: (arrival % MINUTES_PER_DAY) as u32,
                arrive_day_offset: (arrival / MINUTES_PER_DAY) as u32,
                duration_minutes: duration,
                distance_km,
            }
        })
        .collect()
}

/// One flight of the route by number.
pub fn find_flight(origin: &AirportInfo, destination: &AirportInfo, flight_no: &str) -> Option<ScheduledFlight> {
    route_schedule(origin, destination).into_iter().find(|f| f.flight_no == flight_no)
}

fn round_up_to_5(minutes: u32) -> u32 {
    minutes.div_ceil(5) * 5
}

fn hhmm(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60 % 24, minute % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lhr() -> AirportInfo {
        AirportInfo::new("LHR", "London", 51.47, -0.4543).with_utc_offset(0)
    }
    fn cdg() -> AirportInfo {
        AirportInfo::new("CDG", "Paris", 49.0097, 2.5479).with_utc_offset(60)
    }
    fn jfk() -> AirportInfo {
        AirportInfo::new("JFK", "New York", 40.6398, -73.7789).with_utc_offset(-300)
    }
    fn nrt() -> AirportInfo {
        AirportInfo::new("NRT", "Tokyo", 35.7647, 140.3864).with_utc_offset(540)
    }
    fn lax() -> AirportInfo {
        AirportInfo::new("LAX", "Los Angeles", 33.9425, -118.408).with_utc_offset(-480)
    }

    #[test]
    fn schedule_is_deterministic() {
        assert_eq!(route_schedule(&lhr(), &cdg()), route_schedule(&lhr(), &cdg()));
        assert_ne!(route_schedule(&lhr(), &cdg()), route_schedule(&cdg(), &lhr()));
        assert!(route_schedule(&lhr(), &lhr()).is_empty());
    }

    #[test]
    fn short_and_long_routes() {
        let short = route_schedule(&lhr(), &cdg());
        assert_eq!(short.len(), 6);
        let long = route_schedule(&lhr(), &jfk());
        assert_eq!(long.len(), 4);
        // 5555 km at 800 km/h = 416.6 min, + 30 = 447 -> 450.
        assert_eq!(long[0].duration_minutes, 450);
        // 344 km -> 25.8 + 30 = 56 -> 60.
        assert_eq!(short[0].duration_minutes, 60);
    }

    #[test]
    fn flights_are_sorted_distinct_and_in_the_day() {
        for (a, b) in [(lhr(), cdg()), (lhr(), jfk()), (nrt(), lax()), (jfk(), nrt())] {
            let flights = route_schedule(&a, &b);
            let mut numbers: Vec<_> = flights.iter().map(|f| f.flight_no.clone()).collect();
            numbers.dedup();
            assert_eq!(numbers.len(), flights.len());
            for w in flights.windows(2) {
                assert!(w[0].depart_minute < w[1].depart_minute);
            }
            for f in &flights {
                assert!(f.flight_no.starts_with("VX"));
                assert!(f.depart_minute < 24 * 60 && f.depart_minute % 5 == 0);
                assert!(f.arrive_minute < 24 * 60);
                assert!(f.arrive_day_offset <= 2);
                assert!(find_flight(&a, &b, &f.flight_no).is_some());
            }
        }
    }

    #[test]
    fn local_arrival_times_cross_zones() {
        for f in route_schedule(&lhr(), &cdg()) {
            let expected = f.depart_minute + 60 + 60;
            assert_eq!(f.arrival_minute_from_departure_day(), expected);
        }
        for f in route_schedule(&lhr(), &jfk()) {
            let expected = f.depart_minute + 450 - 300;
            assert_eq!(f.arrival_minute_from_departure_day(), expected);
        }
    }

    #[test]
    fn segment_formats_times() {
        let f = &route_schedule(&lhr(), &jfk())[0];
        let date = NaiveDate::from_ymd_opt(2026, 6, 12).unwrap();
        let seg = f.segment(date);
        assert_eq!(seg.date, "2026-06-12");
        assert_eq!(seg.depart_time.len(), 5);
        assert_eq!(&seg.depart_time[2..3], ":");
        assert_eq!(seg.origin, "LHR");
        assert_eq!(seg.destination, "JFK");
    }
}
