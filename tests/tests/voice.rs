//! A spoken booking end to end: espeak-ng says the caller's turns, the
//! audio streams over the session WebSocket in 20 ms frames at real-time
//! pace, the gateway detects each utterance, transcribes it with Whisper,
//! runs the dialogue turn, and the conversation ends with a confirmed
//! booking.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use voxbook_tests::gateway::{Ws, spoken_start};
use voxbook_tests::script::script_now;
use voxbook_tests::{Backend, TestGateway, speech};

const NOW: &str = "2030-06-03T09:00:00Z";

fn pcm_frames(audio: &[f32]) -> Vec<Vec<u8>> {
    let bytes = speech::pcm_s16le(audio);
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

    let mut ws = gateway.open_stream(&session, &spoken_start()).await.expect("stream opens");

    // Turn by turn: what the caller says, and what the assistant must be
    // waiting for afterwards. The caller waits for each spoken reply to end
    // before talking (talking over it would interrupt it).
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
    // Each reply's text and the audio the bot spoke for it.
    let mut spoken: Vec<(String, Vec<f32>)> = Vec::new();
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
        let mut frames = Vec::new();
        let reply_events = collect_until(&mut ws, "reply_finished", &mut frames).await;
        events.extend(reply_events.into_iter().map(|(_, e)| e));
        let audio: Vec<f32> =
            frames.concat().chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect();
        spoken.push((result["reply"].as_str().unwrap_or_default().to_string(), audio));
    }
    // The bot says what its replies say: the project's own Whisper hears
    // its espeak-ng voice close to the reply texts.
    let model_path = speech::model_path().unwrap();
    let heard: Vec<(String, String)> = tokio::task::spawn_blocking(move || {
        let model = voxbook_audio::asr::whisper::WhisperModel::load(&model_path).unwrap();
        let options = voxbook_audio::asr::whisper::DecodeOptions::full_window();
        spoken.into_iter().map(|(reply, audio)| (reply, model.transcribe(&audio, &options).unwrap().text)).collect()
    })
    .await
    .unwrap();
    let wer = voxbook_tests::wer::corpus_wer(heard.iter().map(|(r, h)| (r.as_str(), h.as_str())));
    assert!(wer <= 35.0, "the bot's speech is {wer:.0}% off its replies: {heard:#?}");
    let code = booking_ref.expect("the last turn booked");
    let (status, booking) = gateway.get_json(&format!("/v1/bookings/{code}")).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(booking["status"], "confirmed");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    for kind in ["ready", "speech_started", "speech_stopped", "transcript", "turn_result"] {
        assert!(kinds.contains(&kind), "no {kind} event in {kinds:?}");
    }
    let voice_metrics = events.iter().find(|e| e["type"] == "turn_metrics").expect("turn metrics");
    assert!(voice_metrics["asr_decode_ms"].as_u64().is_some(), "{voice_metrics}");
    assert!(voice_metrics["endpoint_to_transcript_ms"].as_u64().is_some(), "{voice_metrics}");
    ws.send(Message::Text(json!({"type": "stop"}).to_string().into())).await.unwrap();
    gateway.stop().await.unwrap();
}

async fn open_stream(gateway: &TestGateway, start: Value) -> Ws {
    let session = gateway.session(NOW).await.expect("session");
    gateway.open_stream(&session, &start).await.expect("opens")
}

async fn next_event(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("event in time");
        match message {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("stream ended: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telephone_audio_in_mulaw_is_understood() {
    let model = speech::model_path().expect("model");
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.asr.model = Some(model);
    let gateway = TestGateway::start_config(&backend, config).await.expect("gateway");
    let start = json!({"type": "start", "protocol_version": 2, "audio": {"encoding": "mulaw", "sample_rate": 8000}});
    let mut ws = open_stream(&gateway, start).await;
    assert_eq!(next_event(&mut ws).await["type"], "ready");

    // Real speech ("go forward ten meters", 16 kHz) taken down to a phone
    // line: 8 kHz (pairs averaged, a crude low-pass that a phone line
    // resembles), G.711 mu-law, 20 ms frames of 160 bytes.
    let raw = std::fs::read(format!("{}/goforward.raw", speech::POCKETSPHINX_DATA)).expect("pocketsphinx-testdata");
    let audio: Vec<f32> = raw.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect();
    let mut narrow: Vec<f32> = audio.chunks(2).map(|p| p.iter().sum::<f32>() / p.len() as f32).collect();
    narrow.extend(std::iter::repeat_n(0.0, 8 * 900));
    let bytes: Vec<u8> =
        narrow.iter().map(|s| voxbook_audio::codec::mulaw_encode((s.clamp(-1.0, 1.0) * 32767.0) as i16)).collect();
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for frame in bytes.chunks(160) {
        ticker.tick().await;
        ws.send(Message::Binary(frame.to_vec().into())).await.unwrap();
    }
    let mut transcript = Value::Null;
    loop {
        let event = next_event(&mut ws).await;
        match event["type"].as_str() {
            Some("transcript") => transcript = event,
            Some("turn_result") => break,
            Some("error") => panic!("{event}"),
            _ => {}
        }
    }
    let heard = transcript["text"].as_str().unwrap_or_default().to_lowercase();
    assert!(heard.contains("forward"), "heard {transcript}");
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_is_refused_clearly_when_it_cannot_be_served() {
    // No model configured: a clear error, not a silent stream.
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.asr.model = None;
    let gateway = TestGateway::start_config(&backend, config).await.expect("gateway");
    let audio = json!({"encoding": "pcm_s16le", "sample_rate": 16000});
    let mut ws = open_stream(&gateway, json!({"type": "start", "protocol_version": 2, "audio": audio})).await;
    let e = next_event(&mut ws).await;
    assert_eq!((e["type"].as_str(), e["code"].as_str()), (Some("error"), Some("audio_unavailable")), "{e}");
    // Audio on protocol version 1: not part of that version.
    let mut ws = open_stream(&gateway, json!({"type": "start", "protocol_version": 1, "audio": audio})).await;
    let e = next_event(&mut ws).await;
    assert_eq!(e["code"], "audio_needs_newer_protocol", "{e}");
    gateway.stop().await.unwrap();

    // An unsupported format, with a model: refused at start.
    let mut config = backend.config();
    config.asr.model = Some(speech::model_path().expect("model"));
    let gateway = TestGateway::start_config(&backend, config).await.expect("gateway");
    let bad = json!({"encoding": "pcm_s16le", "sample_rate": 12345});
    let mut ws = open_stream(&gateway, json!({"type": "start", "protocol_version": 2, "audio": bad})).await;
    let e = next_event(&mut ws).await;
    assert_eq!(e["code"], "unsupported_audio", "{e}");
    // Garbage Opus: recoverable errors, then the stream gives up cleanly.
    let opus = json!({"encoding": "opus", "sample_rate": 48000});
    let mut ws = open_stream(&gateway, json!({"type": "start", "protocol_version": 2, "audio": opus})).await;
    assert_eq!(next_event(&mut ws).await["type"], "ready");
    for _ in 0..25 {
        if ws.send(Message::Binary(Vec::new().into())).await.is_err() {
            break;
        }
    }
    let mut fatal = false;
    while let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        let e: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(e["code"], "invalid_audio", "{e}");
        if e["recoverable"] == false {
            fatal = true;
            break;
        }
    }
    assert!(fatal, "a run of undecodable frames must end the stream");
    gateway.stop().await.unwrap();
}

/// Collects events and binary frames until `until` (an event type).
async fn collect_until(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    until: &str,
    frames: &mut Vec<Vec<u8>>,
) -> Vec<(std::time::Instant, Value)> {
    let mut events = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {until} event; got {events:?}"));
        match message {
            Some(Ok(Message::Binary(frame))) => frames.push(frame.to_vec()),
            Some(Ok(Message::Text(text))) => {
                let event: Value = serde_json::from_str(&text).unwrap();
                let done = event["type"] == until;
                events.push((std::time::Instant::now(), event));
                if done {
                    return events;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("stream ended: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_are_spoken_back_and_say_what_the_reply_text_says() {
    let model_path = speech::model_path().expect("model");
    let backend = Backend::redis_sqlite();
    let gateway = TestGateway::start(&backend).await.expect("gateway");
    let start = json!({"type": "start", "protocol_version": 2,
        "output": {"encoding": "pcm_s16le", "sample_rate": 16000}});
    let mut ws = open_stream(&gateway, start).await;
    assert_eq!(next_event(&mut ws).await["type"], "ready");
    // The help reply: long enough (about 25 words) for a stable word error rate.
    let turn = json!({"type": "text", "text": "what can you do"});
    ws.send(Message::Text(turn.to_string().into())).await.unwrap();
    let mut frames = Vec::new();
    let events = collect_until(&mut ws, "reply_finished", &mut frames).await;
    let kinds: Vec<&str> = events.iter().filter_map(|(_, e)| e["type"].as_str()).collect();
    assert_eq!(kinds, ["turn_result", "reply_started", "turn_metrics", "reply_finished"], "{events:?}");
    assert!(events[2].1["tts_first_audio_ms"].as_u64().is_some(), "{:?}", events[2].1);
    let reply = events[1].1["text"].as_str().unwrap().to_string();
    assert!(frames.iter().all(|f| f.len() == 640), "20 ms frames of 16 kHz PCM");
    let audio: Vec<f32> =
        frames.concat().chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect();
    assert!(audio.len() > 16_000, "at least a second of speech");
    // Streamed at playback pace (not synthesised whole, then dumped): the
    // reply takes about as long to arrive as it takes to play.
    let seconds = audio.len() as f64 / 16_000.0;
    let spoken_over = events[3].0.duration_since(events[1].0).as_secs_f64();
    assert!(spoken_over >= 0.7 * seconds, "{seconds:.1} s of audio arrived in {spoken_over:.1} s");
    let model = voxbook_audio::asr::whisper::WhisperModel::load(&model_path).unwrap();
    let options = voxbook_audio::asr::whisper::DecodeOptions::full_window();
    let heard = tokio::task::spawn_blocking(move || model.transcribe(&audio, &options)).await.unwrap().unwrap().text;
    let wer = voxbook_tests::wer::corpus_wer([(reply.as_str(), heard.as_str())]);
    assert!(wer <= 35.0, "the bot said {heard:?} for {reply:?} (WER {wer:.0}%)");
    gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_can_interrupt_a_spoken_reply() {
    let model = speech::model_path().expect("model");
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.asr.model = Some(model);
    let gateway = TestGateway::start_config(&backend, config).await.expect("gateway");
    let session = gateway.session(NOW).await.unwrap();
    let mut ws = gateway.open_stream(&session, &spoken_start()).await.expect("stream opens");
    assert_eq!(next_event(&mut ws).await["type"], "ready");

    // The help reply is long: about ten seconds of speech.
    ws.send(Message::Text(json!({"type": "text", "text": "help"}).to_string().into())).await.unwrap();
    let mut frames = Vec::new();
    let started = collect_until(&mut ws, "reply_started", &mut frames).await;
    let reply = started.last().unwrap().1["text"].as_str().unwrap().to_string();
    let help_turn = started.last().unwrap().1["turn"].as_u64().unwrap();
    // Let a second of it play, then talk over it at real-time pace.
    while frames.len() < 50 {
        match ws.next().await {
            Some(Ok(Message::Binary(f))) => frames.push(f.to_vec()),
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    let user = speech::espeak("Start over please", &std::env::temp_dir()).unwrap();
    let voice_starts_ms = speech::onset_ms(&user).expect("the clip has speech");
    let mut pcm = pcm_frames(&user);
    pcm.extend(pcm_frames(&vec![0.0f32; 16 * 900]));
    let (mut sink, mut source) = ws.split();
    let talking_from = std::time::Instant::now();
    let talker = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        for frame in pcm {
            ticker.tick().await;
            sink.send(Message::Binary(frame.into())).await.unwrap();
        }
        sink
    });
    let mut interrupted = None;
    let mut frames_after = 0;
    let mut result = None;
    while result.is_none() {
        let message =
            tokio::time::timeout(Duration::from_secs(30), source.next()).await.expect("events").unwrap().unwrap();
        match message {
            Message::Binary(_) if interrupted.is_some() => frames_after += 1,
            Message::Binary(_) => {}
            Message::Text(text) => {
                let event: Value = serde_json::from_str(&text).unwrap();
                match event["type"].as_str() {
                    Some("interrupted") => {
                        // Wall clock is for the log (the benchmark measures
                        // it); the audio clock is deterministic.
                        let since_voice = talking_from.elapsed().as_millis() as i64 - voice_starts_ms as i64;
                        println!("barge-in: playback stopped {since_voice} ms after the user's voice began");
                        interrupted = Some(event)
                    }
                    Some("reply_finished") if interrupted.is_none() => panic!("the reply played to the end: {event}"),
                    Some("turn_result") => result = Some(event),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let _ = talker.await;
    let interrupted = interrupted.expect("an interrupted event");
    assert_eq!(interrupted["turn"].as_u64(), Some(help_turn));
    // The VAD's share of the barge-in: the reply stopped within 100 ms of
    // audio after the voice began.
    let detected = interrupted["detected_ms"].as_u64().expect("detected_ms");
    assert!(
        detected <= voice_starts_ms + 100,
        "voice began at {voice_starts_ms} ms of the user's audio, the reply stopped at {detected} ms: {interrupted}"
    );
    let heard = interrupted["heard"].as_str().unwrap().to_string();
    assert!(!heard.is_empty() && heard.len() < reply.len(), "heard {heard:?} of {reply:?}");
    assert!(reply.starts_with(&heard), "{heard:?} is not the start of {reply:?}");
    // Frames already in flight may arrive, but the playback stopped.
    assert!(frames_after <= 20, "{frames_after} frames after the interruption");
    let (_, view) = gateway.get_json(&format!("/v1/sessions/{session}")).await.unwrap();
    let entry = view["history"].as_array().unwrap().iter().find(|h| h["turn"].as_u64() == Some(help_turn)).cloned();
    assert_eq!(entry.unwrap()["heard"].as_str(), Some(heard.as_str()), "{view}");
    let metrics = gateway.client.get(gateway.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for series in ["voxbook_barge_in_detection_seconds_count 1", "voxbook_vad_endpoint_seconds_count 1"] {
        assert!(metrics.lines().any(|l| l == series), "{series} missing from\n{metrics}");
    }
    gateway.stop().await.unwrap();
}
