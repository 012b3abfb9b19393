//! The voxbook gateway: the HTTP and WebSocket API in front of the
//! dialogue engine, the session store and the booking tools.
//!
//! [`Gateway::start`] wires a [`Config`] into running parts; [`app::app`]
//! is the router, testable without a socket. The `voxbook` binary is a
//! thin CLI over this library.

pub mod admin;
pub mod app;
pub mod auth;
pub mod config;
pub mod designer;
pub mod error;
pub mod extract;
pub mod intents_cli;
pub mod metrics;
pub mod recordings;
pub mod reload;
pub mod replay;
pub mod routes;
pub mod telephony;
pub mod tools_http;
pub mod tools_local;
pub mod voice;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use voxbook_audio::asr::whisper::WhisperModel;
use voxbook_audio::recognizer::WhisperRecognizer;
use voxbook_booking::{AirportDirectory, BookingConfig, BookingService};
use voxbook_dialogue::conversation::Conversations;
use voxbook_dialogue::engine::Engine;
use voxbook_dialogue::extract::places::Gazetteer;
use voxbook_dialogue::store::{MemoryStore, RedisStore, SessionStore};
use voxbook_dialogue::tools::{BookingTools, ToolRunner};
use voxbook_proto::airports::Airports;

pub use app::{AppState, app};
pub use config::Config;

/// Loads the Whisper model and its decoder pool, when one is configured.
fn load_speech(asr: &config::AsrConfig) -> anyhow::Result<Option<app::SpeechEngine>> {
    let Some(path) = &asr.model else {
        tracing::warn!(
            "no Whisper model (none configured, none at {}): audio streams are refused; run `voxbook models install`",
            config::DEFAULT_ASR_MODEL
        );
        return Ok(None);
    };
    let started = std::time::Instant::now();
    let model = Arc::new(WhisperModel::load(path)?);
    let recognizer = WhisperRecognizer::new(model, asr.decoders, asr.threads)?.with_fallback_below(asr.fallback_below);
    tracing::info!(model = %path.display(), decoders = asr.decoders, threads = asr.threads, elapsed_ms = started.elapsed().as_millis() as u64, "speech recognition ready");
    Ok(Some(app::SpeechEngine { recognizer: Arc::new(recognizer), config: asr.stream.clone(), prompt: asr.prompt }))
}

/// A gateway with its parts built, not yet listening.
pub struct Gateway {
    pub state: AppState,
    /// The in-process booking service, when no remote one is configured.
    pub booking: Option<Arc<BookingService>>,
    watcher: Option<tokio::task::JoinHandle<()>>,
    /// Follows the active assistant config version in Redis.
    config_follower: Option<tokio::task::JoinHandle<()>>,
    /// Releases lapsed holds of the in-process booking service.
    sweeper: Option<tokio::task::JoinHandle<()>>,
}

impl Gateway {
    /// Builds every part from the config; fails (naming the cause) if the
    /// assistant config is invalid or a backing service is unreachable.
    pub async fn start(config: &Config) -> anyhow::Result<Gateway> {
        Self::start_with(config, BookingConfig::default()).await
    }

    /// As [`Gateway::start`], with the in-process booking service's own
    /// settings (tests give it a fixed clock).
    pub async fn start_with(config: &Config, booking_config: BookingConfig) -> anyhow::Result<Gateway> {
        let airports = Airports::embedded();
        let gazetteer = Arc::new(Gazetteer::new(&airports));
        let assistant = reload::load_assistant(config.assistant.as_deref(), gazetteer.clone())?;
        let handle = reload::handle(assistant);
        let metrics = metrics::Metrics::new();

        let store: Arc<dyn SessionStore> = match &config.redis_url {
            Some(url) => Arc::new(
                RedisStore::connect(url, &config.redis_prefix)
                    .await
                    .with_context(|| format!("cannot connect to Redis at {url}"))?,
            ),
            None => {
                tracing::warn!("no Redis URL configured: sessions live in this process only and die with it");
                Arc::new(MemoryStore::new())
            }
        };

        let (tools, booking): (Arc<dyn BookingTools>, _) = match &config.booking_url {
            Some(url) => (Arc::new(tools_http::HttpTools::new(url, Duration::from_secs(2))?), None),
            None => {
                let directory = Arc::new(AirportDirectory::from_proto(&airports));
                let service = Arc::new(
                    BookingService::connect(&config.database_url, directory, booking_config)
                        .await
                        .with_context(|| "cannot open the booking database".to_string())?,
                );
                (Arc::new(tools_local::LocalTools::new(service.clone())), Some(service))
            }
        };
        // A stored active config version wins over the file (see admin/).
        let admin = admin::Admin::open(config, handle.clone(), gazetteer.clone(), metrics.clone())
            .await
            .context("cannot open the assistant config versions")?;
        let config_follower = admin.spawn_follower(config.config_poll.unwrap_or(admin::FALLBACK_POLL));
        let runner = ToolRunner::new(tools, config.retry.clone());
        let conversations =
            Arc::new(Conversations::new(handle.clone(), Engine::new(runner.clone()), store, config.session_ttl));

        let watcher = match (&config.assistant, config.config_poll) {
            (Some(path), Some(every)) => Some(reload::spawn_watcher(
                path.clone(),
                every,
                handle,
                gazetteer,
                metrics.clone(),
                admin.store_managed(),
            )),
            _ => None,
        };
        if config.api_keys.is_empty() {
            tracing::warn!(listen = %config.listen, "authentication is off (no API keys configured); only loopback addresses are allowed");
        }
        let state = AppState {
            conversations,
            tools: runner,
            metrics,
            keys: auth::ApiKeys(Arc::new(config.api_keys.clone())),
            max_body_bytes: config.max_body_bytes,
            stream_idle_timeout: Duration::from_secs(300),
            speech: load_speech(&config.asr)?,
            tts: config.tts.engine(),
            telephony: Arc::new(config.telephony.clone()),
            recordings: config.recordings_dir.clone().map(recordings::Recordings::new),
            admin,
        };
        let sweeper = booking.clone().map(|service| {
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(Duration::from_secs(30));
                loop {
                    ticker.tick().await;
                    match service.sweep_expired_holds().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(released = n, "released lapsed holds"),
                        Err(e) => tracing::warn!(error = %e, "hold sweep failed"),
                    }
                }
            })
        });
        Ok(Gateway { state, booking, watcher, config_follower, sweeper })
    }

    /// Serves on `listener` until `shutdown` resolves, then drains.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = app(self.state.clone());
        axum::serve(listener, router).with_graceful_shutdown(shutdown).await?;
        for task in [&self.watcher, &self.config_follower, &self.sweeper].into_iter().flatten() {
            task.abort();
        }
        if let Some(b) = &self.booking {
            b.close().await;
        }
        Ok(())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        for task in [&self.watcher, &self.config_follower, &self.sweeper].into_iter().flatten() {
            task.abort();
        }
    }
}
