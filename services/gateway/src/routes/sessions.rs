//! Sessions and their turns over plain HTTP.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use voxbook_proto::api::{CreateSession, SessionView, TurnRequest, TurnResponse};

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, SessionId};

/// `POST /v1/sessions`; the body is optional.
pub async fn create(
    State(state): State<AppState>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.map_err(|r| {
        let code = if r.status() == StatusCode::PAYLOAD_TOO_LARGE { "payload_too_large" } else { "invalid_body" };
        ApiError::new(r.status(), code, r.body_text())
    })?;
    let request: CreateSession = if body.iter().all(u8::is_ascii_whitespace) {
        CreateSession::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("invalid session request: {e}")))?
    };
    let created = state.conversations.create(request).await?;
    state.metrics.sessions_created.inc();
    Ok((StatusCode::CREATED, Json(created)))
}

/// Longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 128;

/// `POST /v1/sessions/{id}/turns`. With an `Idempotency-Key` header, a
/// retry of the same turn (a client that lost the answer to a timeout)
/// gets the first answer and runs nothing twice.
pub async fn turn(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    headers: HeaderMap,
    ApiJson(request): ApiJson<TurnRequest>,
) -> Result<Json<TurnResponse>, ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str().map(str::trim) {
            Ok(k) if !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY => Some(format!("http:{k}")),
            _ => {
                let message = "Idempotency-Key must be 1 to 128 visible ASCII characters";
                return Err(ApiError::bad_request("invalid_idempotency_key", message));
            }
        },
    };
    let started = Instant::now();
    let response = state.conversations.deliver(&id, &request.text, key.as_deref()).await?;
    state.metrics.observe_turn("http", started.elapsed(), &response);
    Ok(Json(response))
}

pub async fn view(State(state): State<AppState>, SessionId(id): SessionId) -> Result<Json<SessionView>, ApiError> {
    Ok(Json(state.conversations.view(&id).await?))
}

pub async fn delete(State(state): State<AppState>, SessionId(id): SessionId) -> Result<StatusCode, ApiError> {
    if state.conversations.delete(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("session_not_found", "no session with that id (it may have expired)"))
    }
}
