//! Gateways started in the test process on 127.0.0.1 with an ephemeral
//! port.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use voxbook_booking::{BookingConfig, ManualClock};
use voxbook_gateway::{Config, Gateway};

/// A session stream as tests hold it.
pub type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The `start` of a spoken conversation: 16 kHz PCM in, and replies
/// spoken back as 16 kHz PCM.
pub fn spoken_start() -> Value {
    json!({"type": "start", "protocol_version": 2,
        "audio": {"encoding": "pcm_s16le", "sample_rate": 16000},
        "output": {"encoding": "pcm_s16le", "sample_rate": 16000}})
}

/// What a test gateway runs against.
#[derive(Debug, Clone)]
pub struct Backend {
    /// None: in-process sessions.
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub database_url: String,
    /// The booking service's clock, so relative dates in scripts resolve
    /// the same way for the dialogue and the inventory.
    pub booking_now: Option<DateTime<Utc>>,
}

impl Backend {
    /// Real Redis with a fresh key prefix and a fresh SQLite file.
    pub fn redis_sqlite() -> Backend {
        let db = std::env::temp_dir().join(format!("voxbook-test-{}.db", uuid::Uuid::new_v4().simple()));
        Backend {
            redis_url: Some(crate::redis_url()),
            redis_prefix: crate::unique_prefix(),
            database_url: format!("sqlite://{}", db.display()),
            booking_now: None,
        }
    }

    pub fn with_booking_now(mut self, now: DateTime<Utc>) -> Backend {
        self.booking_now = Some(now);
        self
    }

    pub fn config(&self) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().unwrap_or_else(|_| Config::default().listen),
            redis_url: self.redis_url.clone(),
            redis_prefix: self.redis_prefix.clone(),
            database_url: self.database_url.clone(),
            ..Config::default()
        }
    }
}

pub struct TestGateway {
    pub base: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestGateway {
    pub async fn start(backend: &Backend) -> anyhow::Result<TestGateway> {
        Self::start_config(backend, backend.config()).await
    }

    pub async fn start_config(backend: &Backend, config: Config) -> anyhow::Result<TestGateway> {
        let mut booking = BookingConfig::default();
        if let Some(now) = backend.booking_now {
            booking = booking.with_clock(Arc::new(ManualClock::new(now)));
        }
        let gateway = Gateway::start_with(&config, booking).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(gateway.serve(listener, async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(TestGateway { base, client, shutdown: Some(tx), task: Some(task) })
    }

    /// Shuts the gateway down and waits until it has released everything.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.replacen("http://", "ws://", 1))
    }

    /// Opens session `session`'s stream and sends `start`.
    pub async fn open_stream(&self, session: &str, start: &Value) -> anyhow::Result<Ws> {
        let url = self.ws_url(&format!("/v1/sessions/{session}/stream"));
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
        ws.send(Message::Text(start.to_string().into())).await?;
        Ok(ws)
    }

    /// Creates a session with a fixed clock; returns its id.
    pub async fn session(&self, now: &str) -> anyhow::Result<String> {
        let created: Value = self
            .client
            .post(self.url("/v1/sessions"))
            .json(&json!({"now": now}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        created["session_id"].as_str().map(str::to_string).ok_or_else(|| anyhow::anyhow!("no session_id in {created}"))
    }

    /// Posts a turn; returns the status and the JSON body.
    pub async fn turn(&self, session: &str, text: &str) -> anyhow::Result<(u16, Value)> {
        let response = self
            .client
            .post(self.url(&format!("/v1/sessions/{session}/turns")))
            .json(&json!({"text": text}))
            .send()
            .await?;
        Ok((response.status().as_u16(), response.json().await?))
    }

    pub async fn get_json(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let response = self.client.get(self.url(path)).send().await?;
        Ok((response.status().as_u16(), response.json().await?))
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
