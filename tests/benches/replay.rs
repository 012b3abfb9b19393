//! How much faster than real time `voxbook replay` runs the shipped set.
//!
//! `cargo bench -p voxbook-tests --bench replay -- [--speed N]`
//!
//! Replays `samples/replay/` against a gateway in this process (Whisper
//! tiny.en, Redis sessions, the booking service with the scripts' clock,
//! audio accepted up to 16x real time) with audio streamed N times faster
//! than real time (12 by default), and prints the audio replayed, the wall
//! time of the scripts with audio, and their ratio. The ratio is below N:
//! every turn still waits for its endpoint silence, its decode and its
//! dialogue turn.

use voxbook_gateway::replay::{ReplayOptions, replay};
use voxbook_tests::bench::arg;
use voxbook_tests::script::{load, script_now};
use voxbook_tests::{Backend, TestGateway, repo_root, speech};

fn main() -> anyhow::Result<()> {
    let speed = arg("--speed", 12) as f64;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let set = repo_root().join("samples").join("replay");
    let script = load(&set.join("flight_booking.yaml"))?;
    let backend = Backend::redis_sqlite().with_booking_now(script_now(&script)?);
    let mut config = backend.config();
    config.asr.model = Some(speech::model_path()?);
    config.asr.threads = 2;
    config.asr.stream.max_speed = 16.0;
    let gateway = runtime.block_on(TestGateway::start_config(&backend, config))?;
    let mut options = ReplayOptions::new(gateway.base.clone());
    options.speed = speed;
    options.progress = false;
    let report = runtime.block_on(replay(&[set], &options))?;
    anyhow::ensure!(report.passed, "the shipped set failed:\n{}", report.to_json());
    println!("\n| --speed | scripts | audio replayed | wall time | speed-up |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {speed} | {} | {:.1} s | {:.1} s | {:.1}x |",
        report.scripts.len(),
        report.audio_secs,
        report.audio_scripts_wall_secs,
        report.realtime_factor
    );
    drop(gateway);
    Ok(())
}
