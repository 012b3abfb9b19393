//! Loading the assistant config, and reloading it when its file changes.
//!
//! A reload that fails keeps the last good config and logs every problem
//! with its file:line; a good one is swapped in whole (turns in flight
//! finish on the config they started with). The file is polled rather than
//! watched with inotify: polling works the same on every filesystem,
//! including bind mounts and network volumes, and a check every couple of
//! seconds costs nothing. Once a config version has been uploaded through
//! the admin API ([`crate::admin`]), that version is in charge and the file
//! is no longer followed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use voxbook_dialogue::assistant::Assistant;
use voxbook_dialogue::config::{self, ConfigError, DEFAULT_ASSISTANT_NAME};
use voxbook_dialogue::conversation::AssistantHandle;
use voxbook_dialogue::extract::places::Gazetteer;

use crate::metrics::{Metrics, ResultLabels};

/// Loads and compiles the assistant at `path`, or the shipped default.
pub fn load_assistant(path: Option<&Path>, gazetteer: Arc<Gazetteer>) -> Result<Assistant, ConfigError> {
    match path {
        Some(path) => {
            let spec = config::load_file(path)?;
            Assistant::compile(spec, gazetteer, &path.display().to_string())
        }
        None => Assistant::compile(config::default_spec()?, gazetteer, DEFAULT_ASSISTANT_NAME),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Polls `path` every `every` and swaps in each new good version, until
/// `store_managed` is set: from then on a version uploaded through the
/// admin API is in charge and the file is no longer followed.
pub fn spawn_watcher(
    path: PathBuf,
    every: Duration,
    handle: AssistantHandle,
    gazetteer: Arc<Gazetteer>,
    metrics: Arc<Metrics>,
    store_managed: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = modified(&path);
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let now = modified(&path);
            if now == seen {
                continue;
            }
            seen = now;
            if store_managed.load(Ordering::Relaxed) {
                tracing::warn!(path = %path.display(), "assistant file changed but not loaded: an uploaded config version is active (see the admin API)");
                continue;
            }
            let (path2, gazetteer2) = (path.clone(), gazetteer.clone());
            let loaded = tokio::task::spawn_blocking(move || load_assistant(Some(&path2), gazetteer2)).await;
            match loaded {
                Ok(Ok(assistant)) => {
                    handle.store(Arc::new(assistant));
                    metrics.config_reloads.get_or_create(&ResultLabels { result: "ok".into() }).inc();
                    tracing::info!(path = %path.display(), "assistant config reloaded");
                }
                Ok(Err(e)) => {
                    metrics.config_reloads.get_or_create(&ResultLabels { result: "rejected".into() }).inc();
                    tracing::error!(path = %path.display(), "assistant config rejected; keeping the last good one:\n{e}");
                }
                Err(e) => tracing::error!(error = %e, "config reload task failed"),
            }
        }
    })
}

/// A handle holding `assistant`.
pub fn handle(assistant: Assistant) -> AssistantHandle {
    Arc::new(ArcSwap::from_pointee(assistant))
}
