//! The HTTP edge of the booking service (axum).
//!
//! Routes map one to one onto [`BookingService`] methods and the wire types
//! of `voxbook_proto::booking`. Every failure answers a JSON
//! [`ErrorBody`] through [`ApiError`], the one error type of the edge:
//! bodies that are not JSON get `invalid_json` (400), JSON of the wrong
//! shape `invalid_request` (422), oversized bodies `payload_too_large`
//! (413), and service errors their own code and status (see
//! [`BookingError::status`]). Internal errors are logged here with their
//! detail and answered as a bare `internal`.
//!
//! Searches, holds, bookings and changes read the optional
//! [`AS_OF_HEADER`] (`X-Voxbook-As-Of: 2030-06-03`): the caller's "today"
//! for the sale window. A value that is not a `YYYY-MM-DD` date answers 400
//! `invalid_as_of` rather than being ignored, so a misconfigured caller
//! finds out at once instead of seeing "no flights".

use crate::error::BookingError;
use crate::service::BookingService;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tower_http::trace::TraceLayer;
use voxbook_proto::ErrorBody;
pub use voxbook_proto::booking::AS_OF_HEADER;
use voxbook_proto::booking::{
    BookRequest, Booking, CancelRequest, FlightOffers, FlightSearch, HoldRequest, HotelOffers, HotelSearch,
    ModifyRequest,
};

/// Requests are small JSON documents; anything bigger is a mistake or abuse.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

type Shared = Arc<BookingService>;

/// The service's routes, ready to serve or to drive with `oneshot` in tests.
pub fn router(service: Arc<BookingService>) -> Router {
    Router::new()
        .route("/v1/flights/search", post(search_flights))
        .route("/v1/hotels/search", post(search_hotels))
        .route("/v1/holds", post(hold))
        .route("/v1/bookings", post(book))
        .route("/v1/bookings/{booking_ref}", get(get_booking))
        .route("/v1/bookings/{booking_ref}/modify", post(modify))
        .route("/v1/bookings/{booking_ref}/cancel", post(cancel))
        .route("/healthz", get(healthz))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(service)
}

/// An error answer: a status and an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, body: ErrorBody::new(code, message) }
    }
}

impl From<BookingError> for ApiError {
    fn from(e: BookingError) -> Self {
        if e.is_internal() {
            let mut detail = format!("{e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                detail.push_str(": ");
                detail.push_str(&s.to_string());
                source = s.source();
            }
            tracing::error!(error = %detail, "booking request failed");
        }
        Self { status: e.status(), body: e.to_body() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// A JSON request body, with rejections in the service's error format
/// (axum's own `Json` rejections answer plain text). It does not insist on
/// a `Content-Type` header: telephony adapters and curl users forget it.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("request bodies are limited to {BODY_LIMIT_BYTES} bytes"),
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", "could not read the request body")
            }
        })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            if e.classify() == serde_json::error::Category::Data {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_request",
                    format!("request does not match the expected shape: {e}"),
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", format!("request body is not valid JSON: {e}"))
            }
        })
    }
}

/// The caller's "today" from [`AS_OF_HEADER`], if it sent one.
pub struct AsOf(pub Option<NaiveDate>);

impl<S: Send + Sync> FromRequestParts<S> for AsOf {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(AS_OF_HEADER) else {
            return Ok(AsOf(None));
        };
        value
            .to_str()
            .ok()
            .and_then(|v| NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").ok())
            .map(|date| AsOf(Some(date)))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_as_of",
                    format!("the {AS_OF_HEADER} header must be a date like 2030-06-03"),
                )
            })
    }
}

async fn search_flights(
    State(service): State<Shared>,
    AsOf(as_of): AsOf,
    JsonBody(req): JsonBody<FlightSearch>,
) -> Result<Json<FlightOffers>, ApiError> {
    Ok(Json(service.search_flights_as_of(&req, as_of).await?))
}

async fn search_hotels(
    State(service): State<Shared>,
    AsOf(as_of): AsOf,
    JsonBody(req): JsonBody<HotelSearch>,
) -> Result<Json<HotelOffers>, ApiError> {
    Ok(Json(service.search_hotels_as_of(&req, as_of).await?))
}

async fn hold(
    State(service): State<Shared>,
    AsOf(as_of): AsOf,
    JsonBody(req): JsonBody<HoldRequest>,
) -> Result<Json<Booking>, ApiError> {
    Ok(Json(service.hold_as_of(&req, as_of).await?))
}

async fn book(
    State(service): State<Shared>,
    AsOf(as_of): AsOf,
    JsonBody(req): JsonBody<BookRequest>,
) -> Result<Json<Booking>, ApiError> {
    Ok(Json(service.book_as_of(&req, as_of).await?))
}

async fn get_booking(
    State(service): State<Shared>,
    Path(booking_ref): Path<String>,
) -> Result<Json<Booking>, ApiError> {
    Ok(Json(service.get(&booking_ref).await?))
}

async fn modify(
    State(service): State<Shared>,
    Path(booking_ref): Path<String>,
    AsOf(as_of): AsOf,
    JsonBody(req): JsonBody<ModifyRequest>,
) -> Result<Json<Booking>, ApiError> {
    Ok(Json(service.modify_as_of(&booking_ref, &req, as_of).await?))
}

async fn cancel(
    State(service): State<Shared>,
    Path(booking_ref): Path<String>,
    JsonBody(req): JsonBody<CancelRequest>,
) -> Result<Json<Booking>, ApiError> {
    Ok(Json(service.cancel(&booking_ref, &req).await?))
}

async fn healthz(State(service): State<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
    match service.health().await {
        Ok(()) => Ok(Json(serde_json::json!({ "status": "ok" }))),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database does not answer"))
        }
    }
}

async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn wrong_method() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
}
