//! Sessions and their turns over plain HTTP.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
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

pub async fn turn(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    ApiJson(request): ApiJson<TurnRequest>,
) -> Result<Json<TurnResponse>, ApiError> {
    let started = Instant::now();
    let response = state.conversations.turn(&id, &request.text).await?;
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
