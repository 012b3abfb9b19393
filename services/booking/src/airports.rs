//! The airports the service knows, reduced to what the inventory needs.
//!
//! The inventory only needs four facts about an airport: that its IATA code
//! exists, the name of the city it serves (hotel names and offers say it),
//! where it is (distances drive flight durations and fares) and roughly
//! which clock it keeps (so arrival times read as local times). Keeping
//! this as a small type of our own lets the service and its tests run on a
//! handful of airports written inline, and be fed the full embedded
//! dataset of `voxbook_proto::airports` in production
//! ([`AirportDirectory::from_proto`]).

use chrono::{Offset, TimeZone, Utc};
use std::collections::HashMap;
use voxbook_proto::airports::{Airport, Airports};

/// One airport, as much as the inventory needs of it.
#[derive(Debug, Clone, PartialEq)]
pub struct AirportInfo {
    /// Upper-case IATA code, the key everywhere.
    pub iata: String,
    /// The city the airport serves, as people say it ("London").
    pub city: String,
    pub lat: f64,
    pub lon: f64,
    /// Offset of local (standard) time from UTC. Schedules are published in
    /// local times; daylight saving is ignored, which can shift a
    /// displayed time by an hour but never makes a schedule inconsistent.
    pub utc_offset_minutes: i32,
}

impl AirportInfo {
    /// An airport whose UTC offset is estimated from its longitude (15° per
    /// hour). Use [`AirportInfo::with_utc_offset`] when the offset is known.
    pub fn new(iata: &str, city: &str, lat: f64, lon: f64) -> Self {
        Self {
            iata: iata.trim().to_ascii_uppercase(),
            city: city.trim().to_string(),
            lat,
            lon,
            utc_offset_minutes: offset_from_longitude(lon),
        }
    }

    pub fn with_utc_offset(mut self, minutes: i32) -> Self {
        self.utc_offset_minutes = minutes;
        self
    }

    /// From the embedded dataset: remote airstrips without a city are named
    /// after the airport itself, and the offset is the standard time of the
    /// airport's IANA zone (longitude-estimated if the zone is unknown).
    pub fn from_proto(airport: &Airport) -> Self {
        let city = if airport.city.trim().is_empty() { &airport.name } else { &airport.city };
        let info = AirportInfo::new(&airport.iata, city, airport.lat, airport.lon);
        match standard_offset_minutes(&airport.tz) {
            Some(minutes) => info.with_utc_offset(minutes),
            None => info,
        }
    }
}

/// The standard (winter) offset of an IANA zone in minutes. Daylight saving
/// only ever adds to it, so it is the smaller of a January and a July
/// offset, whichever hemisphere the zone is in.
pub fn standard_offset_minutes(zone: &str) -> Option<i32> {
    let tz: chrono_tz::Tz = zone.parse().ok()?;
    let offset_at = |month| {
        let instant = Utc.with_ymd_and_hms(2026, month, 15, 12, 0, 0).single()?;
        Some(tz.offset_from_utc_datetime(&instant.naive_utc()).fix().local_minus_utc() / 60)
    };
    Some(offset_at(1)?.min(offset_at(7)?))
}

/// A solar-time guess, in whole hours, for airports without a known zone.
pub fn offset_from_longitude(lon: f64) -> i32 {
    let hours = (lon / 15.0).round().clamp(-12.0, 14.0);
    hours as i32 * 60
}

/// The airports the service can fly between and find hotels in.
#[derive(Debug, Clone, Default)]
pub struct AirportDirectory {
    by_code: HashMap<String, AirportInfo>,
}

impl AirportDirectory {
    /// Later entries win when a code appears twice.
    pub fn new(entries: Vec<AirportInfo>) -> Self {
        let by_code = entries.into_iter().map(|a| (a.iata.clone(), a)).collect::<HashMap<_, _>>();
        Self { by_code }
    }

    /// Looks a code up as written; callers normalise user input first.
    /// Every airport of the embedded dataset.
    pub fn from_proto(airports: &Airports) -> Self {
        Self::new(airports.iter().map(AirportInfo::from_proto).collect())
    }

    pub fn get(&self, iata: &str) -> Option<&AirportInfo> {
        self.by_code.get(iata)
    }

    pub fn contains(&self, iata: &str) -> bool {
        self.by_code.contains_key(iata)
    }

    pub fn city_name(&self, iata: &str) -> Option<&str> {
        self.get(iata).map(|a| a.city.as_str())
    }

    /// Every code, in no particular order.
    pub fn iter_codes(&self) -> impl Iterator<Item = &str> {
        self.by_code.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.by_code.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }
}

/// Great-circle distance in kilometres (haversine on a spherical Earth,
/// which is well within the accuracy a made-up schedule needs).
pub fn great_circle_km(a: &AirportInfo, b: &AirportInfo) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0;
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lhr() -> AirportInfo {
        AirportInfo::new("lhr", "London", 51.47, -0.4543)
    }

    #[test]
    fn distances_match_known_routes() {
        let cdg = AirportInfo::new("CDG", "Paris", 49.0097, 2.5479);
        let jfk = AirportInfo::new("JFK", "New York", 40.6398, -73.7789);
        let d = great_circle_km(&lhr(), &cdg);
        assert!((330.0..360.0).contains(&d), "LHR-CDG {d}");
        let d = great_circle_km(&lhr(), &jfk);
        assert!((5500.0..5600.0).contains(&d), "LHR-JFK {d}");
        assert_eq!(great_circle_km(&jfk, &jfk), 0.0);
    }

    #[test]
    fn directory_lookups() {
        let dir = AirportDirectory::new(vec![lhr()]);
        assert!(dir.contains("LHR"));
        assert!(!dir.contains("lhr"), "lookups take normalised codes");
        assert_eq!(dir.city_name("LHR"), Some("London"));
        assert_eq!(dir.len(), 1);
    }

    #[test]
    fn zone_offsets_are_standard_time() {
        assert_eq!(standard_offset_minutes("Europe/London"), Some(0));
        assert_eq!(standard_offset_minutes("Europe/Paris"), Some(60));
        assert_eq!(standard_offset_minutes("America/New_York"), Some(-300));
        assert_eq!(standard_offset_minutes("Australia/Sydney"), Some(600));
        assert_eq!(standard_offset_minutes("Asia/Kolkata"), Some(330));
        assert_eq!(standard_offset_minutes("Not/AZone"), None);
    }

    #[test]
    fn the_embedded_dataset_converts() {
        let dir = AirportDirectory::from_proto(voxbook_proto::airports::Airports::shared());
        assert!(dir.len() > 5_000);
        let cdg = dir.get("CDG").expect("CDG");
        assert_eq!(cdg.city, "Paris");
        assert_eq!(cdg.utc_offset_minutes, 60);
        assert!(dir.get("JFK").is_some_and(|a| a.utc_offset_minutes == -300));
        assert!(dir.iter_codes().all(|c| !dir.city_name(c).unwrap_or("").is_empty()));
    }

    #[test]
    fn longitude_offsets() {
        assert_eq!(offset_from_longitude(-73.8), -5 * 60);
        assert_eq!(offset_from_longitude(139.8), 9 * 60);
        assert_eq!(offset_from_longitude(-0.45), 0);
    }
}
