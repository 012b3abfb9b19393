//! Word error rate, with the text normalisation ASR evaluations use:
//! lowercase, punctuation dropped, digits spelled out, a few spelling
//! variants unified, so "Mr. Dashwood, 10 of clubs" scores against "mister
//! dashwood ten of clubs" on the words, not the typography.
//!
//! Shared by `voxbook replay` (per-turn transcript checks) and the ASR
//! tests and benchmarks, so a WER means the same everywhere.

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

fn number_words(n: u64) -> String {
    match n {
        0..=19 => ONES[n as usize].to_string(),
        20..=99 => {
            let t = TENS[(n / 10) as usize];
            if n.is_multiple_of(10) { t.to_string() } else { format!("{t} {}", ONES[(n % 10) as usize]) }
        }
        100..=999 => {
            let rest = n % 100;
            let head = format!("{} hundred", ONES[(n / 100) as usize]);
            if rest == 0 { head } else { format!("{head} {}", number_words(rest)) }
        }
        _ => n.to_string(),
    }
}

/// "twelfth" for 12, up to 99: Whisper writes spoken ordinals as "12th".
fn ordinal_words(n: u64) -> Option<String> {
    const IRREGULAR: [(&str, &str); 8] = [
        ("one", "first"),
        ("two", "second"),
        ("three", "third"),
        ("five", "fifth"),
        ("eight", "eighth"),
        ("nine", "ninth"),
        ("twelve", "twelfth"),
        ("ty", "tieth"),
    ];
    if n == 0 || n > 99 {
        return None;
    }
    let cardinal = number_words(n);
    let (head, last) = cardinal.rsplit_once(' ').map_or(("", cardinal.as_str()), |(h, l)| (h, l));
    let ordinal = IRREGULAR
        .iter()
        .find_map(|(from, to)| last.strip_suffix(from).map(|stem| format!("{stem}{to}")))
        .unwrap_or_else(|| format!("{last}th"));
    Some(if head.is_empty() { ordinal } else { format!("{head} {ordinal}") })
}

/// Normalised words of `text`.
pub fn normalise(text: &str) -> Vec<String> {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() || c == '\'' {
            cleaned.extend(c.to_lowercase());
        } else {
            cleaned.push(' ');
        }
    }
    let mut words = Vec::new();
    for word in cleaned.split_whitespace() {
        let word = word.trim_matches('\'');
        match word {
            "" => {}
            "mr" => words.push("mister".to_string()),
            "mrs" => words.push("missus".to_string()),
            "ok" => words.push("okay".to_string()),
            w if w.len() > 2
                && ["st", "nd", "rd", "th"].iter().any(|s| w.ends_with(s))
                && w[..w.len() - 2].chars().all(|c| c.is_ascii_digit()) =>
            {
                match w[..w.len() - 2].parse::<u64>().ok().and_then(ordinal_words) {
                    Some(ordinal) => words.extend(ordinal.split(' ').map(str::to_string)),
                    None => words.push(w.to_string()),
                }
            }
            w if w.chars().all(|c| c.is_ascii_digit()) => match w.parse::<u64>() {
                Ok(n) => words.extend(number_words(n).split(' ').map(str::to_string)),
                Err(_) => words.push(w.to_string()),
            },
            w => words.push(w.to_string()),
        }
    }
    words
}

/// Word-level edit distance between reference and hypothesis.
pub fn errors(reference: &[String], hypothesis: &[String]) -> usize {
    let mut previous: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut current = vec![i + 1; hypothesis.len() + 1];
        for (j, h) in hypothesis.iter().enumerate() {
            let substitute = previous[j] + usize::from(r != h);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[hypothesis.len()]
}

/// WER of one utterance in percent (0 when the reference has no words and
/// neither has the hypothesis; 100 per inserted word otherwise).
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let r = normalise(reference);
    let h = normalise(hypothesis);
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 100.0 * h.len() as f64 };
    }
    100.0 * errors(&r, &h) as f64 / r.len() as f64
}

/// Corpus WER in percent over (reference, hypothesis) pairs.
pub fn corpus_wer<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> f64 {
    let (mut errs, mut words) = (0usize, 0usize);
    for (reference, hypothesis) in pairs {
        let r = normalise(reference);
        errs += errors(&r, &normalise(hypothesis));
        words += r.len();
    }
    if words == 0 { 0.0 } else { 100.0 * errs as f64 / words as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalise("Mr. Dashwood, 10 of Clubs!"), ["mister", "dashwood", "ten", "of", "clubs"]);
        assert_eq!(normalise("twenty-one"), ["twenty", "one"]);
        assert_eq!(normalise("21"), ["twenty", "one"]);
        assert_eq!(normalise("It's"), ["it's"]);
        assert_eq!(normalise("The 12th of June"), ["the", "twelfth", "of", "june"]);
        assert_eq!(
            normalise("1st 3rd 20th 21st 15th"),
            ["first", "third", "twentieth", "twenty", "first", "fifteenth"]
        );
    }

    #[test]
    fn edit_distance() {
        let w = |s: &str| normalise(s);
        assert_eq!(errors(&w("a b c"), &w("a b c")), 0);
        assert_eq!(errors(&w("a b c"), &w("a x c")), 1);
        assert_eq!(errors(&w("a b c"), &w("a c")), 1);
        assert_eq!(errors(&w("a b c"), &w("a b c d")), 1);
        assert_eq!(errors(&w("a b c"), &w("")), 3);
        assert!((corpus_wer([("a b c d", "a b x d")]) - 25.0).abs() < 1e-9);
    }
}
