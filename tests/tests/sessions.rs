//! Sessions outlive gateway processes: a conversation resumes on a
//! restarted gateway, and continues when its turns alternate between two
//! gateways sharing one Redis and one booking database.

use std::path::Path;

use voxbook_tests::script::{self, Run, play, script_now};
use voxbook_tests::{Backend, TestGateway};

fn script(name: &str) -> script::Script {
    script::load(&script::conversations_dir().join(Path::new(name))).expect("script loads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_resumes_on_a_restarted_gateway() {
    let script = script("one_way_flight.yaml");
    let backend = Backend::redis_sqlite().with_booking_now(script_now(&script).unwrap());

    let first = TestGateway::start(&backend).await.unwrap();
    let mut run = Run::start(&first, &script).await.unwrap();
    // Up to the option list: slots, search results and the flow stage are
    // all in Redis when the gateway goes away.
    for _ in 0..4 {
        run.step(&first).await.unwrap();
    }
    first.stop().await.unwrap();

    let second = TestGateway::start(&backend).await.unwrap();
    while !run.finished() {
        run.step(&second).await.unwrap();
    }
    let (status, session) = second.get_json(&format!("/v1/sessions/{}", run.session)).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(session["turns"], 6);
    assert_eq!(session["bookings"].as_array().map(Vec::len), Some(1));
    second.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_alternate_between_two_gateways() {
    for name in ["return_flight.yaml", "change_booking.yaml", "digression.yaml"] {
        let script = script(name);
        let backend = Backend::redis_sqlite().with_booking_now(script_now(&script).unwrap());
        let a = TestGateway::start(&backend).await.unwrap();
        let b = TestGateway::start(&backend).await.unwrap();
        play(&script, &[&a, &b]).await.unwrap_or_else(|e| panic!("{name}: {e:#}"));
        a.stop().await.unwrap();
        b.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_sessions_die_with_the_gateway() {
    // The embedded default (no Redis URL) is documented to lose sessions on
    // restart; this pins that down so nobody relies on it by accident.
    let mut backend = Backend::redis_sqlite();
    backend.redis_url = None;
    let first = TestGateway::start(&backend).await.unwrap();
    let id = first.session("2030-06-03T09:00:00Z").await.unwrap();
    assert_eq!(first.turn(&id, "i need a hotel").await.unwrap().0, 200);
    first.stop().await.unwrap();
    let second = TestGateway::start(&backend).await.unwrap();
    let (status, body) = second.turn(&id, "in paris").await.unwrap();
    assert_eq!(status, 404);
    assert_eq!(body["code"], "session_not_found");
    second.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_from_redis() {
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.session_ttl = std::time::Duration::from_secs(60);
    let gateway = TestGateway::start_config(&backend, config).await.unwrap();
    let id = gateway.session("2030-06-03T09:00:00Z").await.unwrap();
    let (_, view) = gateway.get_json(&format!("/v1/sessions/{id}")).await.unwrap();
    let left = view["expires_in_seconds"].as_u64().unwrap();
    assert!((1..=60).contains(&left), "expires in {left}s");
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_turns_through_two_gateways_lose_no_update() {
    // Turns on one session racing through two gateways: the store's
    // versioned writes decide, the losers redo their turn, and every turn
    // lands exactly once.
    let backend = Backend::redis_sqlite();
    let a = std::sync::Arc::new(TestGateway::start(&backend).await.unwrap());
    let b = std::sync::Arc::new(TestGateway::start(&backend).await.unwrap());
    let id = a.session("2030-06-03T09:00:00Z").await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let gateway = if i % 2 == 0 { a.clone() } else { b.clone() };
        let id = id.clone();
        tasks.push(tokio::spawn(async move { gateway.turn(&id, "what can you do").await.unwrap().0 }));
    }
    let mut ok = 0;
    for t in tasks {
        let status = t.await.unwrap();
        assert!(status == 200 || status == 409, "HTTP {status}");
        ok += u64::from(status == 200);
    }
    let (_, view) = a.get_json(&format!("/v1/sessions/{id}")).await.unwrap();
    assert_eq!(view["turns"].as_u64(), Some(ok), "{view}");
    assert_eq!(view["history"].as_array().map(|h| h.len() as u64), Some(ok));
    let mut numbers: Vec<u64> =
        view["history"].as_array().unwrap().iter().map(|h| h["turn"].as_u64().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, (1..=ok).collect::<Vec<_>>());
    assert!(ok >= 10, "only {ok} of 12 turns got through");
}
