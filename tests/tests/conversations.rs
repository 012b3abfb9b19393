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
