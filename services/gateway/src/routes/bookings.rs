//! `GET /v1/bookings/{ref}`: a booking as the booking service has it.

use axum::Json;
use axum::extract::{Path, State};
use voxbook_proto::booking::Booking;

use voxbook_dialogue::tools::ToolCalls;

use crate::app::AppState;
use crate::error::ApiError;

pub async fn get(State(state): State<AppState>, Path(booking_ref): Path<String>) -> Result<Json<Booking>, ApiError> {
    let code = booking_ref.trim().to_ascii_uppercase();
    if code.is_empty() || code.len() > 16 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::bad_request("invalid_booking_ref", "booking references are letters and digits"));
    }
    // Outside any session: no as-of date, the service's own clock.
    let mut log = ToolCalls::default();
    let booking = state
        .tools
        .run("get_booking", &mut log, |t| {
            let code = code.clone();
            async move { t.get_booking(code).await }
        })
        .await?;
    Ok(Json(booking))
}
