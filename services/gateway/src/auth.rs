//! API-key authentication of client routes.
//!
//! A key comes as `Authorization: Bearer KEY`, `X-API-Key: KEY`, or (for
//! WebSocket clients in browsers, which cannot set headers) the
//! `access_token` query parameter. Keys are compared in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The accepted keys; empty means authentication is off.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys(pub Arc<Vec<String>>);

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn presented(request: &Request) -> Option<String> {
    let headers = request.headers();
    if let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok())
        && let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))
    {
        return Some(token.trim().to_string());
    }
    if let Some(value) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(value.trim().to_string());
    }
    // Browsers percent-encode the query: a base64 key arrives as "%2B%2F%3D".
    request.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "access_token").map(|(_, v)| v.into_owned())
    })
}

pub async fn require_key(State(keys): State<ApiKeys>, request: Request, next: Next) -> Response {
    if keys.0.is_empty() {
        return next.run(request).await;
    }
    match presented(&request) {
        Some(key) if keys.0.iter().any(|k| constant_time_eq(k.as_bytes(), key.as_bytes())) => next.run(request).await,
        Some(_) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_api_key", "the API key is not valid").into_response()
        }
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_api_key",
            "send an API key as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn compares_whole_keys() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
