//! A spoken booking end to end: espeak-ng says the caller's turns, the
//! audio streams over the session WebSocket in 20 ms frames at real-time
//! pace, the gateway detects each utterance, transcribes it with Whisper,
//! runs the dialogue turn, and the conversation ends with a confirmed
//! booking.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use voxbook_tests::script::script_now;
use voxbook_tests::{Backend, TestGateway, speech};

const NOW: &str = "2030-06-03T09:00:00Z";

fn pcm_frames(audio: &[f32]) -> Vec<Vec<u8>> {
    let bytes: Vec<u8> = audio.iter().flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect();
    bytes.chunks(640).map(<[u8]>::to_vec).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoken_flight_booking_over_the_stream() {
    let model = speech::model_path().expect("model");
    let script = voxbook_tests::script::Script { name: "voice".into(), now: NOW.into(), turns: vec![] };
    let backend = Backend::redis_sqlite().with_booking_now(script_now(&script).unwrap());
    let mut config = backend.config();
    config.asr.model = Some(model);
    config.asr.threads = 2;
    let gateway = TestGateway::start_config(&backend, config).await.expect("gateway");
    let session = gateway.session(NOW).await.expect("session");

    let (mut ws, _) = tokio_tungstenite::connect_async(gateway.ws_url(&format!("/v1/sessions/{session}/stream")))
        .await
        .expect("stream opens");
    let start =
        json!({"type": "start", "protocol_version": 2, "audio": {"encoding": "pcm_s16le", "sample_rate": 16000}});
    ws.send(Message::Text(start.to_string().into())).await.unwrap();

    // Turn by turn: what the caller says, and what the assistant must be
    // waiting for afterwards.
    let turns = [
        ("I need a flight from London to Paris", "depart_date"),
        ("On the twelfth of June", "return_date"),
        ("One way please", "passengers"),
        ("Two passengers", "option"),
        ("The second one", "confirmation"),
        ("Yes please", ""),
    ];
    let dir = std::env::temp_dir();
    let silence = vec![0.0f32; 16 * 900];
    let mut events: Vec<Value> = Vec::new();
    let mut booking_ref = None;
    for (said, awaiting) in turns {
        let audio = speech::espeak(said, &dir).expect("espeak-ng");
        let mut frames = pcm_frames(&audio);
        frames.extend(pcm_frames(&silence));
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        for frame in frames {
            ticker.tick().await;
            ws.send(Message::Binary(frame.into())).await.unwrap();
        }
        // Collect events until this utterance's turn result.
        let result = loop {
            let message = tokio::time::timeout(Duration::from_secs(20), ws.next())
                .await
                .unwrap_or_else(|_| panic!("no turn result for {said:?}; events so far: {events:#?}"))
                .expect("stream open")
                .expect("message");
            let Message::Text(text) = message else { continue };
            let event: Value = serde_json::from_str(&text).unwrap();
            events.push(event.clone());
            match event["type"].as_str() {
                Some("turn_result") => break event["result"].clone(),
                Some("error") => panic!("error event for {said:?}: {event}"),
                _ => {}
            }
        };
        let transcript = events.iter().rev().find(|e| e["type"] == "transcript").cloned().unwrap_or_default();
        let want = if awaiting.is_empty() { Value::Null } else { json!(awaiting) };
        assert_eq!(result["awaiting"], want, "after {said:?} (heard {:?}): {result:#}", transcript["text"]);
        if let Some(code) = result["booking_ref"].as_str() {
            booking_ref = Some(code.to_string());
        }
    }
    let code = booking_ref.expect("the last turn booked");
    let (status, booking) = gateway.get_json(&format!("/v1/bookings/{code}")).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(booking["status"], "confirmed");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    for kind in ["ready", "speech_started", "speech_stopped", "transcript", "turn_result"] {
        assert!(kinds.contains(&kind), "no {kind} event in {kinds:?}");
    }
    ws.send(Message::Text(json!({"type": "stop"}).to_string().into())).await.unwrap();
    gateway.stop().await.unwrap();
}
