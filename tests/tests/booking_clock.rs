//! One notion of time: a session's fixed clock (`now` at creation, as demos,
//! QA replays and tests use) is also the booking service's "today" for that
//! session's searches, holds, bookings and changes, while the service itself
//! runs on the real clock, exactly as a gateway started from the README
//! does. Checked over both transports: the in-process service, and a
//! standalone `voxbook-booking` reached over HTTP, where the date travels as
//! the `X-Voxbook-As-Of` header (recorded here on the real service's way in,
//! so the test sees what the gateway actually sent). Sessions on the real
//! clock send no as-of date.

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::{self, Next};
use chrono::Utc;
use serde_json::{Value, json};
use voxbook_booking::http::AS_OF_HEADER;
use voxbook_booking::{AirportDirectory, BookingConfig, BookingService, router};
use voxbook_proto::airports::Airports;
use voxbook_tests::script::{load, script_now};
use voxbook_tests::{Backend, TestGateway, repo_root};

/// A fixed clock of the README's examples.
const SCRIPTS_NOW: &str = "2030-06-03T09:00:00Z";

/// Every distinct `now` the shipped replay scripts fix.
fn shipped_clocks() -> Vec<String> {
    let dir = repo_root().join("samples").join("replay");
    let mut clocks = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("samples/replay") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let script = load(&path).expect("script");
            let now = script_now(&script).expect("a replay script fixes its clock");
            clocks.push(now.to_rfc3339());
        }
    }
    clocks.sort();
    clocks.dedup();
    clocks
}

/// What to say to whatever the assistant is waiting for, to book London →
/// Paris on 12 June for two, one way.
fn answer(awaiting: &str) -> &'static str {
    match awaiting {
        "depart_date" => "the twelfth of june",
        "return_date" => "one way",
        "passengers" => "two passengers",
        "option" => "the second one",
        "confirmation" => "yes please",
        _ => "one way",
    }
}

/// Walks a flight booking; returns the booking reference and the turns.
async fn book_a_flight(gateway: &TestGateway, session: &str) -> (String, Vec<Value>) {
    let mut turns = Vec::new();
    let mut text = "I need a flight from London to Paris".to_string();
    for _ in 0..10 {
        let (status, body) = gateway.turn(session, &text).await.expect("turn");
        assert_eq!(status, 200, "{body}");
        turns.push(body.clone());
        if let Some(r) = body["booking_ref"].as_str() {
            return (r.to_string(), turns);
        }
        let awaiting = body["awaiting"].as_str().unwrap_or_else(|| panic!("stuck: {:#}", Value::Array(turns.clone())));
        text = answer(awaiting).to_string();
    }
    panic!("no booking after 10 turns: {:#}", Value::Array(turns));
}

/// The booking as the service has it, checked: on the date the session
/// understood (`depart_date`), stamped by the real clock.
async fn check_booking(gateway: &TestGateway, booking_ref: &str, depart_date: &str) {
    let (status, booking) = gateway.get_json(&format!("/v1/bookings/{booking_ref}")).await.expect("get booking");
    assert_eq!(status, 200, "{booking}");
    assert_eq!(booking["status"], "confirmed");
    assert_eq!(booking["item"]["outbound"]["date"], depart_date, "{booking:#}");
    assert_eq!(booking["item"]["passengers"], 2, "{booking:#}");
    let today = Utc::now().format("%Y-%m-%d").to_string();
    let created = booking["created_at"].as_str().unwrap_or_default();
    // Around midnight UTC the booking may carry yesterday's date.
    let yesterday = (Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%d").to_string();
    assert!(created.starts_with(&today) || created.starts_with(&yesterday), "created_at {created}, today {today}");
}

/// The date the conversation settled on.
fn depart_date(turns: &[Value]) -> String {
    turns.iter().rev().find_map(|t| t["slots"]["depart_date"].as_str()).expect("a depart_date slot").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_clock_gateway_books_on_the_shipped_scripts_dates() {
    // The README's server: in-process booking service on the real clock.
    let backend = Backend::redis_sqlite();
    let gateway = TestGateway::start(&backend).await.expect("gateway");
    let clocks = shipped_clocks();
    assert!(!clocks.is_empty(), "samples/replay has scripts");
    for now in clocks {
        let session = gateway.session(&now).await.expect("session");
        let (booking_ref, turns) = book_a_flight(&gateway, &session).await;
        let date = depart_date(&turns);
        assert!(date.as_str() >= &now[..10], "{date} is on or after the session's {now}");
        check_booking(&gateway, &booking_ref, &date).await;
    }
    gateway.stop().await.expect("stop");
}

/// A standalone booking service on the real clock, recording the as-of
/// header of every request that reaches it.
async fn standalone_booking_service() -> (String, Arc<Mutex<Vec<(String, Option<String>)>>>) {
    let db = std::env::temp_dir().join(format!("voxbook-clock-{}.db", uuid::Uuid::new_v4().simple()));
    let airports = Arc::new(AirportDirectory::from_proto(Airports::shared()));
    let service = BookingService::connect(&format!("sqlite://{}", db.display()), airports, BookingConfig::default())
        .await
        .expect("booking service");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = router(Arc::new(service)).layer(middleware::from_fn(move |req: Request, next: Next| {
        let header = req.headers().get(AS_OF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        record.lock().expect("lock").push((req.uri().path().to_string(), header));
        next.run(req)
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_the_session_date_travels_as_a_header_and_only_for_fixed_clocks() {
    let (booking_url, seen) = standalone_booking_service().await;
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.booking_url = Some(booking_url);
    let gateway = TestGateway::start_config(&backend, config).await.expect("gateway");

    let session = gateway.session(SCRIPTS_NOW).await.expect("session");
    let (booking_ref, turns) = book_a_flight(&gateway, &session).await;
    assert_eq!(depart_date(&turns), "2030-06-12");
    check_booking(&gateway, &booking_ref, "2030-06-12").await;
    let calls = std::mem::take(&mut *seen.lock().expect("lock"));
    let dated: Vec<_> = calls.iter().filter(|(path, _)| path != &format!("/v1/bookings/{booking_ref}")).collect();
    assert!(dated.iter().any(|(path, _)| path == "/v1/flights/search"), "{calls:?}");
    assert!(dated.iter().all(|(_, h)| h.as_deref() == Some("2030-06-03")), "{calls:?}");

    // A session on the real clock sends no date: the service decides.
    let created: Value = gateway
        .client
        .post(gateway.url("/v1/sessions"))
        .json(&json!({}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let session = created["session_id"].as_str().expect("session_id");
    let (status, body) =
        gateway.turn(session, "a one way flight from london to paris next friday for one").await.expect("turn");
    assert_eq!(status, 200, "{body}");
    let calls = std::mem::take(&mut *seen.lock().expect("lock"));
    assert!(calls.iter().any(|(path, _)| path == "/v1/flights/search"), "{calls:?} {body:#}");
    assert!(calls.iter().all(|(_, h)| h.is_none()), "{calls:?}");
    gateway.stop().await.expect("stop");
}
