//! Intent classification: designer patterns plus nearest-example similarity.
//!
//! A pattern (a regular expression over the normalised utterance) is strong
//! evidence; similarity to the designer's examples (TF-IDF over words and
//! word pairs, with slot values masked as `<city>`, `<date>`, `<num>` so that
//! "fly to paris" and "fly to rome" look alike) ranks intents when several
//! patterns fire or none does. It is small, deterministic, explainable to a
//! designer, and runs in microseconds, which the per-turn latency budget
//! needs.

use std::collections::HashMap;

use regex::Regex;

/// Confidence given to a pattern match before example similarity is added.
const PATTERN_SCORE: f32 = 0.8;

/// One intent as the config gives it.
pub struct IntentInput {
    pub name: String,
    /// Already validated.
    pub patterns: Vec<Regex>,
    /// Masked token lists.
    pub examples: Vec<Vec<String>>,
    pub priority: i32,
}

/// What a level of priority adds to a pattern match: enough to beat an
/// equal-priority match, not enough to leave the pattern band.
const PRIORITY_STEP: f32 = 0.1;

struct IntentModel {
    name: String,
    patterns: Vec<Regex>,
    priority: i32,
    /// L2-normalised sparse TF-IDF vectors of the examples.
    examples: Vec<Vec<(u32, f32)>>,
}

pub struct Classifier {
    intents: Vec<IntentModel>,
    vocabulary: HashMap<String, u32>,
    idf: Vec<f32>,
}

impl Classifier {
    pub fn new(intents: Vec<IntentInput>) -> Classifier {
        let mut vocabulary: HashMap<String, u32> = HashMap::new();
        let mut document_frequency: Vec<u32> = Vec::new();
        let mut documents = 0u32;
        for intent in &intents {
            for tokens in &intent.examples {
                documents += 1;
                let mut seen = std::collections::HashSet::new();
                for feature in features(tokens) {
                    let next = vocabulary.len() as u32;
                    let id = *vocabulary.entry(feature).or_insert(next);
                    if id as usize == document_frequency.len() {
                        document_frequency.push(0);
                    }
                    if seen.insert(id) {
                        document_frequency[id as usize] += 1;
                    }
                }
            }
        }
        let idf =
            document_frequency.iter().map(|&df| ((1.0 + documents as f32) / (1.0 + df as f32)).ln() + 1.0).collect();
        let mut classifier = Classifier { intents: Vec::new(), vocabulary, idf };
        classifier.intents = intents
            .into_iter()
            .map(|i| IntentModel {
                examples: i.examples.iter().map(|t| classifier.vectorise(t)).filter(|v| !v.is_empty()).collect(),
                name: i.name,
                patterns: i.patterns,
                priority: i.priority,
            })
            .collect();
        classifier
    }

    fn vectorise(&self, tokens: &[String]) -> Vec<(u32, f32)> {
        let mut counts: HashMap<u32, f32> = HashMap::new();
        for feature in features(tokens) {
            if let Some(&id) = self.vocabulary.get(&feature) {
                *counts.entry(id).or_default() += 1.0;
            }
        }
        let mut vector: Vec<(u32, f32)> = counts.into_iter().map(|(id, tf)| (id, tf * self.idf[id as usize])).collect();
        let norm = vector.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        if norm > 0.0 {
            vector.iter_mut().for_each(|(_, w)| *w /= norm);
        }
        vector.sort_unstable_by_key(|(id, _)| *id);
        vector
    }

    /// Scores every intent for an utterance: `texts` are the forms of the
    /// normalised utterance (tokens joined by spaces) the patterns run on
    /// (a match in any counts), `masked` its tokens with slot values
    /// masked. Best first; zero scores dropped.
    pub fn score(&self, texts: &[&str], masked: &[String]) -> Vec<(String, f32)> {
        let query = self.vectorise(masked);
        let mut scored: Vec<(String, f32)> = self
            .intents
            .iter()
            .filter_map(|intent| {
                let similarity = intent.examples.iter().map(|example| cosine(&query, example)).fold(0.0f32, f32::max);
                let pattern = intent.patterns.iter().any(|p| texts.iter().any(|t| p.is_match(t)));
                let score = if pattern {
                    PATTERN_SCORE + (1.0 - PATTERN_SCORE) * similarity + PRIORITY_STEP * intent.priority as f32
                } else {
                    // Similarity alone is weaker evidence than a pattern.
                    similarity * 0.85
                };
                (score > 0.0).then(|| (intent.name.clone(), score))
            })
            .collect();
        // Ranked on the raw score (priority included), reported within 0..=1.
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for (_, score) in &mut scored {
            *score = score.min(1.0);
        }
        scored
    }
}

/// Words and adjacent word pairs.
fn features(tokens: &[String]) -> impl Iterator<Item = String> + '_ {
    let unigrams = tokens.iter().cloned();
    let bigrams = tokens.windows(2).map(|w| format!("{} {}", w[0], w[1]));
    unigrams.chain(bigrams)
}

fn cosine(a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn classifier() -> Classifier {
        let intent = |name: &str, patterns: Vec<Regex>, examples: Vec<Vec<String>>| IntentInput {
            name: name.into(),
            patterns,
            examples,
            priority: 0,
        };
        Classifier::new(vec![
            intent(
                "book_flight",
                vec![Regex::new(r"\bfly\b|\bflight\b").unwrap()],
                vec![toks("book a flight"), toks("i want to fly to <city>")],
            ),
            intent(
                "cancel_booking",
                vec![Regex::new(r"\bcancel\b").unwrap()],
                vec![toks("cancel my booking"), toks("i need to cancel my flight")],
            ),
            intent("book_hotel", vec![], vec![toks("i need a room for the night")]),
        ])
    }

    #[test]
    fn examples_break_ties_between_patterns() {
        let c = classifier();
        let scores = c.score(&["i need to cancel my flight"], &toks("i need to cancel my flight"));
        assert_eq!(scores[0].0, "cancel_booking");
        assert!(scores[0].1 > scores[1].1);
        assert_eq!(scores[1].0, "book_flight");
    }

    #[test]
    fn similarity_alone_can_win_but_scores_lower() {
        let c = classifier();
        let scores = c.score(&["a room for tonight"], &toks("a room for tonight"));
        assert_eq!(scores[0].0, "book_hotel");
        assert!(scores[0].1 < PATTERN_SCORE);
    }

    #[test]
    fn nothing_in_common_scores_nothing() {
        let c = classifier();
        assert!(c.score(&["zebra xylophone"], &toks("zebra xylophone")).is_empty());
    }
}
