//! A phone call over Twilio Media Streams, end to end: an emulated Twilio
//! (tests/src/twilio.rs) plays an espeak-ng caller as mu-law 8 kHz in
//! 20 ms frames at real-time pace, plays the bot's audio out in real time,
//! echoes its marks, and obeys `clear`. The caller books a flight (speech
//! and keypad), talks over a reply (the bot must `clear` and the session
//! must record what was heard), and the bot's audio is transcribed with
//! our Whisper to check it says what the reply text says.

use std::time::Duration;

use serde_json::Value;
use voxbook_tests::phone::TWILIO_TOKEN;
use voxbook_tests::script::script_now;
use voxbook_tests::twilio::{CallConfig, TwilioCall, f32_to_mulaw};
use voxbook_tests::{Backend, TestGateway, speech};

const NOW: &str = "2030-06-03T09:00:00Z";
const PATH: &str = "/v1/telephony/twilio/media";

async fn gateway() -> TestGateway {
    let script = voxbook_tests::script::Script { name: "phone".into(), now: NOW.into(), turns: vec![] };
    let backend = Backend::redis_sqlite().with_booking_now(script_now(&script).unwrap());
    let mut config = backend.config();
    config.asr.model = Some(speech::model_path().expect("model"));
    config.asr.threads = 2;
    config.telephony.twilio_auth_tokens = vec![TWILIO_TOKEN.to_string()];
    TestGateway::start_config(&backend, config).await.expect("gateway")
}

/// Connects as Twilio would: the upgrade signed over the wss URL.
async fn call(gw: &TestGateway, call_sid: &str) -> TwilioCall {
    let ws_url = gw.ws_url(PATH);
    let signature = voxbook_gateway::telephony::signature::twilio_signature(TWILIO_TOKEN, &ws_url, &[]);
    let config = CallConfig::default()
        .with_call_sid(call_sid)
        .with_parameter("now", NOW)
        .with_header("X-Twilio-Signature", signature);
    TwilioCall::connect(&ws_url, config).await.expect("media stream opens")
}

async fn say(call: &TwilioCall, text: &str) {
    let audio = speech::espeak(text, &std::env::temp_dir()).expect("espeak-ng");
    call.send_audio(&f32_to_mulaw(&audio, 16_000).unwrap()).await.expect("caller audio");
}

async fn session(gw: &TestGateway, call_sid: &str) -> Value {
    let id = voxbook_dialogue::conversation::keyed_session_id(&format!("call:twilio:{call_sid}"));
    let (status, view) = gw.get_json(&format!("/v1/sessions/{id}")).await.unwrap();
    assert_eq!(status, 200, "{view}");
    view
}

/// Waits until the bot has answered turn `turn` and finished speaking.
async fn answered(gw: &TestGateway, call: &TwilioCall, call_sid: &str, turn: u64) -> Value {
    for _ in 0..300 {
        let view = session(gw, call_sid).await;
        if view["turns"].as_u64() >= Some(turn) {
            call.wait_for_silence(Duration::from_millis(600), Duration::from_secs(40)).await.expect("reply ends");
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("turn {turn} never came: {}", session(gw, call_sid).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_booking_over_media_streams_with_marks_and_a_barge_in_clear() {
    let gw = gateway().await;
    let sid = "CA00000000000000000000000000000a11";
    let call = call(&gw, sid).await;

    // The bot opens with its greeting, spoken and marked.
    call.wait_for_silence(Duration::from_millis(600), Duration::from_secs(30)).await.expect("greeting plays");
    let greeting_bytes = call.played_bytes();
    assert!(greeting_bytes > 8_000, "at least a second of greeting, got {greeting_bytes} bytes");
    assert!(!call.marks().is_empty(), "the greeting's sentences are marked");

    say(&call, "I need a flight from London to Paris").await;
    let view = answered(&gw, &call, sid, 1).await;
    assert_eq!(view["slots"]["destination"]["code"].as_str().map(|c| c.len()), Some(3), "{view}");
    // (tiny.en hears espeak-ng through a phone line poorly; the phrases
    // are ones it gets right.)
    say(&call, "Tomorrow").await;
    let view = answered(&gw, &call, sid, 2).await;
    assert_eq!(view["slots"]["depart_date"], "2030-06-04", "{view}");
    say(&call, "One way please").await;
    answered(&gw, &call, sid, 3).await;
    // Keypad where speech is awkward: two passengers.
    let before_options = call.played_bytes();
    call.send_dtmf('2').await.unwrap();
    let view = answered(&gw, &call, sid, 4).await;
    assert_eq!(view["awaiting"], "option", "{view}");

    // The options are read out; a check of what the bot said: transcribe
    // the last reply as the caller heard it.
    let history = view["history"].as_array().unwrap().clone();
    let reply = history.last().unwrap()["reply"].as_str().unwrap().to_string();
    let played = call.played_f32(16_000).unwrap();
    // 8 kHz mu-law bytes → 16 kHz samples.
    let from = before_options * 2;
    let model = voxbook_audio::asr::whisper::WhisperModel::load(&speech::model_path().unwrap()).unwrap();
    let options = voxbook_audio::asr::whisper::DecodeOptions::full_window();
    let tail = played[from.min(played.len())..].to_vec();
    let heard = tokio::task::spawn_blocking(move || model.transcribe(&tail, &options)).await.unwrap().unwrap().text;
    let wer = voxbook_tests::wer::corpus_wer([(reply.as_str(), heard.as_str())]);
    assert!(wer <= 45.0, "the bot said {heard:?} for {reply:?} (WER {wer:.0}%)");

    // Pick option 2 by keypad, then talk over the read-back.
    call.send_dtmf('2').await.unwrap();
    call.wait_for_audio(call.received_bytes() + 8_000, Duration::from_secs(30)).await.expect("read-back starts");
    let clears_before = call.clears().len();
    say(&call, "Yes please").await;
    call.wait_for_clears(clears_before + 1, Duration::from_secs(10)).await.expect("barge-in clears Twilio's buffer");
    let view = answered(&gw, &call, sid, 6).await;
    let readback = view["history"].as_array().unwrap().iter().find(|h| h["turn"] == 5).cloned().unwrap();
    let heard = readback["heard"].as_str().expect("what the caller heard of the read-back");
    let full = readback["reply"].as_str().unwrap();
    assert!(heard.len() < full.len() && full.starts_with(heard), "{heard:?} of {full:?}");
    assert_eq!(view["bookings"].as_array().map(Vec::len), Some(1), "booked: {view}");

    // Marks came back for what was played; nothing broke the protocol.
    let marks = call.marks();
    assert!(marks.iter().filter(|m| m.echoed_at.is_some()).count() >= 3, "{marks:?}");
    call.ensure_no_violations().expect("the server spoke the Media Streams protocol");
    call.close().await.unwrap();
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn an_unsigned_or_misformatted_media_stream_is_refused() {
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.telephony.twilio_auth_tokens = vec![TWILIO_TOKEN.to_string()];
    let gw = TestGateway::start_config(&backend, config).await.expect("gateway");
    let unsigned = TwilioCall::connect(&gw.ws_url(PATH), CallConfig::default()).await;
    assert!(unsigned.is_err(), "an unsigned upgrade is refused");
    gw.stop().await.unwrap();
}
