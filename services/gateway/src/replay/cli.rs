//! The `voxbook replay` command line: arguments, the per-script tables on
//! stdout, and the JSON and JUnit files. Its verdict is the process's exit
//! status (non-zero on any failure), so a replay can gate a release.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::report::{render_summary, render_table};
use super::{ReplayOptions, replay};

/// `voxbook replay PATH...`
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Script files, or directories of `*.yaml` scripts (e.g. samples/replay).
    #[arg(required_unless_present = "record")]
    pub paths: Vec<PathBuf>,
    /// Instead of replaying: turn session SESSION (tried by hand on a
    /// gateway that keeps recordings) into a script with its audio.
    #[arg(long, value_name = "SESSION", conflicts_with_all = ["json", "junit"])]
    pub record: Option<String>,
    /// Where `--record` writes the script and its audio.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// The running gateway.
    #[arg(long, env = "VOXBOOK_REPLAY_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// API key, when the gateway requires one.
    #[arg(long, env = "VOXBOOK_REPLAY_API_KEY")]
    pub api_key: Option<String>,
    /// Stream audio N times faster than real time. Above 1.5 the server must
    /// be started with a higher --audio-max-speed (VOXBOOK_AUDIO_MAX_SPEED).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the report as JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Seconds one turn may take to answer.
    #[arg(long, default_value_t = 30)]
    pub turn_timeout: u64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs the replay; `Ok(true)` when every script passed.
pub async fn run(args: ReplayArgs) -> anyhow::Result<bool> {
    if let Some(session) = &args.record {
        let script = super::record::record(&args.url, args.api_key.as_deref(), session, &args.out)
            .await
            .with_context(|| format!("recording session {session}"))?;
        println!("wrote {}", script.display());
        return Ok(true);
    }
    let mut options = ReplayOptions::new(args.url.clone());
    options.api_key = args.api_key.clone();
    options.speed = args.speed;
    options.turn_timeout = Duration::from_secs(args.turn_timeout.max(1));
    options.progress = !args.quiet;
    let report = replay(&args.paths, &options).await?;
    for script in &report.scripts {
        println!("{}", render_table(script));
    }
    print!("{}", render_summary(&report));
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json()).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report.to_junit()).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{}", if report.passed { "PASSED" } else { "FAILED" });
    Ok(report.passed)
}
