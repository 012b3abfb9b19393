//! Booking tools as the dialogue sees them, and the policy for calling them:
//! a per-attempt timeout, an overall budget, retries with backoff.
//!
//! The transport lives elsewhere (the gateway implements [`BookingTools`]
//! over HTTP, or in-process against the reference service); this module
//! decides how hard to try. Every call is retry-safe: reads have no effect
//! and every write carries an idempotency key, so repeating one can never
//! book twice. Business answers ("sold out", "not found") are final and
//! never retried; only transport failures and timeouts are.
//!
//! Every call of a turn also carries the turn's [`ToolContext`]: for a
//! session whose clock is fixed (a demo, a QA replay, a test), the date the
//! booking service should treat as today, so that "the twelfth of June" of
//! a session living in June 2030 is on sale. Call sites never pass it: the
//! runner hands each call a [`BoundTools`] with the context already bound.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::NaiveDate;
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};
use tracing::Instrument;
use voxbook_proto::api::ToolCallOut;
use voxbook_proto::booking::{
    BookRequest, Booking, CancelRequest, FlightOffers, FlightSearch, HoldRequest, HotelOffers, HotelSearch,
    ModifyRequest,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The service answered and said no; retrying would say no again.
    #[error("{code}: {message}")]
    Rejected { code: String, message: String },
    /// The service could not be reached or failed; worth retrying.
    #[error("booking service unavailable: {0}")]
    Unavailable(String),
}

impl ToolError {
    pub fn code(&self) -> &str {
        match self {
            ToolError::Rejected { code, .. } => code,
            ToolError::Unavailable(_) => "unavailable",
        }
    }
}

/// What every tool call of one turn carries besides its request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ToolContext {
    /// The session's "today" when its clock is fixed: the booking service
    /// counts its sale window (not in the past, at most a year ahead) from
    /// this date instead of its own clock. `None` for sessions on the real
    /// clock: the service decides. A real booking backend may ignore it.
    pub as_of: Option<NaiveDate>,
}

/// The booking service's operations. Implementations pass
/// [`ToolContext::as_of`] on to the service (a header over HTTP) where it
/// checks dates: searches, holds, bookings and changes.
#[async_trait]
pub trait BookingTools: Send + Sync + 'static {
    async fn search_flights(&self, query: FlightSearch, ctx: ToolContext) -> Result<FlightOffers, ToolError>;
    async fn search_hotels(&self, query: HotelSearch, ctx: ToolContext) -> Result<HotelOffers, ToolError>;
    async fn hold(&self, request: HoldRequest, ctx: ToolContext) -> Result<Booking, ToolError>;
    async fn book(&self, request: BookRequest, ctx: ToolContext) -> Result<Booking, ToolError>;
    async fn get_booking(&self, booking_ref: String, ctx: ToolContext) -> Result<Booking, ToolError>;
    async fn modify_booking(
        &self,
        booking_ref: String,
        request: ModifyRequest,
        ctx: ToolContext,
    ) -> Result<Booking, ToolError>;
    async fn cancel_booking(
        &self,
        booking_ref: String,
        request: CancelRequest,
        ctx: ToolContext,
    ) -> Result<Booking, ToolError>;
}

/// The booking tools as one turn's calls see them: [`BookingTools`] with
/// the turn's [`ToolContext`] bound, so a call site names only its request.
#[derive(Clone)]
pub struct BoundTools {
    tools: Arc<dyn BookingTools>,
    ctx: ToolContext,
}

impl BoundTools {
    pub fn context(&self) -> ToolContext {
        self.ctx
    }
    pub async fn search_flights(&self, query: FlightSearch) -> Result<FlightOffers, ToolError> {
        self.tools.search_flights(query, self.ctx).await
    }
    pub async fn search_hotels(&self, query: HotelSearch) -> Result<HotelOffers, ToolError> {
        self.tools.search_hotels(query, self.ctx).await
    }
    pub async fn hold(&self, request: HoldRequest) -> Result<Booking, ToolError> {
        self.tools.hold(request, self.ctx).await
    }
    pub async fn book(&self, request: BookRequest) -> Result<Booking, ToolError> {
        self.tools.book(request, self.ctx).await
    }
    pub async fn get_booking(&self, booking_ref: String) -> Result<Booking, ToolError> {
        self.tools.get_booking(booking_ref, self.ctx).await
    }
    pub async fn modify_booking(&self, booking_ref: String, request: ModifyRequest) -> Result<Booking, ToolError> {
        self.tools.modify_booking(booking_ref, request, self.ctx).await
    }
    pub async fn cancel_booking(&self, booking_ref: String, request: CancelRequest) -> Result<Booking, ToolError> {
        self.tools.cancel_booking(booking_ref, request, self.ctx).await
    }
}

/// The tool calls of one turn: the context they all carry, and a record of
/// each for the turn's `tool_calls`.
#[derive(Debug, Default)]
pub struct ToolCalls {
    ctx: ToolContext,
    records: Vec<ToolCallOut>,
}

impl ToolCalls {
    pub fn new(ctx: ToolContext) -> Self {
        ToolCalls { ctx, records: Vec::new() }
    }

    pub fn context(&self) -> ToolContext {
        self.ctx
    }

    pub fn records(&self) -> &[ToolCallOut] {
        &self.records
    }

    pub fn into_records(self) -> Vec<ToolCallOut> {
        self.records
    }
}

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// One attempt is abandoned after this long.
    pub attempt_timeout: Duration,
    /// No new attempt starts once this much time has gone since the first:
    /// a caller on the phone should hear a fallback, not silence.
    pub budget: Duration,
    pub max_attempts: u32,
    /// First backoff; doubled each retry, with up to 50% random jitter so
    /// that many sessions retrying at once do not stampede.
    pub base_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempt_timeout: Duration::from_millis(1500),
            budget: Duration::from_millis(4000),
            max_attempts: 3,
            base_backoff: Duration::from_millis(100),
        }
    }
}

/// Calls tools under a [`RetryPolicy`] and records each call for the turn's
/// `tool_calls`.
#[derive(Clone)]
pub struct ToolRunner {
    tools: Arc<dyn BookingTools>,
    policy: RetryPolicy,
}

impl ToolRunner {
    pub fn new(tools: Arc<dyn BookingTools>, policy: RetryPolicy) -> Self {
        ToolRunner { tools, policy }
    }

    pub fn tools(&self) -> &dyn BookingTools {
        self.tools.as_ref()
    }

    /// Runs `call` with retries, handing it the tools bound to the turn's
    /// context; appends a record to `calls`.
    pub async fn run<T, F, Fut>(&self, name: &str, calls: &mut ToolCalls, call: F) -> Result<T, ToolError>
    where
        T: Serialize,
        F: Fn(BoundTools) -> Fut,
        Fut: Future<Output = Result<T, ToolError>>,
    {
        let bound = BoundTools { tools: self.tools.clone(), ctx: calls.ctx };
        let span =
            tracing::info_span!("tool_call", tool = name, attempts = tracing::field::Empty, ok = tracing::field::Empty);
        let started = Instant::now();
        let mut attempts = 0;
        let result = async {
            loop {
                attempts += 1;
                let outcome = match tokio::time::timeout(self.policy.attempt_timeout, call(bound.clone())).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(ToolError::Unavailable(format!(
                        "no answer within {} ms",
                        self.policy.attempt_timeout.as_millis()
                    ))),
                };
                match outcome {
                    Err(ToolError::Unavailable(reason)) if attempts < self.policy.max_attempts => {
                        let backoff = self.backoff(attempts);
                        if started.elapsed() + backoff >= self.policy.budget {
                            break Err(ToolError::Unavailable(reason));
                        }
                        tracing::warn!(tool = name, attempt = attempts, %reason, "tool call failed; retrying");
                        tokio::time::sleep(backoff).await;
                    }
                    other => break other,
                }
            }
        }
        .instrument(span.clone())
        .await;
        span.record("attempts", attempts);
        span.record("ok", result.is_ok());
        let value = match &result {
            Ok(v) => serde_json::to_value(v).unwrap_or(Value::Null),
            Err(e) => json!({"code": e.code(), "message": e.to_string()}),
        };
        calls.records.push(ToolCallOut {
            name: name.to_string(),
            ok: result.is_ok(),
            result: value,
            attempts,
            elapsed_ms: started.elapsed().as_millis() as u64,
        });
        result
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.policy.base_backoff.saturating_mul(1 << (attempt - 1).min(10));
        let jitter = rand::rng().random_range(0.0..0.5);
        base.mul_f64(1.0 + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A tool double whose search fails the first `failures` times.
    struct Flaky {
        failures: u32,
        calls: AtomicU32,
        hang: bool,
        /// The context of every search attempt.
        seen: std::sync::Mutex<Vec<ToolContext>>,
    }

    impl Flaky {
        fn new(failures: u32, hang: bool) -> Self {
            Flaky { failures, calls: AtomicU32::new(0), hang, seen: std::sync::Mutex::new(Vec::new()) }
        }
    }

    #[async_trait]
    impl BookingTools for Flaky {
        async fn search_flights(&self, _q: FlightSearch, ctx: ToolContext) -> Result<FlightOffers, ToolError> {
            self.seen.lock().expect("lock").push(ctx);
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if self.hang {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            if n < self.failures {
                Err(ToolError::Unavailable("connection refused".into()))
            } else {
                Ok(FlightOffers { offers: vec![] })
            }
        }
        async fn search_hotels(&self, _q: HotelSearch, _c: ToolContext) -> Result<HotelOffers, ToolError> {
            Err(ToolError::Rejected { code: "unknown_airport".into(), message: "no such city".into() })
        }
        async fn hold(&self, _r: HoldRequest, _c: ToolContext) -> Result<Booking, ToolError> {
            unreachable!()
        }
        async fn book(&self, _r: BookRequest, _c: ToolContext) -> Result<Booking, ToolError> {
            unreachable!()
        }
        async fn get_booking(&self, _r: String, _c: ToolContext) -> Result<Booking, ToolError> {
            unreachable!()
        }
        async fn modify_booking(&self, _r: String, _q: ModifyRequest, _c: ToolContext) -> Result<Booking, ToolError> {
            unreachable!()
        }
        async fn cancel_booking(&self, _r: String, _q: CancelRequest, _c: ToolContext) -> Result<Booking, ToolError> {
            unreachable!()
        }
    }

    fn query() -> FlightSearch {
        FlightSearch {
            origin: "LHR".into(),
            destination: "CDG".into(),
            depart_date: "2030-06-12".into(),
            return_date: None,
            passengers: 1,
            cabin: Default::default(),
        }
    }

    fn runner(flaky: Flaky) -> (ToolRunner, Arc<Flaky>) {
        let flaky = Arc::new(flaky);
        let policy = RetryPolicy {
            attempt_timeout: Duration::from_millis(50),
            budget: Duration::from_millis(500),
            max_attempts: 3,
            base_backoff: Duration::from_millis(1),
        };
        (ToolRunner::new(flaky.clone(), policy), flaky)
    }

    #[tokio::test]
    async fn retries_transport_failures_then_succeeds() {
        let (runner, flaky) = runner(Flaky::new(2, false));
        let mut log = ToolCalls::default();
        let out = runner.run("search_flights", &mut log, |t| async move { t.search_flights(query()).await }).await;
        assert!(out.is_ok());
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 3);
        assert_eq!(log.records()[0].attempts, 3);
        assert!(log.records()[0].ok);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let (runner, flaky) = runner(Flaky::new(10, false));
        let mut log = ToolCalls::default();
        let out = runner.run("search_flights", &mut log, |t| async move { t.search_flights(query()).await }).await;
        assert!(matches!(out, Err(ToolError::Unavailable(_))));
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 3);
        assert!(!log.records()[0].ok);
        assert_eq!(log.records()[0].result["code"], "unavailable");
    }

    #[tokio::test]
    async fn a_hanging_service_times_out() {
        let (runner, _) = runner(Flaky::new(0, true));
        let mut log = ToolCalls::default();
        let started = Instant::now();
        let out = runner.run("search_flights", &mut log, |t| async move { t.search_flights(query()).await }).await;
        assert!(matches!(out, Err(ToolError::Unavailable(_))));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn business_errors_are_not_retried() {
        let (runner, _) = runner(Flaky::new(0, false));
        let mut log = ToolCalls::default();
        let q = HotelSearch { city: "XXX".into(), check_in: "2030-01-01".into(), nights: 1, guests: 1 };
        let out = runner
            .run("search_hotels", &mut log, |t| {
                let q = q.clone();
                async move { t.search_hotels(q).await }
            })
            .await;
        assert!(matches!(out, Err(ToolError::Rejected { .. })));
        assert_eq!(log.records()[0].attempts, 1);
    }

    #[tokio::test]
    async fn every_attempt_carries_the_turns_context() {
        let (runner, flaky) = runner(Flaky::new(1, false));
        let as_of = NaiveDate::from_ymd_opt(2030, 6, 3);
        let mut calls = ToolCalls::new(ToolContext { as_of });
        let out = runner.run("search_flights", &mut calls, |t| async move { t.search_flights(query()).await }).await;
        assert!(out.is_ok());
        let seen = flaky.seen.lock().expect("lock").clone();
        assert_eq!(seen, vec![ToolContext { as_of }; 2], "the retry carries it too");
        assert_eq!(calls.into_records().len(), 1);
    }
}
