//! Units of inventory and the arithmetic of moving them.
//!
//! A seat count is kept per flight, date and cabin; a room count per hotel
//! and night. An offer needs a quantity of one or more such units; a change
//! of booking is the difference between what the new offer needs and what
//! the old one held. Deltas are applied in the order of [`InventoryKey`]
//! (flights before hotels, then by key) by every transaction, so two
//! transactions never wait on each other's rows in opposite orders and
//! cannot deadlock on PostgreSQL.

use crate::hotels::rooms_needed;
use crate::offer_id::{FlightSpec, HotelSpec, OfferSpec};
use crate::pricing::cabin_capacity;
use chrono::NaiveDate;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InventoryKey {
    /// `<ORIG><DEST>-<date>-<flight>-<cabin>`: flight numbers are only
    /// unique within a route, hence the airports in the key.
    Flight(String),
    HotelNight {
        hotel_id: String,
        night: NaiveDate,
    },
}

impl InventoryKey {
    pub fn flight(
        origin: &str,
        destination: &str,
        date: NaiveDate,
        flight_no: &str,
        cabin: voxbook_proto::booking::Cabin,
    ) -> Self {
        InventoryKey::Flight(format!(
            "{origin}{destination}-{}-{flight_no}-{}",
            date.format("%Y-%m-%d"),
            cabin.as_str()
        ))
    }

    pub fn describe(&self) -> String {
        match self {
            InventoryKey::Flight(key) => format!("flight {key}"),
            InventoryKey::HotelNight { hotel_id, night } => {
                format!("hotel {hotel_id} on the night of {}", night.format("%Y-%m-%d"))
            }
        }
    }
}

/// A quantity of a unit, and the capacity the unit starts with when it is
/// first touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub key: InventoryKey,
    pub quantity: u32,
    pub capacity: u32,
}

/// Seats a flight offer takes: one per passenger on each flight.
pub fn flight_needs(s: &FlightSpec) -> Vec<Need> {
    let mut needs = vec![Need {
        key: InventoryKey::flight(&s.origin, &s.destination, s.depart_date, &s.outbound_flight, s.cabin),
        quantity: s.passengers,
        capacity: cabin_capacity(s.cabin),
    }];
    if let Some(inbound) = &s.inbound {
        needs.push(Need {
            key: InventoryKey::flight(&s.destination, &s.origin, inbound.date, &inbound.flight, s.cabin),
            quantity: s.passengers,
            capacity: cabin_capacity(s.cabin),
        });
    }
    needs
}

/// Rooms a hotel offer takes on each night of the stay. The capacity comes
/// from the hotel catalogue.
pub fn hotel_needs(s: &HotelSpec, rooms_per_night: u32) -> Vec<Need> {
    s.check_in
        .iter_days()
        .take(s.nights as usize)
        .map(|night| Need {
            key: InventoryKey::HotelNight { hotel_id: s.hotel_id.clone(), night },
            quantity: rooms_needed(s.guests),
            capacity: rooms_per_night,
        })
        .collect()
}

/// What a stored booking holds, derived from its offer id alone so that a
/// booking can always be released, whatever happens to the catalogue.
/// Hotel capacities are unknown here and given as 0: releases never use
/// them, and [`deltas`] takes capacities from the side that takes.
pub fn held_needs(spec: &OfferSpec) -> Vec<Need> {
    match spec {
        OfferSpec::Flight(f) => flight_needs(f),
        OfferSpec::Hotel(h) => hotel_needs(h, 0),
    }
}

/// The change to apply to each unit, in key order: negative takes
/// inventory, positive gives it back. Units whose change nets to zero (a
/// modification that keeps a flight) are left out so they are not touched.
pub fn deltas(release: &[Need], take: &[Need]) -> Vec<(Need, i64)> {
    let mut by_key: BTreeMap<InventoryKey, (Need, i64)> = BTreeMap::new();
    for (needs, sign) in [(release, 1i64), (take, -1i64)] {
        for need in needs {
            let entry = by_key.entry(need.key.clone()).or_insert_with(|| (need.clone(), 0));
            if sign < 0 {
                entry.0.capacity = need.capacity;
            }
            entry.1 += sign * i64::from(need.quantity);
        }
    }
    by_key.into_values().filter(|(_, d)| *d != 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxbook_proto::booking::Cabin;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, d).unwrap()
    }

    fn seat(date: u32, qty: u32) -> Need {
        Need {
            key: InventoryKey::flight("LHR", "CDG", day(date), "VX100", Cabin::Economy),
            quantity: qty,
            capacity: 150,
        }
    }

    #[test]
    fn flight_keys_are_readable() {
        let k = InventoryKey::flight("LHR", "CDG", day(12), "VX100", Cabin::First);
        assert_eq!(k, InventoryKey::Flight("LHRCDG-2026-06-12-VX100-first".into()));
    }

    #[test]
    fn deltas_net_out_and_are_sorted() {
        // Same flight, 2 -> 3 passengers: only one more seat is taken.
        let d = deltas(&[seat(12, 2)], &[seat(12, 3)]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].1, -1);

        // Moving dates releases the old flight and takes the new one.
        let d = deltas(&[seat(14, 2)], &[seat(12, 2)]);
        assert_eq!(d.iter().map(|(_, x)| *x).collect::<Vec<_>>(), vec![-2, 2]);
        assert!(d[0].0.key < d[1].0.key);

        // No change, nothing to touch.
        assert!(deltas(&[seat(12, 2)], &[seat(12, 2)]).is_empty());
    }

    #[test]
    fn flights_sort_before_hotels() {
        let hotel = InventoryKey::HotelNight { hotel_id: "AAA-1".into(), night: day(1) };
        assert!(seat(30, 1).key < hotel);
    }
}
