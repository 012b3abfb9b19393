//! Scores the spoken dev set (samples/spoken/): every conversation of the
//! set, spoken by each voice, over the app's session stream (16 kHz PCM)
//! and over Twilio Media Streams (8 kHz mu-law, emulated Twilio), with
//! and without the dialogue's hint as Whisper's prompt. For each voice,
//! line and prompt setting it prints the word error rate of everything
//! the callers said and how many calls ended in a booking with every
//! value of their goal (task completion), then each call that did not.
//!
//! ```sh
//! cargo bench -p voxbook-tests --bench spoken -- [--voices joe,slt,espeak] [--lines 16,8] [--prompt on,off] [--speed 3] [--verbose]
//! ```
//!
//! `--speed` sends the callers' audio that many times faster than real
//! time (the gateway is started to allow it); transcripts do not depend on
//! it, since the endpoint is found in audio time. Replies are not
//! synthesised (the callers read the session), so the phone calls are
//! paced by the caller alone.

use std::time::Instant;

use voxbook_tests::phone::TWILIO_TOKEN;
use voxbook_tests::script::{Script, script_now};
use voxbook_tests::spoken::{self, CallRecord, CallerConfig, Line, SpokenSet, Voice};
use voxbook_tests::{Backend, TestGateway, speech};

/// The value after `--name`, split at commas, or `default`.
fn list(name: &str, default: &[&str]) -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)) {
        Some(v) => v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
        None => default.iter().map(|s| s.to_string()).collect(),
    }
}

async fn gateway(set: &SpokenSet, prompt: bool, speed: f64) -> anyhow::Result<TestGateway> {
    let script = Script { name: "spoken".into(), now: set.now.clone(), turns: vec![] };
    let backend = Backend::redis_sqlite().with_booking_now(script_now(&script)?);
    let mut config = backend.config();
    config.asr.model = Some(speech::model_path()?);
    config.asr.threads = 2;
    config.asr.prompt = prompt;
    config.asr.stream.max_speed = (speed * 2.0).clamp(1.5, 100.0) as f32;
    config.tts.engine = "none".into();
    config.telephony.twilio_auth_tokens = vec![TWILIO_TOKEN.to_string()];
    TestGateway::start_config(&backend, config).await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let set = SpokenSet::load()?;
    let voices: Vec<Voice> = list("--voices", &["joe", "slt", "espeak"])
        .iter()
        .map(|v| Voice::parse(v).ok_or_else(|| anyhow::anyhow!("unknown voice {v:?} (joe, slt, espeak)")))
        .collect::<anyhow::Result<_>>()?;
    let lines: Vec<Line> = list("--lines", &["16", "8"])
        .iter()
        .map(|l| match l.as_str() {
            "16" => Ok(Line::App16k),
            "8" => Ok(Line::Phone8k),
            other => Err(anyhow::anyhow!("unknown line {other:?} (16, 8)")),
        })
        .collect::<anyhow::Result<_>>()?;
    let prompts: Vec<bool> = list("--prompt", &["on", "off"]).iter().map(|p| p == "on").collect();
    let speed = voxbook_tests::bench::arg("--speed", 3) as f64;
    let verbose = std::env::args().any(|a| a == "--verbose");
    let caller = CallerConfig { speed, ..CallerConfig::default() };

    let started = Instant::now();
    let mut rows = Vec::new();
    let mut misses: Vec<(String, CallRecord)> = Vec::new();
    for &prompt in &prompts {
        let gw = gateway(&set, prompt, speed).await?;
        for &voice in &voices {
            for &line in &lines {
                let mut records = Vec::new();
                for conversation in &set.conversations {
                    let record = spoken::call(&gw, &set, conversation, voice, line, caller).await?;
                    let label = format!("{} / {} / prompt {}", voice.name(), line.name(), on_off(prompt));
                    if verbose {
                        eprintln!("{label} {}: {:?}", record.conversation, record.outcome);
                        for (said, heard) in &record.heard {
                            eprintln!("    {said:?} → {heard:?}");
                        }
                    }
                    if !record.outcome.completed() {
                        misses.push((label, record.clone()));
                    }
                    records.push(record);
                }
                let (wer, completed, calls) = spoken::score(&records);
                let utterances: usize = records.iter().map(|r| r.heard.len()).sum();
                rows.push((voice, line, prompt, wer, completed, calls, utterances));
            }
        }
        gw.stop().await?;
    }

    println!();
    println!(
        "spoken dev set: {} conversations, {} utterances per voice",
        set.conversations.len(),
        set.utterances.len()
    );
    println!("| voice | line | prompt | WER | task completion | utterances sent |");
    println!("|---|---|---|---:|---:|---:|");
    for (voice, line, prompt, wer, completed, calls, utterances) in &rows {
        println!(
            "| {} | {} | {} | {wer:.1}% | {completed}/{calls} | {utterances} |",
            voice.name(),
            line.name(),
            on_off(*prompt)
        );
    }
    if !misses.is_empty() {
        println!();
        println!("calls that did not complete:");
        for (label, record) in &misses {
            println!("- {label} {}: {:?}", record.conversation, record.outcome);
            for (said, heard) in &record.heard {
                println!("    {said:?} → {heard:?}");
            }
        }
    }
    println!();
    println!("{:.0} s in all", started.elapsed().as_secs_f64());
    Ok(())
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}
