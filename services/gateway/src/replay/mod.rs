//! `voxbook replay`: plays conversation scripts against a running gateway
//! over the session WebSocket, as a caller would, and checks every turn.
//!
//! Each script gets its own session (`POST /v1/sessions` with the script's
//! clock) and stream (`start`, protocol version 2, PCM s16le 16 kHz in, no
//! spoken replies: the replay judges what the assistant decides, not its
//! voice). Text turns go as `text` messages; audio turns as 20 ms binary
//! frames paced at real time divided by `speed`, followed by silence so the
//! server's endpointer closes the utterance. The replay then waits for the
//! `transcript`, the `turn_result` and the `turn_metrics` and checks the
//! turn ([`check`]). Results go into a [`report::Report`].
//!
//! Accelerated replay (`speed` > 1) needs a server started with
//! `--audio-max-speed` (`VOXBOOK_AUDIO_MAX_SPEED`) above `speed`: the server
//! drops audio that arrives faster, and says so with `audio_too_fast`,
//! which the replay turns into a script error naming the setting.

pub mod check;
pub mod cli;
pub mod record;
pub mod report;
pub mod script;
pub mod wer;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use voxbook_audio::tts::espeak::EspeakEngine;
use voxbook_proto::stream::{AudioEncoding, AudioInput, ClientMessage, PROTOCOL_VERSION, ServerEvent};

use check::Lookup;
use report::{Latency, Report, ScriptReport, TurnReport};
use script::{Input, Script, ScriptError, ScriptTurn};

/// Audio frames are 20 ms: 320 samples at 16 kHz.
const FRAME_SAMPLES: usize = 320;

/// How a replay runs.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The gateway's base URL (`http://host:port`).
    pub url: String,
    /// Sent as `Authorization: Bearer` when the gateway requires keys.
    pub api_key: Option<String>,
    /// 1 = real time; N = N times faster.
    pub speed: f64,
    /// How long one turn may take to answer once its input is sent.
    pub turn_timeout: Duration,
    /// Silence sent after each utterance, in ms of audio: enough for the
    /// server's endpoint (300 ms by default) with a margin.
    pub trailing_silence_ms: u32,
    /// Draw a progress bar on stderr (hidden when stderr is not a terminal).
    pub progress: bool,
}

impl ReplayOptions {
    pub fn new(url: impl Into<String>) -> ReplayOptions {
        ReplayOptions {
            url: url.into(),
            api_key: None,
            speed: 1.0,
            turn_timeout: Duration::from_secs(30),
            trailing_silence_ms: 700,
            progress: false,
        }
    }
}

/// Why a replay could not run at all (a script's own problems go into its
/// report instead).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("--speed must be between 0.1 and 100, got {0}")]
    InvalidSpeed(f64),
    #[error("invalid gateway URL {0:?}: expected http://host:port or https://host:port")]
    InvalidUrl(String),
    #[error("invalid API key: {0}")]
    InvalidApiKey(String),
    #[error("no scripts given")]
    NoScripts,
    #[error(transparent)]
    Script(#[from] ScriptError),
    #[error("building the HTTP client: {0}")]
    Client(reqwest::Error),
}

/// Why a script stopped before its end.
#[derive(Debug, thiserror::Error)]
enum PlayError {
    #[error(transparent)]
    Script(#[from] ScriptError),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{what}: HTTP {status}: {body}")]
    Status { what: String, status: u16, body: String },
    #[error("WebSocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("the server refused the stream: {code}: {message}")]
    Refused { code: String, message: String },
    #[error(
        "the server refuses audio this fast ({message}); replaying at --speed {speed} needs a server started with \
         --audio-max-speed (env VOXBOOK_AUDIO_MAX_SPEED) above {speed}"
    )]
    TooFast { speed: f64, message: String },
    #[error("turn {turn}: no {what} within {secs} s")]
    Timeout { turn: usize, what: &'static str, secs: u64 },
    #[error("the stream closed: {0}")]
    Closed(String),
    #[error("turn {turn}: server error {code}: {message}")]
    Fatal { turn: usize, code: String, message: String },
}

/// The gateway's REST side, for sessions and the checks' look-ups.
pub struct HttpLookup {
    client: reqwest::Client,
    base: String,
}

impl HttpLookup {
    /// `base` is the gateway's URL (`http://host:port`); `client` carries
    /// any authentication as default headers.
    pub fn new(client: reqwest::Client, base: impl Into<String>) -> HttpLookup {
        HttpLookup { client, base: base.into().trim_end_matches('/').to_string() }
    }
}

#[async_trait::async_trait]
impl Lookup for HttpLookup {
    async fn get_json(&self, path: &str) -> Result<(u16, Value), String> {
        let response =
            self.client.get(format!("{}{path}", self.base)).send().await.map_err(|e| format!("GET {path}: {e}"))?;
        let status = response.status().as_u16();
        let body = response.json().await.map_err(|e| format!("GET {path}: HTTP {status}, body not JSON: {e}"))?;
        Ok((status, body))
    }
}

/// Replays the scripts named by `paths` (files, or directories of
/// `*.yaml`), one after another. A script that fails does not stop the
/// others; the report says what passed.
pub async fn replay(paths: &[PathBuf], options: &ReplayOptions) -> Result<Report, ReplayError> {
    if !(0.1..=100.0).contains(&options.speed) {
        return Err(ReplayError::InvalidSpeed(options.speed));
    }
    let base = options.url.trim_end_matches('/').to_string();
    let ws_base = if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        return Err(ReplayError::InvalidUrl(options.url.clone()));
    };
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = &options.api_key {
        let value =
            HeaderValue::from_str(&format!("Bearer {key}")).map_err(|e| ReplayError::InvalidApiKey(e.to_string()))?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let client = reqwest::Client::builder().default_headers(headers).build().map_err(ReplayError::Client)?;
    let http = HttpLookup::new(client, base);

    let files = script::expand(paths)?;
    if files.is_empty() {
        return Err(ReplayError::NoScripts);
    }
    let loaded: Vec<(PathBuf, Result<Script, ScriptError>)> =
        files.into_iter().map(|p| (p.clone(), script::load(&p))).collect();
    let total_turns: usize = loaded.iter().filter_map(|(_, s)| s.as_ref().ok()).map(|s| s.turns.len()).sum();
    let bar = if options.progress { ProgressBar::new(total_turns as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} turns  {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let voice = script::default_voice();
    let mut reports = Vec::new();
    for (path, loaded) in loaded {
        let report = match loaded {
            Ok(script) => {
                let mut player = Player { http: &http, ws_base: &ws_base, options, voice: &voice, bar: &bar };
                player.run(&path, &script).await
            }
            Err(e) => ScriptReport {
                name: path.display().to_string(),
                path: path.clone(),
                session_id: None,
                passed: false,
                error: Some(e.to_string()),
                turns: Vec::new(),
                turns_total: 0,
                audio_secs: 0.0,
                wall_secs: 0.0,
            },
        };
        reports.push(report);
    }
    bar.finish_and_clear();
    Ok(Report::new(&options.url, options.speed, reports))
}

/// What the stream reader hands over.
enum Incoming {
    Event(Box<ServerEvent>),
    Closed(String),
}

type WsSink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

/// One open session stream: the write half, and the events the reader task
/// has received, in order.
struct Stream {
    sink: WsSink,
    events: mpsc::UnboundedReceiver<Incoming>,
    /// Events read while sending audio, not yet consumed.
    pending: VecDeque<Incoming>,
    reader: tokio::task::JoinHandle<()>,
}

impl Stream {
    async fn send_json(&mut self, message: &ClientMessage) -> Result<(), PlayError> {
        let text = serde_json::to_string(message).unwrap_or_default();
        self.sink.send(Message::Text(text.into())).await?;
        Ok(())
    }

    /// The next event, or `None` when `deadline` passes first.
    async fn next(&mut self, deadline: tokio::time::Instant) -> Option<Incoming> {
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        match tokio::time::timeout_at(deadline, self.events.recv()).await {
            Ok(Some(event)) => Some(event),
            Ok(None) => Some(Incoming::Closed("the connection ended".into())),
            Err(_) => None,
        }
    }

    /// Moves whatever has arrived into `pending`; fails at once on an
    /// `audio_too_fast` error, which would otherwise surface only as a
    /// garbled transcript.
    fn poll_errors(&mut self, speed: f64) -> Result<(), PlayError> {
        while let Ok(event) = self.events.try_recv() {
            if let Incoming::Event(e) = &event
                && let ServerEvent::Error { code, message, .. } = e.as_ref()
                && code == "audio_too_fast"
            {
                return Err(PlayError::TooFast { speed, message: message.clone() });
            }
            self.pending.push_back(event);
        }
        Ok(())
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Plays one script.
struct Player<'a> {
    http: &'a HttpLookup,
    ws_base: &'a str,
    options: &'a ReplayOptions,
    voice: &'a EspeakEngine,
    bar: &'a ProgressBar,
}

/// What one turn sent and got back, before checking.
#[derive(Default)]
struct Exchange {
    transcript: Option<String>,
    result: Option<Value>,
    latency: Latency,
    audio_secs: f64,
    /// Recoverable server errors during the turn.
    errors: Vec<String>,
}

impl Player<'_> {
    async fn run(&mut self, path: &Path, script: &Script) -> ScriptReport {
        let mut report = ScriptReport {
            name: script.name.clone(),
            path: path.to_path_buf(),
            session_id: None,
            passed: false,
            error: None,
            turns: Vec::new(),
            turns_total: script.turns.len(),
            audio_secs: 0.0,
            wall_secs: 0.0,
        };
        let started = Instant::now();
        let mut preparing = Duration::ZERO;
        if let Err(e) = self.play(script, &mut report, &mut preparing).await {
            report.error = Some(e.to_string());
            // The turns not played count as not passed in the progress.
            self.bar.inc((script.turns.len() - report.turns.len().min(script.turns.len())) as u64);
        }
        report.wall_secs = started.elapsed().saturating_sub(preparing).as_secs_f64();
        report.audio_secs = report.turns.iter().map(|t| t.audio_secs).sum::<f64>() + 0.0;
        report.passed = report.error.is_none() && report.turns.iter().all(|t| t.passed);
        report
    }

    async fn play(
        &mut self,
        script: &Script,
        report: &mut ScriptReport,
        preparing: &mut Duration,
    ) -> Result<(), PlayError> {
        // Synthesis is not part of the conversation's pace: audio that needs
        // no booking reference is made before the session opens.
        let prepare_start = Instant::now();
        let mut audio: Vec<Option<Vec<f32>>> = Vec::with_capacity(script.turns.len());
        for turn in &script.turns {
            audio.push(match turn.input() {
                Some(Input::Say(text)) if !text.contains("{ref") => Some(script::synthesize(self.voice, text).await?),
                Some(Input::Audio(path)) => Some(script::read_wav(path)?),
                _ => None,
            });
        }
        *preparing += prepare_start.elapsed();

        let session = self.create_session(&script.now).await?;
        report.session_id = Some(session.clone());
        let mut stream = self.open_stream(&session).await?;
        let mut last_ref: Option<String> = None;
        for (index, turn) in script.turns.iter().enumerate() {
            let input = turn.input().ok_or_else(|| ScriptError::Turn {
                path: report.path.clone(),
                turn: index + 1,
                message: "no input".into(),
            })?;
            self.bar.set_message(format!("{}: turn {}", script.name, index + 1));
            // A turn result still queued belongs to the previous turn's
            // audio, heard as two utterances: that turn did not go as written.
            stream.poll_errors(self.options.speed)?;
            if stream
                .pending
                .iter()
                .any(|e| matches!(e, Incoming::Event(e) if matches!(**e, ServerEvent::TurnResult { .. })))
                && let Some(previous) = report.turns.last_mut()
            {
                previous.passed = false;
                previous.failures.push("a second turn result followed (the audio was heard as two utterances?)".into());
                stream.pending.clear();
            }
            let text = match input {
                Input::Text(t) | Input::Say(t) => Some(script::fill_ref(t, last_ref.as_deref())?),
                Input::Audio(_) => None,
            };
            let samples = match (input, audio.get_mut(index).and_then(Option::take)) {
                (_, Some(samples)) => Some(samples),
                (Input::Say(_), None) => {
                    let start = Instant::now();
                    let samples = script::synthesize(self.voice, text.as_deref().unwrap_or_default()).await?;
                    *preparing += start.elapsed();
                    Some(samples)
                }
                _ => None,
            };
            let exchange = self.exchange(&mut stream, index + 1, text.as_deref(), samples.as_deref()).await?;
            let turn_report = self.judge(&session, turn, input, text.as_deref(), index + 1, exchange).await;
            if let Some(code) = &turn_report.booking_ref {
                last_ref = Some(code.clone());
            }
            report.turns.push(turn_report);
            self.bar.inc(1);
        }
        let _ = stream.send_json(&ClientMessage::Stop).await;
        let _ = stream.sink.close().await;
        Ok(())
    }

    async fn create_session(&self, now: &str) -> Result<String, PlayError> {
        let response =
            self.http.client.post(format!("{}/v1/sessions", self.http.base)).json(&json!({"now": now})).send().await?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match body["session_id"].as_str() {
            Some(id) if status == 201 || status == 200 => Ok(id.to_string()),
            _ => Err(PlayError::Status { what: "POST /v1/sessions".into(), status, body: body.to_string() }),
        }
    }

    async fn open_stream(&self, session: &str) -> Result<Stream, PlayError> {
        let mut request = format!("{}/v1/sessions/{session}/stream", self.ws_base).into_client_request()?;
        if let Some(key) = &self.options.api_key
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer {key}"))
        {
            request.headers_mut().insert("authorization", value);
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        let (sink, mut source) = ws.split();
        let (tx, events) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            while let Some(message) = source.next().await {
                match message {
                    Ok(Message::Text(text)) => match serde_json::from_str::<ServerEvent>(&text) {
                        Ok(event) => {
                            if tx.send(Incoming::Event(Box::new(event))).is_err() {
                                return;
                            }
                        }
                        // An event this client does not know: newer server.
                        Err(_) => continue,
                    },
                    Ok(Message::Close(frame)) => {
                        let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                        let _ = tx.send(Incoming::Closed(format!("closed by the server {reason}")));
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Incoming::Closed(e.to_string()));
                        return;
                    }
                }
            }
            let _ = tx.send(Incoming::Closed("the connection ended".into()));
        });
        let mut stream = Stream { sink, events, pending: VecDeque::new(), reader };
        let audio = AudioInput { encoding: AudioEncoding::PcmS16le, sample_rate: script::SAMPLE_RATE, channels: 1 };
        stream
            .send_json(&ClientMessage::Start { protocol_version: PROTOCOL_VERSION, audio: Some(audio), output: None })
            .await?;
        let deadline = tokio::time::Instant::now() + self.options.turn_timeout;
        let timeout = PlayError::Timeout { turn: 0, what: "ready", secs: self.options.turn_timeout.as_secs() };
        match stream.next(deadline).await {
            Some(Incoming::Event(event)) => match *event {
                ServerEvent::Ready { .. } => Ok(stream),
                ServerEvent::Error { code, message, .. } => Err(PlayError::Refused { code, message }),
                _ => Err(timeout),
            },
            Some(Incoming::Closed(reason)) => Err(PlayError::Closed(reason)),
            None => Err(timeout),
        }
    }

    /// Sends one turn's input and collects what comes back.
    async fn exchange(
        &self,
        stream: &mut Stream,
        turn: usize,
        text: Option<&str>,
        samples: Option<&[f32]>,
    ) -> Result<Exchange, PlayError> {
        let started = Instant::now();
        let mut exchange = Exchange::default();
        match samples {
            Some(samples) => {
                let silence = self.options.trailing_silence_ms as usize * script::SAMPLE_RATE as usize / 1000;
                let total = samples.len() + silence;
                exchange.audio_secs = total as f64 / f64::from(script::SAMPLE_RATE);
                let frame_time = Duration::from_secs_f64(FRAME_SAMPLES as f64 / 16_000.0 / self.options.speed);
                let pace_start = tokio::time::Instant::now();
                let mut frame = Vec::with_capacity(FRAME_SAMPLES * 2);
                for (i, start) in (0..total).step_by(FRAME_SAMPLES).enumerate() {
                    // Paced by the frame's due time, not a fixed sleep, so
                    // timer granularity never accumulates into drift.
                    let due = pace_start + frame_time.mul_f64(i as f64);
                    if due > tokio::time::Instant::now() {
                        tokio::time::sleep_until(due).await;
                    }
                    frame.clear();
                    for j in start..(start + FRAME_SAMPLES).min(total) {
                        let s = samples.get(j).copied().unwrap_or(0.0);
                        frame.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes());
                    }
                    stream.sink.send(Message::Binary(frame.clone().into())).await?;
                    stream.poll_errors(self.options.speed)?;
                }
            }
            None => {
                let text = text.unwrap_or_default().to_string();
                stream.send_json(&ClientMessage::Text { text, turn_id: Some(format!("turn-{turn}")) }).await?;
            }
        }
        let sent = Instant::now();
        let timeout = self.options.turn_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let secs = timeout.as_secs();
        loop {
            match stream.next(deadline).await {
                Some(Incoming::Event(event)) => match *event {
                    ServerEvent::Transcript { text, .. } => exchange.transcript = Some(text),
                    ServerEvent::TurnResult { result, .. } => {
                        exchange.latency.response_ms = sent.elapsed().as_millis() as u64;
                        exchange.result = Some(serde_json::to_value(result).unwrap_or_default());
                        break;
                    }
                    ServerEvent::Error { code, message, recoverable } => {
                        if code == "audio_too_fast" {
                            return Err(PlayError::TooFast { speed: self.options.speed, message });
                        }
                        if !recoverable {
                            return Err(PlayError::Fatal { turn, code, message });
                        }
                        exchange.errors.push(format!("server error {code}: {message}"));
                        // An utterance the server could not use ends with
                        // this error and no turn result.
                        if samples.is_some() && exchange.transcript.is_none() {
                            exchange.latency.response_ms = sent.elapsed().as_millis() as u64;
                            break;
                        }
                    }
                    _ => {}
                },
                Some(Incoming::Closed(reason)) => return Err(PlayError::Closed(reason)),
                None => return Err(PlayError::Timeout { turn, what: "turn result", secs }),
            }
        }
        // The metrics follow the result at once when replies are not spoken;
        // a server that sends none costs this short wait, not a failure.
        let metrics_deadline = tokio::time::Instant::now() + Duration::from_secs(2).min(timeout);
        while exchange.result.is_some() {
            match stream.next(metrics_deadline).await {
                Some(Incoming::Event(event)) => match *event {
                    ServerEvent::TurnMetrics {
                        endpoint_to_transcript_ms,
                        asr_decode_ms,
                        dialogue_ms,
                        tools_ms,
                        ..
                    } => {
                        exchange.latency.endpoint_to_transcript_ms = endpoint_to_transcript_ms;
                        exchange.latency.asr_decode_ms = asr_decode_ms;
                        exchange.latency.dialogue_ms = Some(dialogue_ms);
                        exchange.latency.tools_ms = Some(tools_ms);
                        break;
                    }
                    // The next turn's (or a split utterance's) result.
                    other @ ServerEvent::TurnResult { .. } => {
                        stream.pending.push_front(Incoming::Event(Box::new(other)));
                        break;
                    }
                    _ => {}
                },
                Some(closed @ Incoming::Closed(_)) => {
                    stream.pending.push_front(closed);
                    break;
                }
                None => break,
            }
        }
        exchange.latency.turn_ms = started.elapsed().as_millis() as u64;
        Ok(exchange)
    }

    /// Checks one exchange against the turn's expectations.
    async fn judge(
        &self,
        session: &str,
        turn: &ScriptTurn,
        input: Input<'_>,
        text: Option<&str>,
        number: usize,
        exchange: Exchange,
    ) -> TurnReport {
        let said = match input {
            Input::Say(_) => text,
            _ => None,
        };
        let transcript_check = check::check_transcript(&turn.expect, said, exchange.transcript.as_deref());
        let mut failures = exchange.errors;
        failures.extend(transcript_check.failures);
        let body = exchange.result.unwrap_or(Value::Null);
        if body.is_null() {
            failures.push("no turn result".into());
        } else {
            failures.extend(check::check_result(self.http, session, &turn.expect, &body).await);
        }
        let shown = match input {
            Input::Audio(path) => path.display().to_string(),
            _ => text.unwrap_or_default().to_string(),
        };
        let string = |v: &Value| v.as_str().map(str::to_string);
        TurnReport {
            turn: number,
            kind: input.kind().to_string(),
            input: shown,
            audio_secs: exchange.audio_secs,
            transcript: exchange.transcript,
            expected_transcript: transcript_check.expected,
            wer: transcript_check.wer,
            intent: string(&body["intent"]["name"]),
            reply: string(&body["reply"]),
            booking_ref: string(&body["booking_ref"]),
            latency: exchange.latency,
            passed: failures.is_empty(),
            failures,
        }
    }
}
