//! Booking tools served in-process by the reference booking service (the
//! embedded default: no network hop, same code and database rules as the
//! standalone `voxbook-booking` binary). A session's as-of date (see
//! [`ToolContext`]) is passed straight to the service.

use std::sync::Arc;

use async_trait::async_trait;
use voxbook_booking::{BookingError, BookingService};
use voxbook_dialogue::tools::{BookingTools, ToolContext, ToolError};
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
    async fn search_flights(&self, query: FlightSearch, ctx: ToolContext) -> Result<FlightOffers, ToolError> {
        self.service.search_flights_as_of(&query, ctx.as_of).await.map_err(map)
    }
    async fn search_hotels(&self, query: HotelSearch, ctx: ToolContext) -> Result<HotelOffers, ToolError> {
        self.service.search_hotels_as_of(&query, ctx.as_of).await.map_err(map)
    }
    async fn hold(&self, request: HoldRequest, ctx: ToolContext) -> Result<Booking, ToolError> {
        self.service.hold_as_of(&request, ctx.as_of).await.map_err(map)
    }
    async fn book(&self, request: BookRequest, ctx: ToolContext) -> Result<Booking, ToolError> {
        self.service.book_as_of(&request, ctx.as_of).await.map_err(map)
    }
    async fn get_booking(&self, booking_ref: String, _ctx: ToolContext) -> Result<Booking, ToolError> {
        self.service.get(&booking_ref).await.map_err(map)
    }
    async fn modify_booking(
        &self,
        booking_ref: String,
        request: ModifyRequest,
        ctx: ToolContext,
    ) -> Result<Booking, ToolError> {
        self.service.modify_as_of(&booking_ref, &request, ctx.as_of).await.map_err(map)
    }
    async fn cancel_booking(
        &self,
        booking_ref: String,
        request: CancelRequest,
        _ctx: ToolContext,
    ) -> Result<Booking, ToolError> {
        self.service.cancel(&booking_ref, &request).await.map_err(map)
    }
}
