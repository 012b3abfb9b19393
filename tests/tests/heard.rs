//! Spoken turns carry the recogniser's per-word confidence into the
//! dialogue (`Conversations::turn_heard`): a value heard with low
//! confidence is read back before the next question, never silently
//! trusted, and the caller's "no, ..." goes to that value first. Run
//! against the real gateway parts (Redis sessions, the in-process booking
//! service on SQLite).

use voxbook_booking::BookingConfig;
use voxbook_dialogue::heard::{Heard, HeardWord};
use voxbook_gateway::Gateway;
use voxbook_proto::api::CreateSession;
use voxbook_tests::Backend;

fn words(said: &[(&str, f32)]) -> Heard {
    let text = said.iter().map(|(w, _)| *w).collect::<Vec<_>>().join(" ");
    Heard::spoken(&text, said.iter().map(|(w, p)| HeardWord { word: w.to_string(), probability: *p }).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doubtful_values_are_read_back_and_corrected_first() {
    let backend = Backend::redis_sqlite();
    let gateway = Gateway::start_with(&backend.config(), BookingConfig::default()).await.expect("gateway");
    let conversations = gateway.state.conversations.clone();
    let created = conversations
        .create(CreateSession { now: Some("2030-06-03T09:00:00Z".into()), ..Default::default() })
        .await
        .expect("create");
    let id = created.session_id;

    let first = conversations.turn(&id, "i need a flight to denver").await.expect("turn");
    assert_eq!(first.awaiting.as_deref(), Some("origin"), "{}", first.reply);

    // "boston" came with a low probability: said back, then the next question.
    let heard = words(&[("from", 0.95), ("boston", 0.31)]);
    let second = conversations.turn_heard(&id, &heard).await.expect("turn");
    assert_eq!(second.slots["origin"]["code"], "BOS", "{second:?}");
    assert_eq!(second.awaiting.as_deref(), Some("depart_date"));
    assert!(second.reply.starts_with("OK, from Boston. "), "{}", second.reply);
    assert!(second.reply.contains("What day would you like to leave?"), "{}", second.reply);

    // The caller puts it right; the doubtful city is the one corrected.
    let third = conversations.turn(&id, "no, from austin").await.expect("turn");
    assert_eq!(third.slots["origin"]["code"], "AUS", "{third:?}");
    assert_eq!(third.slots["destination"]["code"], "DEN", "{third:?}");

    // A confident answer is not read back.
    let sure = words(&[("next", 0.97), ("friday", 0.93)]);
    let fourth = conversations.turn_heard(&id, &sure).await.expect("turn");
    assert_eq!(fourth.slots["depart_date"], "2030-06-07", "{fourth:?}");
    assert!(!fourth.reply.starts_with("OK,"), "{}", fourth.reply);
}
