//! Places: city and airport names in the utterance, resolved to airports.
//!
//! The [`Gazetteer`] indexes, once, the spoken name of every city that has
//! a primary airport in the embedded dataset (multi-word names as token
//! sequences, accent-folded like the tokenizer does), variants of those
//! names ("st louis" / "saint louis", "samarinda" for "Samarinda, Borneo
//! Island"), and a curated table of aliases: nicknames ("nyc", "vegas",
//! "dc"), airport names ("heathrow", "jfk", "o'hare", "charles de gaulle")
//! and local or older names ("roma", "bombay"). A lookup is then one hash
//! probe per candidate length at each token.
//!
//! Matching is longest first, left to right, non-overlapping: "new york
//! city" beats "new york" beats "york". A city directly followed by one of
//! its airports' names is one place, that airport ("chicago o'hare" is
//! ORD over both words).
//!
//! Stopword policy. The dataset has thousands of small towns whose names
//! are everyday words, so names fall in three groups:
//! - never a place: function words, pronouns, auxiliaries, travel
//!   vocabulary ("book", "hotel", "flight"), months, weekdays, number words,
//!   single letters and country/state names. A town called "Of" or "May"
//!   can not be reached by voice; a caller saying "in may" or "to book" is
//!   not flying to one.
//! - a place only right after a travel cue (from, to, in, into, at, for,
//!   via, fly, flying, leaving, arriving, visit, visiting, towards,
//!   through, near, out of): real destinations that are also common words
//!   or first names ("nice", "split", "reading", "mobile", "orange",
//!   "male", "hope", "david"), dataset names of three letters or fewer
//!   (curated aliases such as "la" and "dc" are exempt), and multi-word
//!   names made only of such words. "to" does not count as a cue after
//!   "want", "like", "need" and similar, where it marks an infinitive ("i
//!   want to split the payment"), and a cue-only word followed by an
//!   object ("up", "the", "it", "my" ...) is a verb ("going to split up
//!   the booking").
//! - everything else matches anywhere ("london to paris").
//!
//! The lists are hand-written and can not be complete; an unlisted town
//! named after a common word will match where it should not. The engine
//! confirms places with the caller, which bounds the damage.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use voxbook_proto::airports::{Airport, Airports};

use super::tokens::tokenize;
use super::{Found, numbers, word};

/// A place the caller named: the city (as the dataset spells it) and the
/// airport that stands for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Place {
    /// City name as the dataset spells it ("London").
    pub name: String,
    /// IATA code of the airport ("LHR").
    pub code: String,
    /// ISO 3166-1 alpha-2 country code ("GB").
    pub country: String,
}

/// Where an index entry came from; on a key collision the lower wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Alias,
    City,
    Variant,
}

#[derive(Debug, Clone)]
struct Entry {
    place: Place,
    needs_cue: bool,
    source: Source,
}

/// The index of spoken place names. Build once, share (it is immutable).
#[derive(Debug, Clone, Default)]
pub struct Gazetteer {
    /// Space-joined tokens -> entry.
    by_key: HashMap<String, Entry>,
    /// First tokens of all keys: most tokens are not, and skip the probe.
    first_tokens: HashSet<String>,
    /// Longest key, in tokens.
    max_len: usize,
    /// Every airport by IATA code, primary or not.
    by_code: HashMap<String, Place>,
}

/// Curated aliases: (spoken form, IATA code, display city or "" for the
/// dataset's, needs a cue).
const ALIASES: &[(&str, &str, &str, bool)] = &[
    // Nicknames and short forms.
    ("nyc", "JFK", "", false),
    ("new york city", "JFK", "", false),
    ("la", "LAX", "", false),
    ("vegas", "LAS", "", false),
    ("san fran", "SFO", "", false),
    ("frisco", "SFO", "", false),
    ("dc", "IAD", "", false),
    ("d c", "IAD", "", false),
    ("washington dc", "IAD", "", false),
    ("washington d c", "IAD", "", false),
    ("philly", "PHL", "", false),
    // The dataset's "Saint-Louis" is Basel-Mulhouse; callers mean Missouri.
    ("saint louis", "STL", "", false),
    ("dallas fort worth", "DFW", "", false),
    ("fort worth", "DFW", "", false),
    ("rio", "GIG", "", false),
    // Cities whose name the dataset gives to a bigger or other airport.
    ("aberdeen", "ABZ", "Aberdeen", false),
    ("newcastle", "NCL", "Newcastle", false),
    ("kansas city", "MCI", "", false),
    ("london city", "LCY", "London City", false),
    ("jersey", "JER", "Jersey", true),
    ("zanzibar", "ZNZ", "Zanzibar", false),
    ("mauritius", "MRU", "Mauritius", false),
    ("joburg", "JNB", "", false),
    ("jozi", "JNB", "", false),
    // How recognisers and typists bend some names.
    ("new yawk", "JFK", "", false),
    ("new york new york", "JFK", "", false),
    // English names the dataset spells the local way.
    ("turin", "TRN", "Turin", false),
    ("hanover", "HAJ", "Hanover", false),
    ("hannover", "HAJ", "Hanover", false),
    ("genoa", "GOA", "Genoa", false),
    ("krakow", "KRK", "Krakow", false),
    ("cracow", "KRK", "Krakow", false),
    ("bali", "DPS", "", false),
    ("delhi", "DEL", "", false),
    ("malta", "MLA", "", false),
    ("mallorca", "PMI", "", false),
    ("majorca", "PMI", "", false),
    ("palma", "PMI", "", false),
    ("ho chi minh", "SGN", "", false),
    ("bengaluru", "BLR", "", false),
    ("marrakesh", "RAK", "", false),
    ("florence", "FLR", "Florence", false),
    // Older and local names.
    ("bombay", "BOM", "", false),
    ("calcutta", "CCU", "", false),
    ("madras", "MAA", "", false),
    ("saigon", "SGN", "", false),
    ("kiev", "KBP", "", false),
    ("roma", "FCO", "", false),
    ("milano", "MXP", "", false),
    ("venezia", "VCE", "", false),
    ("napoli", "NAP", "", false),
    ("firenze", "FLR", "", false),
    ("lisboa", "LIS", "", false),
    ("praha", "PRG", "", false),
    ("wien", "VIE", "", false),
    ("munchen", "MUC", "", false),
    ("muenchen", "MUC", "", false),
    ("koln", "CGN", "", false),
    ("geneve", "GVA", "", false),
    ("bruxelles", "BRU", "", false),
    // Airports by name.
    ("heathrow", "LHR", "", false),
    ("london heathrow", "LHR", "", false),
    ("gatwick", "LGW", "", false),
    ("london gatwick", "LGW", "", false),
    ("stansted", "STN", "", false),
    ("london stansted", "STN", "", false),
    ("luton", "LTN", "", false),
    ("london luton", "LTN", "", false),
    ("london city airport", "LCY", "", false),
    ("jfk", "JFK", "", false),
    ("j f k", "JFK", "", false),
    ("kennedy", "JFK", "", true),
    ("laguardia", "LGA", "", false),
    ("la guardia", "LGA", "", false),
    ("newark", "EWR", "", false),
    ("lax", "LAX", "", false),
    ("l a x", "LAX", "", false),
    ("s f o", "SFO", "", false),
    ("ohare", "ORD", "", false),
    ("o hare", "ORD", "", false),
    ("midway", "MDW", "", true),
    ("dulles", "IAD", "", false),
    ("reagan national", "DCA", "", false),
    ("logan airport", "BOS", "", false),
    ("charles de gaulle", "CDG", "", false),
    ("paris charles de gaulle", "CDG", "", false),
    ("orly", "ORY", "", false),
    ("paris orly", "ORY", "", false),
    ("schiphol", "AMS", "", false),
    ("changi", "SIN", "", false),
    ("narita", "NRT", "", false),
    ("haneda", "HND", "", false),
    ("incheon", "ICN", "", false),
    ("kansai", "KIX", "", false),
    ("fiumicino", "FCO", "", false),
    ("ciampino", "CIA", "", false),
    ("malpensa", "MXP", "", false),
    ("linate", "LIN", "", false),
    ("barajas", "MAD", "", false),
    ("el prat", "BCN", "", false),
    ("pearson", "YYZ", "", true),
    ("toronto pearson", "YYZ", "", false),
    ("frankfurt am main", "FRA", "", false),
    ("chek lap kok", "HKG", "", false),
    ("suvarnabhumi", "BKK", "", false),
    ("don mueang", "DMK", "", false),
];

/// Words that are never a place, whatever the dataset says.
#[rustfmt::skip]
const NEVER: &[&str] = &[
    // Function words, pronouns, auxiliaries.
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "from", "with",
    "without", "about", "as", "into", "onto", "up", "down", "out", "over", "under", "off", "via", "per", "than",
    "then", "so", "i", "me", "my", "mine", "we", "us", "our", "you", "your", "he", "him", "his", "she", "her",
    "it", "its", "they", "them", "their", "this", "that", "these", "those", "there", "here", "who", "what",
    "when", "where", "which", "why", "how", "am", "is", "are", "was", "were", "be", "been", "being", "do",
    "does", "did", "done", "have", "has", "had", "can", "could", "will", "would", "shall", "should", "may",
    "might", "must", "not", "no", "yes", "yeah", "yep", "nope", "ok", "okay", "please", "thanks", "thank",
    "hello", "hi", "hey", "bye", "sorry", "well", "just", "also", "too", "very", "really", "now", "later",
    "soon", "again", "back", "all", "any", "some", "none", "each", "every", "more", "most", "less", "much",
    "many", "few", "other", "another", "same", "such", "only", "own", "both", "either", "neither", "um", "uh",
    "er", "erm", "hmm", "oh", "ah", "like", "want", "need", "get", "go", "going", "make", "take", "find",
    "show", "tell", "give", "know", "think", "see", "say", "said", "let", "put", "new", "old", "big", "small",
    "long", "short", "high", "low", "good", "great", "fine", "right", "left", "best", "better", "cheap",
    "cheaper", "cheapest", "early", "earliest", "late", "latest", "sure", "maybe", "actually", "instead",
    "still", "yet", "ever", "never", "always", "around", "near", "after", "before", "between", "until", "till",
    "since", "because", "while", "during",
    // Travel vocabulary.
    "book", "booking", "booked", "hotel", "hotels", "flight", "flights", "fly", "flying", "ticket", "tickets",
    "trip", "travel", "travelling", "traveling", "return", "returning", "way", "round", "seat", "seats", "room",
    "rooms", "night", "nights", "day", "days", "week", "weeks", "weekend", "fortnight", "month", "months",
    "year", "years", "date", "dates", "time", "morning", "afternoon", "evening", "today", "tonight", "tomorrow",
    "next", "last", "class", "economy", "business", "premium", "change", "cancel", "check", "help", "leave",
    "leaving", "arrive", "arriving", "stay", "staying", "visit", "home", "work", "airport", "airports", "city",
    "town", "place", "airline", "passenger", "passengers", "adult", "adults", "child", "children", "kid",
    "kids", "baby", "people", "person", "guest", "guests", "reference", "code", "number", "name", "email",
    "phone", "card", "pay", "price", "cost", "euro", "euros", "dollar", "dollars", "pound", "pounds", "direct",
    "nonstop", "stop", "stops", "window", "aisle", "bag", "bags", "luggage", "single", "double", "twin",
    "suite", "breakfast",
    // Countries and states that share a name with a small town: a caller
    // naming a country has not chosen a city.
    "jordan", "lebanon", "georgia", "indiana", "nevada", "peru", "angola", "armenia", "montenegro", "carolina",
    "china", "india", "mexico", "canada", "brazil", "chile", "cuba", "america", "england", "scotland", "wales",
    "ireland", "france", "spain", "italy", "germany", "japan", "texas", "florida", "california", "europe",
    "asia", "africa",
];

/// Real destinations that are also common words or first names: only after
/// a travel cue.
#[rustfmt::skip]
const CUE_ONLY: &[&str] = &[
    "nice", "split", "mobile", "reading", "orange", "male", "bath", "hope", "alert", "banana", "beaver",
    "bishop", "bush", "butler", "candle", "circle", "crane", "delta", "dover", "eagle", "fare", "flat", "flint",
    "globe", "grants", "hit", "lock", "lonely", "page", "plato", "ruby", "save", "summit", "temple", "trail",
    "union", "wells", "willow", "wise", "wink", "marks", "mare", "mesa", "ranger", "rifle", "salmon", "ware",
    "van", "stow", "alliance", "atlantic", "central", "defiance", "enterprise", "independence", "imperial",
    "paradise", "junction", "superior", "council", "concord", "mercury", "marathon", "platinum", "liberal",
    "rampart", "cascade", "chicken", "boundary", "bountiful", "goodnews", "homestead", "providence", "sterling",
    "terrace", "coronation", "mesquite", "sandstone", "limestone", "magnolia", "needles", "jackpot", "roundup",
    "ironstone", "homeward", "farewell", "ontario", "freeport", "golden", "eureka", "liberty", "normal",
    "deering", "colony", "grand", "harbour", "harbor", "hot", "lake", "landing", "meadows", "point", "port",
    "river", "rock", "springs", "valley", "village", "wood", "bay", "beach", "creek", "falls", "field",
    "island", "mount", "north", "south", "east", "west", "center", "centre", "islands", "sea", "ocean", "coast",
    // First names and surnames that are also towns.
    "adam", "adrian", "alice", "david", "george", "gordon", "hugo", "leo", "logan", "marion", "mary", "morris",
    "murray", "norman", "taylor", "tyler", "stuart", "sidney", "russell", "perry", "milton", "nelson",
    "jackson", "douglas", "franklin", "lincoln", "hamilton", "harrison", "clinton", "spencer", "mitchell",
    "marshall", "stanley", "anderson", "edwards", "anthony", "madison", "warren", "wilson", "johnson",
    "thompson", "smith", "brown", "martin", "moore", "howard", "carroll", "chester", "lawrence", "mason",
];

/// Words after which a place name counts as cued.
#[rustfmt::skip]
const CUES: &[&str] = &[
    "from", "to", "in", "into", "at", "for", "via", "fly", "flying", "leaving", "arriving", "visit", "visiting",
    "towards", "toward", "through", "near",
];

/// Before "to", these make it an infinitive marker, not a direction.
#[rustfmt::skip]
const INFINITIVE_HEADS: &[&str] = &[
    "want", "wanna", "like", "need", "have", "has", "had", "able", "try", "trying", "love", "hoping",
    "planning", "wish", "used", "hate", "prefer", "decided", "got", "ought", "about", "how",
];

/// After a cue-only word, these show it was a verb ("going to split up the
/// booking", "to split the bill"), not a destination.
#[rustfmt::skip]
const VERB_OBJECTS: &[&str] = &[
    "up", "the", "it", "a", "an", "my", "your", "our", "their", "his", "her", "this", "that", "these", "those",
    "them", "us", "me", "him", "between", "into", "out", "off", "down", "its", "some", "everything",
];

/// Keys longer than this (in tokens) are not indexed; no real city name
/// comes near it, and it bounds the work per token.
const MAX_KEY_TOKENS: usize = 6;

impl Gazetteer {
    /// Indexes the primary city names of `airports`, their variants, and
    /// the alias table (aliases whose airport is missing are skipped).
    pub fn new(airports: &Airports) -> Gazetteer {
        let never: HashSet<&str> = NEVER.iter().copied().collect();
        let cue_only: HashSet<&str> = CUE_ONLY.iter().copied().collect();
        let mut g = Gazetteer::default();
        for a in airports.iter() {
            g.by_code.insert(a.iata.clone(), place_of(a, ""));
        }
        for &(alias, code, display, cue) in ALIASES {
            let Some(a) = airports.get(code) else {
                continue;
            };
            let tokens = tokenize(alias);
            // Aliases are curated: short ones ("la", "dc") are meant to
            // match anywhere, so only the table's own flag applies.
            let needs_cue = cue;
            g.insert(tokens, Entry { place: place_of(a, display), needs_cue, source: Source::Alias });
        }
        for a in airports.iter().filter(|a| a.primary) {
            let tokens = tokenize(&a.city);
            for (variant, source) in name_variants(&a.city, &tokens) {
                if is_never(&variant, &never) {
                    continue;
                }
                let needs_cue = key_needs_cue(&variant, &cue_only);
                g.insert(variant, Entry { place: place_of(a, ""), needs_cue, source });
            }
        }
        g
    }

    fn insert(&mut self, tokens: Vec<String>, entry: Entry) {
        if tokens.is_empty() || tokens.len() > MAX_KEY_TOKENS {
            return;
        }
        let key = tokens.join(" ");
        match self.by_key.get(&key) {
            // Same or better source already there: first in (IATA order)
            // wins, so the index does not depend on hash order.
            Some(old) if old.source <= entry.source => return,
            _ => {}
        }
        self.max_len = self.max_len.max(tokens.len());
        if let Some(first) = tokens.into_iter().next() {
            self.first_tokens.insert(first);
        }
        self.by_key.insert(key, entry);
    }

    /// Places in the utterance: longest match, left to right, non-
    /// overlapping. Cue-only names need a travel cue right before them (see
    /// the module doc).
    pub fn find(&self, words: &[String]) -> Vec<Found<Place>> {
        let mut out: Vec<Found<Place>> = Vec::new();
        let mut i = 0;
        let mut key = String::new();
        while i < words.len() {
            if !self.first_tokens.contains(&words[i]) {
                i += 1;
                continue;
            }
            let longest = self.max_len.min(words.len() - i);
            let mut matched = None;
            for len in (1..=longest).rev() {
                key.clear();
                for (n, w) in words[i..i + len].iter().enumerate() {
                    if n > 0 {
                        key.push(' ');
                    }
                    key.push_str(w);
                }
                if let Some(entry) = self.by_key.get(key.as_str())
                    && (!entry.needs_cue || (has_cue(words, i) && !VERB_OBJECTS.contains(&word(words, i + len))))
                {
                    matched = Some((entry, len));
                    break;
                }
            }
            match matched {
                Some((entry, len)) => {
                    let place = &entry.place;
                    // "chicago o'hare", "new york jfk": a city then one of
                    // its airports is one place, the airport.
                    match out.last_mut() {
                        Some(prev)
                            if entry.source == Source::Alias && prev.span.end == i && same_city(&prev.value, place) =>
                        {
                            prev.value = place.clone();
                            prev.span.end = i + len;
                        }
                        _ => out.push(Found::new(place.clone(), i, i + len)),
                    }
                    i += len;
                }
                None => i += 1,
            }
        }
        out
    }

    /// The one place whose one-word name is a slip away from `heard`
    /// ("bostin", "denvor"), for when the dialogue waits for a city and
    /// none was found. Names that need a cue, and ties, give nothing; the
    /// first letter must agree (a mishearing rarely changes it, and it
    /// keeps unrelated towns out).
    pub fn closest(&self, heard: &str) -> Option<Place> {
        self.closest_name(heard).map(|(_, place)| place)
    }

    /// [`Gazetteer::closest`], with the name it matched ("boston").
    pub fn closest_name(&self, heard: &str) -> Option<(String, Place)> {
        let limit = super::fuzzy::allowed(heard.len());
        let first = heard.bytes().next()?;
        if limit == 0 || numbers::is_number_word(heard) {
            return None;
        }
        let mut best: Option<(&String, &Entry, usize)> = None;
        let mut tied = false;
        for (key, entry) in &self.by_key {
            if entry.needs_cue || key.contains(' ') || key.as_bytes().first() != Some(&first) {
                continue;
            }
            let d = super::fuzzy::distance(heard, key, limit);
            if d > limit {
                continue;
            }
            match best {
                Some((_, b, bd)) if d == bd && b.place.code != entry.place.code => tied = true,
                Some((_, _, bd)) if d >= bd => {}
                _ => {
                    best = Some((key, entry, d));
                    tied = false;
                }
            }
        }
        match (best, tied) {
            (Some((key, entry, _)), false) => Some((key.clone(), entry.place.clone())),
            _ => None,
        }
    }

    /// The place for any airport code (primary or not), case-insensitive.
    pub fn by_code(&self, iata: &str) -> Option<Place> {
        self.by_code.get(&iata.trim().to_ascii_uppercase()).cloned()
    }

    /// Number of spoken names indexed.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

fn same_city(a: &Place, b: &Place) -> bool {
    a.name == b.name && a.country == b.country
}

fn place_of(a: &Airport, display: &str) -> Place {
    let name = if !display.is_empty() {
        display.to_string()
    } else if a.city.is_empty() {
        a.name.clone()
    } else {
        a.city.clone()
    };
    Place { name, code: a.iata.clone(), country: a.country.clone() }
}

/// The spoken keys of a dataset city name: the name itself, the part
/// before a comma, slash or bracket ("Samarinda, Borneo Island"), and
/// "st"/"saint", "ft"/"fort", "mt"/"mount" swapped in the first word.
fn name_variants(city: &str, tokens: &[String]) -> Vec<(Vec<String>, Source)> {
    let mut out = vec![(tokens.to_vec(), Source::City)];
    if let Some(cut) = city.find([',', '/', '(']) {
        let head = tokenize(&city[..cut]);
        if !head.is_empty() && head != tokens {
            out.push((head, Source::Variant));
        }
    }
    let swapped: Vec<(Vec<String>, Source)> = out
        .iter()
        .filter_map(|(t, _)| {
            let other = match t.first()?.as_str() {
                "st" => "saint",
                "saint" => "st",
                "ft" => "fort",
                "fort" => "ft",
                "mt" => "mount",
                "mount" => "mt",
                _ => return None,
            };
            let mut v = t.clone();
            v[0] = other.to_string();
            Some((v, Source::Variant))
        })
        .collect();
    out.extend(swapped);
    out
}

/// A single-token key that is a stopword, month, weekday, number word or
/// single letter is never indexed.
fn is_never(tokens: &[String], never: &HashSet<&str>) -> bool {
    match tokens {
        [only] => {
            never.contains(only.as_str())
                || numbers::is_number_word(only)
                || super::dates::is_date_word(only)
                || only.chars().count() == 1
                || only.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// Whether a key needs a travel cue before it: a cue-only word, a short
/// name (three letters or fewer), or several words that are all common
/// words, numbers or dates ("big bear", "grand junction").
fn key_needs_cue(tokens: &[String], cue_only: &HashSet<&str>) -> bool {
    let common = |w: &String| {
        cue_only.contains(w.as_str())
            || NEVER.contains(&w.as_str())
            || numbers::is_number_word(w)
            || super::dates::is_date_word(w)
            || w.chars().count() <= 2
    };
    match tokens {
        [only] => cue_only.contains(only.as_str()) || only.chars().count() <= 3,
        _ => tokens.iter().all(common),
    }
}

/// Whether a travel cue precedes token `i`.
fn has_cue(words: &[String], i: usize) -> bool {
    if i == 0 {
        return false;
    }
    let prev = word(words, i - 1);
    if prev == "of" && i >= 2 && word(words, i - 2) == "out" {
        return true;
    }
    if !CUES.contains(&prev) {
        return false;
    }
    // "want to split the bill": "to" after these is an infinitive.
    !(prev == "to" && i >= 2 && INFINITIVE_HEADS.contains(&word(words, i - 2)))
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;
    use crate::extract::test_util::w;

    fn gaz() -> &'static Gazetteer {
        static G: OnceLock<Gazetteer> = OnceLock::new();
        G.get_or_init(|| Gazetteer::new(Airports::shared()))
    }

    /// (code, matched words) for each place found.
    fn find(text: &str) -> Vec<(String, String)> {
        let words = w(text);
        gaz().find(&words).into_iter().map(|f| (f.value.code, words[f.span.start..f.span.end].join(" "))).collect()
    }

    fn codes(text: &str) -> Vec<String> {
        find(text).into_iter().map(|(c, _)| c).collect()
    }

    #[test]
    fn realistic_flight_requests() {
        let words = w("i want to fly from london to paris on the twelfth of june for two adults");
        let found = gaz().find(&words);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].value, Place { name: "London".into(), code: "LHR".into(), country: "GB".into() });
        assert_eq!((found[0].span.start, found[0].span.end), (5, 6));
        assert_eq!(found[1].value.code, "CDG");
        assert_eq!(found[1].value.name, "Paris");
        assert_eq!((found[1].span.start, found[1].span.end), (7, 8));
    }

    #[test]
    fn multi_word_names_match_longest() {
        assert_eq!(
            find("new york to los angeles next tuesday"),
            vec![("JFK".into(), "new york".into()), ("LAX".into(), "los angeles".into())]
        );
        assert_eq!(find("new york city please"), vec![("JFK".into(), "new york city".into())]);
        assert_eq!(codes("flying to sao paulo"), ["GRU"]);
        assert_eq!(codes("rio de janeiro"), ["GIG"]);
        assert_eq!(codes("rio"), ["GIG"]);
        assert_eq!(codes("hong kong to kuala lumpur"), ["HKG", "KUL"]);
    }

    #[test]
    fn airport_names_and_aliases() {
        assert_eq!(find("from heathrow to jfk"), vec![("LHR".into(), "heathrow".into()), ("JFK".into(), "jfk".into())]);
        assert_eq!(codes("gatwick"), ["LGW"]);
        assert_eq!(codes("charles de gaulle"), ["CDG"]);
        assert_eq!(codes("schiphol"), ["AMS"]);
        assert_eq!(codes("o'hare"), ["ORD"]);
        assert_eq!(codes("o hare"), ["ORD"]);
        assert_eq!(codes("nyc"), ["JFK"]);
        assert_eq!(codes("la"), ["LAX"]);
        assert_eq!(codes("vegas"), ["LAS"]);
        assert_eq!(codes("las vegas"), ["LAS"]);
        assert_eq!(codes("washington dc"), ["IAD"]);
        assert_eq!(codes("dc"), ["IAD"]);
        assert_eq!(codes("washington"), ["IAD"]);
        assert_eq!(codes("j f k"), ["JFK"]);
        let heathrow = &gaz().find(&w("heathrow"))[0].value;
        assert_eq!(heathrow.name, "London");
        let florence = &gaz().find(&w("florence"))[0].value;
        assert_eq!((florence.name.as_str(), florence.code.as_str()), ("Florence", "FLR"));
    }

    #[test]
    fn every_alias_resolves() {
        let airports = Airports::shared();
        for &(alias, code, _, _) in ALIASES {
            assert!(airports.get(code).is_some(), "{alias} -> {code} missing");
            let words = w(alias);
            let found = gaz().find(&words);
            // Cue-only aliases are tried after a cue.
            let found = if found.is_empty() {
                let mut cued = w("to");
                cued.extend(words.clone());
                gaz().find(&cued)
            } else {
                found
            };
            assert_eq!(found.len(), 1, "{alias}");
            assert_eq!(found[0].value.code, code, "{alias}");
        }
    }

    #[test]
    fn city_then_its_airport_is_one_place() {
        assert_eq!(find("one way to chicago o'hare"), vec![("ORD".into(), "chicago ohare".into())]);
        assert_eq!(find("new york jfk"), vec![("JFK".into(), "new york jfk".into())]);
        assert_eq!(find("from london luton"), vec![("LTN".into(), "london luton".into())]);
        assert_eq!(find("paris london"), vec![("CDG".into(), "paris".into()), ("LHR".into(), "london".into())]);
    }

    #[test]
    fn accents_and_case_are_folded() {
        assert_eq!(codes("Zürich"), ["ZRH"]);
        assert_eq!(codes("zurich"), ["ZRH"]);
        assert_eq!(codes("MONTRÉAL"), ["YUL"]);
        assert_eq!(codes("montreal"), ["YUL"]);
        assert_eq!(codes("São Paulo"), ["GRU"]);
    }

    #[test]
    fn saint_and_st_variants() {
        assert_eq!(codes("st louis"), ["STL"]);
        assert_eq!(codes("saint louis"), ["STL"]);
        assert_eq!(codes("st. louis"), ["STL"]);
    }

    #[test]
    fn word_like_names_need_a_cue() {
        assert_eq!(codes("that would be nice"), Vec::<String>::new());
        assert_eq!(codes("fly to nice"), ["NCE"]);
        assert_eq!(codes("from nice to london"), ["NCE", "LHR"]);
        assert_eq!(codes("flying nice"), ["NCE"]);
        assert_eq!(codes("can we split the payment"), Vec::<String>::new());
        assert_eq!(codes("i want to split the payment"), Vec::<String>::new());
        assert_eq!(codes("a week in split"), ["SPU"]);
        assert_eq!(codes("my mobile number"), Vec::<String>::new());
        assert_eq!(codes("out of reading"), ["RDG"]);
        assert_eq!(codes("reading my email"), Vec::<String>::new());
        assert_eq!(codes("to male"), ["MLE"]);
        assert_eq!(codes("the name is david"), Vec::<String>::new());
        assert_eq!(codes("we are going to split up the booking"), Vec::<String>::new());
        assert_eq!(codes("going to split the bill"), Vec::<String>::new());
        assert_eq!(codes("going to split next week"), ["SPU"]);
        assert_eq!(codes("i hope so"), Vec::<String>::new());
    }

    #[test]
    fn stopwords_are_never_places() {
        for text in [
            "i want to book a hotel",
            "how can i change it",
            "why is it so expensive",
            "in may",
            "in march",
            "to june",
            "for two adults",
            "the best one of them",
            "on monday",
            "flight number one two three",
            "a b c",
            "from the twelfth of june",
            "to jordan",
            "is there a direct flight",
        ] {
            assert_eq!(codes(text), Vec::<String>::new(), "{text}");
        }
    }

    #[test]
    fn hotel_request() {
        assert_eq!(
            find("book me a hotel in barcelona for three nights from next friday"),
            vec![("BCN".into(), "barcelona".into())]
        );
    }

    #[test]
    fn by_code_covers_all_airports() {
        let g = gaz();
        assert_eq!(
            g.by_code("lgw").unwrap(),
            Place { name: "London".into(), code: "LGW".into(), country: "GB".into() }
        );
        assert_eq!(g.by_code("CDG").unwrap().name, "Paris");
        assert!(g.by_code("XXX").is_none());
        assert!(g.by_code("").is_none());
        assert!(g.len() > 5000);
        assert!(!g.is_empty());
    }

    #[test]
    fn spans_are_exact_and_non_overlapping() {
        let words = w("from new york to london gatwick and then heathrow");
        let found = gaz().find(&words);
        let spans: Vec<(usize, usize)> = found.iter().map(|f| (f.span.start, f.span.end)).collect();
        assert_eq!(spans, vec![(1, 3), (4, 6), (8, 9)]);
        let codes: Vec<&str> = found.iter().map(|f| f.value.code.as_str()).collect();
        assert_eq!(codes, ["JFK", "LGW", "LHR"]);
    }

    #[test]
    fn empty_gazetteer_finds_nothing() {
        let g = Gazetteer::default();
        assert!(g.find(&w("london")).is_empty());
        assert!(g.by_code("LHR").is_none());
    }

    #[test]
    fn odd_input_never_panics() {
        let g = gaz();
        assert!(g.find(&[]).is_empty());
        assert!(g.find(&w("🙂 ✈️")).is_empty());
        assert!(g.find(&w("99999999999999999999")).is_empty());
        assert!(g.find(&["".to_string(), " ".to_string()]).is_empty());
        let long = "london ".repeat(20_000);
        assert_eq!(g.find(&w(&long)).len(), 20_000);
        let glued = "x".repeat(100_000);
        assert!(g.find(&w(&glued)).is_empty());
    }
}
