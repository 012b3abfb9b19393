//! The admin API for the assistant config, end to end on real sockets
//! against the real Redis: validation, uploads hot-swapped on a second
//! gateway sharing the Redis, invalid uploads that change nothing
//! anywhere, rollback, version listing and reading, admin tokens, live
//! sessions carried across a swap (including one whose flow the new
//! config drops), a gateway started later picking up the active version,
//! and the in-process variant without Redis.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use voxbook_dialogue::config::DEFAULT_ASSISTANT_YAML;
use voxbook_gateway::Config;
use voxbook_tests::{Backend, TestGateway};

const TOKEN: &str = "admin-token-for-tests";
/// The session clock (a Monday).
const NOW: &str = "2030-06-03T09:00:00Z";
/// Said to the parser: nothing in the shipped config makes it a flight.
const ZEPPELIN: &str = "i want to go by zeppelin";
/// How long a second gateway may take to follow a change.
const FOLLOW_WITHIN: Duration = Duration::from_secs(3);

/// Real Redis and SQLite, with the booking service's clock at [`NOW`] so
/// the sessions' dates are on sale.
fn backend() -> Backend {
    let now = chrono::DateTime::parse_from_rfc3339(NOW).expect("NOW is RFC 3339").with_timezone(&chrono::Utc);
    Backend::redis_sqlite().with_booking_now(now)
}

/// A gateway with admin tokens whose periodic check of the active version
/// is too slow to matter within a test: a change that reaches it in
/// [`FOLLOW_WITHIN`] came by pub/sub.
fn admin_config(backend: &Backend) -> Config {
    Config { admin_tokens: vec![TOKEN.into()], config_poll: Some(Duration::from_secs(600)), ..backend.config() }
}

async fn start(backend: &Backend) -> TestGateway {
    TestGateway::start_config(backend, admin_config(backend)).await.expect("gateway starts")
}

/// The shipped config with `zeppelin` as a flight word.
fn zeppelin_yaml() -> String {
    let pattern = r"'\b(flight|flights|fly|flying|plane|airfare|airline)\b'";
    assert!(DEFAULT_ASSISTANT_YAML.contains(pattern), "the shipped flight pattern moved");
    DEFAULT_ASSISTANT_YAML.replacen(pattern, r"'\b(flight|flights|fly|flying|plane|airfare|airline|zeppelin)\b'", 1)
}

/// The shipped config with a flow that names an intent nobody defines,
/// and the 1-based line of that mistake.
fn broken_yaml() -> (String, u64) {
    let yaml = DEFAULT_ASSISTANT_YAML.replacen("    intent: book_hotel\n", "    intent: book_a_spaceship\n", 1);
    let line = yaml.lines().position(|l| l.contains("book_a_spaceship")).expect("the broken line") as u64 + 1;
    (yaml, line)
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("response body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn admin_post(gw: &TestGateway, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    send(gw.client.post(gw.url(path)).bearer_auth(TOKEN).header("content-type", "application/yaml").body(body)).await
}

async fn admin_get(gw: &TestGateway, path: &str) -> (u16, Value) {
    send(gw.client.get(gw.url(path)).bearer_auth(TOKEN)).await
}

async fn upload(gw: &TestGateway, yaml: &str, note: &str) -> (u16, Value) {
    send(
        gw.client
            .post(gw.url("/v1/admin/assistant"))
            .query(&[("note", note)])
            .bearer_auth(TOKEN)
            .header("content-type", "application/yaml")
            .body(yaml.to_string()),
    )
    .await
}

async fn rollback(gw: &TestGateway, version: u64) -> (u16, Value) {
    send(gw.client.post(gw.url("/v1/admin/assistant/rollback")).bearer_auth(TOKEN).json(&json!({"version": version})))
        .await
}

/// The intent the gateway's parser gives `text`.
async fn intent(gw: &TestGateway, text: &str) -> String {
    let (status, body) = send(gw.client.post(gw.url("/v1/nlu/parse")).json(&json!({"text": text, "now": NOW}))).await;
    assert_eq!(status, 200, "parse: {body}");
    body["intent"]["name"].as_str().unwrap_or_default().to_string()
}

/// Waits until `gw` parses `text` as `expected`; panics with what it saw.
async fn eventually_intent(gw: &TestGateway, text: &str, expected: &str) {
    let started = Instant::now();
    loop {
        let got = intent(gw, text).await;
        if got == expected {
            return;
        }
        assert!(started.elapsed() < FOLLOW_WITHIN, "{} still parses {text:?} as {got}, not {expected}", gw.base);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn versions_of(listing: &Value) -> Vec<u64> {
    listing["versions"].as_array().map(|v| v.iter().filter_map(|v| v["version"].as_u64()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn an_upload_is_hot_swapped_on_every_gateway_and_a_rollback_undoes_it() {
    let backend = backend();
    let (one, two) = (start(&backend).await, start(&backend).await);
    for gw in [&one, &two] {
        assert_ne!(intent(gw, ZEPPELIN).await, "book_flight", "the shipped config does not know zeppelins");
    }
    let (status, info) = admin_get(&one, "/v1/admin/assistant").await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["source"], "default");
    assert_eq!(info["active"], Value::Null);
    assert_eq!(info["shared"], true);

    // Upload on one gateway; the other follows.
    let (status, uploaded) = upload(&one, &zeppelin_yaml(), "zeppelins are flights").await;
    assert_eq!(status, 201, "{uploaded}");
    assert_eq!(uploaded["version"], 2, "version 1 is the baseline the gateways ran before");
    assert_eq!(uploaded["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(intent(&one, ZEPPELIN).await, "book_flight", "the uploading gateway swaps at once");
    eventually_intent(&two, ZEPPELIN, "book_flight").await;

    let (status, listing) = admin_get(&two, "/v1/admin/assistant/versions").await;
    assert_eq!(status, 200, "{listing}");
    assert_eq!(versions_of(&listing), [2, 1], "newest first: {listing}");
    assert_eq!(listing["active_version"], 2);
    assert_eq!(listing["running_version"], 2, "the second gateway runs it: {listing}");
    assert_eq!(listing["versions"][0]["active"], true);
    assert_eq!(listing["versions"][0]["note"], "zeppelins are flights");
    assert_eq!(listing["versions"][1]["active"], false);
    assert!(listing["versions"][1]["note"].as_str().unwrap_or_default().starts_with("baseline"), "{listing}");
    assert!(listing["versions"][0].get("yaml").is_none(), "the list does not carry whole configs");

    let (status, info) = admin_get(&two, "/v1/admin/assistant").await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["source"], "store");
    assert_eq!(info["running_version"], 2);
    assert_eq!(info["active"]["version"], 2);
    assert_eq!(info["active"]["sha256"], uploaded["sha256"]);

    // Each version reads back exactly as stored.
    let response = one.client.get(one.url("/v1/admin/assistant/versions/2")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("application/yaml"), "{content_type}");
    assert_eq!(response.text().await.unwrap(), zeppelin_yaml());
    let baseline = two.client.get(two.url("/v1/admin/assistant/versions/1")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(baseline.text().await.unwrap(), DEFAULT_ASSISTANT_YAML);
    let (status, body) = admin_get(&one, "/v1/admin/assistant/versions/99").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("version_not_found")), "{body}");
    let (status, body) = admin_get(&one, "/v1/admin/assistant/versions/latest").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_version")), "{body}");

    // Rollback from the second gateway; both go back.
    let (status, rolled) = rollback(&two, 1).await;
    assert_eq!(status, 200, "{rolled}");
    assert_eq!(rolled["version"], 1);
    assert_ne!(intent(&two, ZEPPELIN).await, "book_flight");
    let started = Instant::now();
    while intent(&one, ZEPPELIN).await == "book_flight" {
        assert!(started.elapsed() < FOLLOW_WITHIN, "the first gateway did not follow the rollback");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, listing) = admin_get(&one, "/v1/admin/assistant/versions").await;
    assert_eq!(versions_of(&listing), [2, 1], "a rollback adds no version");
    assert_eq!(listing["active_version"], 1);

    // And forward again: rollback takes any stored version.
    assert_eq!(rollback(&one, 2).await.0, 200);
    eventually_intent(&two, ZEPPELIN, "book_flight").await;
    let (status, body) = rollback(&one, 42).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("version_not_found")), "{body}");
    let (status, body) =
        send(one.client.post(one.url("/v1/admin/assistant/rollback")).bearer_auth(TOKEN).json(&json!({"v": 1}))).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_json")), "{body}");

    // The follower counts its swaps.
    let metrics = two.client.get(two.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"voxbook_config_reloads_total{result="sync_ok"}"#), "{metrics}");
    let metrics = one.client.get(one.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"voxbook_config_reloads_total{result="upload_ok"} 1"#), "{metrics}");
}

#[tokio::test]
async fn an_invalid_upload_is_answered_with_its_lines_and_changes_nothing() {
    let backend = backend();
    let (one, two) = (start(&backend).await, start(&backend).await);
    let (status, first) = upload(&one, &zeppelin_yaml(), "").await;
    assert_eq!(status, 201, "{first}");
    eventually_intent(&two, ZEPPELIN, "book_flight").await;
    let (_, before) = admin_get(&one, "/v1/admin/assistant/versions").await;

    let (broken, line) = broken_yaml();
    let (status, body) = upload(&one, &broken, "should not stick").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "invalid_config");
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    assert!(!errors.is_empty(), "{body}");
    assert!(
        errors.iter().any(|e| e["line"] == line && e["column"].as_u64().is_some()),
        "a problem at line {line}: {body}"
    );
    assert!(errors.iter().all(|e| e["message"].as_str().is_some_and(|m| !m.is_empty())), "{body}");

    // A syntax error, too, comes with its position.
    let (status, body) = upload(&two, "greeting: [unclosed\nflows: {}\n", "").await;
    assert_eq!(status, 422, "{body}");
    assert!(body["errors"][0]["line"].as_u64().is_some(), "{body}");

    let (_, after) = admin_get(&one, "/v1/admin/assistant/versions").await;
    assert_eq!(after, before, "the versions are untouched");
    // Given time to (wrongly) follow, both gateways still run version 2.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for gw in [&one, &two] {
        assert_eq!(intent(gw, ZEPPELIN).await, "book_flight", "{} kept its config", gw.base);
        let (_, info) = admin_get(gw, "/v1/admin/assistant").await;
        assert_eq!(info["running_version"], first["version"], "{info}");
        assert_eq!(info["active"]["version"], first["version"], "{info}");
    }

    // Validation only: nothing is stored either way.
    let (status, body) = admin_post(&two, "/v1/admin/assistant/validate", broken).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["errors"].as_array().is_some_and(|e| e.iter().any(|e| e["line"] == line)), "{body}");
    let (status, body) = admin_post(&two, "/v1/admin/assistant/validate", DEFAULT_ASSISTANT_YAML).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["valid"], true);
    let (_, after) = admin_get(&one, "/v1/admin/assistant/versions").await;
    assert_eq!(after, before, "validating stores nothing");
    assert_eq!(intent(&one, ZEPPELIN).await, "book_flight", "validating swaps nothing");

    // Bodies the config limit refuses, and bodies that are not text.
    let huge = format!("# {}\n{DEFAULT_ASSISTANT_YAML}", "x".repeat(1024 * 1024 + 1));
    let (status, body) = admin_post(&one, "/v1/admin/assistant", huge).await;
    assert_eq!((status, body["code"].as_str()), (413, Some("payload_too_large")), "{body}");
    let (status, body) = admin_post(&one, "/v1/admin/assistant", vec![0xffu8, 0xfe, 0x00]).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_encoding")), "{body}");
    // A config bigger than client requests may be (64 KiB) is fine.
    let padded = format!("# {}\n{}", "x".repeat(100 * 1024), zeppelin_yaml());
    let (status, body) = admin_post(&one, "/v1/admin/assistant/validate", padded).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn admin_routes_need_an_admin_token() {
    let backend = backend();
    let config = Config { api_keys: vec!["client-key".into()], ..admin_config(&backend) };
    let gw = TestGateway::start_config(&backend, config).await.expect("gateway starts");
    let routes = [
        ("GET", "/v1/admin/assistant"),
        ("POST", "/v1/admin/assistant"),
        ("POST", "/v1/admin/assistant/validate"),
        ("GET", "/v1/admin/assistant/versions"),
        ("GET", "/v1/admin/assistant/versions/1"),
        ("POST", "/v1/admin/assistant/rollback"),
    ];
    for (method, path) in routes {
        let request = |token: Option<&str>| {
            let mut r = gw.client.request(method.parse().unwrap(), gw.url(path)).body(DEFAULT_ASSISTANT_YAML);
            if let Some(token) = token {
                r = r.bearer_auth(token);
            }
            r
        };
        let (status, body) = send(request(None)).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("missing_admin_token")), "{method} {path}: {body}");
        let (status, body) = send(request(Some("wrong"))).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("invalid_admin_token")), "{method} {path}: {body}");
        let (status, body) = send(request(Some("client-key"))).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("invalid_admin_token")), "an API key is no admin token");
        let (status, body) = send(request(Some(TOKEN))).await;
        assert_ne!(status, 401, "{method} {path}: {body}");
        assert_ne!(status, 403, "{method} {path}: {body}");
    }
    // Admin tokens open no client route.
    let (status, _) =
        send(gw.client.post(gw.url("/v1/nlu/parse")).bearer_auth(TOKEN).json(&json!({"text": "hello"}))).await;
    assert_eq!(status, 401);

    // Without admin tokens there is no admin API at all.
    let plain = TestGateway::start(&backend).await.expect("gateway starts");
    let (status, body) = send(plain.client.get(plain.url("/v1/admin/assistant")).bearer_auth(TOKEN)).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");
    // ...but it still follows what other gateways upload.
    assert_eq!(upload(&gw, &zeppelin_yaml(), "").await.0, 201);
    eventually_intent(&plain, ZEPPELIN, "book_flight").await;
}

/// Starts a flight booking (origin and destination given; the date is
/// asked next) and returns the session id.
async fn flight_half_done(gw: &TestGateway) -> String {
    let session = gw.session(NOW).await.expect("session");
    let (status, turn) = gw.turn(&session, "i need a flight from london to paris").await.expect("turn");
    assert_eq!(status, 200, "{turn}");
    assert_eq!(turn["awaiting"], "depart_date", "{turn}");
    session
}

#[tokio::test]
async fn a_live_session_keeps_going_across_a_swap() {
    let backend = backend();
    let (one, two) = (start(&backend).await, start(&backend).await);
    let session = flight_half_done(&one).await;

    // New wording for the question the session will hear next.
    let old_prompt = "And when would you like to come back? Or say one way.";
    let new_prompt = "When do you fly home? Or say one way.";
    assert!(DEFAULT_ASSISTANT_YAML.contains(old_prompt));
    let (status, body) = upload(&one, &DEFAULT_ASSISTANT_YAML.replacen(old_prompt, new_prompt, 1), "reword").await;
    assert_eq!(status, 201, "{body}");
    let started = Instant::now();
    loop {
        let (_, info) = admin_get(&two, "/v1/admin/assistant").await;
        if info["running_version"] == body["version"] {
            break;
        }
        assert!(started.elapsed() < FOLLOW_WITHIN, "the second gateway did not follow: {info}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The next turn, on the other gateway, continues the same booking with
    // the new wording.
    let (status, turn) = two.turn(&session, "the twelfth of june").await.expect("turn");
    assert_eq!(status, 200, "{turn}");
    assert_eq!(turn["flow"], "book_flight", "{turn}");
    assert_eq!(turn["awaiting"], "return_date", "{turn}");
    assert!(turn["reply"].as_str().unwrap_or_default().contains(new_prompt), "{turn}");
    assert!(turn["slots"].get("origin").is_some() && turn["slots"].get("depart_date").is_some(), "kept: {turn}");
    let (status, turn) = one.turn(&session, "one way for two adults").await.expect("turn");
    assert_eq!(status, 200, "{turn}");
    assert_eq!(turn["flow"], "book_flight", "{turn}");
    assert_eq!(turn["awaiting"], "option", "the booking carries on to the offers: {turn}");
}

#[tokio::test]
async fn a_session_whose_flow_the_new_config_drops_degrades_gracefully() {
    let backend = backend();
    let (one, two) = (start(&backend).await, start(&backend).await);
    let session = flight_half_done(&one).await;

    // The flight flow is renamed: the session's flow no longer exists.
    let renamed = DEFAULT_ASSISTANT_YAML.replacen(
        "  book_flight:\n    intent: book_flight\n",
        "  fly:\n    intent: book_flight\n",
        1,
    );
    assert_ne!(renamed, DEFAULT_ASSISTANT_YAML, "the shipped flow moved");
    let (status, body) = upload(&one, &renamed, "rename the flight flow").await;
    assert_eq!(status, 201, "{body}");
    eventually_flow(&two, "fly").await;

    let (status, turn) = two.turn(&session, "the twelfth of june").await.expect("turn");
    assert_eq!(status, 200, "a dropped flow is no error: {turn}");
    assert_eq!(turn["flow"], Value::Null, "{turn}");
    assert!(turn["reply"].as_str().unwrap_or_default().contains("What would you like to do?"), "{turn}");
    assert_eq!(turn["ended"], false, "{turn}");
    // The caller starts again and lands in the new flow.
    let (status, turn) = one.turn(&session, "i need a flight from london to paris").await.expect("turn");
    assert_eq!(status, 200, "{turn}");
    assert_eq!(turn["flow"], "fly", "{turn}");
    assert_eq!(turn["awaiting"], "depart_date", "{turn}");
    let (status, view) = one.get_json(&format!("/v1/sessions/{session}")).await.expect("view");
    assert_eq!(status, 200, "{view}");
}

/// Waits until a fresh session on `gw` asking for a flight lands in `flow`.
async fn eventually_flow(gw: &TestGateway, flow: &str) {
    let started = Instant::now();
    loop {
        let session = gw.session(NOW).await.expect("session");
        let (_, turn) = gw.turn(&session, "i need a flight").await.expect("turn");
        if turn["flow"] == flow {
            return;
        }
        assert!(started.elapsed() < FOLLOW_WITHIN, "{} never ran flow {flow}: {turn}", gw.base);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_gateway_started_later_runs_the_active_version_not_its_file() {
    let backend = backend();
    let one = start(&backend).await;
    assert_eq!(upload(&one, &zeppelin_yaml(), "").await.0, 201);

    // The latecomer is given the shipped file explicitly; the stored
    // active version still wins.
    let dir = std::env::temp_dir().join(format!("voxbook-admin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("assistant.yaml");
    std::fs::write(&file, DEFAULT_ASSISTANT_YAML).unwrap();
    let poll = Duration::from_millis(100);
    let config = Config { assistant: Some(file.clone()), config_poll: Some(poll), ..admin_config(&backend) };
    let late = TestGateway::start_config(&backend, config).await.expect("gateway starts");
    assert_eq!(intent(&late, ZEPPELIN).await, "book_flight", "the active version from the first request on");
    let (_, info) = admin_get(&late, "/v1/admin/assistant").await;
    assert_eq!(info["source"], "store", "{info}");

    // Its file changing does not take over either.
    std::fs::write(&file, DEFAULT_ASSISTANT_YAML.replacen("Hello, this is voxbook.", "Howdy.", 1)).unwrap();
    tokio::time::sleep(poll * 10).await;
    let (_, created) = send(late.client.post(late.url("/v1/sessions")).json(&json!({"now": NOW}))).await;
    assert!(created["greeting"].as_str().unwrap_or_default().starts_with("Hello"), "{created}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn without_redis_versions_live_in_the_process() {
    let backend = Backend { redis_url: None, ..backend() };
    let gw = start(&backend).await;
    let (_, info) = admin_get(&gw, "/v1/admin/assistant").await;
    assert_eq!(info["shared"], false, "{info}");
    let (status, body) = upload(&gw, &zeppelin_yaml(), "local").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(intent(&gw, ZEPPELIN).await, "book_flight");
    assert_eq!(rollback(&gw, 1).await.0, 200);
    assert_ne!(intent(&gw, ZEPPELIN).await, "book_flight");
    let (_, listing) = admin_get(&gw, "/v1/admin/assistant/versions").await;
    assert_eq!(versions_of(&listing), [2, 1]);

    // Another gateway without Redis sees none of it.
    let other = start(&backend).await;
    let (_, listing) = admin_get(&other, "/v1/admin/assistant/versions").await;
    assert_eq!(versions_of(&listing), Vec::<u64>::new());
}
