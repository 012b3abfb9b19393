//! Speech recognition accuracy: the server's streaming path (VAD
//! endpointing, speculative decode, guarded reduced window) against
//! whisper.cpp's default full-window decode of the same model on the same
//! clips — real human speech from pocketsphinx-testdata and espeak-ng
//! booking utterances. The streaming WER must stay within 1 point.

use std::sync::Arc;
use std::time::Duration;

use voxbook_audio::asr::whisper::{DecodeOptions, WhisperModel};
use voxbook_audio::recognizer::WhisperRecognizer;
use voxbook_audio::speech_stream::{self, SpeechEvent, SpeechStreamConfig};
use voxbook_proto::stream::{AudioEncoding, AudioInput};
use voxbook_tests::speech::{self, Clip};
use voxbook_tests::wer;

/// Plays a clip through a speech stream (as fast as allowed) and joins
/// its final transcripts.
async fn stream_transcript(recognizer: Arc<WhisperRecognizer>, clip: &Clip) -> String {
    let spec = AudioInput { encoding: AudioEncoding::PcmS16le, sample_rate: 16_000, channels: 1 };
    let config = SpeechStreamConfig { max_speed: 1000.0, partial_interval: Duration::ZERO, ..Default::default() };
    let mut stream = speech_stream::spawn(spec, config, recognizer).expect("stream");
    let mut pcm = speech::pcm_s16le(&clip.audio);
    pcm.extend(std::iter::repeat_n(0u8, 32_000)); // 1 s of silence after speech
    let sender = stream.audio.clone();
    drop(stream.audio);
    let feeder = tokio::spawn(async move {
        for chunk in pcm.chunks(640) {
            if sender.send(chunk.to_vec()).await.is_err() {
                break;
            }
        }
    });
    let mut finals = Vec::new();
    while let Some(event) = stream.events.recv().await {
        match event {
            SpeechEvent::Final { text, .. } => finals.push(text),
            SpeechEvent::Error { code, message, .. } => panic!("{}: {code}: {message}", clip.name),
            _ => {}
        }
    }
    feeder.await.expect("feeder");
    finals.join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_wer_is_within_one_point_of_the_full_window_decode() {
    let path = speech::model_path().expect("model");
    let model = Arc::new(WhisperModel::load(&path).expect("model loads"));
    let recognizer = Arc::new(WhisperRecognizer::new(model.clone(), 1, 2).expect("recognizer"));
    let mut clips = speech::human_clips().expect("human speech");
    let human = clips.len();
    clips.extend(speech::synthetic_clips().expect("espeak-ng"));

    let mut rows = Vec::new();
    for clip in &clips {
        let full = {
            let model = model.clone();
            let audio = clip.audio.clone();
            tokio::task::spawn_blocking(move || {
                model.transcribe(&audio, &DecodeOptions { threads: 2, ..DecodeOptions::full_window() })
            })
            .await
            .expect("join")
            .expect("full-window decode")
            .text
        };
        let streamed = stream_transcript(recognizer.clone(), clip).await;
        rows.push((clip, full, streamed));
    }

    // `streamed` picks the streaming column, else the full-window one.
    let wer_of = |set: &[&(&Clip, String, String)], streamed: bool| {
        wer::corpus_wer(
            set.iter().map(|row| (row.0.reference.as_str(), if streamed { row.2.as_str() } else { row.1.as_str() })),
        )
    };
    let all: Vec<_> = rows.iter().collect();
    let (humans, synthetic) = all.split_at(human);
    println!("{:<14} {:>6}  {:<60} | streaming", "clip", "secs", "full window");
    for (clip, full, streamed) in &rows {
        println!("{:<14} {:>6.2}  {:<60} | {}", clip.name, clip.seconds(), full, streamed);
    }
    let report = [("human", humans), ("espeak", synthetic), ("all", &all[..])].map(|(name, set)| {
        let full = wer_of(set, false);
        let streamed = wer_of(set, true);
        println!("WER {name:<7} full window {full:5.1}%   streaming {streamed:5.1}%");
        (name, full, streamed)
    });
    // The bar: over all clips, streaming WER within 1 point of the full
    // window. Each subset is checked too, at the resolution its size
    // allows (one word of the 95 human words is already 1.05 points).
    let (_, all_full, all_streamed) = report[2];
    assert!(
        all_streamed <= all_full + 1.0,
        "streaming WER {all_streamed:.1}% is more than 1 point above the full-window {all_full:.1}%"
    );
    for ((name, full, streamed), set) in report[..2].iter().zip([humans, synthetic]) {
        let words: usize = set.iter().map(|row| wer::normalise(&row.0.reference).len()).sum();
        let one_word = 100.0 / words.max(1) as f64;
        assert!(
            *streamed <= full + one_word.max(1.0) + 1e-9,
            "{name}: streaming WER {streamed:.1}% is more than one word ({one_word:.2} points) above the full-window {full:.1}%"
        );
    }
    // A sanity floor, so a broken model cannot pass by being equally bad.
    assert!(report[2].1 < 30.0, "full-window WER {:.1}% is implausibly high", report[2].1);
}
