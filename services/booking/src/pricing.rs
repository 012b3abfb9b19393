//! Fares, nightly rates and capacities: deterministic functions of what is
//! sold and when.
//!
//! A price depends only on the route or hotel, the date and the cabin, never
//! on how many seats are left or on the day the question is asked. That is
//! what lets an offer id stand for its price: rebuilding the offer at hold
//! or book time gives the same amount the search showed. Amounts are whole
//! euros (in cents), which reads out cleanly.

use crate::stable_hash::stable_range;
use voxbook_proto::booking::{Cabin, Money};

pub const CURRENCY: &str = "EUR";

/// Seats per flight in each cabin. Every flight carries every cabin: the
/// catalogue is simple on purpose, and the small first cabin is what tests
/// sell out.
pub fn cabin_capacity(cabin: Cabin) -> u32 {
    match cabin {
        Cabin::Economy => 150,
        Cabin::PremiumEconomy => 24,
        Cabin::Business => 30,
        Cabin::First => 8,
    }
}

/// Fare of a cabin relative to economy, in percent.
pub fn cabin_multiplier_percent(cabin: Cabin) -> i64 {
    match cabin {
        Cabin::Economy => 100,
        Cabin::PremiumEconomy => 160,
        Cabin::Business => 320,
        Cabin::First => 550,
    }
}

/// Economy fare before the per-date variation, in cents: a fixed part plus
/// a part per kilometre.
pub fn base_economy_fare_minor(distance_km: f64) -> i64 {
    4_900 + (distance_km.max(0.0) * 9.0).round() as i64
}

/// One passenger's fare for one flight on one date in one cabin, in cents.
///
/// The per-date variation (85% to 135%) is keyed on the flight and the
/// date, not the cabin, so all cabins of a flight move together.
pub fn flight_fare_minor(
    origin: &str,
    destination: &str,
    flight_no: &str,
    date: &str,
    cabin: Cabin,
    distance_km: f64,
) -> i64 {
    let variation = stable_range(&["fare", origin, destination, flight_no, date], 85, 135) as i64;
    let cents = base_economy_fare_minor(distance_km) * variation * cabin_multiplier_percent(cabin) / 10_000;
    round_to_euro(cents)
}

/// The nightly rate of a hotel for a stay starting on `check_in`, in cents:
/// the hotel's base rate moved by 90% to 125% depending on the date.
pub fn nightly_rate_minor(hotel_id: &str, base_minor: i64, check_in: &str) -> i64 {
    let variation = stable_range(&["night", hotel_id, check_in], 90, 125) as i64;
    round_to_euro(base_minor * variation / 100)
}

/// Rounds to whole euros, never below one euro.
pub fn round_to_euro(cents: i64) -> i64 {
    (((cents + 50) / 100).max(1)) * 100
}

pub fn money(amount_minor: i64) -> Money {
    Money { amount_minor, currency: CURRENCY.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fares_are_deterministic_and_ordered_by_cabin() {
        let fare = |cabin| flight_fare_minor("LHR", "CDG", "VX123", "2026-06-12", cabin, 344.0);
        assert_eq!(fare(Cabin::Economy), fare(Cabin::Economy));
        let e = fare(Cabin::Economy);
        let w = fare(Cabin::PremiumEconomy);
        let j = fare(Cabin::Business);
        let f = fare(Cabin::First);
        assert!(e < w && w < j && j < f, "{e} {w} {j} {f}");
        assert_eq!(e % 100, 0, "whole euros");
        // Base 49 + 344 * 0.09 = 79.96 EUR, times 85%..135%.
        assert!((6_700..=10_900).contains(&e), "{e}");
    }

    #[test]
    fn fares_vary_by_date_within_bounds() {
        let base = base_economy_fare_minor(5_555.0);
        let mut distinct = std::collections::BTreeSet::new();
        for day in 1..=28 {
            let date = format!("2026-02-{day:02}");
            let f = flight_fare_minor("LHR", "JFK", "VX4000", &date, Cabin::Economy, 5_555.0);
            assert!(f >= round_to_euro(base * 85 / 100) && f <= round_to_euro(base * 135 / 100));
            distinct.insert(f);
        }
        assert!(distinct.len() > 5, "prices should vary by date");
    }

    #[test]
    fn rounding() {
        assert_eq!(round_to_euro(7_996), 8_000);
        assert_eq!(round_to_euro(7_949), 7_900);
        assert_eq!(round_to_euro(3), 100);
        assert_eq!(money(1_200).currency, "EUR");
    }

    #[test]
    fn nightly_rates_stay_near_base() {
        for day in 1..=30 {
            let date = format!("2026-06-{day:02}");
            let r = nightly_rate_minor("LHR-1", 20_000, &date);
            assert!((18_000..=25_000).contains(&r), "{r}");
        }
    }
}
