//! Offer ids: compact, readable strings that say everything an offer is.
//!
//! Because prices and schedules are deterministic, an offer is fully
//! described by what was asked for, so search keeps no state and a hold or a
//! booking rebuilds the offer from its id alone. The grammar (fields
//! separated by `.`; the leading tag carries a format version):
//!
//! ```text
//! flight, one-way  F1.<ORIG>.<DEST>.<YYYY-MM-DD>.<FLIGHT>.<CABIN>.<PAX>
//! flight, return   F1.<ORIG>.<DEST>.<YYYY-MM-DD>.<FLIGHT>.<CABIN>.<PAX>.<YYYY-MM-DD>.<FLIGHT>
//! hotel            H1.<HOTEL-ID>.<CHECK-IN>.<NIGHTS>.<GUESTS>
//!
//! F1.LHR.CDG.2026-06-12.VX2345.J.2.2026-06-19.VX7788
//! H1.CDG-3.2026-06-12.3.2
//! ```
//!
//! `CABIN` is the industry letter: `Y` economy, `W` premium economy, `J`
//! business, `F` first. Parsing is strict (upper case, no leading zeros,
//! ranges checked) and only canonical ids parse, so one offer has exactly
//! one id. This layer checks shape only; whether the airports, flights and
//! hotels exist is checked against the catalogue.

use crate::hotels::hotel_city;
use chrono::NaiveDate;
use std::fmt;
use voxbook_proto::booking::Cabin;

pub const MAX_PASSENGERS: u32 = 9;
pub const MAX_GUESTS: u32 = 8;
pub const MAX_NIGHTS: u32 = 30;
/// Longer than any valid id; bounds the work done on garbage.
const MAX_LEN: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferSpec {
    Flight(FlightSpec),
    Hotel(HotelSpec),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlightSpec {
    pub origin: String,
    pub destination: String,
    pub depart_date: NaiveDate,
    pub outbound_flight: String,
    pub cabin: Cabin,
    pub passengers: u32,
    /// The return leg flies destination to origin.
    pub inbound: Option<InboundSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSpec {
    pub date: NaiveDate,
    pub flight: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotelSpec {
    pub hotel_id: String,
    pub check_in: NaiveDate,
    pub nights: u32,
    pub guests: u32,
}

/// Why an id did not parse; the message is safe to show a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed offer id: {0}")]
pub struct OfferIdError(pub &'static str);

impl OfferSpec {
    pub fn parse(id: &str) -> Result<Self, OfferIdError> {
        if id.len() > MAX_LEN {
            return Err(OfferIdError("too long"));
        }
        let fields: Vec<&str> = id.split('.').collect();
        match fields.first().copied() {
            Some("F1") => parse_flight(&fields[1..]).map(OfferSpec::Flight),
            Some("H1") => parse_hotel(&fields[1..]).map(OfferSpec::Hotel),
            _ => Err(OfferIdError("unknown kind or version")),
        }
    }

    pub fn encode(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for OfferSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OfferSpec::Flight(s) => s.fmt(f),
            OfferSpec::Hotel(s) => s.fmt(f),
        }
    }
}

impl fmt::Display for FlightSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "F1.{}.{}.{}.{}.{}.{}",
            self.origin,
            self.destination,
            self.depart_date.format("%Y-%m-%d"),
            self.outbound_flight,
            cabin_letter(self.cabin),
            self.passengers
        )?;
        if let Some(inbound) = &self.inbound {
            write!(f, ".{}.{}", inbound.date.format("%Y-%m-%d"), inbound.flight)?;
        }
        Ok(())
    }
}

impl fmt::Display for HotelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "H1.{}.{}.{}.{}", self.hotel_id, self.check_in.format("%Y-%m-%d"), self.nights, self.guests)
    }
}

pub fn cabin_letter(cabin: Cabin) -> char {
    match cabin {
        Cabin::Economy => 'Y',
        Cabin::PremiumEconomy => 'W',
        Cabin::Business => 'J',
        Cabin::First => 'F',
    }
}

fn cabin_from_letter(s: &str) -> Option<Cabin> {
    Cabin::ALL.into_iter().find(|c| s.len() == 1 && s.starts_with(cabin_letter(*c)))
}

fn parse_flight(f: &[&str]) -> Result<FlightSpec, OfferIdError> {
    if f.len() != 6 && f.len() != 8 {
        return Err(OfferIdError("wrong number of fields for a flight"));
    }
    let origin = iata(f[0])?;
    let destination = iata(f[1])?;
    if origin == destination {
        return Err(OfferIdError("origin and destination are the same"));
    }
    let inbound = if f.len() == 8 { Some(InboundSpec { date: date(f[6])?, flight: flight_no(f[7])? }) } else { None };
    let spec = FlightSpec {
        origin,
        destination,
        depart_date: date(f[2])?,
        outbound_flight: flight_no(f[3])?,
        cabin: cabin_from_letter(f[4]).ok_or(OfferIdError("unknown cabin"))?,
        passengers: count(f[5], MAX_PASSENGERS).ok_or(OfferIdError("bad passenger count"))?,
        inbound,
    };
    if let Some(inbound) = &spec.inbound
        && inbound.date < spec.depart_date
    {
        return Err(OfferIdError("return before departure"));
    }
    Ok(spec)
}

fn parse_hotel(f: &[&str]) -> Result<HotelSpec, OfferIdError> {
    if f.len() != 4 {
        return Err(OfferIdError("wrong number of fields for a hotel"));
    }
    if hotel_city(f[0]).is_none() {
        return Err(OfferIdError("bad hotel id"));
    }
    Ok(HotelSpec {
        hotel_id: f[0].to_string(),
        check_in: date(f[1])?,
        nights: count(f[2], MAX_NIGHTS).ok_or(OfferIdError("bad number of nights"))?,
        guests: count(f[3], MAX_GUESTS).ok_or(OfferIdError("bad number of guests"))?,
    })
}

fn iata(s: &str) -> Result<String, OfferIdError> {
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(s.to_string())
    } else {
        Err(OfferIdError("bad airport code"))
    }
}

/// Only the canonical `YYYY-MM-DD` spelling is accepted.
fn date(s: &str) -> Result<NaiveDate, OfferIdError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|d| d.format("%Y-%m-%d").to_string() == s)
        .ok_or(OfferIdError("bad date"))
}

fn flight_no(s: &str) -> Result<String, OfferIdError> {
    let digits = s.strip_prefix(crate::schedule::CARRIER).unwrap_or("");
    let ok = (1..=4).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if ok { Ok(s.to_string()) } else { Err(OfferIdError("bad flight number")) }
}

/// A decimal in `1..=max` without sign or leading zeros.
fn count(s: &str, max: u32) -> Option<u32> {
    if s.is_empty() || s.len() > 2 || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| (1..=max).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn flight_round_trip() {
        let spec = FlightSpec {
            origin: "LHR".into(),
            destination: "CDG".into(),
            depart_date: d("2026-06-12"),
            outbound_flight: "VX2345".into(),
            cabin: Cabin::Business,
            passengers: 2,
            inbound: Some(InboundSpec { date: d("2026-06-19"), flight: "VX7788".into() }),
        };
        let id = OfferSpec::Flight(spec.clone()).encode();
        assert_eq!(id, "F1.LHR.CDG.2026-06-12.VX2345.J.2.2026-06-19.VX7788");
        assert_eq!(OfferSpec::parse(&id), Ok(OfferSpec::Flight(spec.clone())));

        let one_way = FlightSpec { inbound: None, cabin: Cabin::PremiumEconomy, ..spec };
        let id = OfferSpec::Flight(one_way.clone()).encode();
        assert_eq!(id, "F1.LHR.CDG.2026-06-12.VX2345.W.2");
        assert_eq!(OfferSpec::parse(&id), Ok(OfferSpec::Flight(one_way)));
    }

    #[test]
    fn hotel_round_trip() {
        let spec = HotelSpec { hotel_id: "CDG-3".into(), check_in: d("2026-06-12"), nights: 3, guests: 2 };
        let id = OfferSpec::Hotel(spec.clone()).encode();
        assert_eq!(id, "H1.CDG-3.2026-06-12.3.2");
        assert_eq!(OfferSpec::parse(&id), Ok(OfferSpec::Hotel(spec)));
    }

    #[test]
    fn every_cabin_round_trips() {
        for cabin in Cabin::ALL {
            let id = format!("F1.LHR.CDG.2026-06-12.VX100.{}.1", cabin_letter(cabin));
            match OfferSpec::parse(&id) {
                Ok(OfferSpec::Flight(f)) => assert_eq!(f.cabin, cabin),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn garbage_is_rejected() {
        let bad = [
            "",
            ".",
            "F1",
            "F2.LHR.CDG.2026-06-12.VX100.Y.1",
            "f1.LHR.CDG.2026-06-12.VX100.Y.1",
            "F1.lhr.CDG.2026-06-12.VX100.Y.1",
            "F1.LHR.LHR.2026-06-12.VX100.Y.1",
            "F1.LHRX.CDG.2026-06-12.VX100.Y.1",
            "F1.LHR.CDG.2026-6-12.VX100.Y.1",
            "F1.LHR.CDG.2026-02-30.VX100.Y.1",
            "F1.LHR.CDG.2026-06-12.VX0100.Y.1",
            "F1.LHR.CDG.2026-06-12.BA100.Y.1",
            "F1.LHR.CDG.2026-06-12.VX.Y.1",
            "F1.LHR.CDG.2026-06-12.VX12345.Y.1",
            "F1.LHR.CDG.2026-06-12.VX100.X.1",
            "F1.LHR.CDG.2026-06-12.VX100.economy.1",
            "F1.LHR.CDG.2026-06-12.VX100.Y.0",
            "F1.LHR.CDG.2026-06-12.VX100.Y.10",
            "F1.LHR.CDG.2026-06-12.VX100.Y.01",
            "F1.LHR.CDG.2026-06-12.VX100.Y.+1",
            "F1.LHR.CDG.2026-06-12.VX100.Y.1.",
            "F1.LHR.CDG.2026-06-12.VX100.Y.1.2026-06-19",
            "F1.LHR.CDG.2026-06-12.VX100.Y.1.2026-06-11.VX200",
            "F1.LHR.CDG.2026-06-12.VX100.Y.1.2026-06-19.VX200.x",
            "H1.CDG-3.2026-06-12.3",
            "H1.CDG-0.2026-06-12.3.2",
            "H1.CDG3.2026-06-12.3.2",
            "H1.CDG-3.2026-06-12.31.2",
            "H1.CDG-3.2026-06-12.3.9",
            "H1.CDG-3.2026-06-12.0.2",
            "H1.CDG-3.20260612.3.2",
            "H1.CDG-3.2026-06-12.3.2 ",
            "F1.LHR.CDG.2026-06-12.VX100.Y.1\u{0}",
            "F1.ŁHR.CDG.2026-06-12.VX100.Y.1",
        ];
        for id in bad {
            assert!(OfferSpec::parse(id).is_err(), "{id:?} should be rejected");
        }
        let long = format!("F1.{}", "A".repeat(1000));
        assert_eq!(OfferSpec::parse(&long), Err(OfferIdError("too long")));
    }
}
