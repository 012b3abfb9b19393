//! Word error rate: the one implementation lives in the gateway's replay
//! tool (`voxbook replay` scores transcripts with it); the tests and
//! benchmarks use the same so their numbers agree with the QA reports.

pub use voxbook_gateway::replay::wer::{corpus_wer, errors, normalise, wer};
