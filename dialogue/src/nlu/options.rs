//! Recognising which offered option the user picks: by position ("the
//! second one", "number three", "the last one") or by a property ("the
//! cheapest", "the earliest").

use crate::extract::numbers;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// 0-based position in the order the options were read out.
    Index(usize),
    Last,
    Cheapest,
    Dearest,
    Earliest,
    Latest,
}

/// The pick in `words`, if any. A bare number ("two") counts as a position
/// only when `bare_numbers` is set (the assistant has just listed options).
pub fn find_pick(words: &[String], bare_numbers: bool) -> Option<Pick> {
    let has = |w: &str| words.iter().any(|x| x == w);
    let pair = |a: &str, b: &str| words.windows(2).any(|p| p[0] == a && p[1] == b);
    if has("cheapest") || pair("lowest", "price") || pair("least", "expensive") || has("cheaper") {
        return Some(Pick::Cheapest);
    }
    if pair("most", "expensive") || has("priciest") || has("dearest") {
        return Some(Pick::Dearest);
    }
    if has("earliest") || has("earlier") || pair("morning", "one") {
        return Some(Pick::Earliest);
    }
    if has("latest") || has("later") || pair("evening", "one") {
        return Some(Pick::Latest);
    }
    if pair("last", "one") || pair("the", "last") || words == ["last"] {
        return Some(Pick::Last);
    }
    for i in 0..words.len() {
        if let Some(found) = numbers::ordinal_at(words, i) {
            // "first class" is a cabin, not a pick.
            let next = words.get(found.span.end).map(String::as_str);
            if next != Some("class") && found.value >= 1 {
                return Some(Pick::Index(found.value as usize - 1));
            }
        }
        let after_marker = i > 0 && matches!(words[i - 1].as_str(), "number" | "option" | "flight" | "hotel");
        if (after_marker || bare_numbers)
            && let Some(found) = numbers::cardinal_at(words, i)
            && found.value >= 1
        {
            return Some(Pick::Index(found.value as usize - 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(s: &str, bare: bool) -> Option<Pick> {
        let words: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        find_pick(&words, bare)
    }

    #[test]
    fn positions_and_properties() {
        assert_eq!(pick("the second one please", false), Some(Pick::Index(1)));
        assert_eq!(pick("i'll take number three", false), Some(Pick::Index(2)));
        assert_eq!(pick("two", true), Some(Pick::Index(1)));
        assert_eq!(pick("two", false), None);
        assert_eq!(pick("the cheapest", false), Some(Pick::Cheapest));
        assert_eq!(pick("the earliest flight", false), Some(Pick::Earliest));
        assert_eq!(pick("the last one", false), Some(Pick::Last));
        assert_eq!(pick("first class please", false), None);
        assert_eq!(pick("hmm", true), None);
    }
}
