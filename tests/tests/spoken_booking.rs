//! A spoken booking completes end to end for every natural voice of the
//! spoken dev set (samples/spoken/: Piper's "joe" and festival's HTS
//! "slt"), over the app's session stream at 16 kHz and over Twilio Media
//! Streams at 8 kHz mu-law: the real Whisper model hears each utterance,
//! the dialogue answers, and the goal-driven caller of
//! `voxbook_tests::spoken` books only when the read-back holds every value
//! of its goal. One short booking per voice per line keeps the test's
//! runtime modest; `cargo bench -p voxbook-tests --bench spoken` plays the
//! whole set and scores it.

use std::time::Duration;

use voxbook_tests::phone::TWILIO_TOKEN;
use voxbook_tests::script::{Script, script_now};
use voxbook_tests::spoken::{self, CallerConfig, Line, SpokenSet, Voice};
use voxbook_tests::{Backend, TestGateway, speech};

/// The set's shortest flight booking: route and date in one breath, then
/// one way, two adults, an option, yes.
const CONVERSATION: &str = "boston_denver_one_way";
/// Caller audio goes out this many times faster than real time: the
/// transcripts are the same (the endpoint is found in audio time), the
/// test is shorter.
const SPEED: f64 = 3.0;

async fn gateway(set: &SpokenSet) -> TestGateway {
    let script = Script { name: "spoken".into(), now: set.now.clone(), turns: vec![] };
    let backend = Backend::redis_sqlite().with_booking_now(script_now(&script).expect("clock"));
    let mut config = backend.config();
    config.asr.model = Some(speech::model_path().expect("model"));
    config.asr.threads = 2;
    config.asr.stream.max_speed = SPEED as f32 * 2.0;
    // The caller reads the session rather than listening: no replies are
    // synthesised, so the phone call is paced by the caller alone.
    config.tts.engine = "none".into();
    config.telephony.twilio_auth_tokens = vec![TWILIO_TOKEN.to_string()];
    TestGateway::start_config(&backend, config).await.expect("gateway")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoken_booking_completes_for_every_voice_at_16_and_8_khz() {
    let set = SpokenSet::load().expect("spoken set");
    let conversation = set.conversation(CONVERSATION).expect("conversation").clone();
    let gw = gateway(&set).await;
    let caller = CallerConfig { speed: SPEED, turn_timeout: Duration::from_secs(30), ..CallerConfig::default() };
    let mut failures = Vec::new();
    for voice in Voice::NATURAL {
        for line in [Line::App16k, Line::Phone8k] {
            let record = spoken::call(&gw, &set, &conversation, voice, line, caller).await.expect("call runs");
            let (wer, _, _) = spoken::score(std::slice::from_ref(&record));
            println!(
                "{:<6} {:<12} {:?} WER {wer:.1}% in {:.1} s: {:?}",
                voice.name(),
                line.name(),
                record.outcome,
                record.elapsed.as_secs_f64(),
                record.heard
            );
            if !record.outcome.completed() {
                failures.push(format!(
                    "{} over {}: {:?}; heard {:?}",
                    voice.name(),
                    line.name(),
                    record.outcome,
                    record.heard
                ));
            }
        }
    }
    gw.stop().await.unwrap();
    assert!(failures.is_empty(), "spoken bookings that did not complete:\n{}", failures.join("\n"));
}

#[test]
fn the_spoken_set_is_complete_for_every_voice() {
    let set = SpokenSet::load().expect("spoken set");
    for voice in Voice::NATURAL {
        for id in set.utterances.keys() {
            let wide = set.wide(voice, id).unwrap_or_else(|e| panic!("{}/{id}: {e:#}", voice.name()));
            let phone = set.phone(voice, id).unwrap_or_else(|e| panic!("{}/{id}: {e:#}", voice.name()));
            // Both copies hold the same utterance: about the same length.
            let (wide_s, phone_s) = (wide.len() as f64 / 16_000.0, phone.len() as f64 / 8_000.0);
            assert!(
                wide_s > 0.4 && (wide_s - phone_s).abs() < 0.05,
                "{}/{id}: {wide_s} s vs {phone_s} s",
                voice.name()
            );
        }
    }
}
