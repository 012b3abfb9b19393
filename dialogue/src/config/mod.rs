//! Loading and checking assistant configs (the YAML conversation designers
//! write).
//!
//! A config is read, deserialized into [`schema`] types, then checked for
//! meaning in [`validate`]. Every problem is reported with the file, line and
//! column it comes from, all at once, so a designer fixes a file in one
//! pass. A config that does not pass is never used: the server refuses to
//! start on it, and a running server keeps its last good one.

pub mod schema;
mod spans;
mod validate;

pub use schema::AssistantSpec;
pub use spans::Position;
pub use validate::{ActionTool, LookupTool, SlotKind, TEMPLATE_VARIABLES};

use std::fmt;
use std::path::Path;

/// The default travel assistant that ships with voxbook.
pub const DEFAULT_ASSISTANT_YAML: &str = include_str!("../../assistants/travel.yaml");
/// The name the default config is reported under in errors.
pub const DEFAULT_ASSISTANT_NAME: &str = "dialogue/assistants/travel.yaml";

/// One thing wrong with a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub position: Option<Position>,
    /// Dotted path of the offending node, e.g. `flows.book_flight.slots[2]`.
    pub path: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the config: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render_problems(file, problems))]
    Invalid { file: String, problems: Vec<Problem> },
}

impl ConfigError {
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid { problems, .. } => problems,
        }
    }
}

fn render_problems(file: &str, problems: &[Problem]) -> String {
    let mut out = format!("{file}: {} problem(s) in the assistant config", problems.len());
    for p in problems {
        out.push('\n');
        out.push_str(&p.display_in(file).to_string());
    }
    out
}

impl Problem {
    /// `file:line:column: path: message`
    pub fn display_in<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        struct Shown<'a>(&'a Problem, &'a str);
        impl fmt::Display for Shown<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let Shown(p, file) = self;
                match p.position {
                    Some(pos) => write!(f, "{file}:{}:{}: ", pos.line, pos.column)?,
                    None => write!(f, "{file}: ")?,
                }
                if !p.path.is_empty() {
                    write!(f, "{}: ", p.path)?;
                }
                write!(f, "{}", p.message)
            }
        }
        Shown(self, file)
    }
}

/// Reads and checks a config file.
pub fn load_file(path: &Path) -> Result<AssistantSpec, ConfigError> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { file: file.clone(), source })?;
    load_str(&source, &file)
}

/// Checks a config held in memory; `file` names it in errors.
pub fn load_str(source: &str, file: &str) -> Result<AssistantSpec, ConfigError> {
    let invalid = |problems| ConfigError::Invalid { file: file.to_string(), problems };
    let spec: AssistantSpec = serde_yaml_ng::from_str(source).map_err(|e| {
        let position = e.location().map(|l| Position { line: l.line(), column: l.column() });
        invalid(vec![Problem { position, path: String::new(), message: e.to_string() }])
    })?;
    let spans = spans::SpanIndex::build(source);
    let problems = validate::check(&spec, &spans);
    if problems.is_empty() { Ok(spec) } else { Err(invalid(problems)) }
}

/// The shipped default, checked like any other config.
pub fn default_spec() -> Result<AssistantSpec, ConfigError> {
    load_str(DEFAULT_ASSISTANT_YAML, DEFAULT_ASSISTANT_NAME)
}

#[cfg(test)]
mod tests;
