//! The booking service against real databases: every case runs once on
//! SQLite and once on PostgreSQL, each on a database of its own.

mod common;

use chrono::Duration;
use common::{Backend, Harness, date, flight_of};
use voxbook_booking::BookingError;
use voxbook_booking::pricing::cabin_capacity;
use voxbook_proto::booking::{
    BookRequest, BookedItem, Booking, BookingStatus, Cabin, CancelRequest, FlightOffer, FlightSearch, HoldRequest,
    HotelSearch, ModifyRequest,
};

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let h = super::Harness::start(super::Backend::Sqlite).await.unwrap();
                    super::cases::$case(&h).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(h) = super::Harness::start(super::Backend::Postgres).await else {
                        return;
                    };
                    super::cases::$case(&h).await;
                }
            )*
        }
    };
}

on_both_backends!(
    search_is_deterministic_and_validated,
    hotel_search_is_deterministic_and_validated,
    hold_then_confirm,
    direct_book_takes_seats,
    idempotent_retry_returns_the_same_booking,
    concurrent_identical_books_book_once,
    concurrent_different_books_never_oversell,
    sold_out_is_reported,
    modify_flight_moves_inventory,
    modify_hotel_moves_rooms,
    cancel_releases_inventory_once,
    concurrent_cancels_release_once,
    hold_expires_with_the_clock,
    lapsed_holds_do_not_block_sales,
    invalid_offers_are_rejected,
    unknown_references_are_not_found,
    the_sale_window_counts_from_the_callers_as_of_date,
);

fn flight_search(
    origin: &str,
    destination: &str,
    depart: &str,
    ret: Option<&str>,
    passengers: u32,
    cabin: Cabin,
) -> FlightSearch {
    FlightSearch {
        origin: origin.into(),
        destination: destination.into(),
        depart_date: depart.into(),
        return_date: ret.map(Into::into),
        passengers,
        cabin,
    }
}

fn book_offer(offer_id: &str, key: &str) -> BookRequest {
    BookRequest { offer_id: Some(offer_id.into()), hold_ref: None, idempotency_key: key.into() }
}

fn cancel_req(key: &str) -> CancelRequest {
    CancelRequest { idempotency_key: key.into() }
}

async fn first_offer(h: &Harness, search: &FlightSearch) -> FlightOffer {
    h.service.search_flights(search).await.unwrap().offers.into_iter().next().expect("at least one offer")
}

mod cases {
    use super::*;

    pub async fn search_is_deterministic_and_validated(h: &Harness) {
        let s = &h.service;
        let q = flight_search("LHR", "CDG", "2026-06-12", None, 2, Cabin::Economy);
        let a = s.search_flights(&q).await.unwrap();
        let b = s.search_flights(&q).await.unwrap();
        assert_eq!(a, b);
        assert!(!a.offers.is_empty() && a.offers.len() <= 5);
        for w in a.offers.windows(2) {
            assert!(w[0].total.amount_minor <= w[1].total.amount_minor);
        }
        for o in &a.offers {
            assert_eq!(o.passengers, 2);
            assert_eq!(o.total.amount_minor, o.price_per_person.amount_minor * 2);
            assert_eq!(o.seats_left, cabin_capacity(Cabin::Economy));
            assert_eq!(o.outbound.date, "2026-06-12");
            assert!(o.offer_id.starts_with("F1.LHR.CDG.2026-06-12."));
        }
        // Lower-case codes are accepted and give the same answer.
        let lower = flight_search("lhr", " cdg", "2026-06-12", None, 2, Cabin::Economy);
        assert_eq!(s.search_flights(&lower).await.unwrap(), a);

        // A return trip pairs legs; the same flight numbers fly every day.
        let r = s
            .search_flights(&flight_search("LHR", "JFK", "2026-06-12", Some("2026-06-19"), 1, Cabin::Business))
            .await
            .unwrap();
        assert_eq!(r.offers.len(), 5);
        for o in &r.offers {
            let inbound = o.inbound.as_ref().expect("return leg");
            assert_eq!((inbound.origin.as_str(), inbound.date.as_str()), ("JFK", "2026-06-19"));
        }
        let later = first_offer(h, &flight_search("LHR", "JFK", "2026-06-13", None, 1, Cabin::Business)).await;
        let numbers = |offers: &[FlightOffer]| {
            let mut n: Vec<String> = offers.iter().map(|o| o.outbound.flight_no.clone()).collect();
            n.sort();
            n.dedup();
            n
        };
        let one_way =
            s.search_flights(&flight_search("LHR", "JFK", "2026-06-12", None, 1, Cabin::Business)).await.unwrap();
        assert!(numbers(&one_way.offers).contains(&later.outbound.flight_no));

        let err = |q: FlightSearch| async move { s.search_flights(&q).await.unwrap_err() };
        assert!(matches!(
            err(flight_search("LHR", "XXX", "2026-06-12", None, 1, Cabin::Economy)).await,
            BookingError::UnknownAirport(_)
        ));
        for bad in [
            flight_search("LHR", "LHR", "2026-06-12", None, 1, Cabin::Economy),
            flight_search("LHR", "CDG", "2026-05-31", None, 1, Cabin::Economy),
            flight_search("LHR", "CDG", "12/06/2026", None, 1, Cabin::Economy),
            flight_search("LHR", "CDG", "2026-06-12", Some("2026-06-11"), 1, Cabin::Economy),
            flight_search("LHR", "CDG", "2026-06-12", None, 0, Cabin::Economy),
            flight_search("LHR", "CDG", "2026-06-12", None, 10, Cabin::Economy),
            flight_search("LHR", "CDG", "2028-06-12", None, 1, Cabin::Economy),
        ] {
            assert!(matches!(err(bad.clone()).await, BookingError::InvalidRequest(_)), "{bad:?}");
        }
    }

    pub async fn hotel_search_is_deterministic_and_validated(h: &Harness) {
        let s = &h.service;
        let q = HotelSearch { city: "CDG".into(), check_in: "2026-06-12".into(), nights: 3, guests: 3 };
        let a = s.search_hotels(&q).await.unwrap();
        assert_eq!(a, s.search_hotels(&q).await.unwrap());
        assert!((4..=5).contains(&a.offers.len()));
        for w in a.offers.windows(2) {
            assert!(w[0].total.amount_minor <= w[1].total.amount_minor);
        }
        for o in &a.offers {
            assert_eq!(o.rooms, 2);
            assert_eq!(o.city_name, "Paris");
            assert_eq!(o.check_out, "2026-06-15");
            assert_eq!(o.total.amount_minor, o.price_per_night.amount_minor * 3 * 2);
        }
        for bad in [
            HotelSearch { guests: 9, ..q.clone() },
            HotelSearch { guests: 0, ..q.clone() },
            HotelSearch { nights: 31, ..q.clone() },
            HotelSearch { nights: 0, ..q.clone() },
            HotelSearch { check_in: "2026-05-01".into(), ..q.clone() },
        ] {
            assert!(matches!(s.search_hotels(&bad).await.unwrap_err(), BookingError::InvalidRequest(_)));
        }
        assert!(matches!(
            s.search_hotels(&HotelSearch { city: "ZZZ".into(), ..q }).await.unwrap_err(),
            BookingError::UnknownAirport(_)
        ));
    }

    pub async fn hold_then_confirm(h: &Harness) {
        let s = &h.service;
        let offer =
            first_offer(h, &flight_search("LHR", "CDG", "2026-06-12", Some("2026-06-15"), 2, Cabin::Economy)).await;
        let held =
            s.hold(&HoldRequest { offer_id: offer.offer_id.clone(), idempotency_key: "hold-1".into() }).await.unwrap();
        assert_eq!(held.status, BookingStatus::Held);
        assert_eq!(held.version, 1);
        assert_eq!(held.booking_ref.len(), 6);
        assert_eq!(held.hold_expires_at.as_deref(), Some("2026-06-01T09:10:00.000Z"));
        let inbound = offer.inbound.clone().unwrap();
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 148);
        assert_eq!(h.seats_left(&offer, &inbound).await, 148);

        let confirm = BookRequest {
            offer_id: None,
            hold_ref: Some(held.booking_ref.to_lowercase()),
            idempotency_key: "confirm-1".into(),
        };
        let booked = s.book(&confirm).await.unwrap();
        assert_eq!(booked.booking_ref, held.booking_ref);
        assert_eq!(booked.status, BookingStatus::Confirmed);
        assert_eq!(booked.version, 2);
        assert_eq!(booked.hold_expires_at, None);
        assert_eq!(booked.item, held.item);
        // Confirming moves no inventory.
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 148);

        // A retry answers the same; a confirmed booking outlives the TTL.
        assert_eq!(s.book(&confirm).await.unwrap(), booked);
        h.clock.advance(Duration::hours(1));
        assert_eq!(s.get(&held.booking_ref).await.unwrap(), booked);
        // Confirming again under a new key is harmless.
        let again = BookRequest { idempotency_key: "confirm-2".into(), ..confirm.clone() };
        assert_eq!(s.book(&again).await.unwrap(), booked);
        assert_eq!(h.seats_left(&offer, &inbound).await, 148);
        // The hold's own key still answers the booking as it is now.
        let replay =
            s.hold(&HoldRequest { offer_id: offer.offer_id.clone(), idempotency_key: "hold-1".into() }).await.unwrap();
        assert_eq!(replay, booked);
    }

    pub async fn direct_book_takes_seats(h: &Harness) {
        let s = &h.service;
        let q = flight_search("LHR", "MAD", "2026-06-20", None, 3, Cabin::PremiumEconomy);
        let offer = first_offer(h, &q).await;
        let booking = s.book(&book_offer(&offer.offer_id, "direct-1")).await.unwrap();
        assert_eq!(booking.status, BookingStatus::Confirmed);
        assert_eq!(booking.version, 1);
        assert_eq!(booking.hold_expires_at, None);
        assert_eq!(flight_of(&booking).offer_id, offer.offer_id);
        assert_eq!(flight_of(&booking).total, offer.total);
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 24 - 3);
        // Search now shows the seats gone.
        let again = s.search_flights(&q).await.unwrap();
        let same = again.offers.iter().find(|o| o.offer_id == offer.offer_id).expect("still on sale");
        assert_eq!(same.seats_left, 21);
        assert_eq!(s.get(&booking.booking_ref).await.unwrap(), booking);
    }

    pub async fn idempotent_retry_returns_the_same_booking(h: &Harness) {
        let s = &h.service;
        let offer = first_offer(h, &flight_search("EDI", "LHR", "2026-06-10", None, 1, Cabin::Economy)).await;
        let other = s
            .search_flights(&flight_search("EDI", "LHR", "2026-06-11", None, 1, Cabin::Economy))
            .await
            .unwrap()
            .offers
            .remove(0);
        let first = s.book(&book_offer(&offer.offer_id, "k-1")).await.unwrap();
        let second = s.book(&book_offer(&offer.offer_id, "k-1")).await.unwrap();
        assert_eq!(first, second);
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 149);

        let conflict = |e: BookingError| matches!(e, BookingError::IdempotencyConflict);
        assert!(conflict(s.book(&book_offer(&other.offer_id, "k-1")).await.unwrap_err()));
        let hold_same_key = HoldRequest { offer_id: offer.offer_id.clone(), idempotency_key: "k-1".into() };
        assert!(conflict(s.hold(&hold_same_key).await.unwrap_err()));
        assert!(conflict(s.cancel(&first.booking_ref, &cancel_req("k-1")).await.unwrap_err()));
        // A key used to cancel cannot then create a booking.
        s.cancel(&first.booking_ref, &cancel_req("k-2")).await.unwrap();
        assert!(conflict(s.book(&book_offer(&other.offer_id, "k-2")).await.unwrap_err()));
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 150);
        assert_eq!(h.seats_left(&other, &other.outbound).await, 150);
    }

    pub async fn concurrent_identical_books_book_once(h: &Harness) {
        let offer = first_offer(h, &flight_search("LHR", "BCN", "2026-07-01", None, 2, Cabin::Business)).await;
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let service = h.service.clone();
            let req = book_offer(&offer.offer_id, "same-key");
            tasks.push(tokio::spawn(async move { service.book(&req).await }));
        }
        let mut refs = Vec::new();
        for t in tasks {
            let booking = t.await.unwrap().expect("every retry answers the booking");
            refs.push(booking.booking_ref);
        }
        refs.dedup();
        assert_eq!(refs.len(), 1, "one booking for one key");
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 30 - 2);
    }

    pub async fn concurrent_different_books_never_oversell(h: &Harness) {
        let offer = first_offer(h, &flight_search("CDG", "JFK", "2026-07-02", None, 1, Cabin::First)).await;
        assert_eq!(offer.seats_left, 8);
        let mut tasks = Vec::new();
        for i in 0..14 {
            let service = h.service.clone();
            let req = book_offer(&offer.offer_id, &format!("buyer-{i}"));
            tasks.push(tokio::spawn(async move { service.book(&req).await }));
        }
        let (mut booked, mut sold_out) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(b) => {
                    assert_eq!(b.status, BookingStatus::Confirmed);
                    booked += 1;
                }
                Err(BookingError::SoldOut(_)) => sold_out += 1,
                Err(e) => panic!("unexpected error {e:?}"),
            }
        }
        assert_eq!((booked, sold_out), (8, 6));
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 0);
        // The flight no longer appears in searches.
        let after =
            h.service.search_flights(&flight_search("CDG", "JFK", "2026-07-02", None, 1, Cabin::First)).await.unwrap();
        assert!(after.offers.iter().all(|o| o.offer_id != offer.offer_id));
    }

    pub async fn sold_out_is_reported(h: &Harness) {
        let s = &h.service;
        let q = flight_search("MAD", "BCN", "2026-06-25", None, 4, Cabin::First);
        let offer = first_offer(h, &q).await;
        s.book(&book_offer(&offer.offer_id, "four-a")).await.unwrap();
        s.hold(&HoldRequest { offer_id: offer.offer_id.clone(), idempotency_key: "four-b".into() }).await.unwrap();
        let one = offer.offer_id.replace(".F.4", ".F.1");
        let err = s.book(&book_offer(&one, "one-more")).await.unwrap_err();
        assert!(matches!(err, BookingError::SoldOut(_)), "{err:?}");
        let err =
            s.hold(&HoldRequest { offer_id: one.clone(), idempotency_key: "one-more-hold".into() }).await.unwrap_err();
        assert!(matches!(err, BookingError::SoldOut(_)), "{err:?}");
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 0);
        // A failed attempt leaves no booking behind: the key stays usable.
        let other_day = s
            .search_flights(&flight_search("MAD", "BCN", "2026-06-26", None, 1, Cabin::First))
            .await
            .unwrap()
            .offers
            .remove(0);
        s.book(&book_offer(&other_day.offer_id, "one-more")).await.unwrap();
    }

    pub async fn modify_flight_moves_inventory(h: &Harness) {
        let s = &h.service;
        let offer =
            first_offer(h, &flight_search("LHR", "CDG", "2026-06-12", Some("2026-06-15"), 2, Cabin::Economy)).await;
        let booking = s.book(&book_offer(&offer.offer_id, "trip")).await.unwrap();
        let inbound = offer.inbound.clone().unwrap();

        let change = ModifyRequest {
            idempotency_key: "move-1".into(),
            depart_date: Some("2026-06-13".into()),
            return_date: Some("2026-06-16".into()),
            ..Default::default()
        };
        let moved = s.modify(&booking.booking_ref, &change).await.unwrap();
        assert_eq!(moved.version, 2);
        assert_eq!(moved.status, BookingStatus::Confirmed);
        assert_eq!(moved.created_at, booking.created_at);
        let new = flight_of(&moved).clone();
        let new_inbound = new.inbound.clone().unwrap();
        assert_eq!(new.outbound.flight_no, offer.outbound.flight_no);
        assert_eq!(new_inbound.flight_no, inbound.flight_no);
        assert_eq!((new.outbound.date.as_str(), new_inbound.date.as_str()), ("2026-06-13", "2026-06-16"));
        assert_ne!(new.offer_id, offer.offer_id);
        // The price is what a search for the new dates says.
        let quoted = s
            .search_flights(&flight_search("LHR", "CDG", "2026-06-13", Some("2026-06-16"), 2, Cabin::Economy))
            .await
            .unwrap();
        if let Some(q) = quoted.offers.iter().find(|o| o.offer_id == new.offer_id) {
            assert_eq!(q.total, new.total);
        }
        assert_eq!(new.total.amount_minor, new.price_per_person.amount_minor * 2);
        // Old seats back, new seats taken.
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 150);
        assert_eq!(h.seats_left(&offer, &inbound).await, 150);
        assert_eq!(h.seats_left(&new, &new.outbound).await, 148);
        assert_eq!(h.seats_left(&new, &new_inbound).await, 148);

        // A retry answers the same and moves nothing.
        assert_eq!(s.modify(&booking.booking_ref, &change).await.unwrap(), moved);
        assert_eq!(h.seats_left(&new, &new.outbound).await, 148);
        // The same key with another change is a conflict.
        let other = ModifyRequest { passengers: Some(5), ..change.clone() };
        assert!(matches!(s.modify(&booking.booking_ref, &other).await.unwrap_err(), BookingError::IdempotencyConflict));

        // One more passenger takes one more seat on each leg.
        let more = s
            .modify(
                &booking.booking_ref,
                &ModifyRequest { idempotency_key: "move-2".into(), passengers: Some(3), ..Default::default() },
            )
            .await
            .unwrap();
        assert_eq!(more.version, 3);
        let more_offer = flight_of(&more);
        assert_eq!(more_offer.passengers, 3);
        assert_eq!(more_offer.total.amount_minor, new.price_per_person.amount_minor * 3);
        assert_eq!(h.seats_left(&new, &new.outbound).await, 147);
        assert_eq!(h.seats_left(&new, &new_inbound).await, 147);
        assert_eq!(s.get(&booking.booking_ref).await.unwrap(), more);

        for bad in [
            ModifyRequest { idempotency_key: "bad-1".into(), ..Default::default() },
            ModifyRequest { idempotency_key: "bad-2".into(), nights: Some(2), ..Default::default() },
            ModifyRequest {
                idempotency_key: "bad-3".into(),
                depart_date: Some("2026-05-20".into()),
                ..Default::default()
            },
            ModifyRequest {
                idempotency_key: "bad-4".into(),
                depart_date: Some("2026-06-20".into()),
                ..Default::default()
            },
            ModifyRequest { idempotency_key: "bad-5".into(), passengers: Some(0), ..Default::default() },
        ] {
            let err = s.modify(&booking.booking_ref, &bad).await.unwrap_err();
            assert!(matches!(err, BookingError::InvalidRequest(_)), "{bad:?}: {err:?}");
        }
        assert_eq!(s.get(&booking.booking_ref).await.unwrap().version, 3);

        // A one-way booking has no return to move.
        let one_way = first_offer(h, &flight_search("LHR", "EDI", "2026-06-12", None, 1, Cabin::Economy)).await;
        let ow = s.book(&book_offer(&one_way.offer_id, "one-way")).await.unwrap();
        let err = s
            .modify(
                &ow.booking_ref,
                &ModifyRequest {
                    idempotency_key: "ow-move".into(),
                    return_date: Some("2026-06-14".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, BookingError::InvalidRequest(_)));
    }

    pub async fn modify_hotel_moves_rooms(h: &Harness) {
        let s = &h.service;
        let offers = s
            .search_hotels(&HotelSearch { city: "MAD".into(), check_in: "2026-06-12".into(), nights: 2, guests: 2 })
            .await
            .unwrap();
        let offer = offers.offers[0].clone();
        let capacity = offer.rooms_left;
        let booking = s.book(&book_offer(&offer.offer_id, "stay")).await.unwrap();
        assert_eq!(h.rooms_left(&offer.hotel_id, "2026-06-12", capacity).await, capacity - 1);
        assert_eq!(h.rooms_left(&offer.hotel_id, "2026-06-13", capacity).await, capacity - 1);
        assert_eq!(h.rooms_left(&offer.hotel_id, "2026-06-14", capacity).await, capacity);

        let changed = s
            .modify(
                &booking.booking_ref,
                &ModifyRequest {
                    idempotency_key: "stay-change".into(),
                    check_in: Some("2026-06-13".into()),
                    nights: Some(3),
                    guests: Some(3),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let BookedItem::Hotel(stay) = &changed.item else {
            panic!("hotel expected");
        };
        assert_eq!((stay.check_in.as_str(), stay.check_out.as_str()), ("2026-06-13", "2026-06-16"));
        assert_eq!((stay.rooms, stay.guests, stay.nights), (2, 3, 3));
        assert_eq!(stay.total.amount_minor, stay.price_per_night.amount_minor * 3 * 2);
        assert_eq!(h.rooms_left(&offer.hotel_id, "2026-06-12", capacity).await, capacity);
        for night in ["2026-06-13", "2026-06-14", "2026-06-15"] {
            assert_eq!(h.rooms_left(&offer.hotel_id, night, capacity).await, capacity - 2);
        }
        let err = s
            .modify(
                &booking.booking_ref,
                &ModifyRequest { idempotency_key: "stay-bad".into(), passengers: Some(2), ..Default::default() },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, BookingError::InvalidRequest(_)));
        s.cancel(&booking.booking_ref, &cancel_req("stay-cancel")).await.unwrap();
        for night in ["2026-06-13", "2026-06-14", "2026-06-15"] {
            assert_eq!(h.rooms_left(&offer.hotel_id, night, capacity).await, capacity);
        }
    }

    pub async fn cancel_releases_inventory_once(h: &Harness) {
        let s = &h.service;
        let offer = first_offer(h, &flight_search("BCN", "MAD", "2026-06-18", None, 2, Cabin::First)).await;
        let booking = s.book(&book_offer(&offer.offer_id, "to-cancel")).await.unwrap();
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 6);
        let cancelled = s.cancel(&booking.booking_ref, &cancel_req("cancel-1")).await.unwrap();
        assert_eq!(cancelled.status, BookingStatus::Cancelled);
        assert_eq!(cancelled.version, 2);
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 8);
        // Same key: same answer, nothing released twice.
        assert_eq!(s.cancel(&booking.booking_ref, &cancel_req("cancel-1")).await.unwrap(), cancelled);
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 8);
        // Another key: the booking is already cancelled.
        assert!(matches!(
            s.cancel(&booking.booking_ref, &cancel_req("cancel-2")).await.unwrap_err(),
            BookingError::InvalidState(_)
        ));
        assert!(matches!(
            s.modify(
                &booking.booking_ref,
                &ModifyRequest { idempotency_key: "late-change".into(), passengers: Some(1), ..Default::default() }
            )
            .await
            .unwrap_err(),
            BookingError::InvalidState(_)
        ));
        assert_eq!(s.get(&booking.booking_ref).await.unwrap(), cancelled);
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 8);

        // Cancelling a hold releases it too.
        let held = s
            .hold(&HoldRequest { offer_id: offer.offer_id.clone(), idempotency_key: "held-then-cancelled".into() })
            .await
            .unwrap();
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 6);
        let released = s.cancel(&held.booking_ref, &cancel_req("cancel-hold")).await.unwrap();
        assert_eq!(released.status, BookingStatus::Cancelled);
        assert_eq!(released.hold_expires_at, None);
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 8);
        // A cancelled hold cannot be confirmed.
        let err = s
            .book(&BookRequest {
                offer_id: None,
                hold_ref: Some(held.booking_ref.clone()),
                idempotency_key: "confirm-cancelled".into(),
            })
            .await
            .unwrap_err();
        assert!(matches!(err, BookingError::InvalidState(_)));
    }

    pub async fn concurrent_cancels_release_once(h: &Harness) {
        let offer = first_offer(h, &flight_search("JFK", "LHR", "2026-06-22", None, 3, Cabin::PremiumEconomy)).await;
        let booking = h.service.book(&book_offer(&offer.offer_id, "c-book")).await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let service = h.service.clone();
            let r = booking.booking_ref.clone();
            tasks.push(tokio::spawn(async move { service.cancel(&r, &cancel_req("c-cancel")).await }));
        }
        let mut answers: Vec<Booking> = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap().expect("each retry answers the cancellation"));
        }
        assert!(answers.iter().all(|a| a == &answers[0]));
        assert_eq!(answers[0].status, BookingStatus::Cancelled);
        assert_eq!(answers[0].version, 2);
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 24);
    }

    pub async fn hold_expires_with_the_clock(h: &Harness) {
        let s = &h.service;
        let offer = first_offer(h, &flight_search("EDI", "CDG", "2026-06-14", None, 2, Cabin::First)).await;
        let hold = |key: &str| HoldRequest { offer_id: offer.offer_id.clone(), idempotency_key: key.into() };
        let held = s.hold(&hold("exp-1")).await.unwrap();
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 6);
        h.clock.advance(Duration::minutes(9));
        assert_eq!(s.get(&held.booking_ref).await.unwrap().status, BookingStatus::Held);
        h.clock.advance(Duration::minutes(2));

        // Many readers notice at once; the seats come back exactly once.
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let service = s.clone();
            let r = held.booking_ref.clone();
            tasks.push(tokio::spawn(async move { service.get(&r).await }));
        }
        for t in tasks {
            let b = t.await.unwrap().unwrap();
            assert_eq!(b.status, BookingStatus::Expired);
            assert_eq!(b.version, 2);
        }
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 8);
        let confirm = BookRequest {
            offer_id: None,
            hold_ref: Some(held.booking_ref.clone()),
            idempotency_key: "exp-confirm".into(),
        };
        assert!(matches!(s.book(&confirm).await.unwrap_err(), BookingError::HoldExpired(_)));
        assert!(matches!(
            s.cancel(&held.booking_ref, &cancel_req("exp-cancel")).await.unwrap_err(),
            BookingError::HoldExpired(_)
        ));

        // Confirming a lapsed hold that nobody read yet expires it there.
        let second = s.hold(&hold("exp-2")).await.unwrap();
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 6);
        h.clock.advance(Duration::minutes(10));
        let err = s
            .book(&BookRequest {
                offer_id: None,
                hold_ref: Some(second.booking_ref.clone()),
                idempotency_key: "exp-confirm-2".into(),
            })
            .await
            .unwrap_err();
        assert!(matches!(err, BookingError::HoldExpired(_)));
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 8);

        // The sweep expires holds nobody looks at.
        let third = s.hold(&hold("exp-3")).await.unwrap();
        assert_eq!(s.sweep_expired_holds().await.unwrap(), 0);
        h.clock.advance(Duration::minutes(10));
        assert_eq!(s.sweep_expired_holds().await.unwrap(), 1);
        assert_eq!(s.sweep_expired_holds().await.unwrap(), 0);
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 8);
        assert_eq!(s.get(&third.booking_ref).await.unwrap().status, BookingStatus::Expired);
    }

    pub async fn lapsed_holds_do_not_block_sales(h: &Harness) {
        let s = &h.service;
        let q = flight_search("CDG", "MAD", "2026-06-16", None, 8, Cabin::First);
        let offer = first_offer(h, &q).await;
        s.hold(&HoldRequest { offer_id: offer.offer_id.clone(), idempotency_key: "all-of-first".into() })
            .await
            .unwrap();
        let one = offer.offer_id.replace(".F.8", ".F.1");
        let err = s.book(&book_offer(&one, "early")).await.unwrap_err();
        assert!(matches!(err, BookingError::SoldOut(_)));
        // Nobody reads the hold; once it lapses the seats are sold anyway.
        h.clock.advance(Duration::minutes(11));
        let booked = s.book(&book_offer(&one, "late")).await.unwrap();
        assert_eq!(booked.status, BookingStatus::Confirmed);
        assert_eq!(h.seats_left(&offer, &offer.outbound).await, 7);
    }

    pub async fn invalid_offers_are_rejected(h: &Harness) {
        let s = &h.service;
        let invalid = |e: BookingError| matches!(e, BookingError::InvalidOffer(_));
        for (i, id) in [
            "",
            "garbage",
            "F1.LHR.CDG.2026-06-12.VX1.Y.1",
            "F1.LHR.XXX.2026-06-12.VX100.Y.1",
            "H1.LHR-9.2026-06-12.1.1",
            "H1.XXX-1.2026-06-12.1.1",
            "F1.LHR.CDG.2026-06-12.VX100.Y.1; DROP TABLE bookings",
        ]
        .iter()
        .enumerate()
        {
            let err = s.book(&book_offer(id, &format!("bad-{i}"))).await.unwrap_err();
            assert!(invalid(err), "{id:?}");
        }
        // A real offer for a day that has passed.
        let offer = first_offer(h, &flight_search("LHR", "CDG", "2026-06-02", None, 1, Cabin::Economy)).await;
        h.clock.advance(Duration::days(2));
        let err = s
            .hold(&HoldRequest { offer_id: offer.offer_id.clone(), idempotency_key: "too-late".into() })
            .await
            .unwrap_err();
        assert!(invalid(err));
        let err = s.book(&book_offer("x", "")).await.unwrap_err();
        assert!(matches!(err, BookingError::InvalidRequest(_)));
        let err = s
            .book(&BookRequest {
                offer_id: Some(offer.offer_id.clone()),
                hold_ref: Some("ACDEFH".into()),
                idempotency_key: "both".into(),
            })
            .await
            .unwrap_err();
        assert!(matches!(err, BookingError::InvalidRequest(_)));
    }

    pub async fn unknown_references_are_not_found(h: &Harness) {
        let s = &h.service;
        for r in ["ACDEFH", "acdefh", "nope", "", "0OIL12"] {
            assert!(matches!(s.get(r).await.unwrap_err(), BookingError::NotFound(_)), "{r}");
        }
        assert!(matches!(s.cancel("ACDEFH", &cancel_req("nf-cancel")).await.unwrap_err(), BookingError::NotFound(_)));
        assert!(matches!(
            s.book(&BookRequest {
                offer_id: None,
                hold_ref: Some("ACDEFH".into()),
                idempotency_key: "nf-confirm".into(),
            })
            .await
            .unwrap_err(),
            BookingError::NotFound(_)
        ));
    }

    /// A caller's as-of date moves the sale window (a demo session living
    /// in June 2030 can book June 2030), and only the sale window: holds
    /// still expire and timestamps still read by the service clock.
    pub async fn the_sale_window_counts_from_the_callers_as_of_date(h: &Harness) {
        let s = &h.service;
        let as_of = Some(date("2030-06-03"));
        let q = flight_search("LHR", "CDG", "2030-06-12", None, 2, Cabin::Economy);
        let err = s.search_flights(&q).await.unwrap_err();
        assert!(err.to_string().contains("more than 365 days ahead"), "{err}");
        let offers = s.search_flights_as_of(&q, as_of).await.unwrap().offers;
        let offer = offers.into_iter().next().expect("on sale as of 3 June 2030");
        assert_eq!(offer.outbound.date, "2030-06-12");
        let hotels = HotelSearch { city: "CDG".into(), check_in: "2030-06-12".into(), nights: 2, guests: 1 };
        assert!(s.search_hotels(&hotels).await.is_err());
        assert!(!s.search_hotels_as_of(&hotels, as_of).await.unwrap().offers.is_empty());

        // Without the date the offer is not on sale; with it, it is held,
        // and the hold runs on the service clock (1 June 2026, 10 minutes).
        let hold = |key: &str| HoldRequest { offer_id: offer.offer_id.clone(), idempotency_key: key.into() };
        assert!(matches!(s.hold(&hold("asof-0")).await.unwrap_err(), BookingError::InvalidOffer(_)));
        let held = s.hold_as_of(&hold("asof-1"), as_of).await.unwrap();
        assert_eq!(held.status, BookingStatus::Held);
        assert!(held.created_at.starts_with("2026-06-01T09:00"), "{}", held.created_at);
        assert!(held.hold_expires_at.as_deref().is_some_and(|t| t.starts_with("2026-06-01T09:10")), "{held:?}");
        let confirm =
            BookRequest { offer_id: None, hold_ref: Some(held.booking_ref.clone()), idempotency_key: "asof-2".into() };
        let booked = s.book(&confirm).await.unwrap();
        assert_eq!(booked.status, BookingStatus::Confirmed);
        let direct = s.book_as_of(&book_offer(&offer.offer_id, "asof-3"), as_of).await.unwrap();
        assert_eq!(direct.status, BookingStatus::Confirmed);

        // Changes check the new dates against the same window.
        let change = |key: &str| ModifyRequest {
            idempotency_key: key.into(),
            depart_date: Some("2030-06-13".into()),
            ..Default::default()
        };
        assert!(matches!(
            s.modify(&booked.booking_ref, &change("asof-4")).await.unwrap_err(),
            BookingError::InvalidRequest(_)
        ));
        let moved = s.modify_as_of(&booked.booking_ref, &change("asof-5"), as_of).await.unwrap();
        assert_eq!(flight_of(&moved).outbound.date, "2030-06-13");

        // The window moves back as well as forward: as of 15 May 2026 the
        // 20th is on sale, though the service clock says it has passed.
        let past = flight_search("LHR", "CDG", "2026-05-20", None, 1, Cabin::Economy);
        assert!(s.search_flights(&past).await.is_err());
        assert!(!s.search_flights_as_of(&past, Some(date("2026-05-15"))).await.unwrap().offers.is_empty());
    }
}

/// Bookings survive a restart, and the schema is created only once.
#[tokio::test]
async fn sqlite_file_survives_a_restart() {
    use voxbook_booking::{BookingConfig, BookingService, ManualClock};
    let db = common::TestDb::sqlite();
    let config = || BookingConfig::default().with_clock(std::sync::Arc::new(ManualClock::new(common::start_time())));
    let first = BookingService::connect(&db.url, common::airports(), config()).await.unwrap();
    let offer = first
        .search_flights(&flight_search("LHR", "CDG", "2026-06-12", None, 1, Cabin::Economy))
        .await
        .unwrap()
        .offers
        .remove(0);
    let booking = first.book(&book_offer(&offer.offer_id, "persist")).await.unwrap();
    first.close().await;
    let second = BookingService::connect(&db.url, common::airports(), config()).await.unwrap();
    assert_eq!(second.get(&booking.booking_ref).await.unwrap(), booking);
    assert_eq!(second.book(&book_offer(&offer.offer_id, "persist")).await.unwrap(), booking);
    second.close().await;
}

/// An in-memory SQLite database lives as long as the service.
#[tokio::test]
async fn sqlite_in_memory_works() {
    use voxbook_booking::{BookingConfig, BookingService, ManualClock};
    let config = BookingConfig::default().with_clock(std::sync::Arc::new(ManualClock::new(common::start_time())));
    let s = BookingService::connect("sqlite::memory:", common::airports(), config).await.unwrap();
    let offer = s
        .search_hotels(&HotelSearch { city: "EDI".into(), check_in: "2026-06-12".into(), nights: 1, guests: 1 })
        .await
        .unwrap()
        .offers
        .remove(0);
    let booking = s.book(&book_offer(&offer.offer_id, "mem")).await.unwrap();
    assert_eq!(s.get(&booking.booking_ref).await.unwrap(), booking);
    s.health().await.unwrap();
}

#[test]
fn fixtures_are_sane() {
    assert_eq!(date("2026-06-12").to_string(), "2026-06-12");
    assert_eq!(common::airports().len(), 7);
}
