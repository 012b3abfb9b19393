//! The scripted conversations of `samples/conversations/`, played through
//! the HTTP API against real Redis and a real database: every script on
//! SQLite, every script again on PostgreSQL.

use voxbook_tests::script::{self, play, script_now};
use voxbook_tests::{Backend, TestGateway, postgres::TempDatabase};

async fn play_all_on(backend_for: impl Fn(&script::Script) -> anyhow::Result<Backend>) {
    let scripts = script::load_all().expect("scripts load");
    assert!(scripts.len() >= 8, "expected the shipped conversation set, found {}", scripts.len());
    let mut failures = Vec::new();
    for (path, script) in &scripts {
        let backend = backend_for(script).expect("backend");
        let gateway = TestGateway::start(&backend).await.expect("gateway starts");
        if let Err(e) = play(script, &[&gateway]).await {
            failures.push(format!("{}: {e:#}", path.display()));
        }
        gateway.stop().await.expect("gateway stops");
    }
    assert!(failures.is_empty(), "{} script(s) failed:\n\n{}", failures.len(), failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_script_passes_on_redis_and_sqlite() {
    play_all_on(|s| Ok(Backend::redis_sqlite().with_booking_now(script_now(s)?))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_script_passes_on_redis_and_postgres() {
    let db = TempDatabase::create().await.expect("postgres database");
    let url = db.url.clone();
    play_all_on(|s| {
        let mut backend = Backend::redis_sqlite().with_booking_now(script_now(s)?);
        backend.database_url = url.clone();
        Ok(backend)
    })
    .await;
    db.drop_now().await.expect("drop database");
}

/// The booking service as its own HTTP server (what `voxbook-booking serve`
/// runs), with the gateway reaching it over `--booking-url`.
async fn remote_booking_service(now: chrono::DateTime<chrono::Utc>) -> (String, tokio::task::JoinHandle<()>) {
    use std::sync::Arc;
    use voxbook_booking::{AirportDirectory, BookingConfig, BookingService, ManualClock};
    let db = std::env::temp_dir().join(format!("voxbook-remote-{}.db", uuid::Uuid::new_v4().simple()));
    let directory = Arc::new(AirportDirectory::from_proto(voxbook_proto::airports::Airports::shared()));
    let config = BookingConfig::default().with_clock(Arc::new(ManualClock::new(now)));
    let service =
        BookingService::connect(&format!("sqlite://{}", db.display()), directory, config).await.expect("service");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, voxbook_booking::router(Arc::new(service))).await;
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_pass_against_a_remote_booking_service() {
    for name in ["one_way_flight.yaml", "change_booking.yaml", "cancel_booking.yaml"] {
        let script = script::load(&script::conversations_dir().join(name)).expect("script");
        let (url, server) = remote_booking_service(script_now(&script).expect("now")).await;
        let backend = Backend::redis_sqlite();
        let mut config = backend.config();
        config.booking_url = Some(url);
        let gateway = TestGateway::start_config(&backend, config).await.expect("gateway");
        play(&script, &[&gateway]).await.unwrap_or_else(|e| panic!("{name}: {e:#}"));
        gateway.stop().await.expect("stop");
        server.abort();
    }
}
