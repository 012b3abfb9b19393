//! Booking tools served in-process by the reference booking service (the
//! embedded default: no network hop, same code and database rules as the
//! standalone `voxbook-booking` binary).

use std::sync::Arc;

use async_trait::async_trait;
use voxbook_booking::{BookingError, BookingService};
use voxbook_dialogue::tools::{BookingTools, ToolError};
use voxbook_proto::booking::{
    BookRequest, Booking, CancelRequest, FlightOffers, FlightSearch, HoldRequest, HotelOffers, HotelSearch,
    ModifyRequest,
};

pub struct LocalTools {
    service: Arc<BookingService>,
}

impl LocalTools {
    pub fn new(service: Arc<BookingService>) -> Self {
        LocalTools { service }
    }
}

/// Our side's failures (database down, contention) are worth a retry; the
/// rest are the service's answer.
fn map(e: BookingError) -> ToolError {
    if e.is_internal() || matches!(e, BookingError::Busy) {
        tracing::warn!(error = %e, "in-process booking service failed");
        ToolError::Unavailable(e.code().to_string())
    } else {
        ToolError::Rejected { code: e.code().to_string(), message: e.to_string() }
    }
}

#[async_trait]
impl BookingTools for LocalTools {
    async fn search_flights(&self, query: FlightSearch) -> Result<FlightOffers, ToolError> {
        self.service.search_flights(&query).await.map_err(map)
    }
    async fn search_hotels(&self, query: HotelSearch) -> Result<HotelOffers, ToolError> {
        self.service.search_hotels(&query).await.map_err(map)
    }
    async fn hold(&self, request: HoldRequest) -> Result<Booking, ToolError> {
        self.service.hold(&request).await.map_err(map)
    }
    async fn book(&self, request: BookRequest) -> Result<Booking, ToolError> {
        self.service.book(&request).await.map_err(map)
    }
    async fn get_booking(&self, booking_ref: String) -> Result<Booking, ToolError> {
        self.service.get(&booking_ref).await.map_err(map)
    }
    async fn modify_booking(&self, booking_ref: String, request: ModifyRequest) -> Result<Booking, ToolError> {
        self.service.modify(&booking_ref, &request).await.map_err(map)
    }
    async fn cancel_booking(&self, booking_ref: String, request: CancelRequest) -> Result<Booking, ToolError> {
        self.service.cancel(&booking_ref, &request).await.map_err(map)
    }
}
