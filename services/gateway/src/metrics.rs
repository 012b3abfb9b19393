//! Prometheus metrics of the gateway, in an explicit registry owned by the
//! app state (no process-global recorder, so several gateways can run in
//! one test process and each reports only its own numbers).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use voxbook_proto::api::TurnResponse;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    pub channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IntentLabels {
    pub intent: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabels {
    pub tool: String,
    pub ok: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms .. ~8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<HttpLabels, Histogram, fn() -> Histogram>,
    pub turn_duration: Family<ChannelLabels, Histogram, fn() -> Histogram>,
    pub turns: Family<IntentLabels, Counter>,
    pub tool_calls: Family<ToolLabels, Counter>,
    pub tool_duration: Family<ToolLabels, Histogram, fn() -> Histogram>,
    pub sessions_created: Counter,
    pub bookings_made: Counter,
    pub config_reloads: Family<ResultLabels, Counter>,
    pub open_streams: Gauge,
    /// Time from the confirmed end of speech to the final transcript.
    pub asr_endpoint_latency: Histogram,
    /// Decoder time of final transcripts.
    pub asr_decode: Histogram,
    /// From a reply's start to its first audio byte on the socket.
    pub tts_first_audio: Histogram,
    /// From the end of the user's speech to the reply's first audio byte.
    pub voice_to_voice: Histogram,
    /// From the start of speech to the confirmed endpoint (the utterance
    /// plus the end-of-speech silence).
    pub vad_endpoint: Histogram,
    /// From a barge-in voice's onset to its detection, in audio time.
    pub barge_in_detection: Histogram,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("voxbook");
        let m = Metrics {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            turn_duration: Family::new_with_constructor(latency_histogram),
            turns: Family::default(),
            tool_calls: Family::default(),
            tool_duration: Family::new_with_constructor(latency_histogram),
            sessions_created: Counter::default(),
            bookings_made: Counter::default(),
            config_reloads: Family::default(),
            open_streams: Gauge::default(),
            asr_endpoint_latency: latency_histogram(),
            asr_decode: latency_histogram(),
            tts_first_audio: latency_histogram(),
            voice_to_voice: latency_histogram(),
            vad_endpoint: latency_histogram(),
            barge_in_detection: latency_histogram(),
            registry: Registry::default(),
        };
        registry.register("http_requests", "HTTP requests by route, method and status", m.http_requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", m.http_duration.clone());
        registry.register(
            "turn_duration_seconds",
            "Dialogue turn latency (load, engine, tools, save)",
            m.turn_duration.clone(),
        );
        registry.register("turns", "Dialogue turns by recognised intent", m.turns.clone());
        registry.register("tool_calls", "Booking tool calls by tool and outcome", m.tool_calls.clone());
        registry.register(
            "tool_call_duration_seconds",
            "Booking tool call latency, retries included",
            m.tool_duration.clone(),
        );
        registry.register("sessions_created", "Sessions created", m.sessions_created.clone());
        registry.register(
            "bookings_changed",
            "Turns that made, changed or cancelled a booking",
            m.bookings_made.clone(),
        );
        registry.register("config_reloads", "Assistant config reloads by result", m.config_reloads.clone());
        registry.register("open_streams", "Open session WebSocket streams", m.open_streams.clone());
        registry.register(
            "asr_endpoint_to_transcript_seconds",
            "From the confirmed end of speech to the final transcript",
            m.asr_endpoint_latency.clone(),
        );
        registry.register("asr_decode_seconds", "Decoder time of final transcripts", m.asr_decode.clone());
        registry.register("tts_first_audio_seconds", "Reply start to its first audio byte", m.tts_first_audio.clone());
        registry.register(
            "voice_to_voice_seconds",
            "End of the user's speech to the reply's first audio byte",
            m.voice_to_voice.clone(),
        );
        registry.register(
            "vad_endpoint_seconds",
            "From the start of speech to the confirmed endpoint",
            m.vad_endpoint.clone(),
        );
        registry.register(
            "barge_in_detection_seconds",
            "From a barge-in voice's onset to its detection (audio time)",
            m.barge_in_detection.clone(),
        );
        Arc::new(Metrics { registry, ..m })
    }

    /// Records what a turn did.
    pub fn observe_turn(&self, channel: &str, elapsed: Duration, response: &TurnResponse) {
        self.turn_duration.get_or_create(&ChannelLabels { channel: channel.into() }).observe(elapsed.as_secs_f64());
        self.turns.get_or_create(&IntentLabels { intent: response.intent.name.clone() }).inc();
        for call in &response.tool_calls {
            let labels = ToolLabels { tool: call.name.clone(), ok: call.ok.to_string() };
            self.tool_calls.get_or_create(&labels).inc();
            self.tool_duration.get_or_create(&labels).observe(call.elapsed_ms as f64 / 1000.0);
        }
        if response.booking_ref.is_some() {
            self.bookings_made.inc();
        }
    }

    pub fn observe_asr(&self, endpoint_to_transcript: Duration, decode: Duration) {
        self.asr_endpoint_latency.observe(endpoint_to_transcript.as_secs_f64());
        self.asr_decode.observe(decode.as_secs_f64());
    }

    pub fn observe_speech_out(&self, tts_first_audio: Option<Duration>, voice_to_voice: Option<Duration>) {
        if let Some(d) = tts_first_audio {
            self.tts_first_audio.observe(d.as_secs_f64());
        }
        if let Some(d) = voice_to_voice {
            self.voice_to_voice.observe(d.as_secs_f64());
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}

/// Middleware counting and timing every request by its route template
/// (not the raw path, which would explode label cardinality).
pub async fn track(
    State(metrics): State<Arc<Metrics>>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let route = matched.map(|m| m.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let labels = HttpLabels { route, method, status: response.status().as_u16() };
    metrics.http_requests.get_or_create(&labels).inc();
    metrics.http_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    response
}

pub async fn endpoint(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], metrics.render())
}
