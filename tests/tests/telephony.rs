//! Phone calls through the provider webhooks, against real Redis and a
//! real booking database: a whole booking over Twilio `<Gather>`
//! webhooks (speech, a doubtful transcript confirmed by keypad, DTMF
//! picks), a retried webhook that books once, signatures forged,
//! tampered with and missing, handoff and silence, and the generic JSON
//! webhook with its own signature and retries.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use voxbook_dialogue::conversation::keyed_session_id;
use voxbook_tests::phone::{TWILIO_TOKEN, TwimlAnswer, post_generic, post_twilio};
use voxbook_tests::{Backend, TestGateway};

const CALL: &str = "CA00000000000000000000000000000001";
const SECRET: &str = "acme-webhook-secret";

async fn gateway(transfer: Option<&str>) -> TestGateway {
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.telephony.twilio_auth_tokens = vec![TWILIO_TOKEN.to_string()];
    config.telephony.transfer_number = transfer.map(str::to_string);
    config.telephony.webhook_secrets = BTreeMap::from([("acme".to_string(), vec![SECRET.to_string()])]);
    TestGateway::start_config(&backend, config).await.expect("gateway")
}

/// Posts to a Twilio webhook path as Twilio would for `call`.
async fn twilio(gw: &TestGateway, path: &str, call: &str, extra: &[(&str, &str)]) -> TwimlAnswer {
    let mut params =
        vec![("AccountSid", "AC0000"), ("CallSid", call), ("From", "+15550001111"), ("To", "+15550002222")];
    params.extend_from_slice(extra);
    let (status, body) = post_twilio(&gw.client, &gw.base, path, &params, None).await.expect("post");
    assert_eq!(status, 200, "{body}");
    TwimlAnswer::parse(&body).expect("TwiML")
}

fn speech(text: &'static str, confidence: &'static str) -> [(&'static str, &'static str); 2] {
    [("SpeechResult", text), ("Confidence", confidence)]
}

fn session_path(call: &str) -> String {
    format!("/v1/sessions/{}", keyed_session_id(&format!("call:twilio:{call}")))
}

#[tokio::test]
async fn a_flight_booked_over_gather_webhooks_with_speech_and_keypad() {
    let gw = gateway(None).await;
    let answer = twilio(&gw, "/v1/telephony/twilio/voice", CALL, &[]).await;
    assert!(answer.said().contains("book a flight or a hotel"), "greeting: {}", answer.xml);
    let mut action = answer.gather_action.clone().expect("the call listens");
    assert!(answer.xml.contains(r#"input="speech dtmf""#), "{}", answer.xml);

    let answer = twilio(&gw, &action, CALL, &speech("I need a flight from London to Paris tomorrow", "0.93")).await;
    assert!(answer.said().to_lowercase().contains("come back"), "{}", answer.xml);
    action = answer.gather_action.expect("listens");

    let answer = twilio(&gw, &action, CALL, &speech("one way", "0.9")).await;
    assert!(answer.said().to_lowercase().contains("passengers"), "{}", answer.xml);
    action = answer.gather_action.expect("listens");

    // A doubtful transcript is read back, not acted on...
    let answer = twilio(&gw, &action, CALL, &speech("two passengers", "0.21")).await;
    assert!(answer.said().contains("I think you said: two passengers"), "{}", answer.xml);
    let (_, view) = gw.get_json(&session_path(CALL)).await.unwrap();
    assert_eq!(view["awaiting"], "passengers", "nothing acted on yet: {view}");
    action = answer.gather_action.expect("listens");
    // ...until the caller confirms it on the keypad.
    let answer = twilio(&gw, &action, CALL, &[("Digits", "1")]).await;
    let (_, view) = gw.get_json(&session_path(CALL)).await.unwrap();
    assert_eq!(view["awaiting"], "option", "{view}");
    assert_eq!(view["slots"]["passengers"], 2, "{view}");
    assert!(answer.said().contains("press the option's number"), "{}", answer.xml);
    action = answer.gather_action.expect("listens");

    // DTMF where speech is awkward: pick option 2, press 1 to confirm.
    let answer = twilio(&gw, &action, CALL, &[("Digits", "2")]).await;
    assert!(answer.said().contains("press 1 for yes"), "{}", answer.xml);
    let confirm_action = answer.gather_action.expect("listens");
    let booked = twilio(&gw, &confirm_action, CALL, &[("Digits", "1")]).await;
    let (_, view) = gw.get_json(&session_path(CALL)).await.unwrap();
    let bookings = view["bookings"].as_array().cloned().unwrap_or_default();
    assert_eq!(bookings.len(), 1, "{view}");
    let booking_ref = bookings[0]["booking_ref"].as_str().unwrap().to_string();
    assert!(booked.said().contains(&booking_ref) || booked.said().to_lowercase().contains("booked"), "{}", booked.xml);
    let turns = view["turns"].as_u64().unwrap();

    // Twilio timed out and delivers the same request again: same answer,
    // no second turn, no second booking.
    let retried = twilio(&gw, &confirm_action, CALL, &[("Digits", "1")]).await;
    assert_eq!(retried.xml, booked.xml);
    let (_, view) = gw.get_json(&session_path(CALL)).await.unwrap();
    assert_eq!(view["turns"].as_u64(), Some(turns), "{view}");
    assert_eq!(view["bookings"].as_array().map(Vec::len), Some(1), "{view}");
    let (status, booking) = gw.get_json(&format!("/v1/bookings/{booking_ref}")).await.unwrap();
    assert_eq!(status, 200, "{booking}");

    let action = booked.gather_action.expect("listens after booking");
    let bye = twilio(&gw, &action, CALL, &speech("that's all goodbye", "0.88")).await;
    assert!(bye.hangup, "{}", bye.xml);
    assert!(bye.gather_action.is_none(), "{}", bye.xml);
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn forged_tampered_and_unsigned_webhooks_are_refused_and_touch_nothing() {
    let gw = gateway(None).await;
    let call = "CA00000000000000000000000000000002";
    let params = [("CallSid", call), ("From", "+15550001111")];
    let path = "/v1/telephony/twilio/voice";

    let (status, body) = post_twilio(&gw.client, &gw.base, path, &params, Some("")).await.unwrap();
    assert_eq!(status, 403, "unsigned: {body}");
    let (status, _) = post_twilio(&gw.client, &gw.base, path, &params, Some("bm90IGEgc2lnbmF0dXJl")).await.unwrap();
    assert_eq!(status, 403, "forged");
    // Signed for one URL, sent to another.
    let url = format!("{}/v1/telephony/twilio/gather?turn=0&ask=0", gw.base);
    let owned: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let other = voxbook_gateway::telephony::signature::twilio_signature(TWILIO_TOKEN, &url, &owned);
    let (status, _) = post_twilio(&gw.client, &gw.base, path, &params, Some(&other)).await.unwrap();
    assert_eq!(status, 403, "signed for another URL");
    // Signed by someone with another token.
    let wrong =
        voxbook_gateway::telephony::signature::twilio_signature("not-the-token", &format!("{}{path}", gw.base), &owned);
    let (status, _) = post_twilio(&gw.client, &gw.base, path, &params, Some(&wrong)).await.unwrap();
    assert_eq!(status, 403, "wrong token");
    // A valid signature over different parameters (a tampered body).
    let signed =
        voxbook_gateway::telephony::signature::twilio_signature(TWILIO_TOKEN, &format!("{}{path}", gw.base), &owned);
    let tampered = [("CallSid", call), ("From", "+15559999999")];
    let (status, _) = post_twilio(&gw.client, &gw.base, path, &tampered, Some(&signed)).await.unwrap();
    assert_eq!(status, 403, "tampered");

    let (status, _) = gw.get_json(&session_path(call)).await.unwrap();
    assert_eq!(status, 404, "no session was created by a refused request");
    // The media stream upgrade is signed too.
    let (status, _) = gw.get_json("/v1/telephony/twilio/media").await.unwrap();
    assert_eq!(status, 403);
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn a_json_webhook_is_checked_against_its_body_hash() {
    use sha2_hex::hex_sha256;
    let gw = gateway(None).await;
    let body = serde_json::to_vec(&json!({"CallSid": "CA0000000000000000000000000000j50n"})).unwrap();
    let path = format!("/v1/telephony/twilio/voice?bodySHA256={}", hex_sha256(&body));
    let signed = voxbook_gateway::telephony::signature::twilio_signature(TWILIO_TOKEN, &gw.url(&path), &[]);
    let post = |body: Vec<u8>, signature: String| {
        gw.client
            .post(gw.url(&path))
            .header("content-type", "application/json")
            .header("X-Twilio-Signature", signature)
            .body(body)
            .send()
    };
    let answer = post(body.clone(), signed.clone()).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(TwimlAnswer::parse(&answer.text().await.unwrap()).unwrap().gather_action.is_some());
    // The same signature on another body: the hash no longer matches.
    let other = serde_json::to_vec(&json!({"CallSid": "CA0000000000000000000000000000f0r9"})).unwrap();
    assert_eq!(post(other, signed).await.unwrap().status(), 403);
    gw.stop().await.unwrap();
}

/// SHA-256 as lowercase hex, the way Twilio writes `bodySHA256`.
mod sha2_hex {
    use sha2::Digest;

    pub fn hex_sha256(body: &[u8]) -> String {
        sha2::Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[tokio::test]
async fn a_handoff_dials_the_transfer_number_and_silence_is_asked_again_then_handed_over() {
    let gw = gateway(Some("+15550100")).await;
    let call = "CA00000000000000000000000000000003";
    let answer = twilio(&gw, "/v1/telephony/twilio/voice", call, &[]).await;
    let action = answer.gather_action.expect("listens");
    let human = twilio(&gw, &action, call, &speech("can I speak to a real person", "0.9")).await;
    assert_eq!(human.dial.as_deref(), Some("+15550100"), "{}", human.xml);

    let call = "CA00000000000000000000000000000004";
    let answer = twilio(&gw, "/v1/telephony/twilio/voice", call, &[]).await;
    let mut action = answer.gather_action.expect("listens");
    for _ in 0..2 {
        let quiet = twilio(&gw, &action, call, &[]).await;
        assert!(quiet.said().contains("didn't hear anything"), "{}", quiet.xml);
        action = quiet.gather_action.expect("asks again");
    }
    let given_up = twilio(&gw, &action, call, &[]).await;
    assert_eq!(given_up.dial.as_deref(), Some("+15550100"), "{}", given_up.xml);
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn the_incoming_call_can_be_answered_with_a_media_stream() {
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.telephony.twilio_auth_tokens = vec![TWILIO_TOKEN.to_string()];
    config.telephony.answer_with = voxbook_gateway::config::AnswerWith::Stream;
    config.telephony.public_url = Some("https://voice.example.com".into());
    let gw = TestGateway::start_config(&backend, config).await.expect("gateway");
    // Behind a proxy the provider signs the public URL, not ours.
    let url = "https://voice.example.com/v1/telephony/twilio/voice";
    let params = vec![("CallSid".to_string(), "CA05".to_string())];
    let signed = voxbook_gateway::telephony::signature::twilio_signature(TWILIO_TOKEN, url, &params);
    let (status, body) =
        post_twilio(&gw.client, &gw.base, "/v1/telephony/twilio/voice", &[("CallSid", "CA05")], Some(&signed))
            .await
            .unwrap();
    assert_eq!(status, 200, "{body}");
    let answer = TwimlAnswer::parse(&body).unwrap();
    assert_eq!(answer.stream_url.as_deref(), Some("wss://voice.example.com/v1/telephony/twilio/media"), "{body}");
    gw.stop().await.unwrap();
}

async fn generic(gw: &TestGateway, body: Value) -> (u16, Value) {
    let now = chrono::Utc::now().timestamp();
    post_generic(&gw.client, &gw.base, "acme", SECRET, now, &body).await.expect("post")
}

#[tokio::test]
async fn the_generic_webhook_answers_json_and_a_retried_event_runs_once() {
    let gw = gateway(None).await;
    let (status, partial) =
        generic(&gw, json!({"call_id": "acme-1", "transcript": "I need a fl", "final": false})).await;
    assert_eq!(status, 200, "{partial}");
    assert_eq!(partial["action"], "wait");

    let first =
        json!({"call_id": "acme-1", "event_id": "ev-1", "transcript": "book a hotel in rome", "confidence": 0.9});
    let (status, answer) = generic(&gw, first.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["action"], "listen");
    assert_eq!(answer["turn"]["turn"], 1, "{answer}");
    assert_eq!(answer["turn"]["intent"]["name"], "book_hotel", "{answer}");
    let (_, again) = generic(&gw, first).await;
    assert_eq!(again["turn"], answer["turn"], "a retry gets the same turn");

    // Low confidence: read back, then confirmed by saying yes.
    let doubtful = json!({"call_id": "acme-1", "event_id": "ev-2", "transcript": "tomorrow",
        "confidence": 0.2, "context": answer["context"]});
    let (_, check) = generic(&gw, doubtful).await;
    assert!(check["say"].as_str().unwrap().contains("I think you said: tomorrow"), "{check}");
    assert!(check.get("turn").is_none(), "{check}");
    let yes = json!({"call_id": "acme-1", "event_id": "ev-3", "transcript": "yes", "confidence": 0.95,
        "context": check["context"]});
    let (_, confirmed) = generic(&gw, yes).await;
    assert_eq!(confirmed["turn"]["turn"], 2, "{confirmed}");
    assert!(confirmed["turn"]["slots"]["check_in"].is_string(), "{confirmed}");

    // Stale, unsigned, or for a provider without a secret: 403.
    let stale = chrono::Utc::now().timestamp() - 3_600;
    let body = json!({"call_id": "acme-1", "event_id": "ev-4", "transcript": "two nights"});
    let (status, _) = post_generic(&gw.client, &gw.base, "acme", SECRET, stale, &body).await.unwrap();
    assert_eq!(status, 403);
    let now = chrono::Utc::now().timestamp();
    let (status, _) = post_generic(&gw.client, &gw.base, "acme", "wrong-secret", now, &body).await.unwrap();
    assert_eq!(status, 403);
    let (status, _) = post_generic(&gw.client, &gw.base, "other", SECRET, now, &body).await.unwrap();
    assert_eq!(status, 403);
    let session = answer["session_id"].as_str().unwrap();
    let (_, view) = gw.get_json(&format!("/v1/sessions/{session}")).await.unwrap();
    assert_eq!(view["turns"], 2, "refused requests ran nothing: {view}");
    gw.stop().await.unwrap();
}
