//! The hotels of a city, as a pure function of its airport.
//!
//! Each airport's city gets four to six hotels, named after the city from a
//! fixed set of patterns, with stars, a base nightly rate and a number of
//! rooms per night all drawn from a stable hash. Hotel ids are the airport
//! code and a number (`LHR-2`), stable for as long as the patterns below are
//! not reordered.

use crate::airports::AirportInfo;
use crate::stable_hash::{stable_hash, stable_range};

/// Name patterns (`{}` is the city) with the star rating that goes with
/// each, so a "Grand ... Hotel" is never a two-star.
const PATTERNS: [(&str, u32); 10] = [
    ("Grand {} Hotel", 5),
    ("{} Central Inn", 3),
    ("The {} Plaza", 4),
    ("{} Riverside Suites", 4),
    ("Hotel Royal {}", 5),
    ("{} Garden Lodge", 3),
    ("{} Airport Hotel", 3),
    ("Old Town {} Guesthouse", 2),
    ("{} Harbour View", 4),
    ("{} City Hostel", 2),
];

/// Guests that share one room.
pub const GUESTS_PER_ROOM: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hotel {
    pub hotel_id: String,
    /// The airport code standing for the city.
    pub city: String,
    pub city_name: String,
    pub name: String,
    pub stars: u32,
    /// Nightly rate before the per-date variation, in cents.
    pub base_nightly_minor: i64,
    /// Rooms sold per night; the inventory starts every night here.
    pub rooms_per_night: u32,
}

/// Rooms a party needs: two guests per room, rounded up.
pub fn rooms_needed(guests: u32) -> u32 {
    guests.div_ceil(GUESTS_PER_ROOM)
}

/// The city's hotels, in id order.
pub fn city_hotels(airport: &AirportInfo) -> Vec<Hotel> {
    let code = airport.iata.as_str();
    let count = stable_range(&["hotel-count", code], 4, 6) as usize;
    // A deterministic shuffle: order the patterns by their hash for this city.
    let mut patterns: Vec<(u64, usize)> = PATTERNS
        .iter()
        .enumerate()
        .map(|(i, (pattern, _))| (stable_hash(&["hotel-pattern", code, pattern]), i))
        .collect();
    patterns.sort_unstable();
    // How expensive the city is overall, in percent.
    let city_factor = stable_range(&["city-price", code], 80, 140) as i64;

    patterns
        .into_iter()
        .take(count)
        .enumerate()
        .map(|(n, (_, pattern_index))| {
            let (pattern, stars) = PATTERNS[pattern_index];
            let hotel_id = format!("{code}-{}", n + 1);
            let own_factor = stable_range(&["hotel-price", &hotel_id], 90, 110) as i64;
            let base = star_base_minor(stars) * city_factor / 100 * own_factor / 100;
            Hotel {
                name: pattern.replace("{}", &airport.city),
                stars,
                base_nightly_minor: base,
                rooms_per_night: stable_range(&["hotel-rooms", &hotel_id], 20, 60) as u32,
                city: code.to_string(),
                city_name: airport.city.clone(),
                hotel_id,
            }
        })
        .collect()
}

/// The airport code part of a hotel id, if it has the right shape.
pub fn hotel_city(hotel_id: &str) -> Option<&str> {
    let (code, number) = hotel_id.split_once('-')?;
    let code_ok = code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase());
    let number_ok = number.len() == 1 && number.bytes().all(|b| (b'1'..=b'9').contains(&b));
    (code_ok && number_ok).then_some(code)
}

/// A hotel by id, given its city's airport.
pub fn find_hotel(airport: &AirportInfo, hotel_id: &str) -> Option<Hotel> {
    city_hotels(airport).into_iter().find(|h| h.hotel_id == hotel_id)
}

fn star_base_minor(stars: u32) -> i64 {
    match stars {
        0..=2 => 6_500,
        3 => 9_500,
        4 => 14_500,
        _ => 24_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn london() -> AirportInfo {
        AirportInfo::new("LHR", "London", 51.47, -0.4543)
    }

    #[test]
    fn hotels_are_stable_and_named_after_the_city() {
        let a = city_hotels(&london());
        assert_eq!(a, city_hotels(&london()));
        assert!((4..=6).contains(&a.len()));
        for (i, h) in a.iter().enumerate() {
            assert_eq!(h.hotel_id, format!("LHR-{}", i + 1));
            assert!(h.name.contains("London"), "{}", h.name);
            assert!((2..=5).contains(&h.stars));
            assert!((20..=60).contains(&h.rooms_per_night));
            assert!(h.base_nightly_minor > 0);
            assert_eq!(find_hotel(&london(), &h.hotel_id).as_ref(), Some(h));
        }
        let mut names: Vec<_> = a.iter().map(|h| &h.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), a.len(), "names are distinct");
    }

    #[test]
    fn rooms_for_guests() {
        assert_eq!(rooms_needed(1), 1);
        assert_eq!(rooms_needed(2), 1);
        assert_eq!(rooms_needed(3), 2);
        assert_eq!(rooms_needed(8), 4);
    }

    #[test]
    fn hotel_id_shape() {
        assert_eq!(hotel_city("LHR-3"), Some("LHR"));
        assert_eq!(hotel_city("LHR-0"), None);
        assert_eq!(hotel_city("LHR-10"), None);
        assert_eq!(hotel_city("lhr-1"), None);
        assert_eq!(hotel_city("LHR"), None);
        assert!(find_hotel(&london(), "LHR-9").is_none());
    }
}
