//! A checked assistant config compiled for use: tokenised cues and phrases,
//! the intent classifier, flows keyed by intent.
//!
//! An [`Assistant`] is immutable. Reloading a config builds a new one and
//! swaps it in; turns already running finish on the one they started with.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use regex::Regex;

use crate::config::schema::{AssistantSpec, Messages, Settings};
use crate::config::{ActionTool, ConfigError, LookupTool, Problem, SlotKind};
use crate::extract::places::Gazetteer;
use crate::extract::tokens::tokenize;
use crate::nlu::classifier::{Classifier, IntentInput};
use crate::nlu::entities::{EntityFinder, EntityValue, Phrase, RefMode, mask};
use crate::state::SlotValue;

#[derive(Debug, Clone)]
pub struct SlotDef {
    pub name: String,
    pub kind: SlotKind,
    pub prompt: String,
    pub cues: Vec<Vec<String>>,
    pub default: Option<SlotValue>,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub not_before: Option<String>,
    pub until_cues: Vec<Vec<String>>,
    pub from_slot: Option<String>,
    pub differs_from: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Lookup {
    pub tool: LookupTool,
    pub present: Option<String>,
    pub none: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FlowDef {
    pub name: String,
    pub intent: String,
    pub slots: Vec<String>,
    pub digression: bool,
    pub lookup: Option<Lookup>,
    /// Slots that may change, and the prompt asking what to change.
    pub changes: Option<(Vec<String>, String)>,
    pub confirm: Option<String>,
    pub action: Option<ActionTool>,
    pub done: String,
    pub refused: Option<String>,
    /// How the assistant refers to the flow when it comes back to it.
    pub topic: Option<String>,
}

impl FlowDef {
    /// Every slot a value in this flow may go to.
    pub fn all_slots(&self) -> Vec<String> {
        let mut all = self.slots.clone();
        if let Some((changes, _)) = &self.changes {
            all.extend(changes.iter().filter(|c| !self.slots.contains(c)).cloned());
        }
        all
    }
}

pub struct Assistant {
    pub name: String,
    pub greeting: String,
    pub settings: Settings,
    pub messages: Messages,
    slots: BTreeMap<String, SlotDef>,
    flows: BTreeMap<String, FlowDef>,
    flow_for_intent: HashMap<String, String>,
    classifier: Classifier,
    phrases: Vec<Phrase>,
    /// Choice value → how it is said (its first phrase in the config).
    choice_labels: HashMap<String, String>,
    gazetteer: Arc<Gazetteer>,
    /// The words the intents are recognised by (from their patterns and
    /// examples): a typed word one slip away from one of them ("flihgt",
    /// "hotle") is read as it (see [`crate::nlu::typos`]).
    keywords: Vec<String>,
}

/// Any fixed day works for masking examples: only the presence of a date
/// matters there.
fn masking_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 3).unwrap_or_default()
}

fn cue_words(cues: &[String]) -> Vec<Vec<String>> {
    cues.iter().map(|c| tokenize(c)).filter(|c| !c.is_empty()).collect()
}

impl Assistant {
    /// Compiles a checked spec. `file` names it in errors (there should be
    /// none: [`crate::config::load_str`] has checked it).
    pub fn compile(spec: AssistantSpec, gazetteer: Arc<Gazetteer>, file: &str) -> Result<Assistant, ConfigError> {
        let mut problems = Vec::new();
        let mut slots = BTreeMap::new();
        let mut phrases = Vec::new();
        let mut choice_labels = HashMap::new();
        for (type_name, choice) in &spec.slot_types {
            for (value, said) in &choice.values {
                if let Some(first) = said.first() {
                    choice_labels.insert(value.clone(), first.clone());
                }
                for phrase in said {
                    phrases.push(Phrase {
                        words: tokenize(phrase),
                        value: EntityValue::Choice { kind: type_name.clone(), value: value.clone() },
                    });
                }
            }
        }
        for (name, s) in &spec.slots {
            let Some(kind) = SlotKind::resolve(&s.kind, &spec) else {
                problems.push(Problem {
                    position: None,
                    path: format!("slots.{name}.type"),
                    message: "unknown slot type".into(),
                });
                continue;
            };
            for phrase in &s.none_phrases {
                phrases.push(Phrase { words: tokenize(phrase), value: EntityValue::NoneFor(name.clone()) });
            }
            let default = s.default.as_ref().map(|d| match kind {
                SlotKind::Choice(_) => SlotValue::Choice(d.clone()),
                _ => d.parse().map(SlotValue::Count).unwrap_or(SlotValue::Choice(d.clone())),
            });
            slots.insert(
                name.clone(),
                SlotDef {
                    name: name.clone(),
                    kind,
                    prompt: s.prompt.clone(),
                    cues: cue_words(&s.cues),
                    default,
                    min: s.min,
                    max: s.max,
                    not_before: s.not_before.clone(),
                    until_cues: cue_words(&s.until_cues),
                    from_slot: s.from_slot.clone(),
                    differs_from: s.differs_from.clone(),
                },
            );
        }
        phrases.retain(|p| !p.words.is_empty());
        phrases.sort_by_key(|p| std::cmp::Reverse(p.words.len()));

        let mut flows = BTreeMap::new();
        let mut flow_for_intent = HashMap::new();
        for (name, f) in &spec.flows {
            let lookup = f.lookup.as_ref().and_then(|l| {
                LookupTool::parse(&l.tool).map(|tool| Lookup { tool, present: l.present.clone(), none: l.none.clone() })
            });
            flow_for_intent.insert(f.intent.clone(), name.clone());
            flows.insert(
                name.clone(),
                FlowDef {
                    name: name.clone(),
                    intent: f.intent.clone(),
                    slots: f.slots.clone(),
                    digression: f.digression,
                    lookup,
                    changes: f.changes.as_ref().map(|c| (c.slots.clone(), c.prompt.clone())),
                    confirm: f.confirm.clone(),
                    action: f.action.as_deref().and_then(ActionTool::parse),
                    done: f.done.clone(),
                    refused: f.refused.clone(),
                    topic: f.topic.clone(),
                },
            );
        }

        let mut assistant = Assistant {
            name: spec.name.clone(),
            greeting: spec.greeting.clone(),
            settings: spec.settings.clone(),
            messages: spec.messages.clone(),
            slots,
            flows,
            flow_for_intent,
            classifier: Classifier::new(Vec::new()),
            phrases,
            choice_labels,
            gazetteer,
            keywords: Vec::new(),
        };

        let mut intents = Vec::new();
        for (name, intent) in &spec.intents {
            let mut patterns = Vec::new();
            for (i, p) in intent.patterns.iter().enumerate() {
                match Regex::new(p) {
                    Ok(r) => patterns.push(r),
                    Err(e) => problems.push(Problem {
                        position: None,
                        path: format!("intents.{name}.patterns[{i}]"),
                        message: e.to_string(),
                    }),
                }
            }
            let examples = intent
                .examples
                .iter()
                .map(|e| {
                    let words = tokenize(e);
                    let entities = assistant.entity_finder().find(&words, masking_day(), RefMode::Off);
                    mask(&words, &entities)
                })
                .collect();
            intents.push(IntentInput { name: name.clone(), patterns, examples, priority: intent.priority });
        }
        let mut keywords: Vec<String> = spec
            .intents
            .values()
            .flat_map(|i| i.patterns.iter().map(|p| p.replace("\\b", " ")).chain(i.examples.iter().cloned()))
            // Whole words only: "summari[sz]e" and "cancell?ation" are
            // regex, and their fragments are no words to repair towards.
            .flat_map(|text| {
                text.split(|c: char| c.is_whitespace() || matches!(c, '|' | '(' | ')' | '^' | '$' | '\'' | ',' | '.'))
                    .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphabetic()))
                    .map(str::to_ascii_lowercase)
                    .collect::<Vec<_>>()
            })
            .filter(|w| w.len() >= crate::nlu::typos::MIN_KEYWORD_LEN)
            .collect();
        // Places in the examples ("rome") are no intent words: a slip
        // towards them is left to the place matcher.
        keywords.retain(|k| assistant.gazetteer.find(std::slice::from_ref(k)).is_empty());
        keywords.sort();
        keywords.dedup();
        assistant.keywords = keywords;
        assistant.classifier = Classifier::new(intents);
        if problems.is_empty() { Ok(assistant) } else { Err(ConfigError::Invalid { file: file.to_string(), problems }) }
    }

    pub fn slot(&self, name: &str) -> Option<&SlotDef> {
        self.slots.get(name)
    }

    pub fn slot_names(&self) -> impl Iterator<Item = &String> {
        self.slots.keys()
    }

    pub fn flow(&self, name: &str) -> Option<&FlowDef> {
        self.flows.get(name)
    }

    /// Every flow, by name.
    pub fn flows(&self) -> impl Iterator<Item = &FlowDef> {
        self.flows.values()
    }

    pub fn flow_for_intent(&self, intent: &str) -> Option<&FlowDef> {
        self.flow_for_intent.get(intent).and_then(|f| self.flows.get(f))
    }

    /// Choice and "none" phrases, longest first.
    pub fn phrases(&self) -> &[Phrase] {
        &self.phrases
    }

    /// Intent words (sorted), for typo repair.
    pub fn keywords(&self) -> &[String] {
        &self.keywords
    }

    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    pub fn gazetteer(&self) -> &Gazetteer {
        &self.gazetteer
    }

    pub fn entity_finder(&self) -> EntityFinder<'_> {
        EntityFinder {
            gazetteer: &self.gazetteer,
            phrases: &self.phrases,
            booking_ref_length: self.settings.booking_ref_length,
        }
    }

    /// The spoken label of a choice value ("premium_economy" → "premium
    /// economy"): its first phrase.
    pub fn choice_label(&self, value: &str) -> String {
        self.choice_labels.get(value).cloned().unwrap_or_else(|| value.replace('_', " "))
    }
}
