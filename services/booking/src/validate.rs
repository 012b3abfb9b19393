//! Checks on client input that are shared by searches, offers and changes.
//!
//! Dates must parse and be bookable relative to the service clock: not in
//! the past, and not further ahead than the inventory is sold (a year), which
//! also bounds how many inventory rows a client can make us create.

use crate::error::BookingError;
use chrono::{Days, NaiveDate};

/// How far ahead flights and hotels are sold, in days.
pub const HORIZON_DAYS: u64 = 365;
/// Idempotency keys are stored and indexed; bound their size.
pub const MAX_KEY_LEN: usize = 200;

pub fn parse_date(field: &str, value: &str) -> Result<NaiveDate, BookingError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map_err(|_| BookingError::InvalidRequest(format!("{field} must be a date like 2026-06-12, got {value:?}")))
}

/// `date` is today or later, and within the sales horizon.
pub fn bookable_date(field: &str, date: NaiveDate, today: NaiveDate) -> Result<(), BookingError> {
    if date < today {
        return Err(BookingError::InvalidRequest(format!("{field} {} is in the past", date.format("%Y-%m-%d"))));
    }
    let horizon = today.checked_add_days(Days::new(HORIZON_DAYS)).unwrap_or(NaiveDate::MAX);
    if date > horizon {
        return Err(BookingError::InvalidRequest(format!(
            "{field} {} is more than {HORIZON_DAYS} days ahead",
            date.format("%Y-%m-%d")
        )));
    }
    Ok(())
}

/// A count in `1..=max`.
pub fn count_in_range(field: &str, value: u32, max: u32) -> Result<(), BookingError> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(BookingError::InvalidRequest(format!("{field} must be between 1 and {max}, got {value}")))
    }
}

/// Normalises an airport code as typed ("lhr ") to its canonical form.
pub fn airport_code(value: &str) -> String {
    value.trim().to_ascii_uppercase()
}

pub fn idempotency_key(key: &str) -> Result<(), BookingError> {
    if key.trim().is_empty() {
        return Err(BookingError::InvalidRequest("idempotency_key must not be empty".into()));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(BookingError::InvalidRequest(format!("idempotency_key must be at most {MAX_KEY_LEN} bytes")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("depart_date", "2026-06-12").unwrap(), d("2026-06-12"));
        assert!(parse_date("depart_date", "12/06/2026").is_err());
        assert!(parse_date("depart_date", "2026-02-30").is_err());
        let today = d("2026-06-01");
        assert!(bookable_date("x", today, today).is_ok());
        assert!(bookable_date("x", d("2026-05-31"), today).is_err());
        assert!(bookable_date("x", d("2027-06-01"), today).is_ok());
        assert!(bookable_date("x", d("2027-06-02"), today).is_err());
    }

    #[test]
    fn counts_and_keys() {
        assert!(count_in_range("passengers", 1, 9).is_ok());
        assert!(count_in_range("passengers", 0, 9).is_err());
        assert!(count_in_range("passengers", 10, 9).is_err());
        assert!(idempotency_key("").is_err());
        assert!(idempotency_key("  ").is_err());
        assert!(idempotency_key(&"k".repeat(201)).is_err());
        assert!(idempotency_key("turn-3").is_ok());
        assert_eq!(airport_code(" lhr"), "LHR");
    }
}
