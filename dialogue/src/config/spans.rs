//! Where each node of a YAML document sits, so that problems found after
//! deserialization (an unknown slot type, a flow nobody can reach) can still
//! be reported as `file:line:column`.
//!
//! serde gives positions only for syntax and shape errors; the meaning of a
//! config is checked on typed structs that have forgotten where they came
//! from. This index walks the parser's events once and records the position
//! of every mapping key and sequence item under a dotted path such as
//! `flows.book_flight.slots[2]`.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Dotted path → position of the node (for a mapping entry, of its key).
#[derive(Debug, Default)]
pub struct SpanIndex {
    positions: HashMap<String, Position>,
}

impl SpanIndex {
    /// Indexes `source`; a document that does not parse yields an empty
    /// index (serde reports the syntax error with its own position).
    pub fn build(source: &str) -> SpanIndex {
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(source);
        if parser.load(&mut walker, false).is_err() {
            return SpanIndex::default();
        }
        SpanIndex { positions: walker.positions }
    }

    /// The position of `path`, or of its nearest indexed ancestor.
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut candidate = path;
        loop {
            if let Some(pos) = self.positions.get(candidate) {
                return Some(*pos);
            }
            let cut = candidate.rfind(['.', '['])?;
            candidate = &candidate[..cut];
        }
    }
}

/// One open container while walking the event stream.
enum Frame {
    /// A mapping: `pending_key` is the key whose value comes next (None
    /// while the next scalar is a key).
    Map {
        path: String,
        pending_key: Option<String>,
    },
    Seq {
        path: String,
        next_index: usize,
    },
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    positions: HashMap<String, Position>,
}

impl Walker {
    /// Works out the path of the node that starts now, consuming the
    /// parent's pending key or sequence slot. Returns None when the node is
    /// a mapping key rather than a value.
    fn enter_node(&mut self, mark: Marker, is_scalar_key_candidate: Option<&str>) -> Option<String> {
        let position = Position { line: mark.line(), column: mark.col() + 1 };
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next_index }) => {
                let child = format!("{path}[{next_index}]");
                *next_index += 1;
                self.positions.insert(child.clone(), position);
                Some(child)
            }
            Some(Frame::Map { path, pending_key }) => match pending_key.take() {
                Some(key) => Some(join(path, &key)),
                None => {
                    // This node is a key: remember it and record its place.
                    let key = is_scalar_key_candidate.unwrap_or("?").to_string();
                    self.positions.insert(join(path, &key), position);
                    *pending_key = Some(key);
                    None
                }
            },
        }
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => {
                self.enter_node(mark, Some(&value));
            }
            Event::Alias(_) => {
                self.enter_node(mark, Some("*alias"));
            }
            Event::MappingStart(..) => {
                let path = self.enter_node(mark, Some("?")).unwrap_or_default();
                self.stack.push(Frame::Map { path, pending_key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.enter_node(mark, Some("?")).unwrap_or_default();
                self.stack.push(Frame::Seq { path, next_index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "name: demo\nflows:\n  book:\n    slots:\n      - origin\n      - destination\n    done: ok\n";

    #[test]
    fn finds_keys_and_sequence_items() {
        let index = SpanIndex::build(DOC);
        assert_eq!(index.find("name").map(|p| p.line), Some(1));
        assert_eq!(index.find("flows.book").map(|p| p.line), Some(3));
        assert_eq!(index.find("flows.book.slots[1]").map(|p| p.line), Some(6));
        assert_eq!(index.find("flows.book.done").map(|p| p.line), Some(7));
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        let index = SpanIndex::build(DOC);
        assert_eq!(index.find("flows.book.missing.deeper").map(|p| p.line), Some(3));
        assert_eq!(index.find("nothing"), None);
    }

    #[test]
    fn broken_yaml_gives_an_empty_index() {
        let index = SpanIndex::build("a: [1, 2\nb: :");
        assert_eq!(index.find("a"), None);
    }
}
