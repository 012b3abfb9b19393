//! Value extractors: the functions that find slot values (dates, places,
//! counts, booking references, numbers) in what the caller said.
//!
//! The input is ASR text: lowercase, no punctuation, numbers and dates often
//! as words ("the twelfth of june", "two adults"). Everything starts from
//! [`tokens::tokenize`]; every extractor is a pure function over the token
//! list and reports where it found a value as a [`Span`] of token indices,
//! so the dialogue engine can look at the words around a value ("from",
//! "to") and strike out tokens already used by another extractor.
//!
//! Spans are exact and cover the words of the expression itself, including
//! words that are part of it ("the" in "the twelfth of june", "in" in "in
//! three days", "next" in "next friday") but never the cue in front of it
//! ("on", "from", "to", "for"). Each extractor returns non-overlapping
//! results, left to right. Nothing here panics, whatever the input, and
//! nothing allocates more than a small multiple of the input; anything
//! expensive to build (the place index) is built once.

pub mod counts;
pub mod dates;
pub mod fuzzy;
pub mod numbers;
pub mod places;
pub mod refs;
pub mod tokens;

/// Token indices `[start, end)` into the token list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// Number of tokens covered.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Whether the two spans share at least one token.
    pub fn overlaps(&self, other: Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// A value and where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Found<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Found<T> {
    pub fn new(value: T, start: usize, end: usize) -> Found<T> {
        Found { value, span: Span { start, end } }
    }
}

/// The word at `i`, or "" past the end, so pattern code can look ahead
/// without bounds checks.
pub(crate) fn word(words: &[String], i: usize) -> &str {
    words.get(i).map(String::as_str).unwrap_or("")
}

/// Sorts by start and keeps, among overlapping candidates, the one that
/// starts first, then the longest. Used where several patterns compete.
pub(crate) fn non_overlapping<T>(mut found: Vec<Found<T>>) -> Vec<Found<T>> {
    found.sort_by(|a, b| a.span.start.cmp(&b.span.start).then(b.span.len().cmp(&a.span.len())));
    let mut out: Vec<Found<T>> = Vec::with_capacity(found.len());
    for f in found {
        if out.last().is_none_or(|last| last.span.end <= f.span.start) {
            out.push(f);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod test_util {
    /// Tokenizes, for tests.
    pub fn w(text: &str) -> Vec<String> {
        super::tokens::tokenize(text)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::Instant;

    use chrono::NaiveDate;
    use voxbook_proto::airports::Airports;

    use super::places::Gazetteer;
    use super::*;

    fn gaz() -> &'static Gazetteer {
        static G: OnceLock<Gazetteer> = OnceLock::new();
        G.get_or_init(|| Gazetteer::new(Airports::shared()))
    }

    /// Monday 1 June 2026.
    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    }

    /// Everything every extractor finds, as (kind, value, words).
    fn all(text: &str) -> Vec<(&'static str, String, String)> {
        let words = tokens::tokenize(text);
        let span_words = |s: Span| words[s.start..s.end].join(" ");
        let mut out = Vec::new();
        for f in dates::find_dates(&words, today()) {
            out.push(("date", f.value.to_string(), span_words(f.span)));
        }
        for f in gaz().find(&words) {
            out.push(("place", f.value.code.clone(), span_words(f.span)));
        }
        for f in counts::find_party_size(&words) {
            out.push(("party", f.value.to_string(), span_words(f.span)));
        }
        for f in counts::find_nights(&words) {
            out.push(("nights", f.value.to_string(), span_words(f.span)));
        }
        if let Some(f) = refs::find_booking_ref(&words, 6, true) {
            out.push(("ref", f.value.clone(), span_words(f.span)));
        }
        out
    }

    fn e(kind: &'static str, value: &str, words: &str) -> (&'static str, String, String) {
        (kind, value.to_string(), words.to_string())
    }

    #[test]
    fn extractors_agree_on_realistic_utterances() {
        assert_eq!(
            all("i want to fly from london to paris on the twelfth of june for two adults"),
            vec![
                e("date", "2026-06-12", "the twelfth of june"),
                e("place", "LHR", "london"),
                e("place", "CDG", "paris"),
                e("party", "2", "two adults"),
            ]
        );
        assert_eq!(
            all("book me a hotel in barcelona for three nights from next friday"),
            vec![
                e("date", "2026-06-05", "next friday"),
                e("place", "BCN", "barcelona"),
                e("nights", "3", "three nights"),
            ]
        );
        assert_eq!(
            all("my booking reference is victor x-ray seven kilo two papa"),
            vec![e("ref", "VX7K2P", "victor x ray seven kilo two papa")]
        );
        assert_eq!(all("change it to the fourteenth"), vec![e("date", "2026-06-14", "the fourteenth")]);
        assert_eq!(
            all("new york to los angeles next tuesday"),
            vec![
                e("date", "2026-06-02", "next tuesday"),
                e("place", "JFK", "new york"),
                e("place", "LAX", "los angeles"),
            ]
        );
        assert_eq!(all("from heathrow to jfk"), vec![e("place", "LHR", "heathrow"), e("place", "JFK", "jfk")]);
        assert_eq!(
            all("two adults on the fifth"),
            vec![e("date", "2026-06-05", "the fifth"), e("party", "2", "two adults")]
        );
        assert_eq!(
            all("me and my wife to nice in two weeks for a week"),
            vec![
                e("date", "2026-06-15", "in two weeks"),
                e("place", "NCE", "nice"),
                e("party", "2", "me and my wife"),
                e("nights", "7", "a week"),
            ]
        );
        assert_eq!(
            all("in june two adults to zürich"),
            vec![e("place", "ZRH", "zurich"), e("party", "2", "two adults")]
        );
    }

    #[test]
    fn odd_input_never_panics_anywhere() {
        let long_word = "x".repeat(100_000);
        let long_text = "the twelfth of june from london to paris for two adults ".repeat(2_000);
        let inputs = [
            "",
            " ",
            "🙂🙂🙂",
            "✈️ to 🗼",
            "99999999999999999999",
            "99999999999999999999 adults on the 99999999999999999999th",
            "in 99999999999999999999 weeks",
            "double double double triple",
            "\u{0}\u{1}\u{7f}",
            "ǅ ǈ ß ﬁ İ",
            "the the the of of of",
            "--- /// ... ,,,",
            "12/13/2026 2026-13-45 31.02.2026",
            long_word.as_str(),
            long_text.as_str(),
        ];
        for text in inputs {
            let words = tokens::tokenize(text);
            for i in 0..words.len().min(50) {
                let _ = numbers::cardinal_at(&words, i);
                let _ = numbers::ordinal_at(&words, i);
            }
            let _ = dates::find_dates(&words, today());
            let _ = dates::find_dates(&words, NaiveDate::MAX);
            let _ = dates::find_dates(&words, NaiveDate::MIN);
            let _ = gaz().find(&words);
            let _ = counts::find_counts(&words, &["adults", "of us"]);
            let _ = counts::find_party_size(&words);
            let _ = counts::find_nights(&words);
            for strict in [true, false] {
                let _ = refs::find_booking_ref(&words, 6, strict);
            }
        }
    }

    #[test]
    fn a_turn_is_fast() {
        // Build once (as the engine does), then time whole turns. The bound
        // is loose because tests run unoptimised on a shared machine; the
        // real budget (<10 ms per turn) is for release builds.
        let g = gaz();
        let text = "i want to fly from london to paris on the twelfth of june for two adults \
                    and then back from charles de gaulle a week on friday my reference is v x seven k two p";
        let start = Instant::now();
        let turns = 200;
        for _ in 0..turns {
            let words = tokens::tokenize(text);
            let _ = dates::find_dates(&words, today());
            let _ = g.find(&words);
            let _ = counts::find_party_size(&words);
            let _ = counts::find_nights(&words);
            let _ = refs::find_booking_ref(&words, 6, false);
        }
        let per_turn = start.elapsed() / turns;
        assert!(per_turn.as_millis() < 10, "{per_turn:?} per turn");
    }

    #[test]
    fn span_helpers() {
        let a = Span::new(1, 3);
        assert_eq!(a.len(), 2);
        assert!(!a.is_empty());
        assert!(a.overlaps(Span::new(2, 5)));
        assert!(!a.overlaps(Span::new(3, 5)));
        assert!(Span::new(4, 4).is_empty());
        assert_eq!(Span::new(5, 2).len(), 0);
    }

    #[test]
    fn non_overlapping_prefers_first_then_longest() {
        let found = vec![Found::new('b', 2, 4), Found::new('a', 0, 1), Found::new('c', 2, 6), Found::new('d', 5, 7)];
        let kept: Vec<char> = non_overlapping(found).into_iter().map(|f| f.value).collect();
        assert_eq!(kept, vec!['a', 'c']);
    }
}
