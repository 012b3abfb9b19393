//! Booking tools over the booking service's HTTP API (a remote
//! `voxbook-booking`, or any service speaking the same contract).
//!
//! A 4xx answer is the service saying no ([`ToolError::Rejected`], never
//! retried); a 5xx, a timeout or a refused connection is
//! [`ToolError::Unavailable`], which the dialogue's retry policy retries.
//!
//! A session's as-of date ([`ToolContext::as_of`]) travels as the
//! [`AS_OF_HEADER`] request header on the calls that check dates; without
//! one no header is sent and the service uses its own clock.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use voxbook_dialogue::tools::{BookingTools, ToolContext, ToolError};
use voxbook_proto::ErrorBody;
use voxbook_proto::booking::{
    AS_OF_HEADER, BookRequest, Booking, CancelRequest, FlightOffers, FlightSearch, HoldRequest, HotelOffers,
    HotelSearch, ModifyRequest,
};

pub struct HttpTools {
    client: reqwest::Client,
    /// Without a trailing slash.
    base: String,
}

impl HttpTools {
    pub fn new(base_url: &str, connect_timeout: Duration) -> Result<HttpTools, reqwest::Error> {
        let client = reqwest::Client::builder().connect_timeout(connect_timeout).pool_max_idle_per_host(64).build()?;
        Ok(HttpTools { client, base: base_url.trim_end_matches('/').to_string() })
    }

    async fn call<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, ToolError> {
        let response = request.send().await.map_err(|e| ToolError::Unavailable(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return response.json::<T>().await.map_err(|e| ToolError::Unavailable(format!("unreadable answer: {e}")));
        }
        if status.is_client_error() {
            let body =
                response.json::<ErrorBody>().await.unwrap_or_else(|_| ErrorBody::new("rejected", status.to_string()));
            return Err(ToolError::Rejected { code: body.code, message: body.message });
        }
        Err(ToolError::Unavailable(format!("booking service answered {status}")))
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        ctx: ToolContext,
    ) -> Result<T, ToolError> {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(date) = ctx.as_of {
            request = request.header(AS_OF_HEADER, date.format("%Y-%m-%d").to_string());
        }
        self.call(request).await
    }
}

/// Booking references go into URL paths: anything but letters and digits
/// is refused before it can change the path.
fn checked_ref(booking_ref: &str) -> Result<&str, ToolError> {
    if !booking_ref.is_empty() && booking_ref.len() <= 16 && booking_ref.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(booking_ref)
    } else {
        Err(ToolError::Rejected { code: "not_found".into(), message: "no booking with that reference".into() })
    }
}

#[async_trait]
impl BookingTools for HttpTools {
    async fn search_flights(&self, query: FlightSearch, ctx: ToolContext) -> Result<FlightOffers, ToolError> {
        self.post("/v1/flights/search", &query, ctx).await
    }
    async fn search_hotels(&self, query: HotelSearch, ctx: ToolContext) -> Result<HotelOffers, ToolError> {
        self.post("/v1/hotels/search", &query, ctx).await
    }
    async fn hold(&self, request: HoldRequest, ctx: ToolContext) -> Result<Booking, ToolError> {
        self.post("/v1/holds", &request, ctx).await
    }
    async fn book(&self, request: BookRequest, ctx: ToolContext) -> Result<Booking, ToolError> {
        self.post("/v1/bookings", &request, ctx).await
    }
    async fn get_booking(&self, booking_ref: String, _ctx: ToolContext) -> Result<Booking, ToolError> {
        let code = checked_ref(&booking_ref)?;
        self.call(self.client.get(format!("{}/v1/bookings/{code}", self.base))).await
    }
    async fn modify_booking(
        &self,
        booking_ref: String,
        request: ModifyRequest,
        ctx: ToolContext,
    ) -> Result<Booking, ToolError> {
        let code = checked_ref(&booking_ref)?;
        self.post(&format!("/v1/bookings/{code}/modify"), &request, ctx).await
    }
    async fn cancel_booking(
        &self,
        booking_ref: String,
        request: CancelRequest,
        ctx: ToolContext,
    ) -> Result<Booking, ToolError> {
        let code = checked_ref(&booking_ref)?;
        self.post(&format!("/v1/bookings/{code}/cancel"), &request, ctx).await
    }
}
