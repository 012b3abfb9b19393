//! The gateway's HTTP surface: [`app`] builds the whole router from an
//! [`AppState`], so tests drive it without a socket.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use voxbook_dialogue::conversation::Conversations;
use voxbook_dialogue::tools::ToolRunner;

use crate::auth::{ApiKeys, require_key};
use crate::error::ApiError;
use crate::metrics::{self, Metrics};
use crate::routes;
use crate::telephony;

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub conversations: Arc<Conversations>,
    /// Booking lookups for `GET /v1/bookings/{ref}` go through the same
    /// policy as the dialogue's tool calls.
    pub tools: ToolRunner,
    pub metrics: Arc<Metrics>,
    pub keys: ApiKeys,
    pub max_body_bytes: usize,
    /// Streams idle this long are closed.
    pub stream_idle_timeout: Duration,
    /// Speech recognition for audio streams; None when no model is set up.
    pub speech: Option<SpeechEngine>,
    /// Speech synthesis for spoken replies; None when turned off.
    pub tts: Option<Arc<dyn voxbook_audio::tts::TtsEngine>>,
    /// Where spoken turns are recorded, when they are (QA).
    pub recordings: Option<crate::recordings::Recordings>,
    /// Provider secrets and call handling for the telephony routes.
    pub telephony: Arc<crate::config::TelephonyConfig>,
    /// Assistant config versions (admin routes, behind admin tokens).
    pub admin: crate::admin::Admin,
}

/// The shared recogniser and the per-stream settings.
#[derive(Clone)]
pub struct SpeechEngine {
    pub recognizer: Arc<dyn voxbook_audio::speech_stream::Recognize>,
    pub config: voxbook_audio::speech_stream::SpeechStreamConfig,
    /// Give the recogniser the dialogue's hint of what comes next
    /// (`Conversations::asr_hint`) as its prompt.
    pub prompt: bool,
}

pub fn app(state: AppState) -> Router {
    let client = Router::new()
        .route("/v1/sessions", post(routes::sessions::create))
        .route("/v1/sessions/{id}", get(routes::sessions::view).delete(routes::sessions::delete))
        .route("/v1/sessions/{id}/turns", post(routes::sessions::turn))
        .route("/v1/sessions/{id}/stream", get(routes::stream::upgrade))
        .route("/v1/sessions/{id}/recordings/{turn}", get(crate::recordings::get))
        .route("/v1/nlu/parse", post(routes::nlu::parse))
        .route("/v1/bookings/{booking_ref}", get(routes::bookings::get))
        .route_layer(middleware::from_fn_with_state(state.keys.clone(), require_key));
    // Providers authenticate by signature (checked in each handler), not
    // by API key.
    let telephony = Router::new()
        .route("/v1/telephony/twilio/voice", post(telephony::twilio::voice))
        .route(telephony::twilio::GATHER_PATH, post(telephony::twilio::gather))
        .route(telephony::twilio::MEDIA_PATH, get(telephony::media_stream::upgrade))
        .route("/v1/telephony/webhooks/{provider}", post(telephony::generic::webhook));
    let open = Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(metrics::endpoint).with_state(state.metrics.clone()));
    client
        .merge(telephony)
        .merge(open)
        .merge(crate::admin::router(&state.admin))
        .merge(crate::designer::router(&state.admin))
        .fallback(|| async { ApiError::not_found("not_found", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), metrics::track))
        .with_state(state)
}
