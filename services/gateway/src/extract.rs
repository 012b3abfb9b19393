//! Request extractors whose failures answer with [`ApiError`] JSON instead
//! of axum's plain-text rejections.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;

use crate::error::ApiError;

/// `Json<T>` that rejects with a JSON error body.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}

/// A session id from the path, checked to be a UUID so that garbage never
/// reaches the store.
pub struct SessionId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SessionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state).await?;
        match uuid::Uuid::parse_str(&raw) {
            Ok(id) => Ok(SessionId(id.hyphenated().to_string())),
            Err(_) => Err(ApiError::bad_request(
                "invalid_session_id",
                "session ids are UUIDs as returned by POST /v1/sessions",
            )),
        }
    }
}
