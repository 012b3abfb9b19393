//! The admin API for the assistant config: validate, upload, list, read
//! and roll back versions, behind admin tokens that are not API keys; and
//! the follower that keeps every gateway of a deployment on the active
//! version.
//!
//! An upload is compiled exactly as a reload would compile it (same
//! validator, same gazetteer) before anything is stored; a broken one is
//! answered 422 with every problem's line and column and changes nothing.
//! A good one becomes the next version and the active one in one Redis
//! script that also announces it on a pub/sub channel; every gateway
//! (this one at once, the others on the announcement, or at the latest on
//! their next poll, since pub/sub loses what is sent while a subscriber
//! reconnects) compiles it and swaps it in whole. Live sessions are not
//! touched: a turn reads the current assistant when it starts, and all of
//! a conversation's state is in the session store.
//!
//! Precedence: once a version is stored (in Redis, or in this process's
//! memory when there is no Redis), the active version wins over the
//! assistant file, at start and while running; the file watcher then
//! stands aside. The file (or the shipped default) is used only while no
//! version is stored, and the first upload records it as version 1 so it
//! can be rolled back to.

pub mod draft;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use voxbook_dialogue::assistant::Assistant;
use voxbook_dialogue::config::{self, ConfigError, DEFAULT_ASSISTANT_NAME, DEFAULT_ASSISTANT_YAML};
use voxbook_dialogue::conversation::AssistantHandle;
use voxbook_dialogue::extract::places::Gazetteer;
use voxbook_proto::ErrorBody;

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::metrics::{Metrics, ResultLabels};
pub use store::{VersionRecord, VersionStore, VersionStoreError};

/// Largest config accepted: the shipped one is about 11 KB; this leaves
/// room for big example lists while bounding what one request can buffer
/// and compile.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;
/// Longest upload note kept, in characters.
const MAX_NOTE_CHARS: usize = 500;
/// How often a gateway checks the active version when the file poll is
/// off (the check backs up pub/sub, which drops messages on reconnect).
pub const FALLBACK_POLL: Duration = Duration::from_secs(5);
/// How an uploaded config is named in its problems (`upload:12:5: ...`).
const UPLOAD_NAME: &str = "upload";

/// The admin API's state and the config follower; cheap to clone.
#[derive(Clone)]
pub struct Admin(Arc<Inner>);

struct Inner {
    /// Accepted admin tokens; empty turns the admin routes off.
    tokens: Vec<String>,
    store: VersionStore,
    /// For the pub/sub subscription (Redis only).
    redis: Option<(redis::Client, String)>,
    handle: AssistantHandle,
    gazetteer: Arc<Gazetteer>,
    metrics: Arc<Metrics>,
    /// The assistant file this gateway started with (None: the shipped
    /// default): what the first upload records as the baseline version.
    file: Option<PathBuf>,
    /// Serialises every swap this module makes, so an upload and the
    /// follower never interleave their read-compile-swap steps.
    running: tokio::sync::Mutex<Running>,
    /// Set once a stored version is in charge; the file watcher then
    /// leaves the assistant alone.
    store_managed: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct Running {
    /// The stored version this process runs; None: its file or the default.
    version: Option<u64>,
    /// The last active version this process acted on (swapped in or
    /// refused), so a version that does not compile here is reported once,
    /// not on every poll.
    seen: Option<u64>,
}

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(ConfigError),
    #[error("no config version {0}")]
    NoSuchVersion(u64),
    #[error(transparent)]
    Store(#[from] VersionStoreError),
    #[error("{}", .0.message)]
    Api(ApiError),
    #[error("{0}")]
    Internal(String),
}

impl From<ApiError> for AdminError {
    fn from(e: ApiError) -> Self {
        AdminError::Api(e)
    }
}

/// One problem of a rejected config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemOut {
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Dotted path of the offending node (`intents.book_flight.patterns[0]`).
    pub path: String,
    pub message: String,
}

/// The 422 body: the usual error fields plus every problem.
#[derive(Debug, Serialize)]
struct InvalidBody {
    #[serde(flatten)]
    error: ErrorBody,
    errors: Vec<ProblemOut>,
}

fn problems_out(e: &ConfigError) -> Vec<ProblemOut> {
    match e {
        ConfigError::Invalid { problems, .. } => problems
            .iter()
            .map(|p| ProblemOut {
                line: p.position.map(|pos| pos.line),
                column: p.position.map(|pos| pos.column),
                path: p.path.clone(),
                message: p.message.clone(),
            })
            .collect(),
        ConfigError::Read { .. } => {
            vec![ProblemOut { line: None, column: None, path: String::new(), message: e.to_string() }]
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        match self {
            AdminError::Invalid(e) => {
                let errors = problems_out(&e);
                let message = format!("the assistant config has {} problem(s); nothing was changed", errors.len());
                let body = InvalidBody { error: ErrorBody::new("invalid_config", message), errors };
                (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
            }
            AdminError::NoSuchVersion(n) => {
                ApiError::not_found("version_not_found", format!("there is no config version {n}")).into_response()
            }
            AdminError::Store(VersionStoreError::Unavailable(detail)) => {
                tracing::error!(%detail, "config store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "config_store_unavailable",
                    "the config store is unavailable right now; nothing was changed",
                )
                .into_response()
            }
            AdminError::Store(e @ VersionStoreError::Corrupt(_)) => internal(e),
            AdminError::Internal(detail) => internal(detail),
            AdminError::Api(e) => e.into_response(),
        }
    }
}

fn internal(detail: impl std::fmt::Display) -> Response {
    tracing::error!(%detail, "internal error in the admin API");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong on our side").into_response()
}

/// Checks and compiles `yaml` as a reload does; `name` names it in problems.
pub fn compile(yaml: &str, name: &str, gazetteer: Arc<Gazetteer>) -> Result<Assistant, ConfigError> {
    let spec = config::load_str(yaml, name)?;
    Assistant::compile(spec, gazetteer, name)
}

/// What `GET /v1/admin/assistant` and the list say about a version.
#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    pub version: u64,
    pub sha256: String,
    pub uploaded_at: String,
    pub note: String,
    pub bytes: usize,
    pub active: bool,
}

impl VersionInfo {
    fn of(version: u64, record: &VersionRecord, active: Option<u64>) -> VersionInfo {
        VersionInfo {
            version,
            sha256: record.sha256.clone(),
            uploaded_at: record.uploaded_at.clone(),
            note: record.note.clone(),
            bytes: record.yaml.len(),
            active: active == Some(version),
        }
    }
}

impl Admin {
    /// The admin state over `store`, not yet synchronised (see
    /// [`Admin::sync`]).
    pub fn new(
        tokens: Vec<String>,
        store: VersionStore,
        handle: AssistantHandle,
        gazetteer: Arc<Gazetteer>,
        metrics: Arc<Metrics>,
        file: Option<PathBuf>,
    ) -> Admin {
        Self::build(tokens, store, None, handle, gazetteer, metrics, file)
    }

    fn build(
        tokens: Vec<String>,
        store: VersionStore,
        redis: Option<(redis::Client, String)>,
        handle: AssistantHandle,
        gazetteer: Arc<Gazetteer>,
        metrics: Arc<Metrics>,
        file: Option<PathBuf>,
    ) -> Admin {
        Admin(Arc::new(Inner {
            tokens,
            store,
            redis,
            handle,
            gazetteer,
            metrics,
            file,
            running: tokio::sync::Mutex::new(Running::default()),
            store_managed: Arc::new(AtomicBool::new(false)),
        }))
    }

    /// Opens the version store of `config` (Redis when configured, else
    /// memory) and swaps in the stored active version, if any, so that it
    /// wins over the file from the first request on.
    pub async fn open(
        config: &crate::Config,
        handle: AssistantHandle,
        gazetteer: Arc<Gazetteer>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Admin> {
        let (store, redis) = match &config.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.as_str())?;
                let versions = store::RedisVersions::connect(client.clone(), &config.redis_prefix).await?;
                let channel = versions.keys().channel.clone();
                (VersionStore::Redis(versions), Some((client, channel)))
            }
            None => (VersionStore::Memory(store::MemoryVersions::default()), None),
        };
        let admin = Admin::build(
            config.admin_tokens.clone(),
            store,
            redis,
            handle,
            gazetteer,
            metrics,
            config.assistant.clone(),
        );
        if let Some(version) = admin.sync("start").await? {
            if let Some(path) = &config.assistant {
                tracing::warn!(path = %path.display(), version, "the stored assistant config version is active; the assistant file is not used while one is");
            } else {
                tracing::info!(version, "running the stored assistant config version");
            }
        }
        if admin.0.tokens.is_empty() {
            tracing::info!("admin API off (no admin tokens configured)");
        } else if !admin.0.store.is_shared() {
            tracing::warn!(
                "no Redis: assistant config versions uploaded through the admin API live in this process only"
            );
        }
        Ok(admin)
    }

    /// True when admin tokens are configured, so the admin routes (and
    /// the designer page that needs them) exist.
    pub fn enabled(&self) -> bool {
        !self.0.tokens.is_empty()
    }

    /// True once a stored version is in charge (the file watcher's cue to
    /// stand aside).
    pub fn store_managed(&self) -> Arc<AtomicBool> {
        self.0.store_managed.clone()
    }

    fn count(&self, result: &str) {
        self.0.metrics.config_reloads.get_or_create(&ResultLabels { result: result.to_string() }).inc();
    }

    /// Compiles on a blocking thread (the classifier build is CPU work).
    async fn compile_off_runtime(&self, yaml: String, name: String) -> Result<Assistant, AdminError> {
        let gazetteer = self.0.gazetteer.clone();
        tokio::task::spawn_blocking(move || compile(&yaml, &name, gazetteer))
            .await
            .map_err(|e| AdminError::Internal(format!("config compile task failed: {e}")))?
            .map_err(AdminError::Invalid)
    }

    /// Swaps in the store's active version when it is not what this
    /// process runs. Returns the version swapped in, if one was.
    pub async fn sync(&self, source: &str) -> Result<Option<u64>, VersionStoreError> {
        let mut running = self.0.running.lock().await;
        let Some(active) = self.0.store.active().await? else { return Ok(None) };
        self.0.store_managed.store(true, Ordering::Relaxed);
        if running.seen == Some(active) {
            return Ok(None);
        }
        let Some(record) = self.0.store.get(active).await? else {
            running.seen = Some(active);
            tracing::error!(version = active, "the active assistant config version is missing from the store");
            return Ok(None);
        };
        running.seen = Some(active);
        match self.compile_off_runtime(record.yaml, format!("version {active}")).await {
            Ok(assistant) => {
                self.0.handle.store(Arc::new(assistant));
                running.version = Some(active);
                self.count("sync_ok");
                tracing::info!(version = active, sha256 = %record.sha256, source, "assistant config version swapped in");
                Ok(Some(active))
            }
            Err(e) => {
                self.count("sync_rejected");
                tracing::error!(
                    version = active,
                    source,
                    "the active assistant config version does not compile here; keeping the current one:\n{e}"
                );
                Ok(None)
            }
        }
    }

    /// The config this gateway ran before any upload, for the first upload
    /// to keep as version 1; None when it no longer reads or checks.
    async fn baseline(&self) -> Option<VersionRecord> {
        let (yaml, name, note) = match &self.0.file {
            Some(path) => match tokio::fs::read_to_string(path).await {
                Ok(yaml) => (yaml, path.display().to_string(), format!("baseline: {}", path.display())),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read the assistant file to keep as the baseline version");
                    return None;
                }
            },
            None => (
                DEFAULT_ASSISTANT_YAML.to_string(),
                DEFAULT_ASSISTANT_NAME.to_string(),
                "baseline: the shipped default".to_string(),
            ),
        };
        match self.compile_off_runtime(yaml.clone(), name).await {
            Ok(_) => Some(VersionRecord::new(yaml, note)),
            Err(e) => {
                tracing::warn!(error = %e, "the assistant file does not check; no baseline version kept");
                None
            }
        }
    }

    /// Stores a checked config as the new active version and swaps it in.
    async fn install(&self, record: VersionRecord, assistant: Assistant) -> Result<u64, AdminError> {
        let mut running = self.0.running.lock().await;
        let baseline = match self.0.store.active().await? {
            None => self.baseline().await,
            Some(_) => None,
        };
        let version = self.0.store.publish(&record, baseline.as_ref()).await?;
        self.0.handle.store(Arc::new(assistant));
        self.0.store_managed.store(true, Ordering::Relaxed);
        *running = Running { version: Some(version), seen: Some(version) };
        self.count("upload_ok");
        tracing::info!(version, sha256 = %record.sha256, note = %record.note, "assistant config uploaded and swapped in");
        Ok(version)
    }

    /// Makes a stored version active again and swaps it in.
    async fn roll_back(&self, version: u64) -> Result<VersionRecord, AdminError> {
        let record = self.0.store.get(version).await?.ok_or(AdminError::NoSuchVersion(version))?;
        // Checked again: this gateway's validator may be newer than the one
        // that accepted the version.
        let assistant = match self.compile_off_runtime(record.yaml.clone(), format!("version {version}")).await {
            Ok(a) => a,
            Err(e) => {
                self.count("rollback_rejected");
                return Err(e);
            }
        };
        let mut running = self.0.running.lock().await;
        if !self.0.store.activate(version).await? {
            return Err(AdminError::NoSuchVersion(version));
        }
        self.0.handle.store(Arc::new(assistant));
        self.0.store_managed.store(true, Ordering::Relaxed);
        *running = Running { version: Some(version), seen: Some(version) };
        self.count("rollback_ok");
        tracing::info!(version, sha256 = %record.sha256, "assistant config rolled back");
        Ok(record)
    }

    /// Where the running config came from.
    fn source(&self, running: &Running) -> &'static str {
        match (running.version, &self.0.file) {
            (Some(_), _) => "store",
            (None, Some(_)) => "file",
            (None, None) => "default",
        }
    }

    /// Follows the active version: on every announcement, after every
    /// (re)subscription, and every `every` (pub/sub drops what is sent
    /// while the subscriber reconnects). None without Redis.
    pub fn spawn_follower(&self, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        let (client, channel) = self.0.redis.clone()?;
        let admin = self.clone();
        Some(tokio::spawn(async move { admin.follow(client, channel, every).await }))
    }

    async fn follow(self, client: redis::Client, channel: String, every: Duration) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut healthy = true;
        loop {
            let mut pubsub = match subscribe(&client, &channel).await {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot subscribe to assistant config changes; polling");
                    None
                }
            };
            // Anything announced while not subscribed was lost: catch up.
            self.sync_logged("subscribe", &mut healthy).await;
            loop {
                let subscribed = pubsub.is_some();
                let message = async {
                    match pubsub.as_mut() {
                        Some(p) => p.on_message().next().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    message = message => match message {
                        Some(_) => self.sync_logged("announcement", &mut healthy).await,
                        None => {
                            tracing::warn!("assistant config subscription lost; resubscribing");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            break;
                        }
                    },
                    _ = ticker.tick() => {
                        self.sync_logged("poll", &mut healthy).await;
                        if !subscribed {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// [`Admin::sync`], logging a store outage once rather than per poll.
    async fn sync_logged(&self, source: &str, healthy: &mut bool) {
        match self.sync(source).await {
            Ok(_) => {
                if !*healthy {
                    tracing::info!("config store reachable again");
                }
                *healthy = true;
            }
            Err(e) => {
                if *healthy {
                    tracing::warn!(error = %e, "cannot check the active assistant config version");
                }
                *healthy = false;
            }
        }
    }
}

async fn subscribe(client: &redis::Client, channel: &str) -> Result<redis::aio::PubSub, String> {
    let mut pubsub = tokio::time::timeout(Duration::from_secs(5), client.get_async_pubsub())
        .await
        .map_err(|_| "no answer from Redis within 5 s".to_string())?
        .map_err(|e| e.to_string())?;
    pubsub.subscribe(channel).await.map_err(|e| e.to_string())?;
    Ok(pubsub)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer token of a request. Admin tokens come only in the
/// Authorization header: a query parameter would end up in access logs.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).map(str::trim)
}

async fn require_admin(State(admin): State<Admin>, request: Request, next: Next) -> Response {
    match bearer(request.headers()) {
        Some(token) if admin.0.tokens.iter().any(|t| constant_time_eq(t.as_bytes(), token.as_bytes())) => {
            next.run(request).await
        }
        Some(_) => {
            ApiError::new(StatusCode::FORBIDDEN, "invalid_admin_token", "that is not an admin token").into_response()
        }
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_admin_token",
            "send an admin token as 'Authorization: Bearer TOKEN'",
        )
        .into_response(),
    }
}

/// The admin routes; none (every admin path answers 404, like any unknown
/// path) when no admin token is configured.
pub fn router<S: Clone + Send + Sync + 'static>(admin: &Admin) -> Router<S> {
    if admin.0.tokens.is_empty() {
        return Router::new();
    }
    Router::new()
        .route("/v1/admin/assistant", get(info).post(upload))
        .route("/v1/admin/assistant/validate", post(validate))
        .route("/v1/admin/assistant/versions", get(list))
        .route("/v1/admin/assistant/versions/{version}", get(version_yaml))
        .route("/v1/admin/assistant/rollback", post(rollback))
        .route("/v1/admin/assistant/parse", post(draft::parse))
        .route("/v1/admin/assistant/running", get(draft::running))
        .route_layer(middleware::from_fn_with_state(admin.clone(), require_admin))
        // Configs are bigger than client requests; this inner limit wins
        // over the app-wide one for these routes only.
        .layer(DefaultBodyLimit::max(MAX_CONFIG_BYTES))
        .with_state(admin.clone())
}

/// The request body as YAML text.
fn yaml_body(body: Result<Bytes, BytesRejection>) -> Result<String, ApiError> {
    let bytes = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("configs are limited to {MAX_CONFIG_BYTES} bytes"),
        ),
        _ => ApiError::bad_request("invalid_body", rejection.body_text()),
    })?;
    String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::bad_request("invalid_encoding", "the config must be UTF-8"))
}

#[derive(Debug, Serialize)]
struct Valid {
    valid: bool,
    sha256: String,
}

/// `POST /v1/admin/assistant/validate`: checks a config, stores nothing.
async fn validate(State(admin): State<Admin>, body: Result<Bytes, BytesRejection>) -> Result<Json<Valid>, AdminError> {
    let yaml = yaml_body(body)?;
    let sha256 = store::sha256_hex(yaml.as_bytes());
    admin.compile_off_runtime(yaml, UPLOAD_NAME.into()).await?;
    Ok(Json(Valid { valid: true, sha256 }))
}

#[derive(Debug, Deserialize)]
struct UploadQuery {
    note: Option<String>,
}

#[derive(Debug, Serialize)]
struct Uploaded {
    version: u64,
    sha256: String,
}

/// `POST /v1/admin/assistant[?note=...]`: a good config becomes the new
/// active version everywhere; a bad one changes nothing.
async fn upload(
    State(admin): State<Admin>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Uploaded>), AdminError> {
    let Query(query) = query.map_err(ApiError::from)?;
    let yaml = yaml_body(body)?;
    let assistant = match admin.compile_off_runtime(yaml.clone(), UPLOAD_NAME.into()).await {
        Ok(a) => a,
        Err(e) => {
            admin.count("upload_rejected");
            return Err(e);
        }
    };
    let note: String = query.note.unwrap_or_default().trim().chars().take(MAX_NOTE_CHARS).collect();
    let record = VersionRecord::new(yaml, note);
    let sha256 = record.sha256.clone();
    let version = admin.install(record, assistant).await?;
    Ok((StatusCode::CREATED, Json(Uploaded { version, sha256 })))
}

#[derive(Debug, Serialize)]
struct Status {
    /// Where this gateway's running config came from: `store`, `file` or
    /// `default`.
    source: &'static str,
    /// The stored version this gateway runs, if it runs one.
    running_version: Option<u64>,
    /// The deployment's active version (null before the first upload).
    active: Option<VersionInfo>,
    /// True when versions are shared through Redis; false: this process's
    /// memory only.
    shared: bool,
}

/// `GET /v1/admin/assistant`: the active version and what this gateway runs.
async fn info(State(admin): State<Admin>) -> Result<Json<Status>, AdminError> {
    let active = admin.0.store.active().await?;
    let record = match active {
        Some(n) => admin.0.store.get(n).await?.map(|r| VersionInfo::of(n, &r, active)),
        None => None,
    };
    let running = admin.0.running.lock().await;
    Ok(Json(Status {
        source: admin.source(&running),
        running_version: running.version,
        active: record,
        shared: admin.0.store.is_shared(),
    }))
}

#[derive(Debug, Serialize)]
struct Versions {
    active_version: Option<u64>,
    running_version: Option<u64>,
    /// Newest first.
    versions: Vec<VersionInfo>,
}

/// `GET /v1/admin/assistant/versions`.
async fn list(State(admin): State<Admin>) -> Result<Json<Versions>, AdminError> {
    let listing = admin.0.store.list().await?;
    let running_version = admin.0.running.lock().await.version;
    Ok(Json(Versions {
        active_version: listing.active,
        running_version,
        versions: listing.versions.iter().map(|(n, r)| VersionInfo::of(*n, r, listing.active)).collect(),
    }))
}

/// `GET /v1/admin/assistant/versions/{n}`: the version's YAML as uploaded.
async fn version_yaml(
    State(admin): State<Admin>,
    version: Result<Path<u64>, axum::extract::rejection::PathRejection>,
) -> Result<Response, AdminError> {
    let Path(version) = version.map_err(|_| {
        ApiError::bad_request("invalid_version", "versions are the numbers listed by GET /v1/admin/assistant/versions")
    })?;
    let record = admin.0.store.get(version).await?.ok_or(AdminError::NoSuchVersion(version))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/yaml; charset=utf-8".to_string()),
            (header::ETAG, format!("\"{}\"", record.sha256)),
        ],
        record.yaml,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackRequest {
    version: u64,
}

/// `POST /v1/admin/assistant/rollback` `{"version": n}`.
async fn rollback(
    State(admin): State<Admin>,
    ApiJson(request): ApiJson<RollbackRequest>,
) -> Result<Json<Uploaded>, AdminError> {
    let record = admin.roll_back(request.version).await?;
    Ok(Json(Uploaded { version: request.version, sha256: record.sha256 }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxbook_proto::airports::Airports;

    fn gazetteer() -> Arc<Gazetteer> {
        Arc::new(Gazetteer::new(&Airports::embedded()))
    }

    fn default_assistant(gazetteer: &Arc<Gazetteer>) -> Assistant {
        compile(DEFAULT_ASSISTANT_YAML, DEFAULT_ASSISTANT_NAME, gazetteer.clone()).expect("the shipped config compiles")
    }

    fn greeting(yaml_greeting: &str) -> String {
        let line = DEFAULT_ASSISTANT_YAML.lines().find(|l| l.starts_with("greeting:")).expect("a greeting line");
        DEFAULT_ASSISTANT_YAML.replacen(line, &format!("greeting: \"{yaml_greeting}\""), 1)
    }

    /// A gateway's admin state over a shared memory store.
    fn admin_over(store: &store::MemoryVersions, gazetteer: &Arc<Gazetteer>) -> (Admin, AssistantHandle) {
        let handle = crate::reload::handle(default_assistant(gazetteer));
        let admin = Admin::new(
            vec!["t".into()],
            VersionStore::Memory(store.clone()),
            handle.clone(),
            gazetteer.clone(),
            Metrics::new(),
            None,
        );
        (admin, handle)
    }

    #[tokio::test]
    async fn an_upload_is_swapped_in_here_and_followed_elsewhere() {
        let gz = gazetteer();
        let shared = store::MemoryVersions::default();
        let (a, handle_a) = admin_over(&shared, &gz);
        let (b, handle_b) = admin_over(&shared, &gz);
        let yaml = greeting("Hi from version two.");
        let assistant = compile(&yaml, "t", gz.clone()).unwrap();
        let version = a.install(VersionRecord::new(yaml, "n".into()), assistant).await.unwrap();
        assert_eq!(version, 2, "the shipped default was kept as version 1");
        assert_eq!(handle_a.load().greeting, "Hi from version two.");
        assert!(a.store_managed().load(Ordering::Relaxed));
        assert_ne!(handle_b.load().greeting, "Hi from version two.");
        assert_eq!(b.sync("test").await.unwrap(), Some(2));
        assert_eq!(handle_b.load().greeting, "Hi from version two.");
        assert_eq!(b.sync("test").await.unwrap(), None, "nothing new: nothing swapped");

        let baseline = a.0.store.get(1).await.unwrap().unwrap();
        assert_eq!(baseline.yaml, DEFAULT_ASSISTANT_YAML);
        a.roll_back(1).await.unwrap();
        assert_eq!(handle_a.load().greeting, default_assistant(&gz).greeting);
        assert_eq!(b.sync("test").await.unwrap(), Some(1));
        assert_eq!(handle_b.load().greeting, default_assistant(&gz).greeting);
        assert!(matches!(a.roll_back(9).await, Err(AdminError::NoSuchVersion(9))));
    }

    #[tokio::test]
    async fn an_active_version_that_does_not_compile_is_refused_once_and_kept_out() {
        let gz = gazetteer();
        let shared = store::MemoryVersions::default();
        let (b, handle_b) = admin_over(&shared, &gz);
        // Something another (say, newer) gateway accepted that this one does not.
        let store = VersionStore::Memory(shared.clone());
        store.publish(&VersionRecord::new("greeting: [".into(), String::new()), None).await.unwrap();
        let before = handle_b.load().greeting.clone();
        assert_eq!(b.sync("test").await.unwrap(), None);
        assert_eq!(handle_b.load().greeting, before);
        assert_eq!(b.0.running.lock().await.seen, Some(1));
        assert_eq!(b.0.running.lock().await.version, None);
        assert!(b.store_managed().load(Ordering::Relaxed), "a stored version is in charge even so");
    }

    #[tokio::test]
    async fn the_follower_polls_when_it_cannot_subscribe() {
        let gz = gazetteer();
        let shared = store::MemoryVersions::default();
        let handle = crate::reload::handle(default_assistant(&gz));
        // Nothing listens on port 1: every subscription attempt fails, so
        // only the periodic check can bring the change.
        let nowhere = redis::Client::open("redis://127.0.0.1:1").unwrap();
        let follower = Admin::build(
            Vec::new(),
            VersionStore::Memory(shared.clone()),
            Some((nowhere, "changed".into())),
            handle.clone(),
            gz.clone(),
            Metrics::new(),
            None,
        );
        let task = follower.spawn_follower(Duration::from_millis(20)).expect("a follower with a Redis client");
        let yaml = greeting("Polled in.");
        VersionStore::Memory(shared).publish(&VersionRecord::new(yaml, String::new()), None).await.unwrap();
        let started = std::time::Instant::now();
        while handle.load().greeting != "Polled in." {
            assert!(started.elapsed() < Duration::from_secs(5), "the poll never swapped the version in");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
    }

    #[test]
    fn problems_carry_line_and_column() {
        let yaml = DEFAULT_ASSISTANT_YAML.replacen("intent: book_flight", "intent: book_a_zeppelin", 1);
        let e = compile(&yaml, UPLOAD_NAME, gazetteer()).err().expect("an unknown intent is refused");
        let out = problems_out(&e);
        assert!(!out.is_empty());
        assert!(out.iter().all(|p| p.line.is_some() && p.column.is_some()), "{out:?}");
    }

    #[test]
    fn only_bearer_tokens_count() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer  s3cret ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("s3cret"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
