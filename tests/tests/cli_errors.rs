//! Errors a user meets first say what to do next, in one line: without a
//! Whisper model `voxbook transcribe` and `voxbook serve --asr-model` fail
//! with "run `voxbook models install`", and a plain `voxbook serve` starts
//! text-only and warns the same; with `RUST_BACKTRACE=1` set (many
//! developers have it) an error is still one `error: ...` line, not an
//! `anyhow` backtrace. The binary is run as the README runs it, through
//! `cargo run`, from a directory with no `models/`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use voxbook_tests::repo_root;

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("voxbook-cli-errors-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn voxbook(cwd: &Path) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .args(["run", "-q", "--manifest-path"])
        .arg(repo_root().join("Cargo.toml"))
        .args(["--bin", "voxbook", "--"])
        .current_dir(cwd)
        .env("RUST_BACKTRACE", "1")
        .env_remove("VOXBOOK_ASR_MODEL");
    command
}

/// Exit 1 and, as the last line of stderr, one `error: ...` line naming
/// the next step; no backtrace anywhere.
fn assert_one_line_error(output: &Output, mentions: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: ") && last.contains(mentions), "{stderr}");
    assert!(last.contains("run `voxbook models install`"), "{stderr}");
    assert!(!stderr.contains("backtrace") && !stderr.contains("Stack"), "{stderr}");
}

#[test]
fn transcribe_without_a_model_says_to_install_one() {
    let dir = scratch();
    let clip = repo_root().join("samples/replay/audio/goforward.wav");
    let output = voxbook(&dir).arg("transcribe").arg(&clip).output().expect("run voxbook");
    assert_one_line_error(&output, "no Whisper model at models/ggml-tiny.en.bin");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn serve_with_a_missing_model_says_to_install_one() {
    let dir = scratch();
    let output = voxbook(&dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--asr-model", "models/nowhere.bin"])
        .output()
        .expect("run voxbook");
    assert_one_line_error(&output, "no Whisper model at models/nowhere.bin");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn serve_without_a_model_starts_text_only_and_says_how_to_get_one() {
    let dir = scratch();
    let mut child = voxbook(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("VOXBOOK_DATABASE_URL", format!("sqlite://{}", dir.join("booking.db").display()))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run voxbook");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = Instant::now();
    let (mut warned, mut ready) = (None, false);
    while !ready && started.elapsed() < Duration::from_secs(600) {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) if line.contains("no Whisper model") => warned = Some(line),
            Ok(line) if line.contains("voxbook gateway ready") => ready = true,
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "the gateway serves text without a model");
    let warned = warned.expect("a warning about the missing model");
    assert!(warned.contains("run `voxbook models install`"), "{warned}");
    let _ = std::fs::remove_dir_all(dir);
}
