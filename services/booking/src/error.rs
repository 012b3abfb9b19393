//! The typed errors of the booking service and their stable wire codes.
//!
//! Each variant maps to one `code` of [`voxbook_proto::ErrorBody`] and one
//! HTTP status, so the in-process gateway and HTTP clients branch on the
//! same names. Messages of client errors are written for people and are
//! safe to show; database failures keep their detail in the error's source
//! chain for logs and answer a bare "internal error".

use axum::http::StatusCode;
use voxbook_proto::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// The request is well-formed JSON but asks for something invalid
    /// (a date that does not parse, nine guests, a return before the
    /// departure...).
    #[error("{0}")]
    InvalidRequest(String),
    /// The offer id is malformed, or names a flight or hotel that does not
    /// exist, or a date that has passed.
    #[error("{0}")]
    InvalidOffer(String),
    #[error("unknown airport {0:?}")]
    UnknownAirport(String),
    #[error("no booking with reference {0:?}")]
    NotFound(String),
    #[error("{0}")]
    SoldOut(String),
    #[error("this idempotency key was already used for a different request")]
    IdempotencyConflict,
    /// The booking is in a state that does not allow the operation
    /// (modifying a cancelled booking, cancelling twice with new keys).
    #[error("{0}")]
    InvalidState(String),
    #[error("the hold {0} has expired; its seats or rooms were released")]
    HoldExpired(String),
    /// Optimistic retries gave up because the booking kept changing under
    /// us; the client may simply retry.
    #[error("the booking is being changed concurrently, try again")]
    Busy,
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// The service was set up wrong (an unusable database URL, a hold TTL
    /// out of range): an operator's problem, reported at startup.
    #[error("configuration error: {0}")]
    Config(String),
    /// Stored data that should be impossible (unparseable JSON, an unknown
    /// status): a bug or manual tampering, never the client's fault.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl BookingError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            BookingError::InvalidRequest(_) => "invalid_request",
            BookingError::InvalidOffer(_) => "invalid_offer",
            BookingError::UnknownAirport(_) => "unknown_airport",
            BookingError::NotFound(_) => "not_found",
            BookingError::SoldOut(_) => "sold_out",
            BookingError::IdempotencyConflict => "idempotency_conflict",
            BookingError::InvalidState(_) => "invalid_state",
            BookingError::HoldExpired(_) => "hold_expired",
            BookingError::Busy => "busy",
            BookingError::Database(_) | BookingError::Corrupt(_) | BookingError::Config(_) => "internal",
        }
    }

    /// 422 for requests that parse but make no sense, 404/409/410 for the
    /// state of the world, 5xx for ours.
    pub fn status(&self) -> StatusCode {
        match self {
            BookingError::InvalidRequest(_) | BookingError::InvalidOffer(_) | BookingError::UnknownAirport(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            BookingError::NotFound(_) => StatusCode::NOT_FOUND,
            BookingError::SoldOut(_) | BookingError::IdempotencyConflict | BookingError::InvalidState(_) => {
                StatusCode::CONFLICT
            }
            BookingError::HoldExpired(_) => StatusCode::GONE,
            BookingError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            BookingError::Database(_) | BookingError::Corrupt(_) | BookingError::Config(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// True for failures on our side (worth logging at error level).
    pub fn is_internal(&self) -> bool {
        matches!(self, BookingError::Database(_) | BookingError::Corrupt(_) | BookingError::Config(_))
    }

    /// The body to show a client: never SQL, paths or hostnames.
    pub fn to_body(&self) -> ErrorBody {
        let message = if self.is_internal() { "internal error".to_string() } else { self.to_string() };
        ErrorBody::new(self.code(), message)
    }
}

impl From<sqlx::Error> for BookingError {
    fn from(e: sqlx::Error) -> Self {
        BookingError::Database(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak() {
        let e = BookingError::Database(sqlx::Error::Protocol("SELECT secret FROM bookings".into()));
        let body = e.to_body();
        assert_eq!(body.code, "internal");
        assert!(!body.message.contains("SELECT"));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn client_errors_keep_their_message() {
        let e = BookingError::SoldOut("flight VX100 is full".into());
        assert_eq!(e.to_body(), ErrorBody::new("sold_out", "flight VX100 is full"));
        assert_eq!(e.status(), StatusCode::CONFLICT);
        assert_eq!(BookingError::HoldExpired("ACDEFH".into()).status(), StatusCode::GONE);
    }
}
