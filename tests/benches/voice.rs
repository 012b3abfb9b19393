//! Voice-to-voice latency: from the end of the user's speech in the audio
//! to the first byte of the bot's spoken reply on the socket.
//!
//! `cargo bench -p voxbook-tests --bench voice -- [--end-silence-ms N] [--rounds N]`
//!
//! For each spoken opening turn (espeak-ng booking phrases), a fresh session
//! and stream: the caller's audio goes out at real-time pace in 20 ms
//! frames, then silence; the gateway (in this process, on its own runtime,
//! with Whisper tiny.en and espeak-ng) detects the end of speech,
//! transcribes, runs the turn and speaks the reply. Reported: voice-to-voice
//! (end of speech → first reply audio byte), endpoint → first audio (the
//! work after the configured silence), and TTS time to first audio
//! (reply_started → first audio byte). Then barge-in: each phrase is
//! spoken over a long reply, and the time from the voice's onset to the
//! `interrupted` event is reported, wall clock and the VAD's share.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use voxbook_tests::bench::{arg, percentile};
use voxbook_tests::gateway::spoken_start;
use voxbook_tests::{Backend, TestGateway, speech};

const TURNS: [&str; 8] = [
    "I need a flight from London to Paris",
    "I would like a hotel in Barcelona for three nights",
    "Can you cancel my reservation",
    "What is the status of my booking",
    "Can I speak to a person",
    "I want to fly to Madrid",
    "Book a hotel in Rome",
    "What can you do",
];

struct Sample {
    voice_to_voice: f64,
    after_endpoint: f64,
    tts_first_audio: f64,
    heard: String,
}

async fn one_turn(gateway: &TestGateway, audio: &[f32], end_silence_ms: u64) -> anyhow::Result<Sample> {
    let session = gateway.session("2030-06-03T09:00:00Z").await?;
    let (mut sink, mut source) = gateway.open_stream(&session, &spoken_start()).await?.split();
    source.next().await; // ready
    let mut samples = audio.to_vec();
    samples.extend(std::iter::repeat_n(0.0, 16 * 1500));
    let frames: Vec<Vec<u8>> = speech::pcm_s16le(&samples).chunks(640).map(<[u8]>::to_vec).collect();
    let first_frame_at = Instant::now();
    let talker = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        for frame in frames {
            ticker.tick().await;
            if sink.send(Message::Binary(frame.into())).await.is_err() {
                break;
            }
        }
        sink
    });
    let (mut speech_end_ms, mut reply_started, mut heard) = (None, None, String::new());
    let first_audio = loop {
        let message = tokio::time::timeout(Duration::from_secs(30), source.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("stream closed"))??;
        match message {
            Message::Binary(_) => break Instant::now(),
            Message::Text(text) => {
                let event: Value = serde_json::from_str(&text)?;
                match event["type"].as_str() {
                    Some("transcript") => {
                        speech_end_ms = event["speech_end_ms"].as_u64();
                        heard = event["text"].as_str().unwrap_or_default().to_string();
                    }
                    Some("reply_started") => reply_started = Some(Instant::now()),
                    Some("error") => anyhow::bail!("{event}"),
                    _ => {}
                }
            }
            _ => {}
        }
    };
    let _ = talker.await;
    let speech_end = first_frame_at + Duration::from_millis(speech_end_ms.unwrap_or(0));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let voice_to_voice = ms(first_audio.saturating_duration_since(speech_end));
    Ok(Sample {
        voice_to_voice,
        after_endpoint: voice_to_voice - end_silence_ms as f64,
        tts_first_audio: ms(first_audio.saturating_duration_since(reply_started.unwrap_or(first_audio))),
        heard,
    })
}

/// One barge-in: a long reply plays, the caller talks over it after
/// `after_frames` frames; returns (voice onset → `interrupted` on the
/// socket, wall clock ms; voice onset → detection, ms of audio).
async fn barge_in(gateway: &TestGateway, audio: &[f32], after_frames: usize) -> anyhow::Result<(f64, f64)> {
    let session = gateway.session("2030-06-03T09:00:00Z").await?;
    let (mut sink, mut source) = gateway.open_stream(&session, &spoken_start()).await?.split();
    source.next().await; // ready
    sink.send(Message::Text(json!({"type": "text", "text": "what can you do"}).to_string().into())).await?;
    let mut frames_heard = 0;
    while frames_heard < after_frames {
        match tokio::time::timeout(Duration::from_secs(30), source.next()).await? {
            Some(Ok(Message::Binary(_))) => frames_heard += 1,
            Some(Ok(_)) => {}
            other => anyhow::bail!("stream ended: {other:?}"),
        }
    }
    let onset_ms = speech::onset_ms(audio).ok_or_else(|| anyhow::anyhow!("no speech in the clip"))?;
    let frames: Vec<Vec<u8>> = speech::pcm_s16le(audio).chunks(640).map(<[u8]>::to_vec).collect();
    let onset_frame = (onset_ms / 20) as usize;
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
    let talker = tokio::spawn(async move {
        let mut sent_tx = Some(sent_tx);
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        for (i, frame) in frames.into_iter().enumerate() {
            ticker.tick().await;
            if sink.send(Message::Binary(frame.into())).await.is_err() {
                break;
            }
            if i == onset_frame
                && let Some(tx) = sent_tx.take()
            {
                let _ = tx.send(Instant::now());
            }
        }
        sink
    });
    let (interrupted_at, event) = loop {
        let message = tokio::time::timeout(Duration::from_secs(30), source.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("stream closed"))??;
        if let Message::Text(text) = message {
            let event: Value = serde_json::from_str(&text)?;
            match event["type"].as_str() {
                Some("interrupted") => break (Instant::now(), event),
                Some("reply_finished") => anyhow::bail!("the reply played to the end"),
                _ => {}
            }
        }
    };
    let onset_frame_sent = sent_rx.await?;
    let _ = talker.await;
    // The voice began this long before the frame carrying it was sent.
    let within_frame = Duration::from_millis((onset_frame as u64 + 1) * 20 - onset_ms);
    let voice_began = onset_frame_sent.checked_sub(within_frame).unwrap_or(onset_frame_sent);
    let wall = interrupted_at.saturating_duration_since(voice_began).as_secs_f64() * 1000.0;
    let detected = event["detected_ms"].as_u64().unwrap_or(0) as f64 - onset_ms as f64;
    Ok((wall, detected))
}

fn main() -> anyhow::Result<()> {
    let end_silence_ms = arg("--end-silence-ms", 300);
    let rounds = arg("--rounds", 2) as usize;
    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.asr.model = Some(speech::model_path()?);
    config.asr.stream.endpoint.end_silence_ms = end_silence_ms as u32;
    config.asr.stream.partial_interval = Duration::ZERO;
    let barge_in_ms = config.asr.stream.endpoint.barge_in_ms;
    let gateway = server_rt.block_on(TestGateway::start_config(&backend, config))?;
    let dir = std::env::temp_dir();
    let clips: Vec<(String, Vec<f32>)> =
        TURNS.iter().map(|t| Ok((t.to_string(), speech::espeak(t, &dir)?))).collect::<anyhow::Result<_>>()?;

    println!("\nend-of-speech silence {end_silence_ms} ms, Whisper tiny.en, espeak-ng, 16 kHz PCM out\n");
    println!("| utterance | heard | voice-to-voice ms | after endpoint ms | TTS first audio ms |");
    println!("|---|---|---:|---:|---:|");
    let client_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let mut samples = Vec::new();
    for _ in 0..rounds {
        for (text, audio) in &clips {
            let s = client_rt.block_on(one_turn(&gateway, audio, end_silence_ms))?;
            println!(
                "| {text} | {} | {:.0} | {:.0} | {:.0} |",
                s.heard, s.voice_to_voice, s.after_endpoint, s.tts_first_audio
            );
            samples.push(s);
        }
    }
    println!();
    println!("| measure | p50 ms | p95 ms |");
    println!("|---|---:|---:|");
    for (name, values) in [
        (
            "voice-to-voice (end of speech → first reply audio)",
            samples.iter().map(|s| s.voice_to_voice).collect::<Vec<_>>(),
        ),
        ("work after the endpoint silence", samples.iter().map(|s| s.after_endpoint).collect()),
        ("TTS time to first audio", samples.iter().map(|s| s.tts_first_audio).collect()),
    ] {
        println!("| {name} | {:.0} | {:.0} |", percentile(&values, 50.0), percentile(&values, 95.0));
    }

    // Barge-in: talk over a long reply; from the voice's onset in the
    // caller's audio to the `interrupted` event (the reply's last frame).
    let mut walls = Vec::new();
    let mut detections = Vec::new();
    for _ in 0..rounds {
        for (_, audio) in &clips {
            let (wall, detected) = client_rt.block_on(barge_in(&gateway, audio, 25))?;
            walls.push(wall);
            detections.push(detected);
        }
    }
    println!();
    println!("| barge-in (barge_in_min_speech_ms {}) | p50 ms | p95 ms |", barge_in_ms);
    println!("|---|---:|---:|");
    println!(
        "| voice onset → reply stopped (wall clock, on the socket) | {:.0} | {:.0} |",
        percentile(&walls, 50.0),
        percentile(&walls, 95.0)
    );
    println!(
        "| voice onset → detected (VAD, in audio time) | {:.0} | {:.0} |",
        percentile(&detections, 50.0),
        percentile(&detections, 95.0)
    );
    drop(gateway);
    Ok(())
}
