//! The session stream (`GET /v1/sessions/{id}/stream`) over a real
//! WebSocket: the start handshake, text turns, ping, stop, every protocol
//! error, authentication of the upgrade, and one conversation shared
//! between HTTP and the stream.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use voxbook_tests::{Backend, TestGateway};

const NOW: &str = "2030-06-03T09:00:00Z";
const WAIT: Duration = Duration::from_secs(10);

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn gateway() -> TestGateway {
    TestGateway::start(&Backend::redis_sqlite()).await.expect("gateway starts")
}

/// Creates a session over HTTP; returns its id and greeting.
async fn session(gw: &TestGateway) -> (String, String) {
    let created: Value = gw
        .client
        .post(gw.url("/v1/sessions"))
        .json(&json!({"now": NOW}))
        .send()
        .await
        .expect("create session")
        .json()
        .await
        .expect("json");
    let id = created["session_id"].as_str().expect("session_id").to_string();
    let greeting = created["greeting"].as_str().expect("greeting").to_string();
    (id, greeting)
}

fn stream_path(id: &str) -> String {
    format!("/v1/sessions/{id}/stream")
}

async fn connect(gw: &TestGateway, id: &str) -> Ws {
    let (ws, response) = connect_async(gw.ws_url(&stream_path(id))).await.expect("WebSocket handshake");
    assert_eq!(response.status().as_u16(), 101);
    ws
}

/// The HTTP status a failed WebSocket handshake got.
async fn refused(request: impl IntoClientRequest + Unpin) -> u16 {
    match connect_async(request).await {
        Ok((_, response)) => panic!("the handshake should fail, got {}", response.status()),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("the handshake should fail with an HTTP status, got {e}"),
    }
}

async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::text(message.to_string())).await.expect("send");
}

/// The next JSON event, skipping WebSocket-level pings.
async fn event(ws: &mut Ws) -> Value {
    loop {
        let next = tokio::time::timeout(WAIT, ws.next()).await.expect("an event in time");
        match next {
            Some(Ok(Message::Text(text))) => {
                let event: Value = serde_json::from_str(&text).expect("events are JSON");
                // Per-turn metrics follow every turn result; their own test
                // checks them, the others read past them.
                if event["type"] != "turn_metrics" {
                    return event;
                }
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

/// Waits until the server has ended the stream (a close frame, the end of
/// the connection, or a reset); fails if another event comes first.
async fn ends(ws: &mut Ws) {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("the stream ends in time") {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => panic!("expected the stream to end, got {other:?}"),
        }
    }
}

/// Opens the stream and completes the start handshake.
async fn started(gw: &TestGateway, id: &str) -> Ws {
    let mut ws = connect(gw, id).await;
    send(&mut ws, json!({"type": "start", "protocol_version": 1})).await;
    let ready = event(&mut ws).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    ws
}

fn assert_error_event(event: &Value, code: &str, recoverable: bool) {
    assert_eq!(event["type"], "error", "{event}");
    assert_eq!(event["code"], code, "{event}");
    assert_eq!(event["recoverable"], recoverable, "{event}");
    assert!(event["message"].as_str().is_some_and(|m| !m.trim().is_empty()), "{event}");
}

/// Checks the stream still answers: a ping comes back as a pong.
async fn still_alive(ws: &mut Ws, nonce: &str) {
    send(ws, json!({"type": "ping", "nonce": nonce})).await;
    let pong = event(ws).await;
    assert_eq!(pong, json!({"type": "pong", "nonce": nonce}));
}

/// The `voxbook_open_streams` gauge.
async fn open_streams(gw: &TestGateway) -> f64 {
    let metrics = gw.client.get(gw.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("voxbook_open_streams ")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no voxbook_open_streams in:\n{metrics}"))
}

async fn view(gw: &TestGateway, id: &str) -> Value {
    let (status, body) = gw.get_json(&format!("/v1/sessions/{id}")).await.expect("view");
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_turn_ping_stop() {
    let gw = gateway().await;
    let (id, greeting) = session(&gw).await;
    let mut ws = connect(&gw, &id).await;

    send(&mut ws, json!({"type": "start", "protocol_version": 1})).await;
    let ready = event(&mut ws).await;
    assert_eq!(ready, json!({"type": "ready", "session_id": id, "protocol_version": 1, "prompt": greeting}));

    send(&mut ws, json!({"type": "text", "text": "i need a hotel in barcelona", "turn_id": "t1"})).await;
    let result = event(&mut ws).await;
    assert_eq!(result["type"], "turn_result", "{result}");
    assert_eq!(result["turn_id"], "t1", "{result}");
    let turn = &result["result"];
    assert_eq!(turn["session_id"], id.as_str(), "{result}");
    assert_eq!(turn["turn"], 1, "{result}");
    assert_eq!(turn["intent"]["name"], "book_hotel", "{result}");
    assert_eq!(turn["awaiting"], "check_in", "{result}");
    assert_eq!(turn["slots"]["city"]["code"], "BCN", "{result}");
    assert_eq!(turn["flow"], "book_hotel", "{result}");

    // A turn without an id gets a result without one.
    send(&mut ws, json!({"type": "text", "text": "on the twentieth of june"})).await;
    let result = event(&mut ws).await;
    assert_eq!(result["type"], "turn_result", "{result}");
    assert!(result.get("turn_id").is_none(), "{result}");
    assert_eq!(result["result"]["turn"], 2, "{result}");
    assert_eq!(result["result"]["slots"]["check_in"], "2030-06-20", "{result}");
    assert_eq!(result["result"]["awaiting"], "nights", "{result}");

    assert_eq!(open_streams(&gw).await, 1.0, "the open stream is counted");
    still_alive(&mut ws, "n-42").await;
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(event(&mut ws).await, json!({"type": "pong"}));

    send(&mut ws, json!({"type": "stop"})).await;
    assert_eq!(event(&mut ws).await, json!({"type": "bye"}));
    ends(&mut ws).await;

    // The gauge comes back down once the stream is over.
    let mut open = open_streams(&gw).await;
    for _ in 0..50 {
        if open == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        open = open_streams(&gw).await;
    }
    assert_eq!(open, 0.0, "no stream is open any more");
    let metrics = gw.client.get(gw.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("voxbook_turn_duration_seconds_count{channel=\"stream\"} 2\n"), "{metrics}");

    // The turns were saved like HTTP turns.
    let state = view(&gw, &id).await;
    assert_eq!(state["turns"], 2, "{state}");
    assert_eq!(state["history"][0]["user"], "i need a hotel in barcelona");
    assert_eq!(state["awaiting"], "nights");
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_protocol_versions_are_refused() {
    let gw = gateway().await;
    let (id, _) = session(&gw).await;
    for version in [0, 3, 999] {
        let mut ws = connect(&gw, &id).await;
        send(&mut ws, json!({"type": "start", "protocol_version": version})).await;
        let error = event(&mut ws).await;
        assert_error_event(&error, "unsupported_protocol_version", false);
        ends(&mut ws).await;
    }
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_message_must_be_start() {
    let gw = gateway().await;
    let (id, _) = session(&gw).await;
    let firsts = [
        Message::text(json!({"type": "text", "text": "i need a hotel in barcelona"}).to_string()),
        Message::text(json!({"type": "ping", "nonce": "x"}).to_string()),
        Message::text(json!({"type": "stop"}).to_string()),
        Message::binary(vec![0u8, 1, 2, 3]),
    ];
    for first in firsts {
        let shown = format!("{first:?}");
        let mut ws = connect(&gw, &id).await;
        ws.send(first).await.expect("send");
        let error = event(&mut ws).await;
        assert_eq!(error["code"], "start_required", "{shown}: {error}");
        assert_error_event(&error, "start_required", false);
        ends(&mut ws).await;
    }
    // Garbage where start should be is an error too, and the stream closes.
    for first in ["not json", "{\"type\": \"start\"}", "{\"type\": \"start\", \"protocol_version\": \"1\"}"] {
        let mut ws = connect(&gw, &id).await;
        ws.send(Message::text(first)).await.expect("send");
        let error = event(&mut ws).await;
        assert_eq!(error["type"], "error", "{first}: {error}");
        assert_eq!(error["recoverable"], false, "{first}: {error}");
        ends(&mut ws).await;
    }
    // Nothing reached the session.
    assert_eq!(view(&gw, &id).await["turns"], 0);
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_after_start_are_recoverable() {
    let gw = gateway().await;
    let (id, _) = session(&gw).await;
    let mut ws = started(&gw, &id).await;

    for bad in [
        "not json",
        "{",
        "[]",
        "{\"type\": \"dance\"}",
        "{\"type\": \"text\"}",
        "{\"type\": \"text\", \"text\": 5}",
        "{\"type\": \"text\", \"text\": \"hi\", \"extra\": true}",
        "{\"text\": \"hi\"}",
    ] {
        ws.send(Message::text(bad)).await.expect("send");
        let error = event(&mut ws).await;
        assert_eq!(error["code"], "invalid_message", "{bad}: {error}");
        assert_error_event(&error, "invalid_message", true);
    }
    still_alive(&mut ws, "after-invalid").await;

    ws.send(Message::binary(vec![0u8; 320])).await.expect("send audio");
    let error = event(&mut ws).await;
    assert_error_event(&error, "audio_not_negotiated", true);
    still_alive(&mut ws, "after-binary").await;

    for empty in ["", "   ", "\n\t"] {
        send(&mut ws, json!({"type": "text", "text": empty, "turn_id": "e"})).await;
        let error = event(&mut ws).await;
        assert_error_event(&error, "empty_text", true);
    }
    send(&mut ws, json!({"type": "text", "text": "a".repeat(2001)})).await;
    let error = event(&mut ws).await;
    assert_error_event(&error, "text_too_long", true);

    send(&mut ws, json!({"type": "start", "protocol_version": 1})).await;
    let error = event(&mut ws).await;
    assert_error_event(&error, "already_started", true);

    // None of it was a turn, and real turns still work.
    assert_eq!(view(&gw, &id).await["turns"], 0);
    send(&mut ws, json!({"type": "text", "text": "help", "turn_id": "h"})).await;
    let result = event(&mut ws).await;
    assert_eq!(result["type"], "turn_result", "{result}");
    assert_eq!(result["turn_id"], "h");
    assert_eq!(result["result"]["turn"], 1, "{result}");
    assert_eq!(result["result"]["intent"]["name"], "help", "{result}");

    send(&mut ws, json!({"type": "stop"})).await;
    assert_eq!(event(&mut ws).await, json!({"type": "bye"}));
    ends(&mut ws).await;
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_turns_over_the_stream_get_reprompts() {
    let gw = gateway().await;
    let (id, _) = session(&gw).await;
    let mut ws = started(&gw, &id).await;
    send(&mut ws, json!({"type": "text", "text": "\u{0}\u{7}😀", "turn_id": "g"})).await;
    let result = event(&mut ws).await;
    assert_eq!(result["type"], "turn_result", "{result}");
    assert_eq!(result["result"]["intent"]["name"], "unknown", "{result}");
    assert!(
        result["result"]["reply"].as_str().is_some_and(|r| r.starts_with("Sorry, I didn't catch that.")),
        "{result}"
    );
    still_alive(&mut ws, "after-garbage").await;
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_sessions_are_refused_before_the_upgrade() {
    let gw = gateway().await;
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(refused(gw.ws_url(&stream_path(&unknown.to_string()))).await, 404);
    assert_eq!(refused(gw.ws_url(&stream_path("not-a-uuid"))).await, 400);

    // A deleted session is gone for the stream too.
    let (id, _) = session(&gw).await;
    let deleted = gw.client.delete(gw.url(&format!("/v1/sessions/{id}"))).send().await.expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);
    assert_eq!(refused(gw.ws_url(&stream_path(&id))).await, 404);
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_deleted_mid_stream_ends_the_stream() {
    let gw = gateway().await;
    let (id, _) = session(&gw).await;
    let mut ws = started(&gw, &id).await;
    let deleted = gw.client.delete(gw.url(&format!("/v1/sessions/{id}"))).send().await.expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);
    send(&mut ws, json!({"type": "text", "text": "help"})).await;
    let error = event(&mut ws).await;
    assert_error_event(&error, "session_not_found", false);
    ends(&mut ws).await;
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_needs_an_api_key_when_keys_are_set() {
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.api_keys = vec!["k1".into()];
    let gw = TestGateway::start_config(&backend, config).await.expect("gateway starts");
    let created: Value = gw
        .client
        .post(gw.url("/v1/sessions"))
        .bearer_auth("k1")
        .json(&json!({"now": NOW}))
        .send()
        .await
        .expect("create session")
        .json()
        .await
        .expect("json");
    let id = created["session_id"].as_str().expect("session_id").to_string();
    let url = gw.ws_url(&stream_path(&id));

    assert_eq!(refused(url.clone()).await, 401, "no key");
    assert_eq!(refused(format!("{url}?access_token=k2")).await, 401, "wrong access token");
    assert_eq!(refused(format!("{url}?access_token=")).await, 401, "empty access token");
    let mut request = url.clone().into_client_request().expect("request");
    request.headers_mut().insert("x-api-key", "nope".parse().expect("header"));
    assert_eq!(refused(request).await, 401, "wrong header key");
    // The key is checked before the session is looked up.
    let missing = gw.ws_url(&stream_path(&uuid::Uuid::new_v4().to_string()));
    assert_eq!(refused(missing).await, 401, "no key, unknown session");

    let (mut ws, response) = connect_async(format!("{url}?access_token=k1")).await.expect("access_token works");
    assert_eq!(response.status().as_u16(), 101);
    send(&mut ws, json!({"type": "start", "protocol_version": 1})).await;
    let ready = event(&mut ws).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    assert_eq!(ready["session_id"], id.as_str());
    send(&mut ws, json!({"type": "stop"})).await;
    assert_eq!(event(&mut ws).await, json!({"type": "bye"}));
    ends(&mut ws).await;

    let mut request = url.clone().into_client_request().expect("request");
    request.headers_mut().insert("authorization", "Bearer k1".parse().expect("header"));
    let (mut ws, _) = connect_async(request).await.expect("a bearer header works too");
    send(&mut ws, json!({"type": "start", "protocol_version": 1})).await;
    assert_eq!(event(&mut ws).await["type"], "ready");
    send(&mut ws, json!({"type": "stop"})).await;
    assert_eq!(event(&mut ws).await, json!({"type": "bye"}));
    ends(&mut ws).await;
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_conversation_across_http_and_the_stream() {
    let now = chrono::DateTime::parse_from_rfc3339(NOW).expect("NOW is RFC 3339").with_timezone(&chrono::Utc);
    let gw = TestGateway::start(&Backend::redis_sqlite().with_booking_now(now)).await.expect("gateway starts");
    let (id, _) = session(&gw).await;

    // HTTP first...
    let (status, first) = gw.turn(&id, "i need a hotel in barcelona").await.expect("turn");
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["awaiting"], "check_in");

    // ...then the stream resumes where HTTP left off...
    let mut ws = connect(&gw, &id).await;
    send(&mut ws, json!({"type": "start", "protocol_version": 1})).await;
    let ready = event(&mut ws).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    assert_eq!(ready["prompt"], first["reply"], "the prompt is the last reply");
    send(
        &mut ws,
        json!({"type": "text", "text": "checking in on the twentieth of june for three nights", "turn_id": "t2"}),
    )
    .await;
    let second = event(&mut ws).await;
    assert_eq!(second["type"], "turn_result", "{second}");
    assert_eq!(second["turn_id"], "t2");
    let second = &second["result"];
    assert_eq!(second["turn"], 2, "{second}");
    assert_eq!(second["slots"]["city"]["code"], "BCN", "{second}");
    assert_eq!(second["slots"]["check_in"], "2030-06-20", "{second}");
    assert_eq!(second["slots"]["nights"], 3, "{second}");
    assert_eq!(second["awaiting"], "guests", "{second}");

    // ...and HTTP carries on from the stream's turn while the stream is open.
    let (status, third) = gw.turn(&id, "two guests").await.expect("turn");
    assert_eq!(status, 200, "{third}");
    assert_eq!(third["turn"], 3, "{third}");
    assert_eq!(third["awaiting"], "option", "{third}");
    assert_eq!(third["tool_calls"][0]["name"], "search_hotels", "{third}");

    // Back to the stream, which sees the HTTP turn's options.
    send(&mut ws, json!({"type": "text", "text": "the first one", "turn_id": "t4"})).await;
    let fourth = event(&mut ws).await;
    assert_eq!(fourth["result"]["turn"], 4, "{fourth}");
    assert_eq!(fourth["result"]["intent"]["name"], "choose_option", "{fourth}");
    assert_eq!(fourth["result"]["awaiting"], "confirmation", "{fourth}");
    send(&mut ws, json!({"type": "stop"})).await;
    assert_eq!(event(&mut ws).await, json!({"type": "bye"}));
    ends(&mut ws).await;

    // A second stream on the same session starts from the last reply.
    let mut again = connect(&gw, &id).await;
    send(&mut again, json!({"type": "start", "protocol_version": 1})).await;
    let ready = event(&mut again).await;
    assert_eq!(ready["prompt"], fourth["result"]["reply"], "{ready}");
    send(&mut again, json!({"type": "stop"})).await;
    assert_eq!(event(&mut again).await, json!({"type": "bye"}));
    ends(&mut again).await;

    let state = view(&gw, &id).await;
    assert_eq!(state["turns"], 4, "{state}");
    let users: Vec<&str> =
        state["history"].as_array().expect("history").iter().filter_map(|h| h["user"].as_str()).collect();
    assert_eq!(
        users,
        [
            "i need a hotel in barcelona",
            "checking in on the twentieth of june for three nights",
            "two guests",
            "the first one"
        ]
    );
    assert_eq!(state["awaiting"], "confirmation");
    gw.stop().await.expect("gateway stops");
}

/// RFC 6455 §7.1: an endpoint that ends the connection on purpose sends a
/// Close frame first; dropping the TCP connection is how a *failed*
/// connection ends (browsers report code 1006, "abnormal closure", and
/// clients reconnect).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_closes_with_a_close_frame() {
    let gw = gateway().await;
    let (id, _) = session(&gw).await;
    let mut problems = Vec::new();

    // After bye: a normal closure.
    let mut ws = started(&gw, &id).await;
    send(&mut ws, json!({"type": "stop"})).await;
    assert_eq!(event(&mut ws).await, json!({"type": "bye"}));
    match tokio::time::timeout(WAIT, ws.next()).await.expect("something in time") {
        Some(Ok(Message::Close(Some(frame)))) if frame.code == CloseCode::Normal => {}
        Some(Ok(Message::Close(None))) => {}
        other => problems.push(format!("after bye: {other:?}")),
    }

    // After a fatal error in the handshake.
    let mut ws = connect(&gw, &id).await;
    send(&mut ws, json!({"type": "start", "protocol_version": 99})).await;
    assert_error_event(&event(&mut ws).await, "unsupported_protocol_version", false);
    match tokio::time::timeout(WAIT, ws.next()).await.expect("something in time") {
        Some(Ok(Message::Close(_))) => {}
        other => problems.push(format!("after unsupported_protocol_version: {other:?}")),
    }

    // After a fatal error mid-stream.
    let mut ws = started(&gw, &id).await;
    let deleted = gw.client.delete(gw.url(&format!("/v1/sessions/{id}"))).send().await.expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);
    send(&mut ws, json!({"type": "text", "text": "help"})).await;
    assert_error_event(&event(&mut ws).await, "session_not_found", false);
    match tokio::time::timeout(WAIT, ws.next()).await.expect("something in time") {
        Some(Ok(Message::Close(_))) => {}
        other => problems.push(format!("after session_not_found: {other:?}")),
    }

    assert!(
        problems.is_empty(),
        "the server should end the stream with a Close frame; instead:\n{}",
        problems.join("\n")
    );
    gw.stop().await.expect("gateway stops");
}

/// A plain GET (no upgrade) on the stream is a client error like any
/// other, so it answers with the JSON error body every endpoint uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_get_on_the_stream_gets_a_json_error() {
    let gw = gateway().await;
    let (id, _) = session(&gw).await;
    let response = gw.client.get(gw.url(&stream_path(&id))).send().await.expect("request");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let text = response.text().await.expect("body");
    assert!(status == 400 || status == 426, "HTTP {status}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(
        content_type.starts_with("application/json")
            && body["code"].as_str().is_some_and(|c| !c.is_empty())
            && body["message"].is_string(),
        "expected a JSON error body with code and message, got {content_type:?}: {text:?}"
    );
    gw.stop().await.expect("gateway stops");
}

/// A message over the stream's size limit (64 KiB) closes the stream
/// without making a turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_ends_the_stream() {
    let gw = gateway().await;
    let (id, _) = session(&gw).await;
    let mut ws = started(&gw, &id).await;
    let huge = json!({"type": "text", "text": "a".repeat(70 * 1024)}).to_string();
    // The server may already be gone by the time the frame is flushed.
    let _ = ws.send(Message::text(huge)).await;
    ends(&mut ws).await;
    assert_eq!(view(&gw, &id).await["turns"], 0);
    // The session itself is fine.
    let mut ws = started(&gw, &id).await;
    still_alive(&mut ws, "after-oversize").await;
    gw.stop().await.expect("gateway stops");
}

/// Browsers put the key in the query string URL-encoded (`encodeURIComponent`,
/// `URLSearchParams`), so a key with `+`, `/` or `=` (base64 keys have
/// them) arrives percent-encoded and must be decoded before comparing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_is_url_decoded() {
    const KEY: &str = "s3cr3t+/key==";
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.api_keys = vec![KEY.into()];
    let gw = TestGateway::start_config(&backend, config).await.expect("gateway starts");
    let created: Value = gw
        .client
        .post(gw.url("/v1/sessions"))
        .header("x-api-key", KEY)
        .json(&json!({"now": NOW}))
        .send()
        .await
        .expect("create session")
        .json()
        .await
        .expect("json");
    let id = created["session_id"].as_str().expect("session_id").to_string();

    let encoded = "s3cr3t%2B%2Fkey%3D%3D";
    let url = format!("{}?access_token={encoded}", gw.ws_url(&stream_path(&id)));
    let outcome = connect_async(url).await.map(|(_, response)| response.status().as_u16());
    assert!(
        matches!(outcome, Ok(101)),
        "the URL-encoded key should open the stream, got {:?}",
        outcome.map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(response) => format!("HTTP {}", response.status()),
            other => other.to_string(),
        })
    );
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_turn_is_followed_by_its_metrics() {
    let gw = gateway().await;
    let (id, _) = session(&gw).await;
    let mut ws = started(&gw, &id).await;
    send(&mut ws, json!({"type": "text", "text": "i need a hotel in barcelona"})).await;
    let mut seen = Vec::new();
    let metrics = loop {
        let next = tokio::time::timeout(WAIT, ws.next()).await.expect("events").expect("open").expect("message");
        let Message::Text(text) = next else { continue };
        let e: Value = serde_json::from_str(&text).unwrap();
        seen.push(e["type"].as_str().unwrap_or_default().to_string());
        if e["type"] == "turn_metrics" {
            break e;
        }
    };
    assert_eq!(seen, ["turn_result", "turn_metrics"]);
    assert_eq!(metrics["turn"], 1);
    assert!(metrics["dialogue_ms"].as_u64().is_some(), "{metrics}");
    assert!(metrics["tools_ms"].as_u64().is_some(), "{metrics}");
    // A text turn without spoken replies has no speech stages.
    for absent in ["asr_decode_ms", "endpoint_to_transcript_ms", "tts_first_audio_ms", "voice_to_voice_ms"] {
        assert!(metrics.get(absent).is_none(), "{absent} in {metrics}");
    }
    gw.stop().await.expect("gateway stops");
}
