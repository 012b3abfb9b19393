//! The gateway's one error type for its HTTP edge.
//!
//! Every failure a client can cause or see maps to a status and a stable
//! `code` with a human message ([`voxbook_proto::ErrorBody`]). Internal
//! details (store errors, stack traces, upstream bodies) are logged, never
//! sent.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use voxbook_dialogue::conversation::ConversationError;
use voxbook_dialogue::store::StoreError;
use voxbook_dialogue::tools::ToolError;
use voxbook_proto::ErrorBody;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong on our side")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody::new(self.code, self.message))).into_response()
    }
}

impl From<ConversationError> for ApiError {
    fn from(e: ConversationError) -> Self {
        match e {
            ConversationError::NotFound => ApiError::not_found("session_not_found", e.to_string()),
            ConversationError::EmptyText => ApiError::bad_request("empty_text", e.to_string()),
            ConversationError::TextTooLong => ApiError::bad_request("text_too_long", e.to_string()),
            ConversationError::InvalidClock(_) => ApiError::bad_request("invalid_now", e.to_string()),
            ConversationError::Contended => ApiError::new(StatusCode::CONFLICT, "session_busy", e.to_string()),
            ConversationError::Store(StoreError::Unavailable(detail)) => {
                tracing::error!(%detail, "session store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "sessions are unavailable right now; try again shortly",
                )
            }
            ConversationError::Store(e @ StoreError::Corrupt(_)) => ApiError::internal(e),
        }
    }
}

impl From<ToolError> for ApiError {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::Rejected { code, message } if code == "not_found" => {
                ApiError::not_found("booking_not_found", message)
            }
            ToolError::Rejected { message, .. } => ApiError::bad_request("invalid_booking_ref", message),
            ToolError::Unavailable(detail) => {
                tracing::warn!(%detail, "booking service unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "booking_unavailable",
                    "the booking service is unavailable right now",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        // axum answers 422 for JSON of the wrong shape; one code means one
        // status here, so every JSON problem is a 400 `invalid_json`.
        let (status, code) = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            _ => (StatusCode::BAD_REQUEST, "invalid_json"),
        };
        ApiError::new(status, code, rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", rejection.body_text())
    }
}

impl From<WebSocketUpgradeRejection> for ApiError {
    fn from(rejection: WebSocketUpgradeRejection) -> Self {
        ApiError::new(StatusCode::UPGRADE_REQUIRED, "websocket_upgrade_required", rejection.body_text())
    }
}
