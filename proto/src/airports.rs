//! The world's airports with an IATA code, embedded in the binary.
//!
//! The data is `proto/data/airports.csv`, derived from the `airportsdata`
//! package (MIT, see `proto/data/ATTRIBUTION.md`) by
//! `proto/data/derive_airports.py`. Every airport with a three-letter IATA
//! code is here, and exactly one airport per spoken city name is marked
//! [`Airport::primary`]: the one a caller means when they say only "London"
//! (Heathrow, not London, Ontario, nor Gatwick). The script documents the
//! rule that picks it.
//!
//! City lookups go through [`normalize_name`], which lowercases, folds
//! accents and drops punctuation, so "Zürich", "zurich" and "ZURICH" are the
//! same key. The dialogue tokenizer uses the same folding ([`fold_char`]),
//! which is why it lives here: the two sides must agree on what a name is.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The derived CSV: `iata,name,city,country,lat,lon,tz,primary`.
const EMBEDDED_CSV: &str = include_str!("../data/airports.csv");

/// Mean Earth radius (IUGG), in kilometres.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// One airport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Airport {
    /// Upper-case IATA code (`LHR`).
    pub iata: String,
    /// The airport's name as the source spells it.
    pub name: String,
    /// The city it serves, as the source spells it (may be empty for remote
    /// airstrips).
    pub city: String,
    /// ISO 3166-1 alpha-2 country code (`GB`).
    pub country: String,
    pub lat: f64,
    pub lon: f64,
    /// IANA time zone (`Europe/London`).
    pub tz: String,
    /// Whether this airport is what its city name means when spoken alone.
    pub primary: bool,
}

/// An indexed set of airports.
#[derive(Debug, Clone, Default)]
pub struct Airports {
    /// Sorted by IATA code, so `get` is a binary search.
    list: Vec<Airport>,
    /// Normalized city name -> index of that name's primary airport.
    by_city: HashMap<String, usize>,
}

impl Airports {
    /// Parses the dataset embedded in the binary.
    ///
    /// Parsing takes a few milliseconds; call it once and share the result,
    /// or use [`Airports::shared`].
    pub fn embedded() -> Airports {
        Airports::from_csv(EMBEDDED_CSV)
    }

    /// The embedded dataset, parsed on first use and kept for the life of
    /// the process.
    pub fn shared() -> &'static Airports {
        static SHARED: OnceLock<Airports> = OnceLock::new();
        SHARED.get_or_init(Airports::embedded)
    }

    /// Parses CSV in the derived format (header line first). A malformed row
    /// is skipped: in the embedded data that is a bug in the derivation,
    /// caught by a debug assertion and the tests, but a release binary
    /// serves the rest rather than fail to start.
    fn from_csv(text: &str) -> Airports {
        let mut list = Vec::new();
        for (lineno, record) in csv_records(text).enumerate() {
            if lineno == 0 {
                // Header.
                continue;
            }
            match parse_row(&record) {
                Some(airport) => list.push(airport),
                None => {
                    debug_assert!(false, "malformed airports row {lineno}: {record:?}");
                }
            }
        }
        Airports::from_list(list)
    }

    /// Builds the indexes over a list of airports (tests and callers with
    /// data of their own).
    pub fn from_list(mut list: Vec<Airport>) -> Airports {
        for a in &mut list {
            a.iata.make_ascii_uppercase();
        }
        list.sort_by(|a, b| a.iata.cmp(&b.iata));
        list.dedup_by(|later, earlier| later.iata == earlier.iata);
        let mut by_city = HashMap::new();
        for (i, a) in list.iter().enumerate() {
            if !a.primary {
                continue;
            }
            let key = normalize_name(&a.city);
            if key.is_empty() {
                continue;
            }
            // The derivation marks one primary per name; should two fold to
            // the same key anyway, the first by code wins, deterministically.
            by_city.entry(key).or_insert(i);
        }
        Airports { list, by_city }
    }

    /// The airport with this IATA code, in any case.
    pub fn get(&self, iata: &str) -> Option<&Airport> {
        let code = iata.trim();
        if code.len() != 3 || !code.is_ascii() {
            return None;
        }
        let code = code.to_ascii_uppercase();
        self.list.binary_search_by(|a| a.iata.as_str().cmp(code.as_str())).ok().map(|i| &self.list[i])
    }

    /// All airports, by IATA code.
    pub fn iter(&self) -> impl Iterator<Item = &Airport> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The airport a spoken city name means ("paris" -> CDG), matching case-
    /// and accent-insensitively.
    pub fn primary_for_city(&self, city: &str) -> Option<&Airport> {
        self.by_city.get(&normalize_name(city)).map(|&i| &self.list[i])
    }
}

/// Great-circle distance between two airports, in kilometres (haversine on
/// a spherical Earth: within 0.5% of the ellipsoidal distance, plenty for
/// fares and durations).
pub fn distance_km(a: &Airport, b: &Airport) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    // Rounding can push h a hair outside [0, 1]; asin would give NaN.
    2.0 * EARTH_RADIUS_KM * h.clamp(0.0, 1.0).sqrt().asin()
}

/// The lookup key of a place name: lowercase, accents folded, apostrophes
/// inside words dropped ("Xi'an" -> "xian"), any other punctuation a space
/// ("St. Louis" -> "st louis", "Dallas-Fort Worth" -> "dallas fort worth"),
/// spaces collapsed.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_space = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if is_apostrophe(c) {
            continue;
        }
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            match fold_char(c) {
                Some(s) => out.push_str(s),
                None => out.push(c),
            }
        } else {
            pending_space = true;
        }
    }
    out
}

/// Apostrophes in their ASCII and typographic forms.
pub fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}')
}

/// The ASCII spelling of a lowercase accented Latin letter ('é' -> "e",
/// 'ß' -> "ss"), or `None` when the character has no folding (plain ASCII,
/// other scripts). Covers Latin-1, Latin Extended-A, the Romanian comma
/// letters and Vietnamese, which is every accented letter in the dataset;
/// the derivation script's `SPECIAL_FOLDS` plus NFKD agree with it there.
pub fn fold_char(c: char) -> Option<&'static str> {
    let s = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' | 'ǎ' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ð' | 'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' | 'ǐ' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' | 'ơ' | 'ǒ' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' | 'ư' | 'ǔ' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        // Vietnamese letters with two diacritics, in code point blocks.
        '\u{1EA0}'..='\u{1EB7}' => "a",
        '\u{1EB8}'..='\u{1EC7}' => "e",
        '\u{1EC8}'..='\u{1ECB}' => "i",
        '\u{1ECC}'..='\u{1EE3}' => "o",
        '\u{1EE4}'..='\u{1EF1}' => "u",
        '\u{1EF2}'..='\u{1EF9}' => "y",
        _ => return None,
    };
    Some(s)
}

/// Splits CSV text into records of unquoted fields. Handles quoted fields
/// with commas, doubled quotes and line breaks inside quotes, and both LF
/// and CRLF line ends. Blank lines yield no record.
fn csv_records(text: &str) -> impl Iterator<Item = Vec<String>> + '_ {
    let mut chars = text.chars().peekable();
    std::iter::from_fn(move || {
        loop {
            chars.peek()?;
            let mut fields = Vec::new();
            let mut field = String::new();
            let mut in_quotes = false;
            let mut any = false;
            while let Some(c) = chars.next() {
                any = true;
                if in_quotes {
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            field.push('"');
                        } else {
                            in_quotes = false;
                        }
                    } else {
                        field.push(c);
                    }
                    continue;
                }
                match c {
                    '"' => in_quotes = true,
                    ',' => fields.push(std::mem::take(&mut field)),
                    '\r' if chars.peek() == Some(&'\n') => {}
                    '\n' => break,
                    _ => field.push(c),
                }
            }
            if !any {
                return None;
            }
            if fields.is_empty() && field.is_empty() {
                // A blank line.
                continue;
            }
            fields.push(field);
            return Some(fields);
        }
    })
}

/// One data row, or `None` if it is malformed.
fn parse_row(fields: &[String]) -> Option<Airport> {
    let [iata, name, city, country, lat, lon, tz, primary] = fields else {
        return None;
    };
    let iata = iata.trim();
    if iata.len() != 3 || !iata.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let lat: f64 = lat.trim().parse().ok()?;
    let lon: f64 = lon.trim().parse().ok()?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return None;
    }
    let primary = match primary.trim() {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    Some(Airport {
        iata: iata.to_ascii_uppercase(),
        name: name.trim().to_string(),
        city: city.trim().to_string(),
        country: country.trim().to_ascii_uppercase(),
        lat,
        lon,
        tz: tz.trim().to_string(),
        primary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn airports() -> &'static Airports {
        Airports::shared()
    }

    #[test]
    fn embedded_data_parses_without_dropping_rows() {
        let a = airports();
        // Every line but the header is an airport (none skipped as
        // malformed; the debug assertion would have fired too).
        let lines = EMBEDDED_CSV.lines().filter(|l| !l.is_empty()).count();
        assert_eq!(a.len(), lines - 1);
        assert!(a.len() > 7000, "{}", a.len());
        assert!(!a.is_empty());
    }

    #[test]
    fn get_is_case_insensitive() {
        let lhr = airports().get("lhr").unwrap();
        assert_eq!(lhr.iata, "LHR");
        assert_eq!(lhr.city, "London");
        assert_eq!(lhr.country, "GB");
        assert_eq!(lhr.tz, "Europe/London");
        assert!(airports().get("LhR").is_some());
        assert!(airports().get(" jfk ").is_some());
        assert!(airports().get("XXXX").is_none());
        assert!(airports().get("").is_none());
        assert!(airports().get("ÀÀÀ").is_none());
    }

    #[test]
    fn london_means_heathrow() {
        let a = airports();
        assert_eq!(a.primary_for_city("London").unwrap().iata, "LHR");
        assert_eq!(a.primary_for_city("london").unwrap().iata, "LHR");
        assert!(a.get("LHR").unwrap().primary);
        for other in ["LGW", "STN", "LTN", "LCY", "YXU"] {
            assert!(!a.get(other).unwrap().primary, "{other}");
        }
    }

    #[test]
    fn big_cities_resolve_to_their_main_airport() {
        let a = airports();
        for (city, code) in [
            ("paris", "CDG"),
            ("new york", "JFK"),
            ("New York", "JFK"),
            ("tokyo", "HND"),
            ("chicago", "ORD"),
            ("washington", "IAD"),
            ("toronto", "YYZ"),
            ("milan", "MXP"),
            ("san jose", "SJC"),
            ("frankfurt", "FRA"),
            ("dallas", "DFW"),
            ("istanbul", "IST"),
        ] {
            assert_eq!(a.primary_for_city(city).map(|x| x.iata.as_str()), Some(code), "{city}");
        }
        assert!(a.primary_for_city("atlantis").is_none());
        assert!(a.primary_for_city("").is_none());
    }

    #[test]
    fn city_lookup_ignores_accents_and_punctuation() {
        let a = airports();
        assert_eq!(a.primary_for_city("Zürich").unwrap().iata, "ZRH");
        assert_eq!(a.primary_for_city("ZURICH").unwrap().iata, "ZRH");
        assert_eq!(a.primary_for_city("montréal").unwrap().iata, "YUL");
        assert_eq!(a.primary_for_city("xi'an").unwrap().iata, "XIY");
        assert_eq!(a.primary_for_city("Xian").unwrap().iata, "XIY");
        assert_eq!(a.primary_for_city("  sao   paulo ").unwrap().iata, "GRU");
        assert_eq!(a.primary_for_city("São Paulo").unwrap().iata, "GRU");
    }

    #[test]
    fn one_primary_per_city_name() {
        let mut seen = HashMap::new();
        for a in airports().iter().filter(|a| a.primary) {
            let key = normalize_name(&a.city);
            if let Some(prev) = seen.insert(key.clone(), a.iata.clone()) {
                panic!("{key}: {prev} and {}", a.iata);
            }
        }
    }

    #[test]
    fn distance_heathrow_to_kennedy() {
        let a = airports();
        let d = distance_km(a.get("LHR").unwrap(), a.get("JFK").unwrap());
        assert!((d - 5540.0).abs() < 50.0, "{d}");
        let same = distance_km(a.get("LHR").unwrap(), a.get("LHR").unwrap());
        assert!(same.abs() < 1e-6);
        let sym = distance_km(a.get("JFK").unwrap(), a.get("LHR").unwrap());
        assert!((d - sym).abs() < 1e-6);
    }

    #[test]
    fn distance_is_finite_for_antipodes() {
        let mk = |lat, lon| Airport {
            iata: "AAA".into(),
            name: String::new(),
            city: String::new(),
            country: String::new(),
            lat,
            lon,
            tz: String::new(),
            primary: false,
        };
        let d = distance_km(&mk(0.0, 0.0), &mk(0.0, 180.0));
        assert!((d - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1.0, "{d}");
    }

    #[test]
    fn csv_parser_handles_quotes() {
        let text = "iata,name,city,country,lat,lon,tz,primary\r\n\
                    AAA,\"Foo, \"\"Bar\"\" Field\",\"Town, Island\",XX,1.5,-2.5,Etc/UTC,1\r\n\
                    \n\
                    BBB,Plain,Town,XX,0,0,Etc/UTC,0\n";
        let a = Airports::from_csv(text);
        assert_eq!(a.len(), 2);
        let aaa = a.get("aaa").unwrap();
        assert_eq!(aaa.name, "Foo, \"Bar\" Field");
        assert_eq!(aaa.city, "Town, Island");
        assert_eq!(aaa.lat, 1.5);
        assert_eq!(aaa.lon, -2.5);
        assert!(aaa.primary);
        assert_eq!(a.primary_for_city("town island").unwrap().iata, "AAA");
    }

    #[test]
    fn malformed_rows_are_rejected() {
        let row = |s: &str| csv_records(s).next().unwrap();
        assert!(parse_row(&row("AAA,n,c,XX,1,2,tz,1")).is_some());
        assert!(parse_row(&row("AAA,n,c,XX,1,2,tz")).is_none());
        assert!(parse_row(&row("AA1,n,c,XX,1,2,tz,1")).is_none());
        assert!(parse_row(&row("AAA,n,c,XX,north,2,tz,1")).is_none());
        assert!(parse_row(&row("AAA,n,c,XX,91,2,tz,1")).is_none());
        assert!(parse_row(&row("AAA,n,c,XX,1,2,tz,yes")).is_none());
        assert!(parse_row(&row("AAA,\"unterminated,c,XX,1,2,tz,1")).is_none());
    }

    #[test]
    fn normalize_name_folds() {
        assert_eq!(normalize_name("Zürich"), "zurich");
        assert_eq!(normalize_name("St. Louis"), "st louis");
        assert_eq!(normalize_name("Dallas-Fort Worth"), "dallas fort worth");
        assert_eq!(normalize_name("  Bodø "), "bodo");
        assert_eq!(normalize_name("Łódź"), "lodz");
        assert_eq!(normalize_name("Hồ Chí Minh"), "ho chi minh");
        assert_eq!(normalize_name("Xi’an"), "xian");
        assert_eq!(normalize_name("ÉVORA"), "evora");
        assert_eq!(normalize_name("!!"), "");
    }
}
