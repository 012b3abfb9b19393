//! Response templates: text with `{name}` and `{name|filter}` holes.
//!
//! Designers write them in the assistant config; they are parsed once when
//! the config loads (so a broken one is a load error with a line number) and
//! rendered against a small map of spoken values at run time. There is no
//! logic in templates on purpose: what to say is chosen by the flow, how to
//! say it by the template.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// Filters a hole may apply to its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Reads a code character by character: "VX7K2P" → "V X 7 K 2 P".
    Spell,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Hole { name: String, filter: Option<Filter> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed '{{' at character {0}")]
    Unclosed(usize),
    #[error("empty placeholder at character {0}")]
    Empty(usize),
    #[error("unknown filter '{0}' (known: spell)")]
    UnknownFilter(String),
    #[error("stray '}}' at character {0} (write '}}}}' for a literal brace)")]
    Stray(usize),
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut text = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, n)| *n) == Some('{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek().map(|(_, n)| *n) == Some('}') => {
                    chars.next();
                    text.push('}');
                }
                '}' => return Err(TemplateError::Stray(at)),
                '{' => {
                    let mut inner = String::new();
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        inner.push(c);
                    }
                    if !closed {
                        return Err(TemplateError::Unclosed(at));
                    }
                    let (name, filter) = match inner.split_once('|') {
                        Some((name, filter)) => (name.trim(), Some(parse_filter(filter.trim())?)),
                        None => (inner.trim(), None),
                    };
                    if name.is_empty() {
                        return Err(TemplateError::Empty(at));
                    }
                    if !text.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut text)));
                    }
                    segments.push(Segment::Hole { name: name.to_string(), filter });
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            segments.push(Segment::Text(text));
        }
        Ok(Template { segments })
    }

    /// The placeholder names used, for validation.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Hole { name, .. } => Some(name.as_str()),
            Segment::Text(_) => None,
        })
    }

    /// Fills the holes; a name with no value renders as nothing (configs
    /// are validated, so that only happens for values a flow has not
    /// reached yet). Whitespace left by empty holes is tidied.
    pub fn render<K: Borrow<str> + Hash + Eq>(&self, values: &HashMap<K, String>) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(t) => out.push_str(t),
                Segment::Hole { name, filter } => {
                    let value = values.get(name.as_str()).map(String::as_str).unwrap_or("");
                    match filter {
                        None => out.push_str(value),
                        Some(Filter::Spell) => out.push_str(&spell(value)),
                    }
                }
            }
        }
        tidy(&out)
    }
}

fn parse_filter(name: &str) -> Result<Filter, TemplateError> {
    match name {
        "spell" => Ok(Filter::Spell),
        other => Err(TemplateError::UnknownFilter(other.to_string())),
    }
}

/// "VX7K2P" → "V X 7 K 2 P": a TTS voice reads separated characters one by
/// one instead of guessing a word.
pub fn spell(code: &str) -> String {
    let mut out = String::with_capacity(code.len() * 2);
    for c in code.chars().filter(|c| !c.is_whitespace()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(c.to_uppercase());
    }
    out
}

/// Collapses runs of spaces and spaces before punctuation.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        let glued = word.starts_with([',', '.', '?', '!', ';', ':']);
        if !out.is_empty() && !glued {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(pairs: &[(&'a str, &str)]) -> HashMap<&'a str, String> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn renders_holes_and_filters() {
        let t = Template::parse("Your reference is {ref|spell}, {name}.").unwrap();
        let out = t.render(&values(&[("ref", "vx7k2p"), ("name", "Ada")]));
        assert_eq!(out, "Your reference is V X 7 K 2 P, Ada.");
    }

    #[test]
    fn empty_holes_leave_no_double_spaces() {
        let t = Template::parse("Flying {cabin} , from {origin}.").unwrap();
        assert_eq!(t.render(&values(&[("origin", "Paris")])), "Flying, from Paris.");
    }

    #[test]
    fn escaped_braces_are_literal() {
        let t = Template::parse("{{not a hole}}").unwrap();
        assert_eq!(t.names().count(), 0);
        assert_eq!(t.render(&HashMap::<String, String>::new()), "{not a hole}");
    }

    #[test]
    fn broken_templates_are_errors() {
        assert_eq!(Template::parse("a {b"), Err(TemplateError::Unclosed(2)));
        assert_eq!(Template::parse("a {}"), Err(TemplateError::Empty(2)));
        assert_eq!(Template::parse("a } b"), Err(TemplateError::Stray(2)));
        assert!(matches!(Template::parse("{a|shout}"), Err(TemplateError::UnknownFilter(_))));
    }
}
