//! End-of-speech to final-transcript latency of the streaming recogniser,
//! beside whisper.cpp's default full-window decode of the same audio.
//!
//! `cargo bench -p voxbook-tests --bench asr -- [--end-silence-ms N] [--threads N]`
//!
//! Every clip (LibriVox and card-game speech from pocketsphinx-testdata,
//! espeak-ng booking utterances; 1-10 s each) is streamed at real-time pace
//! in 20 ms frames, followed by silence, through the same speech stream the
//! gateway runs. Reported per clip: the full-window decode time, and the
//! time from the confirmed endpoint (end of speech + the configured
//! silence) to the final transcript. Decoding starts when the silence
//! begins, so most of the decode hides inside the silence wait.

use std::sync::Arc;
use std::time::{Duration, Instant};

use voxbook_audio::asr::whisper::{DecodeOptions, WhisperModel};
use voxbook_audio::recognizer::WhisperRecognizer;
use voxbook_audio::speech_stream::{self, SpeechEvent, SpeechStreamConfig};
use voxbook_proto::stream::{AudioEncoding, AudioInput};
use voxbook_tests::bench::{arg, percentile};
use voxbook_tests::speech::{self, Clip};

/// Streams a clip in real time; returns (endpoint→final ms, decode ms, text).
async fn stream(
    recognizer: Arc<WhisperRecognizer>,
    config: SpeechStreamConfig,
    clip: &Clip,
) -> Vec<(f64, f64, String)> {
    let spec = AudioInput { encoding: AudioEncoding::PcmS16le, sample_rate: 16_000, channels: 1 };
    let mut s = speech_stream::spawn(spec, config, recognizer).expect("stream");
    let mut audio = clip.audio.clone();
    audio.extend(std::iter::repeat_n(0.0, 16 * 1200));
    let bytes = speech::pcm_s16le(&audio);
    let tx = s.audio.clone();
    drop(s.audio);
    let feeder = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        for frame in bytes.chunks(640) {
            ticker.tick().await;
            if tx.send(frame.to_vec()).await.is_err() {
                break;
            }
        }
    });
    let mut out = Vec::new();
    while let Some(e) = s.events.recv().await {
        if let SpeechEvent::Final { text, latency, decode, .. } = e {
            out.push((latency.as_secs_f64() * 1000.0, decode.as_secs_f64() * 1000.0, text));
        }
    }
    let _ = feeder.await;
    out
}

fn main() -> anyhow::Result<()> {
    let end_silence = arg("--end-silence-ms", 300) as u32;
    let threads = arg("--threads", 2) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let model = Arc::new(WhisperModel::load(&speech::model_path()?)?);
    let recognizer = Arc::new(WhisperRecognizer::new(model.clone(), 1, threads)?);
    let mut clips = speech::human_clips()?;
    clips.extend(speech::synthetic_clips()?);
    let mut config = SpeechStreamConfig { partial_interval: Duration::ZERO, ..Default::default() };
    config.endpoint.end_silence_ms = end_silence;

    println!("\nend-of-speech silence {end_silence} ms, {threads} decoder threads, tiny.en\n");
    println!("| clip | secs | full-window decode ms | endpoint → transcript ms | utterances |");
    println!("|---|---:|---:|---:|---:|");
    let (mut full_ms, mut endpoint_ms) = (Vec::new(), Vec::new());
    for clip in &clips {
        let started = Instant::now();
        model.transcribe(&clip.audio, &DecodeOptions { threads, ..DecodeOptions::full_window() })?;
        let full = started.elapsed().as_secs_f64() * 1000.0;
        let finals = rt.block_on(stream(recognizer.clone(), config.clone(), clip));
        let latencies: Vec<String> = finals.iter().map(|f| format!("{:.0}", f.0)).collect();
        println!(
            "| {} | {:.2} | {:.0} | {} | {} |",
            clip.name,
            clip.seconds(),
            full,
            latencies.join(", "),
            finals.len()
        );
        full_ms.push(full);
        endpoint_ms.extend(finals.iter().map(|f| f.0));
    }
    println!();
    println!("| measure | p50 ms | p95 ms | max ms |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, v: &[f64]| {
        println!("| {name} | {:.0} | {:.0} | {:.0} |", percentile(v, 50.0), percentile(v, 95.0), percentile(v, 100.0))
    };
    row("full-window decode (whisper.cpp default)", &full_ms);
    row("endpoint → final transcript (streaming)", &endpoint_ms);
    let speech_end: Vec<f64> = endpoint_ms.iter().map(|v| v + f64::from(end_silence)).collect();
    row("end of speech → final transcript (incl. silence)", &speech_end);
    Ok(())
}
