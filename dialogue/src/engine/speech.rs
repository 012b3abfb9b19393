//! How values are said: dates, money, times, counts, options and bookings
//! in words a TTS voice reads naturally.

use chrono::{Datelike, NaiveDate};
use voxbook_proto::booking::{BookedItem, Booking, FlightOffer, FlightSegment, HotelOffer, Money};

use crate::assistant::{Assistant, SlotDef};
use crate::config::SlotKind;
use crate::state::{Offer, SlotValue};

const ORDINAL_WORDS: [&str; 5] = ["First", "Second", "Third", "Fourth", "Fifth"];

fn day_suffix(day: u32) -> &'static str {
    match (day % 10, day % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    }
}

/// "Friday the 12th of June", with the year when it is not this year's.
pub fn date(d: NaiveDate, today: NaiveDate) -> String {
    let mut out = format!("{} the {}{} of {}", d.format("%A"), d.day(), day_suffix(d.day()), d.format("%B"));
    if d.year() != today.year() {
        out.push_str(&format!(" {}", d.year()));
    }
    out
}

/// The month's English name ("July").
pub fn month_name(d: NaiveDate) -> String {
    d.format("%B").to_string()
}

/// An ISO date from the booking service, said; the raw text if it is not one.
pub fn iso_date(text: &str, today: NaiveDate) -> String {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| date(d, today)).unwrap_or_else(|_| text.to_string())
}

/// "08:15" → "8:15".
pub fn time(hhmm: &str) -> String {
    hhmm.strip_prefix('0').unwrap_or(hhmm).to_string()
}

/// "240 euros", "99.50 pounds".
pub fn money(m: &Money) -> String {
    let unit = match m.currency.as_str() {
        "EUR" => "euros",
        "GBP" => "pounds",
        "USD" => "dollars",
        other => other,
    };
    let whole = m.amount_minor / 100;
    let cents = (m.amount_minor % 100).abs();
    if cents == 0 { format!("{whole} {unit}") } else { format!("{whole}.{cents:02} {unit}") }
}

fn people(n: u32) -> String {
    if n == 1 { "1 person".into() } else { format!("{n} people") }
}

fn nights(n: u32) -> String {
    if n == 1 { "1 night".into() } else { format!("{n} nights") }
}

/// A slot value said in a sentence.
pub fn slot_value(assistant: &Assistant, def: &SlotDef, value: &SlotValue, today: NaiveDate) -> String {
    match value {
        SlotValue::Place(p) => p.name.clone(),
        SlotValue::Date(d) => date(*d, today),
        SlotValue::Count(n) => match def.kind {
            SlotKind::PartySize => people(*n),
            SlotKind::Nights => nights(*n),
            _ => n.to_string(),
        },
        SlotValue::Choice(c) => assistant.choice_label(c),
        SlotValue::Code(c) => c.clone(),
        SlotValue::None => "none".into(),
    }
}

/// A city name for an airport code, the code itself when unknown.
pub fn city(assistant: &Assistant, code: &str) -> String {
    assistant.gazetteer().by_code(code).map(|p| p.name).unwrap_or_else(|| code.to_string())
}

fn flight_no(f: &FlightSegment) -> String {
    // "VX101" → "VX 101": read as letters then a number.
    let split = f.flight_no.find(|c: char| c.is_ascii_digit()).unwrap_or(0);
    let (letters, digits) = f.flight_no.split_at(split);
    if letters.is_empty() { f.flight_no.clone() } else { format!("{letters} {digits}") }
}

/// One option in a read-out list.
pub fn option_line(offer: &Offer) -> String {
    match offer {
        Offer::Flight(f) => {
            let mut line = format!(
                "flight {} at {}, landing at {}",
                flight_no(&f.outbound),
                time(&f.outbound.depart_time),
                time(&f.outbound.arrive_time)
            );
            if let Some(back) = &f.inbound {
                line.push_str(&format!(", back on {} at {}", flight_no(back), time(&back.depart_time)));
            }
            line.push_str(&format!(", {} per person", money(&f.price_per_person)));
            line
        }
        Offer::Hotel(h) => format!("the {}, {} stars, {} a night", h.hotel_name, h.stars, money(&h.price_per_night)),
    }
}

/// "First, ... Second, ..."
pub fn option_list(offers: &[Offer]) -> String {
    offers
        .iter()
        .enumerate()
        .map(|(i, o)| format!("{}, {}.", ORDINAL_WORDS.get(i).copied().unwrap_or("Next"), option_line(o)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn flight_summary(assistant: &Assistant, f: &FlightOffer, today: NaiveDate) -> String {
    let mut s = format!(
        "flight {} from {} to {} on {} at {}",
        flight_no(&f.outbound),
        city(assistant, &f.outbound.origin),
        city(assistant, &f.outbound.destination),
        iso_date(&f.outbound.date, today),
        time(&f.outbound.depart_time)
    );
    if let Some(back) = &f.inbound {
        s.push_str(&format!(", returning on {} at {}", iso_date(&back.date, today), time(&back.depart_time)));
    }
    s
}

fn hotel_summary(h: &HotelOffer, today: NaiveDate) -> String {
    format!(
        "the {} in {}, checking in on {} for {}",
        h.hotel_name,
        h.city_name,
        iso_date(&h.check_in, today),
        nights(h.nights)
    )
}

/// The chosen option, for a read-back.
pub fn option_summary(assistant: &Assistant, offer: &Offer, today: NaiveDate) -> String {
    match offer {
        Offer::Flight(f) => flight_summary(assistant, f, today),
        Offer::Hotel(h) => hotel_summary(h, today),
    }
}

/// A booking, as found by a lookup or after a change.
pub fn booking_summary(assistant: &Assistant, b: &Booking, today: NaiveDate) -> String {
    match &b.item {
        BookedItem::Flight(f) => format!("{} for {}", flight_summary(assistant, f, today), people(f.passengers)),
        BookedItem::Hotel(h) => format!("{} for {}", hotel_summary(h, today), people(h.guests)),
    }
}

pub fn booking_total(b: &Booking) -> String {
    match &b.item {
        BookedItem::Flight(f) => money(&f.total),
        BookedItem::Hotel(h) => money(&h.total),
    }
}

pub fn offer_total(offer: &Offer) -> String {
    match offer {
        Offer::Flight(f) => money(&f.total),
        Offer::Hotel(h) => money(&h.total),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_naturally() {
        let today = NaiveDate::from_ymd_opt(2030, 6, 3).unwrap();
        let d = NaiveDate::from_ymd_opt(2030, 6, 12).unwrap();
        assert_eq!(date(d, today), "Wednesday the 12th of June");
        let d = NaiveDate::from_ymd_opt(2031, 1, 1).unwrap();
        assert_eq!(date(d, today), "Wednesday the 1st of January 2031");
        assert_eq!(day_suffix(11), "th");
        assert_eq!(day_suffix(22), "nd");
        assert_eq!(day_suffix(23), "rd");
    }

    #[test]
    fn money_and_times() {
        assert_eq!(money(&Money { amount_minor: 24000, currency: "EUR".into() }), "240 euros");
        assert_eq!(money(&Money { amount_minor: 9905, currency: "GBP".into() }), "99.05 pounds");
        assert_eq!(time("08:15"), "8:15");
        assert_eq!(time("18:00"), "18:00");
    }
}
