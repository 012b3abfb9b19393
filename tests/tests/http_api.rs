//! The gateway's HTTP contract, end to end on a real socket against real
//! Redis and SQLite: status codes, error bodies, sessions and turns, NLU
//! parsing, booking lookups, authentication, probes, metrics, a booking
//! service that is down, and concurrent turns on one session.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use voxbook_tests::{Backend, TestGateway};

/// The session clock of every test (a Monday).
const NOW: &str = "2030-06-03T09:00:00Z";
const GREETING_START: &str = "Hello, this is voxbook.";
const REPROMPT_FIRST: &str = "Sorry, I didn't catch that.";
const WHAT_NEXT: &str = "What would you like to do?";
const FLIGHT_ONE_SHOT: &str = "book a one way flight from madrid to rome on the tenth of june for one passenger";

fn now_utc() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW).expect("NOW is RFC 3339").with_timezone(&Utc)
}

async fn gateway() -> TestGateway {
    TestGateway::start(&Backend::redis_sqlite()).await.expect("gateway starts")
}

/// Status, content type and JSON body of a response (Null when the body is
/// not JSON, so the assertions say what came back instead of panicking).
async fn read(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let text = response.text().await.expect("response body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, content_type, body)
}

/// Asserts an error answer: the status, a JSON body with the `code` and a
/// non-empty `message`, and nothing else that could leak internals.
fn assert_error(what: &str, got: &(u16, String, Value), status: u16, code: &str) {
    let (got_status, content_type, body) = got;
    assert_eq!(*got_status, status, "{what}: status (body {body})");
    assert!(content_type.starts_with("application/json"), "{what}: content type {content_type:?} (body {body})");
    assert_eq!(body["code"], code, "{what}: code in {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(!message.trim().is_empty(), "{what}: no message in {body}");
    let keys: Vec<&String> = body.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys.len(), 2, "{what}: error body has exactly code and message: {body}");
}

async fn post_raw(
    gw: &TestGateway,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String, Value) {
    let mut request = gw.client.post(gw.url(path)).body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    read(request.send().await.expect("request sent")).await
}

async fn post_json(gw: &TestGateway, path: &str, body: &Value) -> (u16, String, Value) {
    read(gw.client.post(gw.url(path)).json(body).send().await.expect("request sent")).await
}

async fn get(gw: &TestGateway, path: &str) -> (u16, String, Value) {
    read(gw.client.get(gw.url(path)).send().await.expect("request sent")).await
}

/// A JSON POST with a chunked body, written by hand on a raw connection
/// (the HTTP client here only sends bodies of known length).
async fn chunked_post(gw: &TestGateway, path: &str, chunks: &[&str]) -> (u16, String, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = gw.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    for chunk in chunks {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    // The server may answer (and close) before reading the whole body.
    let _ =
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await.expect("answer in time");
    let answer = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    (status, content_type, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn view(gw: &TestGateway, session: &str) -> Value {
    let (status, _, body) = get(gw, &format!("/v1/sessions/{session}")).await;
    assert_eq!(status, 200, "GET session: {body}");
    body
}

async fn turn_ok(gw: &TestGateway, session: &str, text: &str) -> Value {
    let (status, body) = gw.turn(session, text).await.expect("turn request");
    assert_eq!(status, 200, "turn {text:?}: {body}");
    body
}

async fn metrics_text(gw: &TestGateway) -> String {
    let response = gw.client.get(gw.url("/metrics")).send().await.expect("metrics request");
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.expect("metrics body")
}

/// The value of one sample line (`name{labels} value`), if present.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

// ---------------------------------------------------------------- sessions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_session_returns_201_with_id_greeting_and_expiry() {
    let gw = gateway().await;

    let (status, content_type, body) =
        post_json(&gw, "/v1/sessions", &json!({"now": NOW, "metadata": {"channel": "test"}})).await;
    assert_eq!(status, 201, "{body}");
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let id = body["session_id"].as_str().expect("session_id is a string");
    let parsed = uuid::Uuid::parse_str(id).expect("session_id is a UUID");
    assert_eq!(parsed.hyphenated().to_string(), id, "session ids are lowercase hyphenated UUIDs");
    assert!(body["greeting"].as_str().is_some_and(|g| g.starts_with(GREETING_START)), "{body}");
    assert_eq!(body["expires_in_seconds"], 30 * 60, "{body}");
    assert!(body["awaiting"].is_null(), "{body}");

    let session = view(&gw, id).await;
    assert_eq!(session["session_id"], id);
    assert_eq!(session["turns"], 0);
    assert_eq!(session["history"], json!([]));
    let now = session["now"].as_str().expect("now");
    assert_eq!(
        DateTime::parse_from_rfc3339(now).expect("rfc 3339").with_timezone(&Utc),
        now_utc(),
        "the fixed clock is kept"
    );
    let expires = session["expires_in_seconds"].as_u64().expect("a fresh session expires");
    assert!(expires > 30 * 60 - 60 && expires <= 30 * 60, "expires in {expires}");

    // Two sessions never share an id.
    let (_, _, other) = post_json(&gw, "/v1/sessions", &json!({})).await;
    assert_ne!(other["session_id"], body["session_id"]);
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_session_takes_an_empty_body() {
    let gw = gateway().await;
    for (content_type, body) in
        [(None, ""), (Some("application/json"), ""), (None, "  \n"), (Some("application/json"), "{}")]
    {
        let got = post_raw(&gw, "/v1/sessions", content_type, body).await;
        assert_eq!(got.0, 201, "body {body:?} with {content_type:?}: {}", got.2);
        let id = got.2["session_id"].as_str().expect("session_id");
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        assert!(got.2["greeting"].as_str().is_some_and(|g| g.starts_with(GREETING_START)), "{}", got.2);
        // A session with the server's clock is usable at once.
        let turn = turn_ok(&gw, id, "help").await;
        assert_eq!(turn["turn"], 1);
    }
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_session_rejects_bad_requests() {
    let gw = gateway().await;
    let got = post_json(&gw, "/v1/sessions", &json!({"now": "not a date"})).await;
    assert_error("now not a date", &got, 400, "invalid_now");
    let got = post_json(&gw, "/v1/sessions", &json!({"now": "2030-06-03"})).await;
    assert_error("now without a time", &got, 400, "invalid_now");
    let got = post_json(&gw, "/v1/sessions", &json!({"now": NOW, "colour": "blue"})).await;
    assert_error("unknown field", &got, 400, "invalid_json");
    let got = post_raw(&gw, "/v1/sessions", Some("application/json"), "{\"now\": ").await;
    assert_error("malformed JSON", &got, 400, "invalid_json");
    let got = post_json(&gw, "/v1/sessions", &json!({"now": 17})).await;
    assert_error("now of the wrong type", &got, 400, "invalid_json");
    let got = post_json(&gw, "/v1/sessions", &json!([1, 2])).await;
    assert_error("not an object", &got, 400, "invalid_json");

    // None of the rejected requests made a session.
    let metrics = metrics_text(&gw).await;
    assert_eq!(sample(&metrics, "voxbook_sessions_created_total"), Some(0.0), "{metrics}");
    gw.stop().await.expect("gateway stops");
}

// ------------------------------------------------------------------- turns

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_whitespace_turns_are_rejected_without_counting() {
    let gw = gateway().await;
    let session = gw.session(NOW).await.expect("session");
    let path = format!("/v1/sessions/{session}/turns");
    for text in ["", " ", "   \t\n  ", "\u{a0}\u{3000}"] {
        let got = post_json(&gw, &path, &json!({ "text": text })).await;
        assert_error(&format!("text {text:?}"), &got, 400, "empty_text");
    }
    let state = view(&gw, &session).await;
    assert_eq!(state["turns"], 0, "{state}");
    assert_eq!(state["history"], json!([]), "{state}");

    // The session is untouched: the first real turn is turn 1.
    let turn = turn_ok(&gw, &session, "help").await;
    assert_eq!(turn["turn"], 1, "{turn}");
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_turn_with_an_idempotency_key_runs_once() {
    let gw = gateway().await;
    let session = gw.session(NOW).await.expect("session");
    let url = gw.url(&format!("/v1/sessions/{session}/turns"));
    let post = |key: &str, text: &str| {
        gw.client.post(&url).header("Idempotency-Key", key).json(&json!({ "text": text })).send()
    };
    let first: Value = post("k-1", "i need a hotel in rome").await.unwrap().json().await.unwrap();
    assert_eq!(first["turn"], 1, "{first}");
    // The client lost the answer and retries: same answer, no second turn.
    let again: Value = post("k-1", "i need a hotel in rome").await.unwrap().json().await.unwrap();
    assert_eq!(again, first);
    let next: Value = post("k-2", "from the eighth of june").await.unwrap().json().await.unwrap();
    assert_eq!(next["turn"], 2, "{next}");
    assert_eq!(view(&gw, &session).await["turns"], 2);
    let bad = post(&"x".repeat(200), "help").await.unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_text_is_limited_to_2000_characters() {
    let gw = gateway().await;
    let session = gw.session(NOW).await.expect("session");
    let path = format!("/v1/sessions/{session}/turns");

    let got = post_json(&gw, &path, &json!({ "text": "a".repeat(2001) })).await;
    assert_error("2001 ASCII chars", &got, 400, "text_too_long");
    // Characters, not bytes: 2001 two-byte characters are too long too...
    let got = post_json(&gw, &path, &json!({ "text": "é".repeat(2001) })).await;
    assert_error("2001 two-byte chars", &got, 400, "text_too_long");
    assert_eq!(view(&gw, &session).await["turns"], 0);

    // ...and 2000 of them (4000 bytes) are fine.
    let turn = turn_ok(&gw, &session, &"é".repeat(2000)).await;
    assert_eq!(turn["turn"], 1, "{turn}");
    let turn = turn_ok(&gw, &session, &"b".repeat(2000)).await;
    assert_eq!(turn["turn"], 2, "{turn}");
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_turn_requests_get_json_errors() {
    let gw = gateway().await;
    let session = gw.session(NOW).await.expect("session");
    let path = format!("/v1/sessions/{session}/turns");

    // Well-formed JSON of the wrong shape: the status is pinned down in
    // `json_of_the_wrong_shape_is_400_everywhere`.
    for (what, body) in [
        ("missing text", json!({})),
        ("misspelt text", json!({"txt": "hello"})),
        ("unknown field", json!({"text": "hello", "lang": "en"})),
        ("text is a number", json!({"text": 42})),
        ("text is null", json!({"text": null})),
    ] {
        let got = post_json(&gw, &path, &body).await;
        assert_error(what, &got, 400, "invalid_json");
    }
    let got = post_raw(&gw, &path, Some("application/json"), "{\"text\": \"hello\"").await;
    assert_error("unterminated JSON", &got, 400, "invalid_json");
    let got = post_raw(&gw, &path, Some("application/json"), "text=hello").await;
    assert_error("not JSON at all", &got, 400, "invalid_json");
    let got = post_raw(&gw, &path, Some("application/json"), "").await;
    assert_error("empty body", &got, 400, "invalid_json");
    let got = post_raw(&gw, &path, Some("application/json"), vec![b'{', 0xff, 0xfe, b'}']).await;
    assert_error("invalid UTF-8", &got, 400, "invalid_json");

    let got = post_raw(&gw, &path, Some("text/plain"), "{\"text\": \"hello\"}").await;
    assert_error("text/plain", &got, 415, "unsupported_media_type");
    let got = post_raw(&gw, &path, Some("application/x-www-form-urlencoded"), "text=hello").await;
    assert_error("form", &got, 415, "unsupported_media_type");
    let got = post_raw(&gw, &path, None, "{\"text\": \"hello\"}").await;
    assert_error("no content type", &got, 415, "unsupported_media_type");

    // A JSON content type with parameters is still JSON.
    let got = post_raw(&gw, &path, Some("application/json; charset=utf-8"), "{\"text\": \"help\"}").await;
    assert_eq!(got.0, 200, "{}", got.2);
    assert_eq!(got.2["turn"], 1);

    let state = view(&gw, &session).await;
    assert_eq!(state["turns"], 1, "only the good request made a turn: {state}");
    gw.stop().await.expect("gateway stops");
}

/// `invalid_json` is one error with one status: POST /v1/sessions answers
/// 400 for JSON of the wrong shape, and so must turns and parsing (a
/// missing `text` is a bad request, as the API promises).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_of_the_wrong_shape_is_400_everywhere() {
    let gw = gateway().await;
    let session = gw.session(NOW).await.expect("session");
    let turns = format!("/v1/sessions/{session}/turns");

    let got = post_json(&gw, "/v1/sessions", &json!({"now": NOW, "colour": "blue"})).await;
    assert_error("session with an unknown field", &got, 400, "invalid_json");
    let cases = [
        (turns.as_str(), "turn without text", json!({})),
        (turns.as_str(), "turn with a misspelt text", json!({"txt": "hello"})),
        (turns.as_str(), "turn with an unknown field", json!({"text": "hello", "lang": "en"})),
        (turns.as_str(), "turn text as a number", json!({"text": 42})),
        ("/v1/nlu/parse", "parse without text", json!({"now": NOW})),
        ("/v1/nlu/parse", "parse with an unknown field", json!({"text": "hello", "lang": "en"})),
    ];
    let mut wrong = Vec::new();
    for (path, what, body) in cases {
        let got = post_json(&gw, path, &body).await;
        assert_eq!(got.2["code"], "invalid_json", "{what}: {}", got.2);
        if got.0 != 400 {
            wrong.push(format!("{what}: HTTP {} {}", got.0, got.2));
        }
    }
    assert!(wrong.is_empty(), "expected 400 invalid_json, got:\n{}", wrong.join("\n"));
    assert_eq!(view(&gw, &session).await["turns"], 0);
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413() {
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.max_body_bytes = 2048;
    let gw = TestGateway::start_config(&backend, config).await.expect("gateway starts");
    let session = gw.session(NOW).await.expect("session");
    let path = format!("/v1/sessions/{session}/turns");

    // 1500 characters (under the text limit) in 3000 bytes (over the body limit).
    let got = post_json(&gw, &path, &json!({ "text": "é".repeat(1500) })).await;
    assert_error("3 KB turn", &got, 413, "payload_too_large");
    let got = post_json(&gw, &path, &json!({ "text": "x".repeat(100_000) })).await;
    assert_error("100 KB turn", &got, 413, "payload_too_large");
    // Chunked, so no Content-Length announces the size up front.
    let got = chunked_post(&gw, &path, &["{\"text\": \"", &"y".repeat(1500), &"y".repeat(1500), "\"}"]).await;
    assert_error("chunked 3 KB turn", &got, 413, "payload_too_large");
    let got = chunked_post(&gw, &path, &["{\"text\": ", "\"help\"}"]).await;
    assert_eq!(got.0, 200, "a small chunked turn is fine: {}", got.2);
    assert_eq!(got.2["turn"], 1);

    let metadata: serde_json::Map<String, Value> = (0..200).map(|i| (format!("key{i}"), json!("value"))).collect();
    let got = post_json(&gw, "/v1/sessions", &json!({"now": NOW, "metadata": metadata})).await;
    assert_error("big session request", &got, 413, "payload_too_large");
    let got = post_json(&gw, "/v1/nlu/parse", &json!({ "text": "z".repeat(3000) })).await;
    assert_error("big parse request", &got, 413, "payload_too_large");

    assert_eq!(view(&gw, &session).await["turns"], 1);
    // Under the limit still works.
    let turn = turn_ok(&gw, &session, &"é".repeat(900)).await;
    assert_eq!(turn["turn"], 2);
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_session_ids() {
    let gw = gateway().await;
    let unknown = uuid::Uuid::new_v4();

    let got = post_json(&gw, &format!("/v1/sessions/{unknown}/turns"), &json!({"text": "help"})).await;
    assert_error("turn on unknown session", &got, 404, "session_not_found");
    let got = get(&gw, &format!("/v1/sessions/{unknown}")).await;
    assert_error("view unknown session", &got, 404, "session_not_found");
    let got = read(gw.client.delete(gw.url(&format!("/v1/sessions/{unknown}"))).send().await.expect("delete")).await;
    assert_error("delete unknown session", &got, 404, "session_not_found");

    for bad in ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g", "..%2F..%2Fetc", "%E2%98%83"] {
        let got = post_json(&gw, &format!("/v1/sessions/{bad}/turns"), &json!({"text": "help"})).await;
        assert_error(&format!("turn on {bad}"), &got, 400, "invalid_session_id");
        let got = get(&gw, &format!("/v1/sessions/{bad}")).await;
        assert_error(&format!("view {bad}"), &got, 400, "invalid_session_id");
        let got = read(gw.client.delete(gw.url(&format!("/v1/sessions/{bad}"))).send().await.expect("delete")).await;
        assert_error(&format!("delete {bad}"), &got, 400, "invalid_session_id");
    }

    // The id is checked before the body: a bad id with a bad body is still about the id.
    let got = post_raw(&gw, "/v1/sessions/nope/turns", Some("text/plain"), "x").await;
    assert_error("bad id and bad body", &got, 400, "invalid_session_id");

    // An upper-case UUID names the same session as its canonical form.
    let session = gw.session(NOW).await.expect("session");
    let turn = turn_ok(&gw, &session.to_uppercase(), "help").await;
    assert_eq!(turn["session_id"], session.as_str());
    assert_eq!(view(&gw, &session).await["turns"], 1);
    gw.stop().await.expect("gateway stops");
}

// ------------------------------------------------------------ garbage input

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Any scalar value outside ASCII, from Latin-1 to the supplementary planes.
    fn unicode_char(&mut self) -> char {
        loop {
            let code = 0x80 + (self.next() % (0x3_0000 - 0x80)) as u32;
            if let Some(c) = char::from_u32(code) {
                return c;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_input_gets_a_reprompt_never_a_5xx() {
    let gw = gateway().await;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let random: String = (0..2000).map(|_| rng.unicode_char()).collect();
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let random2: String = (0..2000).map(|_| rng.unicode_char()).collect();
    let inputs = [
        "asdf qwerty".to_string(),
        "😀🎉🔥👍🏽🇫🇷".to_string(),
        "👨‍👩‍👧‍👦".to_string(),
        random,
        random2,
        "\u{7}\u{8}\u{1b}[31m\u{7f}\u{1}\u{2}".to_string(),
        "\u{0}".to_string(),
        "\u{0}\u{0}\u{0} \u{0}".to_string(),
        "\u{202e}\u{200b}\u{feff}\u{fffd}".to_string(),
        "e\u{301}\u{301}\u{301}\u{301}".to_string(),
        "İİİ ǅ ß ﬃ".to_string(),
        "%%% ??? !!! ... --- ///".to_string(),
        "<script>alert(1)</script>".to_string(),
        "'; DROP TABLE bookings; --".to_string(),
        "{{booking_ref}} {prompt} {{".to_string(),
    ];
    for input in &inputs {
        // A fresh session each, so the answer is the first reprompt.
        let session = gw.session(NOW).await.expect("session");
        let (status, body) = gw.turn(&session, input).await.expect("turn request");
        let shown: String = input.chars().take(40).collect();
        assert!(status < 500, "{shown:?}: HTTP {status}: {body}");
        assert_eq!(status, 200, "{shown:?}: {body}");
        assert_eq!(body["turn"], 1, "{shown:?}: {body}");
        // Nothing was understood ("inform" when a stray digit was read as a value).
        let intent = body["intent"]["name"].as_str().unwrap_or_default();
        assert!(intent == "unknown" || intent == "inform", "{shown:?}: {body}");
        assert_eq!(body["slots"], json!({}), "{shown:?}: {body}");
        assert!(body["flow"].is_null(), "{shown:?}: {body}");
        let reply = body["reply"].as_str().unwrap_or_default();
        assert!(reply.starts_with(REPROMPT_FIRST) && reply.ends_with(WHAT_NEXT), "{shown:?}: reply {reply:?}");
        assert_eq!(body["ended"], false, "{shown:?}: {body}");
        assert_eq!(body["handoff"], false, "{shown:?}: {body}");
        // The session kept the input as it was said.
        let state = view(&gw, &session).await;
        assert_eq!(state["history"][0]["user"].as_str(), Some(input.as_str()), "{shown:?}");
        assert_eq!(state["turns"], 1);
    }
    gw.stop().await.expect("gateway stops");
}

// ------------------------------------------------------ viewing and deleting

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewing_a_session_shows_history_slots_and_awaiting() {
    let gw = gateway().await;
    let session = gw.session(NOW).await.expect("session");
    let first = turn_ok(&gw, &session, "i need a flight from london to paris").await;
    assert_eq!(first["awaiting"], "depart_date", "{first}");
    let second = turn_ok(&gw, &session, "the twelfth of june").await;
    assert_eq!(second["awaiting"], "return_date", "{second}");

    let state = view(&gw, &session).await;
    assert_eq!(state["session_id"], session.as_str());
    assert_eq!(state["turns"], 2, "{state}");
    assert_eq!(state["flow"], "book_flight", "{state}");
    assert_eq!(state["awaiting"], "return_date", "{state}");
    assert_eq!(state["slots"]["origin"]["code"], "LHR", "{state}");
    assert_eq!(state["slots"]["destination"]["code"], "CDG", "{state}");
    assert_eq!(state["slots"]["depart_date"], "2030-06-12", "{state}");
    assert!(state["slots"].get("return_date").is_none(), "{state}");
    assert_eq!(state["slots"], second["slots"], "the view and the last turn agree");
    assert_eq!(state["options"], json!([]));
    assert_eq!(state["bookings"], json!([]));
    assert_eq!(state["ended"], false);

    let history = state["history"].as_array().expect("history");
    assert_eq!(history.len(), 2, "{state}");
    assert_eq!(history[0]["turn"], 1);
    assert_eq!(history[0]["user"], "i need a flight from london to paris");
    assert_eq!(history[0]["intent"], "book_flight");
    assert_eq!(history[0]["reply"], first["reply"]);
    assert_eq!(history[1]["turn"], 2);
    assert_eq!(history[1]["user"], "the twelfth of june");
    assert_eq!(history[1]["reply"], second["reply"]);
    for entry in history {
        let at = entry["at"].as_str().expect("at");
        assert!(DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    }
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_session_ends_it() {
    let gw = gateway().await;
    let session = gw.session(NOW).await.expect("session");
    turn_ok(&gw, &session, "i need a hotel in barcelona").await;
    let other = gw.session(NOW).await.expect("another session");

    let response = gw.client.delete(gw.url(&format!("/v1/sessions/{session}"))).send().await.expect("delete");
    assert_eq!(response.status().as_u16(), 204);
    assert!(response.bytes().await.expect("body").is_empty(), "204 has no body");

    let got = get(&gw, &format!("/v1/sessions/{session}")).await;
    assert_error("view after delete", &got, 404, "session_not_found");
    let got = post_json(&gw, &format!("/v1/sessions/{session}/turns"), &json!({"text": "help"})).await;
    assert_error("turn after delete", &got, 404, "session_not_found");
    let got = read(gw.client.delete(gw.url(&format!("/v1/sessions/{session}"))).send().await.expect("delete")).await;
    assert_error("second delete", &got, 404, "session_not_found");

    // Only that session went.
    assert_eq!(view(&gw, &other).await["turns"], 0);
    gw.stop().await.expect("gateway stops");
}

// --------------------------------------------------------------------- NLU

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nlu_parse_reads_intent_and_slots_without_a_session() {
    let gw = gateway().await;
    let session = gw.session(NOW).await.expect("session");
    let before = view(&gw, &session).await;

    let (status, _, parsed) =
        post_json(&gw, "/v1/nlu/parse", &json!({"text": "i want to fly from london to paris tomorrow", "now": NOW}))
            .await;
    assert_eq!(status, 200, "{parsed}");
    assert_eq!(parsed["intent"]["name"], "book_flight", "{parsed}");
    let confidence = parsed["intent"]["confidence"].as_f64().expect("confidence");
    assert!(confidence > 0.5 && confidence <= 1.0, "{parsed}");
    assert!(parsed["alternatives"].is_array(), "{parsed}");
    assert_eq!(parsed["slots"]["origin"]["code"], "LHR", "{parsed}");
    assert_eq!(parsed["slots"]["origin"]["name"], "London", "{parsed}");
    assert_eq!(parsed["slots"]["destination"]["code"], "CDG", "{parsed}");
    let tomorrow = (now_utc() + chrono::Duration::days(1)).date_naive().to_string();
    assert_eq!(parsed["slots"]["depart_date"], tomorrow.as_str(), "{parsed}");

    // Another clock, another tomorrow.
    let (_, _, later) = post_json(
        &gw,
        "/v1/nlu/parse",
        &json!({"text": "i want to fly from london to paris tomorrow", "now": "2031-02-28T23:00:00+00:00"}),
    )
    .await;
    assert_eq!(later["slots"]["depart_date"], "2031-03-01", "{later}");

    for garbage in ["asdf qwerty", "😀🎉", "\u{0}"] {
        let (status, _, parsed) = post_json(&gw, "/v1/nlu/parse", &json!({ "text": garbage, "now": NOW })).await;
        assert_eq!(status, 200, "{garbage:?}: {parsed}");
        assert_eq!(parsed["intent"]["name"], "unknown", "{garbage:?}: {parsed}");
        assert_eq!(parsed["slots"], json!({}), "{garbage:?}: {parsed}");
    }

    let got = post_json(&gw, "/v1/nlu/parse", &json!({"text": "hello", "now": "yesterday"})).await;
    assert_error("parse with a bad clock", &got, 400, "invalid_now");
    let got = post_json(&gw, "/v1/nlu/parse", &json!({ "text": "a".repeat(2001) })).await;
    assert_error("parse of 2001 chars", &got, 400, "text_too_long");
    let got = post_raw(&gw, "/v1/nlu/parse", Some("text/plain"), "hello").await;
    assert_error("parse as text/plain", &got, 415, "unsupported_media_type");

    // Parsing touched no session and made none.
    let after = view(&gw, &session).await;
    assert_eq!(after["turns"], 0);
    assert_eq!(after["history"], before["history"]);
    assert_eq!(after["slots"], before["slots"]);
    assert_eq!(after["flow"], Value::Null);
    let metrics = metrics_text(&gw).await;
    assert_eq!(sample(&metrics, "voxbook_sessions_created_total"), Some(1.0), "{metrics}");
    assert!(!metrics.contains("voxbook_turns_total{"), "no turn was counted:\n{metrics}");
    gw.stop().await.expect("gateway stops");
}

// ---------------------------------------------------------------- bookings

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_made_in_conversation_can_be_looked_up() {
    let backend = Backend::redis_sqlite().with_booking_now(now_utc());
    let gw = TestGateway::start(&backend).await.expect("gateway starts");
    let session = gw.session(NOW).await.expect("session");

    let offered = turn_ok(&gw, &session, FLIGHT_ONE_SHOT).await;
    assert_eq!(offered["awaiting"], "option", "{offered}");
    assert_eq!(offered["slots"]["depart_date"], "2030-06-10", "{offered}");
    let held = turn_ok(&gw, &session, "the first one").await;
    assert_eq!(held["awaiting"], "confirmation", "{held}");
    let booked = turn_ok(&gw, &session, "yes").await;
    let code = booked["booking_ref"].as_str().expect("the yes made a booking").to_string();
    assert!(code.len() == 6 && code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()), "{code}");

    let (status, _, booking) = get(&gw, &format!("/v1/bookings/{code}")).await;
    assert_eq!(status, 200, "{booking}");
    assert_eq!(booking["status"], "confirmed", "{booking}");
    assert_eq!(booking["booking_ref"], code.as_str(), "{booking}");
    assert_eq!(booking["item"]["outbound"]["date"], "2030-06-10", "{booking}");
    // References are read case-insensitively.
    let (status, _, lower) = get(&gw, &format!("/v1/bookings/{}", code.to_lowercase())).await;
    assert_eq!(status, 200, "{lower}");
    assert_eq!(lower["booking_ref"], code.as_str());

    let state = view(&gw, &session).await;
    assert_eq!(state["bookings"][0]["booking_ref"], code.as_str(), "{state}");
    assert_eq!(state["bookings"][0]["status"], "confirmed", "{state}");

    let got = get(&gw, "/v1/bookings/ZZZZZZ").await;
    assert_error("unknown reference", &got, 404, "booking_not_found");
    for bad in ["abc$%25", "ABCDEFGHIJKLMNOPQ", "AB%20CD", "%F0%9F%98%80"] {
        let got = get(&gw, &format!("/v1/bookings/{bad}")).await;
        assert_error(&format!("reference {bad}"), &got, 400, "invalid_booking_ref");
    }
    gw.stop().await.expect("gateway stops");
}

// -------------------------------------------------------------------- auth

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_guard_client_routes_but_not_probes() {
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.api_keys = vec!["k1".into()];
    let gw = TestGateway::start_config(&backend, config).await.expect("gateway starts");
    let c = &gw.client;

    let got = read(c.post(gw.url("/v1/sessions")).json(&json!({"now": NOW})).send().await.expect("request")).await;
    assert_error("no key", &got, 401, "missing_api_key");
    let got =
        read(c.post(gw.url("/v1/sessions")).bearer_auth("k2").json(&json!({})).send().await.expect("request")).await;
    assert_error("wrong bearer key", &got, 401, "invalid_api_key");
    let got =
        read(c.post(gw.url("/v1/sessions")).header("x-api-key", "k").json(&json!({})).send().await.expect("request"))
            .await;
    assert_error("wrong x-api-key (a prefix of the key)", &got, 401, "invalid_api_key");
    let got = read(
        c.post(gw.url("/v1/sessions")).header("x-api-key", "k1k1").json(&json!({})).send().await.expect("request"),
    )
    .await;
    assert_error("wrong x-api-key (longer)", &got, 401, "invalid_api_key");
    let got = read(
        c.post(gw.url("/v1/sessions"))
            .header("authorization", "Basic azE6")
            .json(&json!({}))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_error("basic auth is not a key", &got, 401, "missing_api_key");
    let got =
        read(c.post(gw.url("/v1/sessions?access_token=nope")).json(&json!({})).send().await.expect("request")).await;
    assert_error("wrong access token", &got, 401, "invalid_api_key");

    let got = read(
        c.post(gw.url("/v1/sessions")).bearer_auth("k1").json(&json!({"now": NOW})).send().await.expect("request"),
    )
    .await;
    assert_eq!(got.0, 201, "bearer key: {}", got.2);
    let session = got.2["session_id"].as_str().expect("session_id").to_string();
    let got =
        read(c.post(gw.url("/v1/sessions")).header("x-api-key", "k1").json(&json!({})).send().await.expect("request"))
            .await;
    assert_eq!(got.0, 201, "x-api-key: {}", got.2);
    let got =
        read(c.post(gw.url("/v1/sessions?access_token=k1")).json(&json!({})).send().await.expect("request")).await;
    assert_eq!(got.0, 201, "access_token: {}", got.2);

    // Every client route is behind the key, including the ones that fail later.
    let turns = gw.url(&format!("/v1/sessions/{session}/turns"));
    let guarded = [
        c.post(&turns).json(&json!({"text": "help"})),
        c.get(gw.url(&format!("/v1/sessions/{session}"))),
        c.delete(gw.url(&format!("/v1/sessions/{session}"))),
        c.post(gw.url("/v1/nlu/parse")).json(&json!({"text": "help"})),
        c.get(gw.url("/v1/bookings/ZZZZZZ")),
        c.get(gw.url(&format!("/v1/sessions/{}", uuid::Uuid::new_v4()))),
        c.post(gw.url("/v1/sessions/not-a-uuid/turns")).json(&json!({"text": "help"})),
    ];
    for request in guarded {
        let got = read(request.send().await.expect("request")).await;
        assert_error("client route without a key", &got, 401, "missing_api_key");
    }
    // The unauthorised DELETE above did nothing.
    let (status, _, state) =
        read(c.get(gw.url(&format!("/v1/sessions/{session}"))).bearer_auth("k1").send().await.expect("view")).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["turns"], 0);

    let (status, _, turn) =
        read(c.post(&turns).header("x-api-key", "k1").json(&json!({"text": "help"})).send().await.expect("turn")).await;
    assert_eq!(status, 200, "{turn}");
    assert_eq!(turn["turn"], 1);
    let (status, _, turn) =
        read(c.post(&turns).bearer_auth("k1").json(&json!({"text": "help"})).send().await.expect("turn")).await;
    assert_eq!(status, 200, "{turn}");
    assert_eq!(turn["turn"], 2);

    for open in ["/healthz", "/readyz", "/metrics"] {
        let response = c.get(gw.url(open)).send().await.expect("probe");
        assert_eq!(response.status().as_u16(), 200, "{open} needs no key");
    }
    gw.stop().await.expect("gateway stops");
}

// ---------------------------------------------------------- probes, metrics

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_probes() {
    let gw = gateway().await;
    let (status, content_type, body) = get(&gw, "/healthz").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("application/json"), "{content_type}");
    assert_eq!(body["status"], "ok");
    let (status, _, body) = get(&gw, "/readyz").await;
    assert_eq!(status, 200, "Redis is up, so the gateway is ready: {body}");
    assert_eq!(body["status"], "ready");
    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_and_count_turns() {
    let gw = gateway().await;
    let response = gw.client.get(gw.url("/metrics")).send().await.expect("metrics");
    assert_eq!(response.status().as_u16(), 200);
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(content_type.contains("text"), "{content_type}");
    let before = response.text().await.expect("body");
    for (family, kind) in [
        ("voxbook_sessions_created", "counter"),
        ("voxbook_bookings_changed", "counter"),
        ("voxbook_open_streams", "gauge"),
    ] {
        assert!(before.contains(&format!("# TYPE {family} {kind}\n")), "no {family} in:\n{before}");
        assert!(before.contains(&format!("# HELP {family} ")), "no help for {family} in:\n{before}");
    }
    assert!(before.trim_end().ends_with("# EOF"), "{before}");
    assert_eq!(sample(&before, "voxbook_sessions_created_total"), Some(0.0), "{before}");
    assert_eq!(sample(&before, "voxbook_turns_total{intent=\"help\"}"), None, "{before}");

    let session = gw.session(NOW).await.expect("session");
    turn_ok(&gw, &session, "help").await;
    let after = metrics_text(&gw).await;
    for (family, kind) in [
        ("voxbook_http_requests", "counter"),
        ("voxbook_http_request_duration_seconds", "histogram"),
        ("voxbook_turns", "counter"),
        ("voxbook_turn_duration_seconds", "histogram"),
    ] {
        assert!(after.contains(&format!("# TYPE {family} {kind}\n")), "no {family} in:\n{after}");
    }
    assert!(after.trim_end().ends_with("# EOF"), "{after}");
    assert_eq!(sample(&after, "voxbook_turns_total{intent=\"help\"}"), Some(1.0), "{after}");
    assert_eq!(sample(&after, "voxbook_sessions_created_total"), Some(1.0), "{after}");
    assert_eq!(sample(&after, "voxbook_turn_duration_seconds_count{channel=\"http\"}"), Some(1.0), "{after}");
    let requests =
        sample(&after, "voxbook_http_requests_total{route=\"/v1/sessions/{id}/turns\",method=\"POST\",status=\"200\"}");
    assert_eq!(requests, Some(1.0), "{after}");

    turn_ok(&gw, &session, "help").await;
    let (status, _) = gw.turn(&session, "").await.expect("empty turn");
    assert_eq!(status, 400);
    let again = metrics_text(&gw).await;
    assert_eq!(
        sample(&again, "voxbook_turns_total{intent=\"help\"}"),
        Some(2.0),
        "a rejected turn is not a turn:\n{again}"
    );
    let rejected =
        sample(&again, "voxbook_http_requests_total{route=\"/v1/sessions/{id}/turns\",method=\"POST\",status=\"400\"}");
    assert_eq!(rejected, Some(1.0), "{again}");
    gw.stop().await.expect("gateway stops");
}

// ------------------------------------------------------- routing fallbacks

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_wrong_methods_get_json_errors() {
    let gw = gateway().await;
    let session = gw.session(NOW).await.expect("session");
    let c = &gw.client;

    for path in
        ["/", "/nope", "/v1", "/v1/session", "/v2/sessions", &format!("/v1/sessions/{session}/nope"), "/v1/bookings"]
    {
        let got = get(&gw, path).await;
        assert_error(&format!("GET {path}"), &got, 404, "not_found");
    }
    let got = post_json(&gw, "/v1/nope", &json!({})).await;
    assert_error("POST /v1/nope", &got, 404, "not_found");

    let wrong = [
        ("GET", gw.url("/v1/sessions")),
        ("DELETE", gw.url("/v1/sessions")),
        ("PUT", gw.url(&format!("/v1/sessions/{session}"))),
        ("POST", gw.url(&format!("/v1/sessions/{session}"))),
        ("GET", gw.url(&format!("/v1/sessions/{session}/turns"))),
        ("POST", gw.url(&format!("/v1/sessions/{session}/stream"))),
        ("GET", gw.url("/v1/nlu/parse")),
        ("DELETE", gw.url("/v1/bookings/ABCDEF")),
        ("POST", gw.url("/healthz")),
        ("POST", gw.url("/metrics")),
    ];
    for (method, url) in wrong {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let got = read(c.request(method.clone(), &url).send().await.expect("request")).await;
        assert_error(&format!("{method} {url}"), &got, 405, "method_not_allowed");
    }
    // Nothing above touched the session.
    assert_eq!(view(&gw, &session).await["turns"], 0);
    gw.stop().await.expect("gateway stops");
}

// ------------------------------------------------------ booking service down

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_booking_service_gets_a_spoken_fallback() {
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.booking_url = Some("http://127.0.0.1:9".into());
    config.retry.attempt_timeout = Duration::from_millis(400);
    config.retry.budget = Duration::from_millis(2000);
    config.retry.max_attempts = 3;
    config.retry.base_backoff = Duration::from_millis(10);
    let gw = TestGateway::start_config(&backend, config).await.expect("gateway starts");
    let session = gw.session(NOW).await.expect("session");

    let started = std::time::Instant::now();
    let failed = turn_ok(&gw, &session, FLIGHT_ONE_SHOT).await;
    assert!(started.elapsed() < Duration::from_secs(5), "the fallback came within the budget: {:?}", started.elapsed());
    let reply = failed["reply"].as_str().unwrap_or_default();
    assert!(reply.contains("can't reach the booking system"), "{failed}");
    let calls = failed["tool_calls"].as_array().expect("tool_calls");
    assert_eq!(calls.len(), 1, "{failed}");
    assert_eq!(calls[0]["name"], "search_flights");
    assert_eq!(calls[0]["ok"], false);
    assert_eq!(calls[0]["result"]["code"], "unavailable", "{failed}");
    let attempts = calls[0]["attempts"].as_u64().expect("attempts");
    assert!(attempts > 1 && attempts <= 3, "retried, within max_attempts: {attempts}");
    assert!(failed["booking_ref"].is_null(), "{failed}");
    assert_eq!(failed["flow"], "book_flight", "{failed}");
    assert_eq!(failed["slots"]["origin"]["code"], "MAD", "{failed}");
    assert_eq!(failed["slots"]["destination"]["code"], "FCO", "{failed}");
    assert_eq!(failed["ended"], false);
    assert_eq!(failed["handoff"], false);

    // The conversation goes on, with what was said kept.
    let next = turn_ok(&gw, &session, "what do you have so far").await;
    assert_eq!(next["turn"], 2, "{next}");
    assert_eq!(next["intent"]["name"], "recap", "{next}");
    assert!(next["reply"].as_str().is_some_and(|r| r.contains("Madrid")), "{next}");
    let state = view(&gw, &session).await;
    assert_eq!(state["turns"], 2);
    assert_eq!(state["slots"]["origin"]["code"], "MAD", "{state}");

    // A booking lookup is a 503, not a 500 nor a 404.
    let got = get(&gw, "/v1/bookings/ABCDEF").await;
    assert_error("lookup while the booking service is down", &got, 503, "booking_unavailable");
    gw.stop().await.expect("gateway stops");
}

// ------------------------------------------------------------- concurrency

/// Sends `n` identical turns at once on a fresh session and checks that no
/// update was lost: every answer is 200 or 409 session_busy, the 200s got
/// distinct turn numbers 1..=k, and the session holds exactly those k turns.
/// Returns the statuses.
async fn concurrent_burst(gw: &std::sync::Arc<TestGateway>, n: usize) -> Vec<u16> {
    let session = gw.session(NOW).await.expect("session");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (gw, session) = (gw.clone(), session.clone());
        tasks.spawn(async move {
            read(
                gw.client
                    .post(gw.url(&format!("/v1/sessions/{session}/turns")))
                    .json(&json!({"text": "help"}))
                    .send()
                    .await
                    .expect("turn request"),
            )
            .await
        });
    }
    let mut statuses = Vec::new();
    let mut numbers = BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        let got = joined.expect("task");
        if got.0 == 200 {
            assert!(numbers.insert(got.2["turn"].as_u64().expect("turn number")), "turn number given twice: {}", got.2);
            assert_eq!(got.2["intent"]["name"], "help", "{}", got.2);
        } else {
            assert_error("concurrent turn", &got, 409, "session_busy");
        }
        statuses.push(got.0);
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let state = view(gw, &session).await;
    assert_eq!(state["turns"], ok as u64, "statuses {statuses:?}: {state}");
    let history = state["history"].as_array().expect("history");
    assert_eq!(history.len(), ok, "statuses {statuses:?}: {state}");
    let recorded: BTreeSet<u64> = history.iter().filter_map(|h| h["turn"].as_u64()).collect();
    assert_eq!(recorded, numbers, "the history holds exactly the answered turns");
    assert_eq!(numbers, (1..=ok as u64).collect::<BTreeSet<_>>(), "turn numbers have no gaps");
    assert!(history.iter().all(|h| h["user"] == "help" && h["intent"] == "help"), "{state}");
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_turns_on_one_session_lose_no_update() {
    let gw = std::sync::Arc::new(gateway().await);
    let statuses = concurrent_burst(&gw, 10).await;
    assert!(statuses.contains(&200), "at least one turn gets through: {statuses:?}");
}

/// Ten turns at once on one session are not an overload: each should be
/// answered, in some order, rather than refused with 409 session_busy.
/// Several bursts, because whether a turn runs out of retries depends on
/// timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_turns_on_one_session_all_succeed() {
    let gw = std::sync::Arc::new(gateway().await);
    let mut refused = Vec::new();
    for burst in 0..4 {
        let statuses = concurrent_burst(&gw, 10).await;
        if statuses.iter().any(|s| *s != 200) {
            refused.push(format!("burst {burst}: {statuses:?}"));
        }
    }
    assert!(refused.is_empty(), "concurrent turns were refused:\n{}", refused.join("\n"));
}
