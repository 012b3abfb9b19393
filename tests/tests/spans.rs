//! One tracing span per conversation turn, with a child span per stage:
//! a spoken turn over the session stream (with spoken replies) must leave
//! a `turn` span whose children are `vad_endpoint`, `asr`, `dialogue`
//! (itself the parent of `parse` and `tool_call`) and `tts`.
//!
//! This test binary installs its own global subscriber that records every
//! span's name, parent and `source` field, so it holds this one test.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use voxbook_tests::gateway::spoken_start;
use voxbook_tests::{Backend, TestGateway, speech};

#[derive(Debug, Clone)]
struct Recorded {
    name: &'static str,
    parent: Option<u64>,
    source: Option<String>,
}

/// Spans by a sequence number of our own: the registry reuses the ids of
/// closed spans.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<HashMap<u64, Recorded>>>);

/// A span's sequence number, kept in its extensions.
struct Seq(u64);

struct SourceField(Option<String>);

impl Visit for SourceField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "source" {
            self.0 = Some(value.to_string());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "source" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_string());
        }
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = span.parent().and_then(|p| p.extensions().get::<Seq>().map(|s| s.0));
        let mut source = SourceField(None);
        attrs.record(&mut source);
        let record = Recorded { name: attrs.metadata().name(), parent, source: source.0 };
        let mut spans = self.0.lock().unwrap();
        let seq = spans.len() as u64 + 1;
        spans.insert(seq, record);
        span.extensions_mut().insert(Seq(seq));
    }
}

async fn next_event(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(60), ws.next()).await.expect("event").unwrap().unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_turn_has_one_span_with_a_child_per_stage() {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(recorder.clone())).unwrap();

    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.asr.model = Some(speech::model_path().expect("model"));
    let gateway = TestGateway::start_config(&backend, config).await.expect("gateway");
    let session = gateway.session("2030-06-03T09:00:00Z").await.unwrap();
    let mut ws = gateway.open_stream(&session, &spoken_start()).await.expect("stream opens");
    assert_eq!(next_event(&mut ws).await["type"], "ready");

    // Spoken: "I need a flight from London to Paris" (the caller waits
    // for the reply to finish).
    let mut audio = speech::espeak("I need a flight from London to Paris", &std::env::temp_dir()).unwrap();
    audio.extend(std::iter::repeat_n(0.0, 16 * 900));
    for frame in speech::pcm_s16le(&audio).chunks(640) {
        ws.send(Message::Binary(frame.to_vec().into())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    loop {
        if next_event(&mut ws).await["type"] == "reply_finished" {
            break;
        }
    }
    // Typed, with every slot at once, so the dialogue searches (a tool call).
    let typed = "on the twelfth of june, one way, for two passengers";
    ws.send(Message::Text(json!({"type": "text", "text": typed}).to_string().into())).await.unwrap();
    loop {
        if next_event(&mut ws).await["type"] == "reply_finished" {
            break;
        }
    }
    gateway.stop().await.unwrap();

    let spans = recorder.0.lock().unwrap().clone();
    let children = |parent: u64| -> Vec<&'static str> {
        let mut names: Vec<&'static str> =
            spans.values().filter(|s| s.parent == Some(parent)).map(|s| s.name).collect();
        names.sort_unstable();
        names
    };
    let turn_of = |source: &str| {
        spans
            .iter()
            .find(|(_, s)| s.name == "turn" && s.source.as_deref() == Some(source))
            .map(|(id, _)| *id)
            .unwrap_or_else(|| panic!("no {source} turn span among {spans:?}"))
    };
    let voice = turn_of("voice");
    assert_eq!(children(voice), ["asr", "dialogue", "tts", "vad_endpoint"], "{spans:?}");
    let text = turn_of("text");
    assert_eq!(children(text), ["dialogue", "tts"], "{spans:?}");
    let dialogue =
        spans.iter().find(|(_, s)| s.name == "dialogue" && s.parent == Some(text)).map(|(id, _)| *id).unwrap();
    let inside = children(dialogue);
    assert!(inside.contains(&"parse") && inside.contains(&"tool_call"), "{inside:?}");
    // Every turn span sits in its stream's span.
    let stream = spans.get(&voice).and_then(|s| s.parent).and_then(|p| spans.get(&p)).map(|s| s.name);
    assert_eq!(stream, Some("stream"));
}
