//! `voxbook replay` against a freshly started gateway with Whisper, its
//! booking service on the real clock as the README starts it: the
//! shipped conversation set (`samples/replay/`, espeak-ng and human speech
//! over the session WebSocket, sessions fixed to June 2030) passes at 12x
//! real-time pacing (the speed-up itself is measured by `cargo bench
//! --bench replay`); a deliberately failing script is reported turn by turn
//! in JSON and JUnit with a failing verdict; and a server that refuses
//! accelerated audio is named as the cause, not left to garble transcripts.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use voxbook_gateway::replay::cli::{ReplayArgs, run};
use voxbook_gateway::replay::report::{render_summary, render_table};
use voxbook_gateway::replay::{ReplayOptions, replay};
use voxbook_tests::script::load;
use voxbook_tests::{Backend, TestGateway, repo_root, speech};

/// How much faster than real time the accelerated runs stream audio.
const SPEED: f64 = 12.0;

/// The replays measure speed: one at a time, so they do not share the CPU.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn shipped_set() -> PathBuf {
    repo_root().join("samples").join("replay")
}

fn failing_script() -> PathBuf {
    repo_root().join("tests").join("replay").join("failing.yaml")
}

/// A gateway with the Whisper model accepting audio up to `max_speed` times
/// real time. Its booking service runs on the real clock, as a server
/// started from the README does: the scripts' fixed `now` reaches it as
/// each session's as-of date, which is what lets them book in 2030.
async fn gateway(max_speed: f32, burst: Duration) -> TestGateway {
    let model = speech::model_path().expect("Whisper model");
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.asr.model = Some(model);
    config.asr.threads = 2;
    config.asr.stream.max_speed = max_speed;
    config.asr.stream.burst = burst;
    TestGateway::start_config(&backend, config).await.expect("gateway")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_shipped_set_passes_when_streamed_twelve_times_faster_than_real_time() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let gateway = gateway(16.0, Duration::from_secs(3)).await;
    let mut options = ReplayOptions::new(gateway.base.clone());
    options.speed = SPEED;
    let report = replay(&[shipped_set()], &options).await.expect("replay runs");
    for script in &report.scripts {
        println!("{}", render_table(script));
    }
    print!("{}", render_summary(&report));
    println!(
        "speed-up: {:.1} s of audio in {:.1} s of wall time = {:.1}x real time (--speed {SPEED})",
        report.audio_secs, report.audio_scripts_wall_secs, report.realtime_factor
    );
    assert!(
        report.scripts.len() >= 5,
        "the shipped set: {:?}",
        report.scripts.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    assert!(report.passed, "{}", report.to_json());
    // Every script speaks, and the human clips are transcribed and scored.
    for script in &report.scripts {
        assert!(script.turns.iter().any(|t| t.kind != "text"), "{} has no audio turn", script.name);
    }
    let scored = report.scripts.iter().flat_map(|s| &s.turns).filter(|t| t.kind == "audio" && t.wer.is_some());
    assert!(scored.count() >= 5, "human clips scored");
    // Bookings were made, changed and cancelled through the service.
    let refs: Vec<&str> =
        report.scripts.iter().flat_map(|s| &s.turns).filter_map(|t| t.booking_ref.as_deref()).collect();
    assert!(refs.len() >= 4, "{refs:?}");
    let metrics = report.scripts.iter().flat_map(|s| &s.turns).filter(|t| t.kind == "say");
    assert!(metrics.clone().all(|t| t.latency.asr_decode_ms.is_some() && t.latency.dialogue_ms.is_some()));
    // The speed-up is a figure for `cargo bench --bench replay`, not a
    // timed assertion (it depends on what else the machine is doing).
    assert!(report.audio_secs > 30.0, "{:.1} s of audio replayed", report.audio_secs);
    gateway.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_script_fails_the_run_with_its_reasons_in_json_and_junit() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let gateway = gateway(16.0, Duration::from_secs(3)).await;
    let dir = std::env::temp_dir().join(format!("voxbook-replay-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (json_path, junit_path) = (dir.join("report.json"), dir.join("report.xml"));
    let args = ReplayArgs {
        paths: vec![failing_script()],
        record: None,
        out: PathBuf::from("."),
        url: gateway.base.clone(),
        api_key: None,
        speed: SPEED,
        json: Some(json_path.clone()),
        junit: Some(junit_path.clone()),
        turn_timeout: 30,
        quiet: true,
    };
    // `voxbook replay` exits non-zero exactly when this is false.
    let passed = run(args).await.expect("the replay itself runs");
    assert!(!passed, "the failing script must fail the run");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json")).expect("JSON");
    assert_eq!(report["passed"], false);
    let turns = report["scripts"][0]["turns"].as_array().expect("turns");
    assert_eq!(turns.len(), 3, "{report:#}");
    assert_eq!(turns[0]["passed"], true, "the spoken first turn passes: {:#}", turns[0]);
    assert!(turns[0]["transcript"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(turns[0]["latency"]["asr_decode_ms"].is_u64());
    assert_eq!(turns[1]["passed"], false);
    let reasons: Vec<&str> =
        turns[1]["failures"].as_array().expect("failures").iter().filter_map(Value::as_str).collect();
    assert!(reasons.iter().any(|r| r.contains("awaiting: expected \"passengers\"")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("slots: expected at least")), "{reasons:?}");

    let xml = std::fs::read_to_string(&junit_path).expect("junit");
    println!("{xml}");
    assert!(xml.starts_with("<?xml"));
    assert_eq!(xml.matches("<testcase ").count(), 3, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(xml.contains("awaiting: expected &quot;passengers&quot;"), "{xml}");
    let _ = std::fs::remove_dir_all(&dir);
    gateway.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_refusing_fast_audio_is_named_as_the_cause() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // The server's default limit, 1.5x real time, with a short burst so a
    // one-utterance script already goes over it.
    let gateway = gateway(1.5, Duration::from_millis(300)).await;
    let mut options = ReplayOptions::new(gateway.base.clone());
    options.speed = 10.0;
    let report = replay(&[failing_script()], &options).await.expect("replay runs");
    assert!(!report.passed);
    let error = report.scripts[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("--audio-max-speed"), "{error}");
    gateway.stop().await.expect("stop");
}

/// `--record`: a session played on a gateway that keeps recordings becomes
/// a script with its audio, which then replays green on a fresh gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recorded_session_becomes_a_script_that_replays() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = std::env::temp_dir().join(format!("voxbook-record-{}", std::process::id()));
    let model = speech::model_path().expect("Whisper model");
    let script = load(&shipped_set().join("flight_booking.yaml")).expect("script");
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.asr.model = Some(model);
    config.asr.threads = 2;
    config.asr.stream.max_speed = 16.0;
    config.recordings_dir = Some(dir.join("recordings"));
    let live = TestGateway::start_config(&backend, config).await.expect("gateway");
    // The "hand-made" session: the shipped spoken flight booking.
    let mut options = ReplayOptions::new(live.base.clone());
    options.speed = SPEED;
    let played = replay(&[shipped_set().join("flight_booking.yaml")], &options).await.expect("replay runs");
    assert!(played.passed, "{}", played.to_json());
    let session = played.scripts[0].session_id.clone().expect("session id");

    let out = dir.join("script");
    let args = ReplayArgs {
        paths: Vec::new(),
        record: Some(session.clone()),
        out: out.clone(),
        url: live.base.clone(),
        api_key: None,
        speed: 1.0,
        json: None,
        junit: None,
        turn_timeout: 30,
        quiet: true,
    };
    assert!(run(args).await.expect("record"), "recording succeeds");
    live.stop().await.expect("stop");
    let recorded = std::fs::read_dir(&out).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect::<Vec<_>>();
    let yaml = recorded.iter().find(|p| p.extension().is_some_and(|x| x == "yaml")).expect("a script").clone();
    let wavs = recorded.iter().filter(|p| p.extension().is_some_and(|x| x == "wav")).count();
    let spoken = script.turns.iter().filter(|t| t.say.is_some() || t.audio.is_some()).count();
    assert_eq!(wavs, spoken, "one recording per spoken turn: {recorded:?}");
    let text = std::fs::read_to_string(&yaml).unwrap();
    assert!(text.contains("audio:") && text.contains("session_bookings: 1"), "{text}");

    // The regression case replays against a fresh gateway.
    let fresh = gateway(16.0, Duration::from_secs(3)).await;
    let mut options = ReplayOptions::new(fresh.base.clone());
    options.speed = SPEED;
    let again = replay(&[yaml], &options).await.expect("replay runs");
    for s in &again.scripts {
        println!("{}", render_table(s));
    }
    assert!(again.passed, "{}", again.to_json());
    fresh.stop().await.expect("stop");
    let _ = std::fs::remove_dir_all(dir);
}
