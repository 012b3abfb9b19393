//! Calendar dates in spoken form, resolved against the session's "today".
//!
//! Forms understood (all case-folded by the tokenizer first):
//! - "today", "tonight", "this morning/afternoon/evening" (today),
//!   "tomorrow", "the day after tomorrow";
//! - weekdays: "friday", "on friday", "next friday", "this friday" and
//!   "this coming friday";
//!   "friday week", "a week on friday", "friday after next" (one week
//!   later); "this weekend"/"the weekend" (the coming Saturday);
//! - offsets: "in three days", "in two weeks", "in a fortnight", "three days
//!   from now", "a week from today/tomorrow/friday";
//! - day and month in either order: "the twelfth of june", "june twelfth",
//!   "june the 12th", "12 june", "12th june", "june 12", "twelve june", with
//!   an optional year ("june twelfth twenty twenty seven", "2027", "two
//!   thousand and twenty seven"); a weekday in front is allowed and ignored
//!   ("friday the twelfth of june");
//! - a day of the month alone: "the fifteenth", "the 15th", "15th", "the
//!   fifteenth of next month", and a bare word ordinal from "fourth" up
//!   after a date-like word ("coming back twenty ninth", "the fifteenth or
//!   sixteenth");
//! - numeric: ISO "2026-06-12", and "12/06/2026", "12.06.2026", "12/06"
//!   read as day/month(/year), the order used everywhere but the US. A
//!   two-digit year is 20xx.
//!
//! Resolution rules (the judgement calls):
//! - A bare weekday and "next <weekday>" both mean the first such day
//!   strictly after today: said on a Monday, "friday" and "next friday" are
//!   the same Friday, four days away. Callers who mean the Friday after
//!   that say "friday week" or "a week on friday". Treating "next friday"
//!   as +7 days is a regional habit that misfires more often than it helps
//!   on a phone line.
//! - "this <weekday>" is the first such day on or after today (so "this
//!   monday" said on a Monday is today); "this coming <weekday>" is
//!   strictly after.
//! - "next week", "next month", "next weekend" and a month alone ("in
//!   june") are not dates: they name no day, and the engine should ask.
//! - A day and month without a year is the next occurrence on or after
//!   today: a date already past this year is next year's. February 29th
//!   rolls to the next leap year.
//! - "the fifteenth" alone is the next fifteenth on or after today,
//!   skipping months too short for it.
//! - An explicit year is taken as said, even if in the past.
//! - Impossible dates ("june thirty first", "february thirtieth") are not
//!   returned at all (and do not panic).
//! - "the first" and friends are only a date when no noun follows ("the
//!   first flight", "the second option" are not dates).

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use super::numbers::{cardinal_at, digits_value, ordinal_at, tens_value, unit_value};
use super::{Found, word};

/// All dates in the utterance, left to right, non-overlapping, resolved
/// against `today` (the session's clock). See the module doc for forms and
/// rules.
pub fn find_dates(words: &[String], today: NaiveDate) -> Vec<Found<NaiveDate>> {
    find_dates_after(words, today, None)
}

/// [`find_dates`], where "the same day", "the day after", "the monday
/// after" and "a week later" count from the date said before them in the
/// utterance, or else from `anchor` (the date the conversation last
/// settled, such as the departure when the return is asked for).
pub fn find_dates_after(words: &[String], today: NaiveDate, anchor: Option<NaiveDate>) -> Vec<Found<NaiveDate>> {
    let mut found: Vec<(Found<NaiveDate>, Form)> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if let Some((relation, end)) = relative_to_other_at(words, i) {
            let base = found.last().map(|(f, _)| f.value).or(anchor);
            if let Some(date) = base.and_then(|b| relation.from(b)) {
                found.push((Found::new(date, i, end), Form::Other));
            }
            i = end;
            continue;
        }
        match date_at(words, i, today) {
            Some((date, end, form)) if end > i => {
                found.push((Found::new(date, i, end), form));
                i = end;
            }
            _ => i = impossible_date_end(words, i).unwrap_or(i + 1).max(i + 1),
        }
    }
    settle_ranges(words, &mut found);
    found.into_iter().map(|(f, _)| f).collect()
}

/// A date said relative to another one.
#[derive(Debug, Clone, Copy)]
enum Relation {
    Days(i64),
    /// The first such weekday after the other date.
    WeekdayAfter(Weekday),
}

impl Relation {
    fn from(self, base: NaiveDate) -> Option<NaiveDate> {
        match self {
            Relation::Days(n) => add_days(base, n),
            Relation::WeekdayAfter(wd) => add_days(base, days_until(base, wd, false)),
        }
    }
}

/// "the same day", "the day after", "the next day", "the following day",
/// "the monday after", "the following monday", "a week later", "two
/// days later".
fn relative_to_other_at(words: &[String], i: usize) -> Option<(Relation, usize)> {
    let j = if word(words, i) == "the" { i + 1 } else { i };
    match (word(words, j), word(words, j + 1), word(words, j + 2)) {
        ("same", "day", _) => return Some((Relation::Days(0), j + 2)),
        ("day", "after", "tomorrow") => return None,
        ("day", "after", _) | ("next", "day", _) | ("following", "day", _) => return Some((Relation::Days(1), j + 2)),
        ("following", w, _) if weekday_value(w).is_some() => {
            return Some((Relation::WeekdayAfter(weekday_value(w)?), j + 2));
        }
        (w, "after", next) if j > i && weekday_value(w).is_some() && !matches!(next, "next" | "that" | "this") => {
            return Some((Relation::WeekdayAfter(weekday_value(w)?), j + 2));
        }
        _ => {}
    }
    // "a week later", "two days later", "three nights later".
    let (n, k) = offset_count_at(words, i)?;
    let unit = match word(words, k) {
        "night" | "nights" => 1,
        w => offset_unit(w)?,
    };
    if word(words, k + 1) != "later" {
        return None;
    }
    Some((Relation::Days(n.checked_mul(unit)?), k + 2))
}

/// How a date was said, which decides how the other end of a range
/// ("from the 3rd to the 6th of july") may complete or move it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// "the third": a day of the month, month taken from context.
    DayAlone,
    /// A day with its month named ("the sixth of july", "of next month").
    DayMonth,
    /// "friday", "next friday".
    Weekday,
    /// Anything else (relative words, offsets, numeric, nth weekday).
    Other,
}

/// Words that join the two ends of a range.
fn is_range_connector(w: &str) -> bool {
    matches!(w, "to" | "until" | "till" | "til" | "through" | "thru" | "and")
}

/// Completes and orders the two ends of ranges ("from the 3rd to the 6th
/// of next month": the start takes the end's month; "friday to sunday"
/// said on a Saturday: the Sunday after that Friday).
fn settle_ranges(words: &[String], found: &mut [(Found<NaiveDate>, Form)]) {
    settle_adjacent_ranges(words, found);
    // "out on the 8th of july, back on the 10th", "friday ... back
    // tuesday": a later day of the month or weekday that comes back after
    // an earlier date is after it.
    for k in 1..found.len() {
        let (head, tail) = found.split_at_mut(k);
        let (b, b_form) = &mut tail[0];
        let Some((a, _)) = head.last() else { continue };
        let between = &words[a.span.end.min(b.span.start)..b.span.start];
        let leads_on = between.iter().any(|w| {
            matches!(
                w.as_str(),
                "back"
                    | "returning"
                    | "return"
                    | "until"
                    | "till"
                    | "to"
                    | "and"
                    | "out"
                    | "through"
                    | "leaving"
                    | "checkout"
            )
        });
        let takes_back =
            between.iter().any(|w| matches!(w.as_str(), "no" | "sorry" | "actually" | "mean" | "rather" | "instead"));
        if !leads_on || takes_back || b.value >= a.value {
            continue;
        }
        let moved = match b_form {
            Form::Weekday => add_days(b.value, 7 * ((a.value - b.value).num_days() / 7 + 1)),
            Form::DayAlone => next_day_of_month_after(b.value.day(), a.value),
            _ => None,
        };
        if let Some(moved) = moved {
            b.value = moved;
        }
    }
}

fn settle_adjacent_ranges(words: &[String], found: &mut [(Found<NaiveDate>, Form)]) {
    for k in 1..found.len() {
        let (head, tail) = found.split_at_mut(k);
        let (a, a_form) = &mut head[k - 1];
        let (b, b_form) = &mut tail[0];
        let between = &words[a.span.end.min(b.span.start)..b.span.start];
        if between.len() != 1 || !is_range_connector(&between[0]) {
            continue;
        }
        if *a_form == Form::DayAlone
            && *b_form == Form::DayMonth
            && let Some(start) = same_day_in_month_of(a.value.day(), b.value)
        {
            a.value = start;
            *a_form = Form::DayMonth;
        }
        if b.value <= a.value {
            let moved = match b_form {
                Form::Weekday => add_days(b.value, 7 * ((a.value - b.value).num_days() / 7 + 1)),
                Form::DayAlone => next_day_of_month_after(b.value.day(), a.value),
                _ => None,
            };
            if let Some(moved) = moved {
                b.value = moved;
            }
        }
    }
}

/// Day `day` in the month of `end`, or in the month before when that
/// would fall after `end` ("from the 30th to the 2nd of july": 30 June).
fn same_day_in_month_of(day: u32, end: NaiveDate) -> Option<NaiveDate> {
    let this = NaiveDate::from_ymd_opt(end.year(), end.month(), day);
    match this {
        Some(d) if d <= end => Some(d),
        _ => {
            let first = end.with_day(1)?;
            let previous = first.pred_opt()?;
            NaiveDate::from_ymd_opt(previous.year(), previous.month(), day)
        }
    }
}

/// The first day `day` of a month strictly after `after`.
fn next_day_of_month_after(day: u32, after: NaiveDate) -> Option<NaiveDate> {
    let mut first = after.with_day(1)?;
    for _ in 0..=12 {
        if let Some(d) = NaiveDate::from_ymd_opt(first.year(), first.month(), day)
            && d > after
        {
            return Some(d);
        }
        first = add_months(first, 1)?;
    }
    None
}

/// The longest date expression starting at `i`, and how it was said.
fn date_at(words: &[String], i: usize, today: NaiveDate) -> Option<(NaiveDate, usize, Form)> {
    // A weekday directly before a full date is redundant ("friday the
    // twelfth of june"): the day of month is the more specific part.
    if let Some(wd_end) = weekday_value(word(words, i)).map(|_| i + 1)
        && let Some((date, end, form)) = day_month_at(words, wd_end, today)
            .map(|(d, e)| (d, e, Form::DayMonth))
            .or_else(|| month_day_at(words, wd_end, today).map(|(d, e)| (d, e, Form::DayMonth)))
            .or_else(|| day_alone_at(words, wd_end, today))
    {
        return Some((date, end, form));
    }
    let candidates = [
        nth_weekday_at(words, i, today).map(|(d, e)| (d, e, Form::Other)),
        week_relative_at(words, i, today).map(|(d, e)| (d, e, Form::Other)),
        relative_word_at(words, i, today).map(|(d, e)| (d, e, Form::Other)),
        offset_at(words, i, today).map(|(d, e)| (d, e, Form::Other)),
        last_weekday_at(words, i, today).map(|(d, e)| (d, e, Form::Other)),
        weekday_at(words, i, today).map(|(d, e)| (d, e, Form::Weekday)),
        day_month_at(words, i, today).map(|(d, e)| (d, e, Form::DayMonth)),
        month_day_at(words, i, today).map(|(d, e)| (d, e, Form::DayMonth)),
        day_alone_at(words, i, today),
        numeric_at(words, i, today).map(|(d, e)| (d, e, Form::Other)),
    ];
    // Longest wins; among equals, the first listed.
    candidates.into_iter().flatten().fold(None, |best: Option<(NaiveDate, usize, Form)>, c| match best {
        Some(b) if b.1 >= c.1 => Some(b),
        _ => Some(c),
    })
}

/// "the first monday of july", "the last friday in june", "the second
/// tuesday of next month", "first monday of july 2031".
fn nth_weekday_at(words: &[String], i: usize, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    let j = if word(words, i) == "the" { i + 1 } else { i };
    let (nth, after_nth) = match word(words, j) {
        "last" => (None, j + 1),
        _ => {
            let f = ordinal_at(words, j)?;
            ((1..=5).contains(&f.value).then_some(Some(f.value))?, f.span.end)
        }
    };
    let weekday = weekday_value(word(words, after_nth))?;
    if !matches!(word(words, after_nth + 1), "of" | "in") {
        return None;
    }
    let m_at = after_nth + 2;
    let (candidates, end): (Vec<(i32, u32)>, usize) = match (word(words, m_at), word(words, m_at + 1)) {
        ("next" | "this", "month") => {
            let first = today.with_day(1)?;
            let first = if word(words, m_at) == "next" { add_months(first, 1)? } else { first };
            (vec![(first.year(), first.month())], m_at + 2)
        }
        (w, _) => {
            let month = month_value(w)?;
            match year_at(words, m_at + 1) {
                Some((y, end)) => (vec![(y, month)], end),
                None => ((today.year()..=today.year() + 1).map(|y| (y, month)).collect(), m_at + 1),
            }
        }
    };
    let explicit = candidates.len() == 1;
    candidates
        .into_iter()
        .filter_map(|(y, m)| nth_weekday_of_month(y, m, weekday, nth))
        .find(|d| explicit || *d >= today)
        .map(|d| (d, end))
}

/// The `nth` (1-based; None: the last) `weekday` of a month.
fn nth_weekday_of_month(year: i32, month: u32, weekday: Weekday, nth: Option<u32>) -> Option<NaiveDate> {
    match nth {
        Some(n) => NaiveDate::from_weekday_of_month_opt(year, month, weekday, u8::try_from(n).ok()?),
        None => (1..=5u8).rev().find_map(|n| NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)),
    }
}

/// The Monday that starts the week after today's (weeks run Monday to
/// Sunday).
fn next_week_monday(today: NaiveDate) -> Option<NaiveDate> {
    add_days(today, 7 - i64::from(today.weekday().num_days_from_monday()))
}

/// "tuesday next week", "next week on tuesday", "next week tuesday",
/// "tuesday of next week", "tuesday this week".
fn week_relative_at(words: &[String], i: usize, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    let in_week = |which: &str, wd: Weekday| -> Option<NaiveDate> {
        let monday = match which {
            "next" => next_week_monday(today)?,
            _ => add_days(today, -i64::from(today.weekday().num_days_from_monday()))?,
        };
        add_days(monday, i64::from(wd.num_days_from_monday()))
    };
    if let Some(wd) = weekday_value(word(words, i)) {
        let j = if word(words, i + 1) == "of" { i + 2 } else { i + 1 };
        let which = word(words, j);
        if matches!(which, "next" | "this") && word(words, j + 1) == "week" {
            return Some((in_week(which, wd)?, j + 2));
        }
        return None;
    }
    let which = word(words, i);
    if matches!(which, "next" | "this") && word(words, i + 1) == "week" {
        let k = if word(words, i + 2) == "on" { i + 3 } else { i + 2 };
        let wd = weekday_value(word(words, k))?;
        return Some((in_week(which, wd)?, k + 1));
    }
    None
}

/// "last friday": the most recent Friday before today (a past date, which
/// the dialogue refuses with its own message).
fn last_weekday_at(words: &[String], i: usize, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    if word(words, i) != "last" {
        return None;
    }
    let wd = weekday_value(word(words, i + 1))?;
    Some((add_days(today, -days_until_back(today, wd))?, i + 2))
}

/// Days back from `today` to the previous `target` (1..=7).
fn days_until_back(today: NaiveDate, target: Weekday) -> i64 {
    let diff =
        (i64::from(today.weekday().num_days_from_monday()) - i64::from(target.num_days_from_monday())).rem_euclid(7);
    if diff == 0 { 7 } else { diff }
}

fn add_days(date: NaiveDate, days: i64) -> Option<NaiveDate> {
    date.checked_add_signed(Duration::try_days(days)?)
}

/// "today", "tonight", "this evening", "tomorrow", "the day after tomorrow".
fn relative_word_at(words: &[String], i: usize, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    match word(words, i) {
        "today" | "tonight" => Some((today, i + 1)),
        "tomorrow" | "tomorrows" => Some((add_days(today, 1)?, i + 1)),
        // Past dates are found so the dialogue can say they have passed.
        "yesterday" => Some((add_days(today, -1)?, i + 1)),
        "this" if matches!(word(words, i + 1), "morning" | "afternoon" | "evening") => Some((today, i + 2)),
        "the" if word(words, i + 1) == "day" => day_after_tomorrow_at(words, i + 1, today),
        "day" => day_after_tomorrow_at(words, i, today),
        _ => None,
    }
}

fn day_after_tomorrow_at(words: &[String], i: usize, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    if word(words, i) != "day" {
        return None;
    }
    match (word(words, i + 1), word(words, i + 2)) {
        ("after", "tomorrow") => add_days(today, 2).map(|d| (d, i + 3)),
        ("before", "yesterday") => add_days(today, -2).map(|d| (d, i + 3)),
        _ => None,
    }
}

/// A count for an offset: a cardinal, or "a"/"an" (one).
fn offset_count_at(words: &[String], i: usize) -> Option<(i64, usize)> {
    match word(words, i) {
        "a" | "an" => Some((1, i + 1)),
        _ => cardinal_at(words, i).map(|f| (i64::from(f.value), f.span.end)),
    }
}

/// "day(s)", "week(s)", "fortnight(s)" -> days per unit.
fn offset_unit(w: &str) -> Option<i64> {
    match w {
        "day" | "days" => Some(1),
        "week" | "weeks" => Some(7),
        "fortnight" | "fortnights" => Some(14),
        _ => None,
    }
}

/// "in three days", "in two weeks(')", "in a fortnight", "three days from
/// now", "a week from today/tomorrow/friday", "a week on friday".
fn offset_at(words: &[String], i: usize, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    if word(words, i) == "in" {
        // "in a fortnight" has no count word other than "a".
        let (n, j) = offset_count_at(words, i + 1)?;
        let unit = offset_unit(word(words, j))?;
        let mut end = j + 1;
        if word(words, end) == "time" {
            // "in three days time" ("days'" lost its apostrophe).
            end += 1;
        }
        return Some((add_days(today, n.checked_mul(unit)?)?, end));
    }
    let (n, j) = offset_count_at(words, i)?;
    let unit = offset_unit(word(words, j))?;
    let days = n.checked_mul(unit)?;
    let anchor_at = j + 1;
    match word(words, anchor_at) {
        // "a fortnight today", "a week tomorrow".
        "today" => Some((add_days(today, days)?, anchor_at + 1)),
        "tomorrow" => Some((add_days(today, days.checked_add(1)?)?, anchor_at + 1)),
        "from" => {
            let k = anchor_at + 1;
            let (base, end) = match word(words, k) {
                "now" | "today" => (today, k + 1),
                "tomorrow" => (add_days(today, 1)?, k + 1),
                _ => weekday_at(words, k, today)?,
            };
            Some((add_days(base, days)?, end))
        }
        // "a week on friday": a week after the coming Friday.
        "on" => {
            let (base, end) = weekday_at(words, anchor_at + 1, today)?;
            Some((add_days(base, days)?, end))
        }
        _ => None,
    }
}

/// A weekday name (and common short forms).
fn weekday_value(w: &str) -> Option<Weekday> {
    Some(match w {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tues" => Weekday::Tue,
        "wednesday" | "weds" => Weekday::Wed,
        "thursday" | "thurs" => Weekday::Thu,
        "friday" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        "sunday" => Weekday::Sun,
        _ => return None,
    })
}

/// Days from `today` to the next `target`, 0 allowed when `inclusive`.
fn days_until(today: NaiveDate, target: Weekday, inclusive: bool) -> i64 {
    let diff =
        (i64::from(target.num_days_from_monday()) - i64::from(today.weekday().num_days_from_monday())).rem_euclid(7);
    if diff == 0 && !inclusive { 7 } else { diff }
}

/// "friday", "next friday", "this friday", "friday week", "friday after
/// next", "this weekend", "the weekend".
fn weekday_at(words: &[String], i: usize, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    let (inclusive, j) = match word(words, i) {
        // "this coming friday" said on a Friday means next week's.
        "this" if word(words, i + 1) == "coming" => (false, i + 2),
        "this" => (true, i + 1),
        "next" | "coming" => (false, i + 1),
        "the" if word(words, i + 1) == "weekend" => (true, i + 1),
        _ => (false, i),
    };
    if word(words, j) == "weekend" {
        if j == i || word(words, i) == "next" {
            // A bare "weekend" is mostly a noun ("a weekend break"), and
            // "next weekend" is genuinely ambiguous: leave both to a
            // question.
            return None;
        }
        let d = match today.weekday() {
            Weekday::Sun => 0,
            _ => days_until(today, Weekday::Sat, true),
        };
        return Some((add_days(today, d)?, j + 1));
    }
    let wd = weekday_value(word(words, j))?;
    let mut end = j + 1;
    let mut days = days_until(today, wd, inclusive);
    if word(words, end) == "week" {
        days += 7;
        end += 1;
    } else if word(words, end) == "after" && word(words, end + 1) == "next" {
        days += 7;
        end += 2;
    }
    Some((add_days(today, days)?, end))
}

/// Whether a word is a month, a weekday or a relative day word, which other
/// extractors must not take for something else (a town called "May").
pub(crate) fn is_date_word(w: &str) -> bool {
    month_value(w).is_some()
        || weekday_value(w).is_some()
        || matches!(w, "today" | "tonight" | "tomorrow" | "yesterday" | "weekend" | "fortnight")
}

/// Month names and their usual short forms.
fn month_value(w: &str) -> Option<u32> {
    Some(match w {
        "january" | "jan" => 1,
        "february" | "feb" | "febuary" => 2,
        "march" | "mar" => 3,
        "april" | "apr" => 4,
        "may" => 5,
        "june" | "jun" => 6,
        "july" | "jul" => 7,
        "august" | "aug" => 8,
        "september" | "sept" | "sep" => 9,
        "october" | "oct" => 10,
        "november" | "nov" => 11,
        "december" | "dec" => 12,
        _ => return None,
    })
}

/// A day of the month at `i`: an ordinal or a cardinal, 1..=31.
fn day_number_at(words: &[String], i: usize) -> Option<(u32, usize)> {
    if let Some(f) = ordinal_at(words, i) {
        return (1..=31).contains(&f.value).then_some((f.value, f.span.end));
    }
    let f = cardinal_at(words, i)?;
    // "in june two adults": a cardinal followed by a noun is a count; "one"
    // followed by a noun ("june 30 one night") starts the next phrase.
    let next = word(words, f.span.end);
    let one_starts_a_phrase = next == "one" && is_thing_noun(word(words, f.span.end + 1));
    if is_thing_noun(next) && !one_starts_a_phrase {
        return None;
    }
    (1..=31).contains(&f.value).then_some((f.value, f.span.end))
}

/// A year at `i`: "2027", "twenty twenty seven", "twenty thirty", "two
/// thousand (and) twenty seven". Limited to 2000..=2099: travel is booked
/// for the near future, and a wider range would read times ("1530") and
/// counts as years.
fn year_at(words: &[String], i: usize) -> Option<(i32, usize)> {
    let w = word(words, i);
    if w.len() == 4
        && let Some(y) = digits_value(w)
    {
        return (2000..=2099).contains(&y).then_some((y as i32, i + 1));
    }
    if w == "twenty" {
        // "twenty" + 10..=99: "twenty twenty seven", "twenty thirty".
        let next = word(words, i + 1);
        let (tail, end) = if let Some(t) = tens_value(next) {
            match unit_value(word(words, i + 2)).filter(|&u| u > 0) {
                Some(u) => (t + u, i + 3),
                None => (t, i + 2),
            }
        } else {
            (super::numbers::teen_value(next)?, i + 2)
        };
        return Some((2000 + tail as i32, end));
    }
    if w == "two" && word(words, i + 1) == "thousand" {
        let f = cardinal_at(words, i)?;
        return (2000..=2099).contains(&f.value).then_some((f.value as i32, f.span.end));
    }
    None
}

/// Resolves day and month with an optional explicit year. Without a year:
/// the next occurrence on or after today.
fn resolve_day_month(today: NaiveDate, month: u32, day: u32, year: Option<i32>) -> Option<NaiveDate> {
    if let Some(y) = year {
        return NaiveDate::from_ymd_opt(y, month, day);
    }
    // A date a few weeks back ("the first of june" said on the 3rd) is a
    // slip or a past date, not next year's: nobody books a year ahead by
    // naming last month's day. It is returned as it is, and the dialogue
    // says that it has passed.
    if let Some(this_year) = NaiveDate::from_ymd_opt(today.year(), month, day)
        && this_year < today
        && (today - this_year).num_days() <= RECENT_PAST_DAYS
    {
        return Some(this_year);
    }
    // Eight years always contain a leap year (Feb 29) and an ordinary one.
    (today.year()..=today.year() + 8).filter_map(|y| NaiveDate::from_ymd_opt(y, month, day)).find(|d| *d >= today)
}

/// How far back a day and month without a year is read as this year's
/// (past) date rather than next year's.
const RECENT_PAST_DAYS: i64 = 31;

/// An optional year after a day and month, at `i`.
fn optional_year(words: &[String], i: usize) -> (Option<i32>, usize) {
    match year_at(words, i) {
        Some((y, end)) => (Some(y), end),
        None => (None, i),
    }
}

/// A day and month as said, not yet checked against the calendar.
struct DayMonth {
    day: u32,
    month: u32,
    year: Option<i32>,
    end: usize,
}

/// "[the] twelfth [of] june [year]", "12 june", "12th june".
fn day_month_shape(words: &[String], i: usize) -> Option<DayMonth> {
    let j = if word(words, i) == "the" { i + 1 } else { i };
    let (day, after_day) = day_number_at(words, j)?;
    let m_at = if word(words, after_day) == "of" { after_day + 1 } else { after_day };
    let month = month_value(word(words, m_at))?;
    let (year, end) = optional_year(words, m_at + 1);
    Some(DayMonth { day, month, year, end })
}

/// "june twelfth", "june the 12th", "june 12", "june twelve [year]".
fn month_day_shape(words: &[String], i: usize) -> Option<DayMonth> {
    let month = month_value(word(words, i))?;
    let j = if word(words, i + 1) == "the" { i + 2 } else { i + 1 };
    let (day, after_day) = day_number_at(words, j)?;
    let (year, end) = optional_year(words, after_day);
    Some(DayMonth { day, month, year, end })
}

fn resolve_shape(shape: Option<DayMonth>, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    let s = shape?;
    Some((resolve_day_month(today, s.month, s.day, s.year)?, s.end))
}

fn day_month_at(words: &[String], i: usize, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    resolve_shape(day_month_shape(words, i), today)
}

fn month_day_at(words: &[String], i: usize, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    resolve_shape(month_day_shape(words, i), today)
}

/// Where an impossible day-and-month expression starting at `i` ends
/// ("the thirty first of june"), so the scan skips it whole instead of
/// finding "first of june" inside it.
fn impossible_date_end(words: &[String], i: usize) -> Option<usize> {
    [day_month_shape(words, i), month_day_shape(words, i)].into_iter().flatten().map(|s| s.end).max()
}

/// Nouns that make a number before them a count or a rank rather than a
/// day ("the first flight", "june two adults").
fn is_thing_noun(w: &str) -> bool {
    matches!(
        w,
        "one"
            | "ones"
            | "option"
            | "options"
            | "choice"
            | "flight"
            | "flights"
            | "class"
            | "time"
            | "times"
            | "hotel"
            | "hotels"
            | "room"
            | "rooms"
            | "floor"
            | "row"
            | "seat"
            | "seats"
            | "person"
            | "people"
            | "passenger"
            | "passengers"
            | "adult"
            | "adults"
            | "child"
            | "children"
            | "guest"
            | "guests"
            | "leg"
            | "stop"
            | "stops"
            | "place"
            | "thing"
            | "things"
            | "name"
            | "letter"
            | "half"
            | "night"
            | "nights"
            | "day"
            | "days"
            | "week"
            | "weeks"
            | "month"
            | "months"
            | "year"
            | "years"
            | "offer"
            | "offers"
            | "fare"
            | "result"
            | "results"
            | "booking"
            | "bookings"
            | "trip"
            | "ticket"
            | "tickets"
            | "bag"
            | "bags"
            | "pax"
    )
}

/// Words after "the first" etc. that make it something other than a day of
/// the month on its own: a noun, or a month/weekday/"of" (a longer date
/// form's business; if that failed, the date is impossible).
fn blocks_bare_ordinal(w: &str) -> bool {
    is_thing_noun(w) || w == "of" || weekday_value(w).is_some() || month_value(w).is_some()
}

/// "the fifteenth", "the 15th", "15th", "the fifteenth of next month".
fn day_alone_at(words: &[String], i: usize, today: NaiveDate) -> Option<(NaiveDate, usize, Form)> {
    let has_the = word(words, i) == "the";
    let j = if has_the { i + 1 } else { i };
    let f = ordinal_at(words, j)?;
    let day = f.value;
    if !(1..=31).contains(&day) {
        return None;
    }
    // Digit ordinals ("15th") stand on their own. Word ordinals need "the",
    // or a date-like word before them ("coming back twenty ninth", "the
    // fifteenth or sixteenth"), and never "first".."third" bare: "first
    // class", "on second thought".
    let is_digit_form = word(words, j).starts_with(|c: char| c.is_ascii_digit());
    if !has_the && !is_digit_form {
        let prev = if i == 0 { "" } else { word(words, i - 1) };
        let date_like_before = i == 0
            || matches!(
                prev,
                "on" | "back"
                    | "until"
                    | "till"
                    | "to"
                    | "from"
                    | "by"
                    | "before"
                    | "after"
                    | "or"
                    | "and"
                    | "through"
                    | "thru"
                    | "returning"
                    | "leaving"
                    | "departing"
            );
        if day < 4 || !date_like_before {
            return None;
        }
    }
    let end = f.span.end;
    // "of this month" / "of next month".
    if word(words, end) == "of" && word(words, end + 2) == "month" {
        let months_ahead = match word(words, end + 1) {
            "this" => 0,
            "next" => 1,
            _ => return None,
        };
        let first = today.with_day(1)?;
        let first = if months_ahead == 1 { add_months(first, 1)? } else { first };
        return Some((NaiveDate::from_ymd_opt(first.year(), first.month(), day)?, end + 3, Form::DayMonth));
    }
    // "the 12th, one way": "one" starts the trip type, it is no noun.
    let one_way = word(words, end) == "one" && word(words, end + 1) == "way";
    if blocks_bare_ordinal(word(words, end)) && !one_way {
        return None;
    }
    // The next such day on or after today; a year covers every month.
    let mut first = today.with_day(1)?;
    for _ in 0..=12 {
        if let Some(d) = NaiveDate::from_ymd_opt(first.year(), first.month(), day)
            && d >= today
        {
            return Some((d, end, Form::DayAlone));
        }
        first = add_months(first, 1)?;
    }
    None
}

/// The first of the month `n` months after `first` (itself a first).
fn add_months(first: NaiveDate, n: u32) -> Option<NaiveDate> {
    let total = first.year() * 12 + first.month0() as i32 + n as i32;
    NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1)
}

/// The readings of a numeric date: one, or two when the order of day and
/// month cannot be told ("04/07": 4 July in Europe, April 7 in the US).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Numeric {
    One(NaiveDate),
    /// Day first, then month first.
    Either(NaiveDate, NaiveDate),
}

/// "2026-06-12" (ISO), and day and month in either order: "25/06/2026"
/// (only a day can be 25), "06/25/2026" (US), "12.06.2026" and
/// "12-06-2026" (day first, as those separators are used), "25/06".
/// Slashed pairs that read both ways ("04/07/2030") are
/// [`Numeric::Either`]: the dialogue asks.
fn numeric_readings(words: &[String], i: usize, today: NaiveDate) -> Option<Numeric> {
    let w = word(words, i);
    let sep = w.chars().find(|c| matches!(c, '/' | '-' | '.'))?;
    let parts: Vec<&str> = w.split(sep).collect();
    if parts.iter().any(|p| p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let num = |p: &str| p.parse::<u32>().ok();
    let (a, b, year) = match parts.as_slice() {
        [y, m, d] if y.len() == 4 => {
            return NaiveDate::from_ymd_opt(num(y)? as i32, num(m)?, num(d)?).map(Numeric::One);
        }
        [a, b, y] if a.len() <= 2 && b.len() <= 2 && (y.len() == 4 || y.len() == 2) => {
            let y = num(y)? as i32;
            (num(a)?, num(b)?, Some(if y < 100 { 2000 + y } else { y }))
        }
        // Day and month only: '-' and '.' pairs are too often ranges and
        // prices ("3-4", "99.50"); accept just the slash.
        [a, b] if sep == '/' && a.len() <= 2 && b.len() <= 2 => (num(a)?, num(b)?, None),
        _ => return None,
    };
    let resolve = |day: u32, month: u32| match year {
        Some(y) => NaiveDate::from_ymd_opt(y, month, day),
        None => resolve_day_month(today, month, day, None),
    };
    let day_first = resolve(a, b);
    // Only the slash is written month first (US); dots and dashes are not.
    let month_first = if sep == '/' { resolve(b, a) } else { None };
    match (day_first, month_first) {
        (Some(x), Some(y)) if x != y => Some(Numeric::Either(x, y)),
        (Some(x), _) | (None, Some(x)) => Some(Numeric::One(x)),
        (None, None) => None,
    }
}

fn numeric_at(words: &[String], i: usize, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    match numeric_readings(words, i, today)? {
        Numeric::One(date) => Some((date, i + 1)),
        Numeric::Either(..) => None,
    }
}

/// Which way round the utterance writes its slashed dates, when one of
/// them can only be read one way ("from 12/07 to 15/07": 15 is no month,
/// so day first): Some(true) for day first, Some(false) for month first.
pub fn numeric_order(words: &[String]) -> Option<bool> {
    words.iter().find_map(|w| {
        let parts: Vec<u32> = w.split('/').map(|p| p.parse::<u32>().ok()).collect::<Option<Vec<_>>>()?;
        match parts.as_slice() {
            [a, b, ..] if *a > 12 && *b <= 12 => Some(true),
            [a, b, ..] if *b > 12 && *a <= 12 => Some(false),
            _ => None,
        }
    })
}

/// Weeks named without a day ("next week", "this week", "the week after
/// next"), as the Monday they start on: the dialogue asks which day.
pub fn find_vague_weeks(words: &[String], today: NaiveDate) -> Vec<Found<NaiveDate>> {
    let this_monday = add_days(today, -i64::from(today.weekday().num_days_from_monday()));
    let mut out = Vec::new();
    for i in 0..words.len() {
        let (monday, end) = match (word(words, i), word(words, i + 1), word(words, i + 2), word(words, i + 3)) {
            ("the", "week", "after", "next") => (this_monday.and_then(|m| add_days(m, 14)), i + 4),
            ("next", "week", _, _) => (this_monday.and_then(|m| add_days(m, 7)), i + 2),
            ("this", "week", _, _) => (this_monday, i + 2),
            _ => continue,
        };
        if let Some(monday) = monday {
            out.push(Found::new(monday, i, end));
        }
    }
    out
}

/// The weekday a word names ("friday", "weds").
pub fn weekday_of(w: &str) -> Option<Weekday> {
    weekday_value(w)
}

/// Numeric dates that read two ways ("04/07/2030"), as (day first, month
/// first), for the dialogue to ask which one was meant.
pub fn find_ambiguous_dates(words: &[String], today: NaiveDate) -> Vec<Found<(NaiveDate, NaiveDate)>> {
    (0..words.len())
        .filter_map(|i| match numeric_readings(words, i, today)? {
            Numeric::Either(a, b) => Some(Found::new((a, b), i, i + 1)),
            Numeric::One(_) => None,
        })
        .collect()
}

/// Stays over a weekend, as (first day, last day): "for the weekend", "for
/// this weekend", "over the weekend", "for a weekend": Friday to Sunday of
/// the coming weekend (from today when it is already Saturday).
pub fn find_weekend_stays(words: &[String], today: NaiveDate) -> Vec<Found<(NaiveDate, NaiveDate)>> {
    let mut out = Vec::new();
    // "the first weekend of july", "the last weekend in june": the Friday
    // before that Saturday to the Sunday after it.
    for i in 0..words.len() {
        let j = if word(words, i) == "the" { i + 1 } else { i };
        if word(words, j + 1) != "weekend" || !matches!(word(words, j + 2), "of" | "in") {
            continue;
        }
        let nth = match word(words, j) {
            "last" => None,
            w => match ordinal_at(words, j) {
                Some(f) if f.span.end == j + 1 && (1..=5).contains(&f.value) => Some(f.value),
                _ => {
                    let _ = w;
                    continue;
                }
            },
        };
        let Some(month) = month_value(word(words, j + 3)) else { continue };
        let saturday = (today.year()..=today.year() + 1)
            .filter_map(|y| nth_weekday_of_month(y, month, Weekday::Sat, nth))
            .find(|d| *d >= today);
        if let Some(sat) = saturday
            && let (Some(fri), Some(sun)) = (add_days(sat, -1), add_days(sat, 1))
        {
            out.push(Found::new((fri, sun), i, j + 4));
        }
    }
    for i in 0..words.len() {
        let lead = word(words, i);
        if !matches!(lead, "for" | "over") || !matches!(word(words, i + 1), "the" | "this" | "a") {
            continue;
        }
        if word(words, i + 2) != "weekend" {
            continue;
        }
        let (start, end) = match today.weekday() {
            Weekday::Sat => (Some(today), add_days(today, 1)),
            Weekday::Sun => (add_days(today, 5), add_days(today, 7)),
            _ => {
                let friday = add_days(today, days_until(today, Weekday::Fri, true));
                (friday, friday.and_then(|f| add_days(f, 2)))
            }
        };
        if let (Some(start), Some(end)) = (start, end) {
            // The span leaves out the cue ("for", "over").
            out.push(Found::new((start, end), i + 1, i + 3));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::test_util::w;

    /// Monday 1 June 2026.
    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn dates(text: &str) -> Vec<NaiveDate> {
        find_dates(&w(text), today()).into_iter().map(|f| f.value).collect()
    }

    fn one(text: &str) -> (NaiveDate, usize, usize) {
        let found = find_dates(&w(text), today());
        assert_eq!(found.len(), 1, "{text}: {found:?}");
        (found[0].value, found[0].span.start, found[0].span.end)
    }

    #[test]
    fn fixed_today_is_a_monday() {
        assert_eq!(today().weekday(), Weekday::Mon);
    }

    #[test]
    fn relative_words() {
        assert_eq!(one("today"), (today(), 0, 1));
        assert_eq!(one("tonight please"), (today(), 0, 1));
        assert_eq!(one("leaving tomorrow"), (d(2026, 6, 2), 1, 2));
        assert_eq!(one("the day after tomorrow"), (d(2026, 6, 3), 0, 4));
        assert_eq!(one("on day after tomorrow"), (d(2026, 6, 3), 1, 4));
        assert_eq!(one("this evening"), (today(), 0, 2));
        assert_eq!(dates("this is fine"), vec![]);
    }

    #[test]
    fn weekdays_are_strictly_after_today() {
        assert_eq!(one("friday"), (d(2026, 6, 5), 0, 1));
        assert_eq!(one("on friday"), (d(2026, 6, 5), 1, 2));
        // "next friday" is the same Friday (documented rule).
        assert_eq!(one("next friday"), (d(2026, 6, 5), 0, 2));
        // Today is Monday: "monday" is a week away, "this monday" is today.
        assert_eq!(one("monday"), (d(2026, 6, 8), 0, 1));
        assert_eq!(one("next monday"), (d(2026, 6, 8), 0, 2));
        assert_eq!(one("this monday"), (today(), 0, 2));
        assert_eq!(one("this friday"), (d(2026, 6, 5), 0, 2));
        assert_eq!(one("sunday"), (d(2026, 6, 7), 0, 1));
        assert_eq!(one("tuesday"), (d(2026, 6, 2), 0, 1));
    }

    #[test]
    fn weekday_plus_a_week() {
        assert_eq!(one("friday week"), (d(2026, 6, 12), 0, 2));
        assert_eq!(one("a week on friday"), (d(2026, 6, 12), 0, 4));
        assert_eq!(one("friday after next"), (d(2026, 6, 12), 0, 3));
        assert_eq!(one("a week from friday"), (d(2026, 6, 12), 0, 4));
    }

    #[test]
    fn weekend() {
        assert_eq!(one("this weekend"), (d(2026, 6, 6), 0, 2));
        assert_eq!(one("over the weekend"), (d(2026, 6, 6), 1, 3));
        assert_eq!(dates("next weekend"), vec![]);
        let sunday = d(2026, 6, 7);
        assert_eq!(find_dates(&w("this weekend"), sunday)[0].value, sunday);
    }

    #[test]
    fn offsets() {
        assert_eq!(one("in three days"), (d(2026, 6, 4), 0, 3));
        assert_eq!(one("in 3 days"), (d(2026, 6, 4), 0, 3));
        assert_eq!(one("in two weeks"), (d(2026, 6, 15), 0, 3));
        assert_eq!(one("in a week"), (d(2026, 6, 8), 0, 3));
        assert_eq!(one("in a fortnight"), (d(2026, 6, 15), 0, 3));
        assert_eq!(one("in three days time"), (d(2026, 6, 4), 0, 4));
        assert_eq!(one("in twenty one days"), (d(2026, 6, 22), 0, 4));
        assert_eq!(one("a week from today"), (d(2026, 6, 8), 0, 4));
        assert_eq!(one("a week from tomorrow"), (d(2026, 6, 9), 0, 4));
        assert_eq!(one("two weeks from now"), (d(2026, 6, 15), 0, 4));
        assert_eq!(one("ten days from today"), (d(2026, 6, 11), 0, 4));
    }

    #[test]
    fn counts_after_a_month_are_not_days() {
        assert_eq!(dates("in june two adults"), vec![]);
        assert_eq!(dates("june two"), vec![d(2026, 6, 2)]);
        assert_eq!(dates("a weekend break"), vec![]);
        assert_eq!(one("this coming friday"), (d(2026, 6, 5), 0, 3));
    }

    #[test]
    fn durations_are_not_dates() {
        assert_eq!(dates("for two weeks"), vec![]);
        assert_eq!(dates("three nights"), vec![]);
        assert_eq!(dates("a week"), vec![]);
        assert_eq!(dates("in a minute"), vec![]);
    }

    #[test]
    fn day_then_month() {
        assert_eq!(one("the twelfth of june"), (d(2026, 6, 12), 0, 4));
        assert_eq!(one("twelfth of june"), (d(2026, 6, 12), 0, 3));
        assert_eq!(one("12 june"), (d(2026, 6, 12), 0, 2));
        assert_eq!(one("12th june"), (d(2026, 6, 12), 0, 2));
        assert_eq!(one("the 12th of june"), (d(2026, 6, 12), 0, 4));
        assert_eq!(one("twelve june"), (d(2026, 6, 12), 0, 2));
        assert_eq!(one("the twenty first of july"), (d(2026, 7, 21), 0, 5));
        assert_eq!(one("the thirty-first of december"), (d(2026, 12, 31), 0, 5));
    }

    #[test]
    fn month_then_day() {
        assert_eq!(one("june twelfth"), (d(2026, 6, 12), 0, 2));
        assert_eq!(one("june the 12th"), (d(2026, 6, 12), 0, 3));
        assert_eq!(one("june the twelfth"), (d(2026, 6, 12), 0, 3));
        assert_eq!(one("june 12"), (d(2026, 6, 12), 0, 2));
        assert_eq!(one("june twelve"), (d(2026, 6, 12), 0, 2));
        assert_eq!(one("july twenty-first"), (d(2026, 7, 21), 0, 3));
        assert_eq!(one("sept 3rd"), (d(2026, 9, 3), 0, 2));
    }

    #[test]
    fn years() {
        assert_eq!(one("june twelfth twenty twenty seven"), (d(2027, 6, 12), 0, 5));
        assert_eq!(one("june 12 2027"), (d(2027, 6, 12), 0, 3));
        assert_eq!(one("the twelfth of june 2027"), (d(2027, 6, 12), 0, 5));
        assert_eq!(one("june twelfth two thousand and twenty seven"), (d(2027, 6, 12), 0, 7));
        assert_eq!(one("june twelfth two thousand twenty seven"), (d(2027, 6, 12), 0, 6));
        assert_eq!(one("march third twenty thirty"), (d(2030, 3, 3), 0, 4));
        assert_eq!(one("march third twenty twenty"), (d(2020, 3, 3), 0, 4));
        // An explicit past year is taken as said.
        assert_eq!(one("june first 2025"), (d(2025, 6, 1), 0, 3));
        // "twenty two" is not a year: it stays for the count extractor.
        assert_eq!(one("june twelfth twenty two people"), (d(2026, 6, 12), 0, 2));
        assert_eq!(one("june 12 1530"), (d(2026, 6, 12), 0, 2));
    }

    #[test]
    fn past_dates_roll_to_next_year() {
        // Weeks back is a past date (the dialogue says so), months back is
        // next year's.
        assert_eq!(one("may the fifth"), (d(2026, 5, 5), 0, 3));
        assert_eq!(one("april the twenty ninth"), (d(2027, 4, 29), 0, 4));
        assert_eq!(one("april the fifth"), (d(2027, 4, 5), 0, 3));
        assert_eq!(one("january 1st"), (d(2027, 1, 1), 0, 2));
        // Today itself is not past.
        assert_eq!(one("june first"), (d(2026, 6, 1), 0, 2));
        assert_eq!(one("february twenty ninth"), (d(2028, 2, 29), 0, 3));
    }

    #[test]
    fn impossible_dates_are_dropped() {
        assert_eq!(dates("june thirty first"), vec![]);
        assert_eq!(dates("the thirty first of june"), vec![]);
        assert_eq!(dates("february thirtieth"), vec![]);
        assert_eq!(dates("february twenty ninth twenty twenty seven"), vec![]);
        assert_eq!(dates("june fortieth"), vec![]);
        assert_eq!(dates("the fortieth"), vec![]);
        assert_eq!(dates("2026-02-30"), vec![]);
        assert_eq!(dates("31/06/2026"), vec![]);
    }

    #[test]
    fn day_of_month_alone() {
        assert_eq!(one("change it to the fourteenth"), (d(2026, 6, 14), 3, 5));
        assert_eq!(one("the 15th"), (d(2026, 6, 15), 0, 2));
        assert_eq!(one("on 15th"), (d(2026, 6, 15), 1, 2));
        assert_eq!(one("the first"), (d(2026, 6, 1), 0, 2));
        // June has no 31st: the next one is in July.
        assert_eq!(one("the thirty first"), (d(2026, 7, 31), 0, 3));
        assert_eq!(one("the fifteenth of next month"), (d(2026, 7, 15), 0, 5));
        assert_eq!(one("the fifteenth of this month"), (d(2026, 6, 15), 0, 5));
        let later = d(2026, 6, 20);
        assert_eq!(find_dates(&w("the fifteenth"), later)[0].value, d(2026, 7, 15));
        let december = d(2026, 12, 20);
        assert_eq!(find_dates(&w("the third"), december)[0].value, d(2027, 1, 3));
    }

    #[test]
    fn bare_word_ordinals_after_date_words() {
        let found = find_dates(&w("leaving twenty second of june coming back twenty ninth"), today());
        let got: Vec<_> = found.iter().map(|f| (f.value, f.span.start, f.span.end)).collect();
        assert_eq!(got, vec![(d(2026, 6, 22), 1, 5), (d(2026, 6, 29), 7, 9)]);
        assert_eq!(dates("the fifteenth or sixteenth"), vec![d(2026, 6, 15), d(2026, 6, 16)]);
        assert_eq!(dates("fifteenth"), vec![d(2026, 6, 15)]);
        assert_eq!(dates("on second thought"), vec![]);
        assert_eq!(dates("back first"), vec![]);
        assert_eq!(dates("my fifth trip"), vec![]);
    }

    #[test]
    fn ordinals_that_are_not_dates() {
        assert_eq!(dates("the first flight"), vec![]);
        assert_eq!(dates("i will take the second one"), vec![]);
        assert_eq!(dates("the third option please"), vec![]);
        assert_eq!(dates("first class"), vec![]);
        assert_eq!(dates("wait a second"), vec![]);
        assert_eq!(dates("on the 12th floor"), vec![]);
    }

    #[test]
    fn later_days_follow_earlier_dates() {
        let today = d(2026, 6, 3);
        let got = |text: &str| find_dates(&w(text), today).into_iter().map(|f| f.value).collect::<Vec<_>>();
        assert_eq!(got("on the fifth of july returning on the twelfth"), vec![d(2026, 7, 5), d(2026, 7, 12)]);
        assert_eq!(got("out on the 8th of july back on the 10th"), vec![d(2026, 7, 8), d(2026, 7, 10)]);
        // Today is a Wednesday: friday is the 5th, back tuesday the 9th.
        assert_eq!(got("friday back tuesday"), vec![d(2026, 6, 5), d(2026, 6, 9)]);
        // A take-back is not a range.
        assert_eq!(got("on the 20th of june, no, the 12th"), vec![d(2026, 6, 20), d(2026, 6, 12)]);
        assert_eq!(got("a fortnight today"), vec![d(2026, 6, 17)]);
        assert_eq!(got("a week tomorrow"), vec![d(2026, 6, 11)]);
        let stays = find_weekend_stays(&w("the first weekend of july"), today);
        assert_eq!(stays[0].value, (d(2026, 7, 3), d(2026, 7, 5)));
        let stays = find_weekend_stays(&w("for the last weekend of june"), today);
        assert_eq!(stays[0].value, (d(2026, 6, 26), d(2026, 6, 28)));
    }

    #[test]
    fn weeks_without_a_day_are_found_for_asking() {
        let weeks = |text: &str| find_vague_weeks(&w(text), today()).into_iter().map(|f| f.value).collect::<Vec<_>>();
        assert_eq!(weeks("sometime next week"), vec![d(2026, 6, 8)]);
        assert_eq!(weeks("this week"), vec![d(2026, 6, 1)]);
        assert_eq!(weeks("the week after next"), vec![d(2026, 6, 15)]);
        assert_eq!(weeks("next weekend"), vec![]);
    }

    #[test]
    fn dates_said_from_another_date() {
        let got = |text: &str, anchor: Option<NaiveDate>| {
            find_dates_after(&w(text), today(), anchor).into_iter().map(|f| f.value).collect::<Vec<_>>()
        };
        assert_eq!(got("leaving on the 12th and back the same day", None), vec![d(2026, 6, 12), d(2026, 6, 12)]);
        assert_eq!(got("the 12th and back the day after", None), vec![d(2026, 6, 12), d(2026, 6, 13)]);
        // The 14th is a Sunday: the monday after is the 15th.
        assert_eq!(got("coming back on the monday after", Some(d(2026, 6, 14))), vec![d(2026, 6, 15)]);
        assert_eq!(got("the following friday", Some(d(2026, 6, 5))), vec![d(2026, 6, 12)]);
        assert_eq!(got("a week later", Some(d(2026, 6, 5))), vec![d(2026, 6, 12)]);
        assert_eq!(got("three nights later", Some(d(2026, 6, 5))), vec![d(2026, 6, 8)]);
        // Nothing to count from: nothing found.
        assert_eq!(got("the same day", None), vec![]);
        assert_eq!(got("the day after tomorrow", None), vec![d(2026, 6, 3)]);
        assert_eq!(got("friday after next", None), vec![d(2026, 6, 12)]);
    }

    #[test]
    fn a_day_before_one_way_is_a_date() {
        assert_eq!(one("on the 12th one way"), (d(2026, 6, 12), 1, 3));
        assert_eq!(one("june 30 one night"), (d(2026, 6, 30), 0, 2));
        assert_eq!(dates("the second one"), vec![]);
    }

    #[test]
    fn weekday_before_a_date_is_absorbed() {
        assert_eq!(one("friday the twelfth of june"), (d(2026, 6, 12), 0, 5));
        assert_eq!(one("friday the twelfth"), (d(2026, 6, 12), 0, 3));
        assert_eq!(one("friday june twelfth"), (d(2026, 6, 12), 0, 3));
    }

    #[test]
    fn numeric_dates() {
        assert_eq!(one("2026-06-12"), (d(2026, 6, 12), 0, 1));
        assert_eq!(one("on 25/06/2026"), (d(2026, 6, 25), 1, 2));
        assert_eq!(one("on 06/25/2026"), (d(2026, 6, 25), 1, 2));
        assert_eq!(one("12.06.2026"), (d(2026, 6, 12), 0, 1));
        assert_eq!(one("12-06-2026"), (d(2026, 6, 12), 0, 1));
        assert_eq!(one("25/06/26"), (d(2026, 6, 25), 0, 1));
        assert_eq!(one("25/06"), (d(2026, 6, 25), 0, 1));
        assert_eq!(one("6/25"), (d(2026, 6, 25), 0, 1));
        assert_eq!(one("06/06/2026"), (d(2026, 6, 6), 0, 1));
        assert_eq!(one("20/01"), (d(2027, 1, 20), 0, 1));
        assert_eq!(dates("99.50"), vec![]);
        assert_eq!(dates("3-4"), vec![]);
        assert_eq!(dates("10:30"), vec![]);
        assert_eq!(dates("1/2/3/4"), vec![]);
    }

    #[test]
    fn numeric_dates_that_read_both_ways_are_asked_about() {
        for text in ["12/06/2026", "on 04/07", "12/06/26"] {
            assert_eq!(dates(text), vec![], "{text}");
        }
        let found = find_ambiguous_dates(&w("on 04/07/2026 please"), today());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].value, (d(2026, 7, 4), d(2026, 4, 7)));
        assert_eq!((found[0].span.start, found[0].span.end), (1, 2));
        // Without a year each reading is the next one on or after today.
        let found = find_ambiguous_dates(&w("04/07"), today());
        assert_eq!(found[0].value, (d(2026, 7, 4), d(2027, 4, 7)));
        assert!(find_ambiguous_dates(&w("25/06 and 12.06.2026"), today()).is_empty());
    }

    #[test]
    fn past_days_are_found_so_they_can_be_refused() {
        assert_eq!(one("yesterday"), (d(2026, 5, 31), 0, 1));
        assert_eq!(one("the day before yesterday"), (d(2026, 5, 30), 0, 4));
        // Today is Monday: last friday is three days back, last monday a week.
        assert_eq!(one("last friday"), (d(2026, 5, 29), 0, 2));
        assert_eq!(one("last monday"), (d(2026, 5, 25), 0, 2));
        assert_eq!(dates("the last one"), vec![]);
    }

    #[test]
    fn nth_weekday_of_a_month() {
        assert_eq!(one("the first monday of july"), (d(2026, 7, 6), 0, 5));
        assert_eq!(one("first friday in july"), (d(2026, 7, 3), 0, 4));
        assert_eq!(one("the last friday of june"), (d(2026, 6, 26), 0, 5));
        assert_eq!(one("the second tuesday of next month"), (d(2026, 7, 14), 0, 6));
        assert_eq!(one("the first monday of june"), (d(2026, 6, 1), 0, 5));
        // A month already past this year is next year's.
        assert_eq!(one("the first monday of may"), (d(2027, 5, 3), 0, 5));
        assert_eq!(one("the first monday of may 2028"), (d(2028, 5, 1), 0, 6));
        assert_eq!(dates("the fifth monday of june"), vec![d(2026, 6, 29)]);
    }

    #[test]
    fn weekdays_in_a_named_week() {
        // Today is Monday 1 June: next week runs 8..14 June.
        assert_eq!(one("tuesday next week"), (d(2026, 6, 9), 0, 3));
        assert_eq!(one("next week on tuesday"), (d(2026, 6, 9), 0, 4));
        assert_eq!(one("next week tuesday"), (d(2026, 6, 9), 0, 3));
        assert_eq!(one("wednesday of next week"), (d(2026, 6, 10), 0, 4));
        assert_eq!(one("friday this week"), (d(2026, 6, 5), 0, 3));
        let thursday = d(2026, 6, 4);
        assert_eq!(find_dates(&w("monday next week"), thursday)[0].value, d(2026, 6, 8));
        assert_eq!(dates("next week"), vec![]);
    }

    #[test]
    fn the_ends_of_a_range_complete_each_other() {
        // The start takes the end's month: not today's 3rd.
        let today = d(2026, 6, 3);
        let range = |text: &str| find_dates(&w(text), today).into_iter().map(|f| f.value).collect::<Vec<_>>();
        assert_eq!(range("from the third to the sixth of next month"), vec![d(2026, 7, 3), d(2026, 7, 6)]);
        assert_eq!(range("the 3rd to the 6th of july"), vec![d(2026, 7, 3), d(2026, 7, 6)]);
        assert_eq!(range("between the tenth and the twelfth of august"), vec![d(2026, 8, 10), d(2026, 8, 12)]);
        assert_eq!(range("from the 30th until the 2nd of august"), vec![d(2026, 7, 30), d(2026, 8, 2)]);
        // The end follows the start.
        assert_eq!(range("from the 28th to the 2nd"), vec![d(2026, 6, 28), d(2026, 7, 2)]);
        let saturday = d(2026, 6, 6);
        let got: Vec<_> = find_dates(&w("friday to sunday"), saturday).into_iter().map(|f| f.value).collect();
        assert_eq!(got, vec![d(2026, 6, 12), d(2026, 6, 14)]);
        assert_eq!(dates("friday to friday"), vec![d(2026, 6, 5), d(2026, 6, 12)]);
        // Unrelated dates are left alone.
        assert_eq!(range("the third or the sixth of july"), vec![d(2026, 6, 3), d(2026, 7, 6)]);
    }

    #[test]
    fn weekend_stays_run_friday_to_sunday() {
        let stays = |text: &str, today: NaiveDate| {
            find_weekend_stays(&w(text), today)
                .into_iter()
                .map(|f| (f.value, f.span.start, f.span.end))
                .collect::<Vec<_>>()
        };
        assert_eq!(stays("a room in rome for the weekend", today()), vec![((d(2026, 6, 5), d(2026, 6, 7)), 5, 7)]);
        assert_eq!(stays("over this weekend", d(2026, 6, 5)), vec![((d(2026, 6, 5), d(2026, 6, 7)), 1, 3)]);
        assert_eq!(stays("for the weekend", d(2026, 6, 6)), vec![((d(2026, 6, 6), d(2026, 6, 7)), 1, 3)]);
        assert_eq!(stays("for the weekend", d(2026, 6, 7)), vec![((d(2026, 6, 12), d(2026, 6, 14)), 1, 3)]);
        assert_eq!(stays("a weekend break", today()), vec![]);
    }

    #[test]
    fn several_dates_left_to_right() {
        let found = find_dates(&w("from the twelfth of june to the nineteenth"), today());
        let got: Vec<_> = found.iter().map(|f| (f.value, f.span.start, f.span.end)).collect();
        assert_eq!(got, vec![(d(2026, 6, 12), 1, 5), (d(2026, 6, 19), 6, 8)]);
        assert_eq!(dates("leaving friday returning sunday week"), vec![d(2026, 6, 5), d(2026, 6, 14)]);
    }

    #[test]
    fn realistic_utterances() {
        let words = w("i want to fly from london to paris on the twelfth of june for two adults");
        let found = find_dates(&words, today());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].value, d(2026, 6, 12));
        assert_eq!(&words[found[0].span.start..found[0].span.end], ["the", "twelfth", "of", "june"]);
        assert_eq!(dates("book me a hotel in barcelona for three nights from next friday"), vec![d(2026, 6, 5)]);
        assert_eq!(dates("new york to los angeles next tuesday"), vec![d(2026, 6, 2)]);
        assert_eq!(dates("two adults on the fifth"), vec![d(2026, 6, 5)]);
        assert_eq!(dates("my booking reference is victor x-ray seven kilo two papa"), vec![]);
        assert_eq!(dates("i may want to march in"), vec![]);
    }

    #[test]
    fn odd_input_never_panics() {
        let far = NaiveDate::MAX;
        for text in [
            "",
            "🙂",
            "99999999999999999999",
            "in 9999 weeks",
            "in 99999999999999999999 days",
            "the 99999999999999999999th",
            "june 99999999999999999999",
            "9999-99-99",
            "0/0/0",
            "//",
            "-",
            "the",
            "in",
            "a week from",
            "friday week after next",
        ] {
            let _ = find_dates(&w(text), today());
            let _ = find_dates(&w(text), far);
            let _ = find_dates(&w(text), NaiveDate::MIN);
        }
        let _ = find_dates(&w("tomorrow"), far);
        let _ = find_dates(&w("the fifteenth"), far);
        let _ = find_dates(&w("june twelfth"), far);
        let long = "the twelfth of june ".repeat(5_000);
        assert_eq!(find_dates(&w(&long), today()).len(), 5_000);
    }
}
