//! Cutting a reply into chunks that can be synthesized one at a time, so
//! the first words are spoken while the rest is still being synthesized.
//!
//! A chunk is a sentence; a sentence longer than the limit is cut at clause
//! boundaries (`,` `;` `:` followed by a space), and a clause still too long
//! at word boundaries. Nothing is cut inside a token: `8:15`, `99.50`,
//! `1,000` and `e.g.` stay whole, and a full stop after an abbreviation
//! (`Mr.`, `Dr.`, `e.g.`, initials) does not end a sentence. Chunks keep the
//! reply's order, are trimmed, and are never empty; whitespace runs become
//! single spaces.

/// The default chunk limit in characters.
pub const MAX_CHUNK_CHARS: usize = 120;

/// Splits `text` into speakable chunks of at most [`MAX_CHUNK_CHARS`]
/// characters (a single word longer than that is kept whole).
pub fn split_for_speech(text: &str) -> Vec<String> {
    split_with_limit(text, MAX_CHUNK_CHARS)
}

/// [`split_for_speech`] with a chosen limit (at least 1).
pub fn split_with_limit(text: &str, max_chars: usize) -> Vec<String> {
    let max_chars = max_chars.max(1);
    let normalized = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chunks = Vec::new();
    for sentence in sentences(&normalized) {
        if char_len(sentence) <= max_chars {
            chunks.push(sentence.to_string());
        } else {
            chunks.extend(split_long(sentence, max_chars));
        }
    }
    chunks.retain(|c| !c.is_empty());
    chunks
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

const TERMINALS: &[char] = &['.', '!', '?', '…'];
const CLOSERS: &[char] = &['"', '\'', ')', ']', '»', '”', '’'];

/// Titles and the like: a full stop after these never ends a sentence.
const ALWAYS_ABBREVIATIONS: &[&str] =
    &["mr", "mrs", "ms", "mx", "dr", "prof", "st", "jr", "sr", "vs", "mt", "approx", "e.g", "i.e", "cf", "viz"];

/// A full stop after these ends a sentence only if a capital follows
/// ("at 8 a.m. on Monday" vs "at 8 a.m. Please ...").
const SOMETIMES_ABBREVIATIONS: &[&str] = &["etc", "a.m", "p.m", "u.s", "u.k", "e.u", "inc", "ltd", "co"];

/// Sentences of already whitespace-normalized text, trimmed, none empty.
fn sentences(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte_at = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        if !TERMINALS.contains(&c) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() && (TERMINALS.contains(&chars[j].1) || CLOSERS.contains(&chars[j].1)) {
            j += 1;
        }
        let at_boundary = j == chars.len() || chars[j].1.is_whitespace();
        let lone_stop = c == '.' && !chars[i + 1..j].iter().any(|&(_, t)| TERMINALS.contains(&t));
        let abbreviation = lone_stop && {
            let next = text[byte_at(j)..].split_whitespace().next();
            is_abbreviation(&text[start..chars[i].0], next)
        };
        if at_boundary && !abbreviation {
            out.push(text[start..byte_at(j)].trim());
            start = byte_at(j);
        }
        i = j;
    }
    out.push(text[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// Whether the full stop right after `before` belongs to an abbreviation,
/// given the word that follows it (if any).
fn is_abbreviation(before: &str, next: Option<&str>) -> bool {
    let Some(word) = before.split_whitespace().last() else { return false };
    let word = word.trim_start_matches(|c: char| !c.is_alphanumeric());
    if word.is_empty() {
        return false;
    }
    let lower = word.to_lowercase();
    if ALWAYS_ABBREVIATIONS.contains(&lower.as_str()) {
        return next.is_some();
    }
    let next_is_capital = next.and_then(|n| n.chars().find(|c| c.is_alphanumeric())).is_some_and(|c| c.is_uppercase());
    let next_is_digit = next.and_then(|n| n.chars().next()).is_some_and(|c| c.is_ascii_digit());
    // "No. 5", "Flt. 212".
    if (lower == "no" || lower == "nr") && next_is_digit {
        return true;
    }
    let is_sometimes = SOMETIMES_ABBREVIATIONS.contains(&lower.as_str());
    // Dotted initialisms ("a.m", "U.S", "p.m"): single letters between dots.
    let dotted =
        lower.contains('.') && lower.split('.').all(|p| p.chars().count() == 1 && p.chars().all(char::is_alphabetic));
    if is_sometimes || dotted {
        return next.is_some() && !next_is_capital;
    }
    // An initial ("J. Smith"): one capital letter.
    let mut letters = word.chars();
    matches!((letters.next(), letters.next()), (Some(c), None) if c.is_uppercase()) && next_is_capital
}

/// Cuts one long sentence at clause boundaries, packing clauses greedily
/// up to `max_chars`; a clause still too long is cut between words.
fn split_long(sentence: &str, max_chars: usize) -> Vec<String> {
    let mut clauses = Vec::new();
    let mut start = 0;
    let mut iter = sentence.char_indices().peekable();
    while let Some((b, c)) = iter.next() {
        let followed_by_space = iter.peek().is_some_and(|&(_, n)| n.is_whitespace());
        if matches!(c, ',' | ';' | ':' | '—') && followed_by_space {
            let end = b + c.len_utf8();
            clauses.push(sentence[start..end].trim());
            start = end;
        }
    }
    clauses.push(sentence[start..].trim());

    let mut out = Vec::new();
    let mut current = String::new();
    for clause in clauses.into_iter().filter(|c| !c.is_empty()) {
        let pieces =
            if char_len(clause) > max_chars { split_words(clause, max_chars) } else { vec![clause.to_string()] };
        for piece in pieces {
            if current.is_empty() {
                current = piece;
            } else if char_len(&current) + 1 + char_len(&piece) <= max_chars {
                current.push(' ');
                current.push_str(&piece);
            } else {
                out.push(std::mem::replace(&mut current, piece));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Packs words greedily into pieces of at most `max_chars` (a longer
/// single word stays whole).
fn split_words(text: &str, max_chars: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        if current.is_empty() {
            current.push_str(word);
        } else if char_len(&current) + 1 + char_len(word) <= max_chars {
            current.push(' ');
            current.push_str(word);
        } else {
            out.push(std::mem::replace(&mut current, word.to_string()));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<String> {
        split_for_speech(text)
    }

    /// Every chunk is non-empty, within the limit (unless a single word),
    /// and the chunks put together give back the normalized text.
    fn check_invariants(text: &str, max: usize) -> Vec<String> {
        let chunks = split_with_limit(text, max);
        for c in &chunks {
            assert!(!c.trim().is_empty());
            assert_eq!(c.trim(), c);
            assert!(char_len(c) <= max || !c.contains(' '), "{c:?} over {max}");
        }
        let joined = chunks.join(" ");
        let normalized = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(joined, normalized);
        chunks
    }

    #[test]
    fn splits_sentences_in_order() {
        assert_eq!(
            split("Your flight is booked. The reference is ABC123! Anything else?"),
            vec!["Your flight is booked.", "The reference is ABC123!", "Anything else?"]
        );
    }

    #[test]
    fn empty_and_blank_text_give_no_chunks() {
        assert!(split("").is_empty());
        assert!(split("   \n\t ").is_empty());
        assert!(split("...").iter().all(|c| !c.is_empty()));
    }

    #[test]
    fn text_without_a_full_stop_is_one_chunk() {
        assert_eq!(split("  hello   there "), vec!["hello there"]);
    }

    #[test]
    fn times_and_prices_stay_whole() {
        assert_eq!(
            split("It leaves at 8:15. It costs 99.50 euros. That is 1,000 points."),
            vec!["It leaves at 8:15.", "It costs 99.50 euros.", "That is 1,000 points."]
        );
        assert_eq!(split("The fare is $99.50."), vec!["The fare is $99.50."]);
    }

    #[test]
    fn titles_do_not_end_sentences() {
        assert_eq!(
            split("Mr. Smith and Dr. Jones are booked. Mrs. Lee is not."),
            vec!["Mr. Smith and Dr. Jones are booked.", "Mrs. Lee is not."]
        );
    }

    #[test]
    fn e_g_and_i_e_do_not_end_sentences() {
        assert_eq!(
            split("Pick a city, e.g. Paris or Rome. I can also search by airport, i.e. CDG."),
            vec!["Pick a city, e.g. Paris or Rome.", "I can also search by airport, i.e. CDG."]
        );
    }

    #[test]
    fn a_m_ends_a_sentence_only_before_a_capital() {
        assert_eq!(split("It leaves at 8 a.m. on Monday."), vec!["It leaves at 8 a.m. on Monday."]);
        assert_eq!(
            split("It leaves at 8 a.m. Please arrive early."),
            vec!["It leaves at 8 a.m.", "Please arrive early."]
        );
        assert_eq!(split("Check in by 7 p.m."), vec!["Check in by 7 p.m."]);
    }

    #[test]
    fn initials_and_numbered_items() {
        assert_eq!(split("The booking is for J. Smith. Thanks."), vec!["The booking is for J. Smith.", "Thanks."]);
        assert_eq!(split("You are in room No. 12 tonight."), vec!["You are in room No. 12 tonight."]);
        assert_eq!(split("The answer is no. Sorry."), vec!["The answer is no.", "Sorry."]);
    }

    #[test]
    fn a_sentence_ending_in_a_title_word_at_the_end_still_ends() {
        assert_eq!(split("Ask for the dr."), vec!["Ask for the dr."]);
    }

    #[test]
    fn repeated_and_mixed_terminals() {
        assert_eq!(split("Really?! Yes... Okay."), vec!["Really?!", "Yes...", "Okay."]);
    }

    #[test]
    fn closing_quotes_stay_with_their_sentence() {
        assert_eq!(split("He said \"go.\" Then he left."), vec!["He said \"go.\"", "Then he left."]);
        assert_eq!(split("(That is all.) Bye."), vec!["(That is all.)", "Bye."]);
    }

    #[test]
    fn long_sentences_split_at_clauses() {
        let text = "I found three flights from London Heathrow to Paris Charles de Gaulle on Friday the twelfth, \
                    the first leaves at 8:15 and costs 99.50 euros, the second leaves at noon; the third leaves at \
                    six in the evening.";
        let chunks = check_invariants(text, MAX_CHUNK_CHARS);
        assert!(chunks.len() >= 2, "{chunks:?}");
        assert!(chunks[0].ends_with(','), "{chunks:?}");
        assert!(chunks.iter().any(|c| c.contains("8:15") && c.contains("99.50")));
    }

    #[test]
    fn clauses_are_packed_up_to_the_limit() {
        assert_eq!(split_with_limit("one, two, three, four.", 10), vec!["one, two,", "three,", "four."]);
        assert_eq!(split_with_limit("one, two, three, four.", 100), vec!["one, two, three, four."]);
    }

    #[test]
    fn commas_inside_numbers_are_not_clause_boundaries() {
        let chunks = split_with_limit("It costs 1,250 euros, or 1,100 with the discount.", 25);
        assert_eq!(chunks, vec!["It costs 1,250 euros,", "or 1,100 with the", "discount."]);
    }

    #[test]
    fn clauses_too_long_split_at_words_and_long_words_stay_whole() {
        let chunks = check_invariants("alpha beta gamma delta epsilon zeta eta theta", 12);
        assert!(chunks.iter().all(|c| char_len(c) <= 12), "{chunks:?}");
        let url = "https://example.com/a/very/long/path/that/is/one/word";
        let chunks = check_invariants(&format!("Go to {url} now."), 10);
        assert!(chunks.contains(&url.to_string()), "{chunks:?}");
    }

    #[test]
    fn multibyte_text_is_handled() {
        let chunks = check_invariants("Café à Zürich — très bien. Ça coûte 12,50 €, d’accord? Oui…", 15);
        assert!(chunks.iter().any(|c| c.contains("12,50")), "{chunks:?}");
    }

    #[test]
    fn invariants_hold_for_assorted_replies() {
        for text in [
            "Your flight is booked.",
            "Okay. Where from? And where to? When would you like to leave, and how many are travelling?",
            "Mr. and Mrs. Smith, your hotel in St. Louis is confirmed for 3 nights, e.g. from Friday to Monday.",
            "No.",
            "..",
            "a.b.c. d",
            "The total is 1,299.99 dollars; payment is due at 23:59 on 2025-12-31, etc. Thanks!",
        ] {
            for max in [5, 20, MAX_CHUNK_CHARS] {
                check_invariants(text, max);
            }
        }
    }
}
