//! The documentation's commands, run as written: every fenced shell block of
//! `README.md` and `samples/*/README.md` either runs here or opens with
//! `# illustration: <why it cannot run here>`. Blocks are recognised by
//! what they do (see [`kind`]); an unmarked block this runner does not
//! know fails the suite without being run, because a block may install
//! packages or rewrite committed files.
//!
//! The run block (`bash deploy/setup.sh && ... -- serve`) is started in the
//! background exactly as written and waited for; then every other block
//! runs in document order, as a `bash -eo pipefail` script from the
//! repository root, in a process group of its own that is killed when the
//! block ends (blocks start their own servers with `&`). A block passes when
//! it exits 0 and its output shows what the README says it shows: each
//! `# → X` comment is a line the block prints (in order, matched by word
//! error rate within 25%, so "Go forward 10 meters." from Whisper counts),
//! the walkthrough's turns answer the `awaiting` each comment names and its
//! last turn a booking reference, a replay's JSON report passes every
//! script, and `intents eval` prints its report sections and writes its
//! JSON report. The test command block is not run again (it is what runs
//! this): it must be `.ci/run`'s command, character for character.
//!
//! Two things differ from a user's terminal, both so that runs on one
//! machine cannot disturb each other: every `localhost:PORT` and
//! `127.0.0.1:PORT` in the blocks is moved to a free port (and the run
//! block, which names none, gets `VOXBOOK_LISTEN` for 8080), and gateways
//! get a fresh booking database (`VOXBOOK_DATABASE_URL`), so repeated runs
//! never sell the same flights out.
//!
//! Blocks call `cargo run`, which finds the build `cargo test` (or CI's
//! `models install` step) made: same profile, nothing rebuilt.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use regex::Regex;
use serde_json::Value;
use voxbook_tests::repo_root;
use voxbook_tests::wer::wer;

/// A documented output matches a printed line within this word error rate.
const OUTPUT_WER_MAX: f64 = 25.0;
/// The first server start may build the binary.
const SERVER_START: Duration = Duration::from_secs(20 * 60);
/// A block may build a binary too (`cargo run --bin voxbook-booking`).
const BLOCK_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// One fenced shell block.
#[derive(Debug, Clone)]
struct Block {
    /// Relative to the repository root.
    file: String,
    /// 1-based line of the opening fence.
    line: usize,
    text: String,
}

impl Block {
    fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// The reason, when the block is marked as an illustration.
    fn illustration(&self) -> Option<&str> {
        let first = self.text.lines().find(|l| !l.trim().is_empty())?;
        first.trim().strip_prefix("# illustration:").map(str::trim)
    }

    /// Every `# → X` comment, in order.
    fn documented_outputs(&self) -> Vec<String> {
        self.text.lines().filter_map(|l| l.split_once("# →").map(|(_, out)| out.trim().to_string())).collect()
    }
}

/// What a runnable block is, which decides how it runs and what is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Installs and serves: started in the background first.
    Server,
    /// The test suite: `.ci/run` runs it.
    TestCommand,
    /// Talking to the server: turns checked against their comments.
    Walkthrough,
    /// `voxbook replay`: its JSON report must pass.
    Replay,
    /// `voxbook intents check/eval`: the report's sections and JSON.
    Intents,
    /// `voxbook transcribe`: exit 0 and the documented transcript.
    Transcribe,
    /// The admin API round: exit 0 and the documented outputs.
    Admin,
    /// The booking service on its own: exit 0 and the documented outputs.
    BookingService,
}

/// What a block is, or `None` for a block this runner does not know. It
/// only runs blocks it knows: a new block is added here (with what to
/// check) or marked as an illustration, never run blindly, since a block
/// may install things or rewrite files.
fn kind(block: &Block) -> Option<Kind> {
    let t = block.text.as_str();
    let first = t.lines().next().unwrap_or_default().trim();
    Some(if first.starts_with("bash deploy/setup.sh") && first.ends_with("-- serve") {
        Kind::Server
    } else if t.contains("cargo test --workspace") {
        Kind::TestCommand
    } else if t.contains("turn()") && t.contains("/turns") {
        Kind::Walkthrough
    } else if t.contains("-- replay ") {
        Kind::Replay
    } else if t.contains("-- intents ") {
        Kind::Intents
    } else if t.contains("-- transcribe ") {
        Kind::Transcribe
    } else if t.contains("/v1/admin/") {
        Kind::Admin
    } else if t.contains("--bin voxbook-booking") {
        Kind::BookingService
    } else {
        return None;
    })
}

/// The shell blocks of the README and of `samples/*/README.md`.
fn blocks() -> Vec<Block> {
    let root = repo_root();
    let mut files = vec![PathBuf::from("README.md")];
    let mut samples: Vec<PathBuf> = std::fs::read_dir(root.join("samples"))
        .expect("samples/")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("README.md"))
        .filter(|p| p.is_file())
        .filter_map(|p| p.strip_prefix(&root).ok().map(Path::to_path_buf))
        .collect();
    samples.sort();
    files.extend(samples);
    files.iter().flat_map(|f| shell_blocks(&f.display().to_string(), &read(&root.join(f)))).collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Fenced blocks tagged `sh`, `bash`, `shell` or `console`, indented or not
/// (a block inside a list item is indented with it).
fn shell_blocks(file: &str, markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(usize, usize, Vec<String>)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```")
                    && matches!(info.trim(), "sh" | "bash" | "shell" | "console")
                {
                    open = Some((i + 1, indent, Vec::new()));
                }
            }
            Some((start, fence_indent, lines)) => {
                if trimmed.trim_end() == "```" {
                    out.push(Block { file: file.to_string(), line: *start, text: lines.join("\n") });
                    open = None;
                } else {
                    let cut = (*fence_indent).min(indent);
                    lines.push(line[cut..].to_string());
                }
            }
        }
    }
    out
}

/// The command `.ci/run` runs.
fn ci_command() -> String {
    read(&repo_root().join(".ci").join("run"))
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn every_shell_block_runs_here_or_says_why_not() {
    let blocks = blocks();
    assert!(blocks.len() >= 8, "found only {} shell blocks", blocks.len());
    for block in &blocks {
        if let Some(reason) = block.illustration() {
            assert!(reason.len() >= 10, "{}: an illustration says why it cannot run here", block.at());
        }
    }
    let runnable: Vec<&Block> = blocks.iter().filter(|b| b.illustration().is_none()).collect();
    for block in &runnable {
        assert!(
            kind(block).is_some(),
            "{}: a shell block the doc runner does not know; teach tests/tests/readme.rs to run and check it, \
             or start it with `# illustration: <why it cannot run in CI>`\n{}",
            block.at(),
            block.text
        );
    }
    let servers: Vec<&&Block> = runnable.iter().filter(|b| kind(b) == Some(Kind::Server)).collect();
    assert_eq!(servers.len(), 1, "one block installs and serves: {servers:?}");
    assert_eq!(servers[0].file, "README.md");
    for wanted in [
        Kind::Walkthrough,
        Kind::Replay,
        Kind::Intents,
        Kind::TestCommand,
        Kind::Transcribe,
        Kind::Admin,
        Kind::BookingService,
    ] {
        assert!(runnable.iter().any(|b| kind(b) == Some(wanted)), "no {wanted:?} block");
    }
    let tests = runnable.iter().find(|b| kind(b) == Some(Kind::TestCommand)).expect("test block");
    assert_eq!(tests.text.trim(), ci_command(), "{}: the README's test command is what CI runs", tests.at());
    // Nothing users are told to run builds another profile than CI's.
    for block in &runnable {
        assert!(!block.text.contains("--release"), "{}: CI builds the dev profile only", block.at());
        assert!(
            !block.text.lines().any(|l| l.trim_start().starts_with("voxbook ")),
            "{}: `voxbook` is not on a fresh machine's PATH; use `cargo run --bin voxbook --`",
            block.at()
        );
    }
}

/// A free loopback port (released at once; a race with another process is
/// possible but brief).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Moves every `localhost:PORT` / `127.0.0.1:PORT` to the mapped port.
fn remap_ports(text: &str, ports: &BTreeMap<u16, u16>) -> String {
    let re = Regex::new(r"(localhost|127\.0\.0\.1):(\d{4,5})\b").expect("regex");
    re.replace_all(text, |c: &regex::Captures| {
        let port: u16 = c[2].parse().unwrap_or(0);
        format!("{}:{}", &c[1], ports.get(&port).copied().unwrap_or(port))
    })
    .into_owned()
}

fn ports_in(text: &str) -> Vec<u16> {
    let re = Regex::new(r"(?:localhost|127\.0\.0\.1):(\d{4,5})\b").expect("regex");
    re.captures_iter(text).filter_map(|c| c[1].parse().ok()).collect()
}

/// A block running as a shell script in its own process group.
struct Running {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    started: Instant,
}

impl Running {
    fn start(block: &Block, script: &str, scratch: &Path, env: &[(&str, String)], name: &str) -> Running {
        let path = scratch.join(format!("{name}.sh"));
        std::fs::write(&path, script).expect("write script");
        let (out, err) = (scratch.join(format!("{name}.out")), scratch.join(format!("{name}.err")));
        let mut command = Command::new("bash");
        command
            .arg("-eo")
            .arg("pipefail")
            .arg(&path)
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .process_group(0);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("{}: cannot start bash: {e}", block.at()));
        Running { child, out, err, started: Instant::now() }
    }

    /// Waits up to `limit`; `None` on timeout.
    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if self.started.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Both outputs' ends, for a failure message.
    fn tails(&self) -> String {
        let tail = |s: String| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        format!("--- stdout ---\n{}\n--- stderr ---\n{}", tail(self.stdout()), tail(self.stderr()))
    }

    /// Ends the block and everything it started in the background.
    fn stop(&mut self) {
        let group = format!("-{}", self.child.id());
        for signal in ["-TERM", "-KILL"] {
            let _ = Command::new("kill").args([signal, "--", &group]).stderr(Stdio::null()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                // The group is gone when signalling it fails.
                let alive = Command::new("kill")
                    .args(["-0", "--", &group])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if !alive {
                    let _ = self.child.try_wait();
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET /readyz` answers 200.
fn ready(port: u16) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
}

/// The documented outputs appear in order among the printed lines.
fn check_outputs(block: &Block, stdout: &str) -> Result<(), String> {
    let lines: Vec<&str> = stdout.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let mut from = 0;
    for expected in block.documented_outputs() {
        match lines[from..].iter().position(|line| wer(&expected, line) <= OUTPUT_WER_MAX) {
            Some(i) => from += i + 1,
            None => return Err(format!("documented output {expected:?} not printed (after line {from})")),
        }
    }
    Ok(())
}

/// Each `turn "..."  # → ... (awaiting: X)` answered `awaiting: X`; the
/// `(booking_ref: ...)` turn answered a reference.
fn check_walkthrough(block: &Block, stdout: &str) -> Result<(), String> {
    let turns: Vec<&str> = block.text.lines().filter(|l| l.trim_start().starts_with("turn ")).collect();
    let answers: Vec<Value> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| format!("not JSON ({e}): {l}")))
        .collect::<Result<_, _>>()?;
    if answers.len() != turns.len() {
        return Err(format!("{} turns, {} answers", turns.len(), answers.len()));
    }
    let awaiting = Regex::new(r"\(awaiting: (\w+)\)").expect("regex");
    for (turn, answer) in turns.iter().zip(&answers) {
        if answer["reply"].as_str().is_none_or(str::is_empty) {
            return Err(format!("{turn}: no reply: {answer}"));
        }
        if let Some(c) = awaiting.captures(turn)
            && answer["awaiting"].as_str() != Some(&c[1])
        {
            return Err(format!("{turn}\n  answered {answer}"));
        }
        if turn.contains("(booking_ref:") && answer["booking_ref"].as_str().is_none_or(str::is_empty) {
            return Err(format!("{turn}\n  booked nothing: {answer}"));
        }
    }
    if !turns.iter().any(|t| t.contains("(booking_ref:")) {
        return Err("the walkthrough books nothing".into());
    }
    Ok(())
}

/// The path given to `flag` in the block.
fn flag_value(block: &Block, flag: &str) -> Option<PathBuf> {
    let re = Regex::new(&format!(r"{flag}\s+(\S+)")).expect("regex");
    re.captures(&block.text).map(|c| PathBuf::from(&c[1]))
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(repo_root().join(path)).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The replay's JSON report passes every script of the shipped set.
fn check_replay(block: &Block) -> Result<(), String> {
    let path = flag_value(block, "--json").ok_or("the replay block writes no --json report")?;
    let report = read_json(&path)?;
    let scripts = report["scripts"].as_array().cloned().unwrap_or_default();
    let shipped = std::fs::read_dir(repo_root().join("samples").join("replay"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        .count();
    let failed: Vec<String> = scripts
        .iter()
        .filter(|s| s["passed"] != true)
        .map(|s| {
            let turns = s["turns"].as_array().cloned().unwrap_or_default();
            let why: Vec<String> = turns
                .iter()
                .filter(|t| t["passed"] != true)
                .map(|t| format!("turn {}: {}", t["turn"], t["failures"]))
                .collect();
            format!("{} {} {}", s["name"], s["error"], why.join("; "))
        })
        .collect();
    println!("replay: {} of {} scripts passed", scripts.len() - failed.len(), scripts.len());
    if scripts.len() != shipped || !failed.is_empty() || report["passed"] != true {
        return Err(format!("{} scripts shipped, {} replayed; failed: {failed:#?}", shipped, scripts.len()));
    }
    Ok(())
}

/// `intents check` said ok; `intents eval` printed its report and wrote
/// its JSON (scores are the dataset's business, not this test's).
fn check_intents(block: &Block, stdout: &str) -> Result<(), String> {
    if block.text.contains("intents check") && !stdout.contains(": ok (") {
        return Err("`intents check` did not report ok".into());
    }
    if block.text.contains("intents eval") {
        for section in ["intents ", "slots:", "confusion", "misses:"] {
            if !stdout.lines().any(|l| l.starts_with(section)) {
                return Err(format!("the eval report has no {section:?} section"));
            }
        }
        if let Some(path) = flag_value(block, "--json") {
            let report = read_json(&path)?;
            for key in ["intents", "slots", "confusion", "misses"] {
                if report.get(key).is_none() {
                    return Err(format!("{}: no {key:?}", path.display()));
                }
            }
            if report["utterances"].as_u64().unwrap_or(0) == 0 {
                return Err(format!("{}: no utterances scored", path.display()));
            }
        }
    }
    Ok(())
}

#[test]
fn the_readme_runs_as_written() {
    let blocks: Vec<Block> = blocks().into_iter().filter(|b| b.illustration().is_none()).collect();
    let scratch = std::env::temp_dir().join(format!("voxbook-readme-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let mut ports = BTreeMap::from([(8080, free_port())]);
    for block in &blocks {
        for port in ports_in(&block.text) {
            ports.entry(port).or_insert_with(free_port);
        }
    }
    let env = vec![
        ("VOXBOOK_LISTEN", format!("127.0.0.1:{}", ports[&8080])),
        ("VOXBOOK_DATABASE_URL", format!("sqlite://{}", scratch.join("booking.db").display())),
    ];
    println!("ports: {ports:?}; scratch: {}", scratch.display());

    // The server, exactly as the README starts it.
    let server_block = blocks.iter().find(|b| kind(b) == Some(Kind::Server)).expect("the run block");
    let mut server = Running::start(server_block, &remap_ports(&server_block.text, &ports), &scratch, &env, "server");
    loop {
        if ready(ports[&8080]) {
            break;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("{}: the server exited ({status}) before it was ready\n{}", server_block.at(), server.tails());
        }
        assert!(server.started.elapsed() < SERVER_START, "{}: not ready\n{}", server_block.at(), server.tails());
        std::thread::sleep(Duration::from_millis(250));
    }
    println!("{}: server ready in {:.1} s", server_block.at(), server.started.elapsed().as_secs_f64());

    let mut failures = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let Some(kind) = kind(block) else {
            failures.push(format!("{}: not run: a block this runner does not know", block.at()));
            continue;
        };
        if matches!(kind, Kind::Server | Kind::TestCommand) {
            continue;
        }
        let mut run = Running::start(block, &remap_ports(&block.text, &ports), &scratch, &env, &format!("block{i}"));
        let status = run.wait(BLOCK_TIMEOUT);
        let elapsed = run.started.elapsed();
        run.stop();
        let stdout = run.stdout();
        let verdict = match status {
            None => Err(format!("no end within {} s", BLOCK_TIMEOUT.as_secs())),
            Some(status) => {
                let checked = match kind {
                    Kind::Walkthrough => check_walkthrough(block, &stdout),
                    Kind::Replay => check_replay(block),
                    Kind::Intents => check_intents(block, &stdout),
                    _ => Ok(()),
                }
                .and_then(|()| if kind == Kind::Walkthrough { Ok(()) } else { check_outputs(block, &stdout) });
                // A failed block's checks still say what went wrong (a
                // replay exits 1 and its report names the turns).
                match (status.success(), checked) {
                    (true, checked) => checked,
                    (false, Ok(())) => Err(format!("exited {status}")),
                    (false, Err(why)) => Err(format!("exited {status}; {why}")),
                }
            }
        };
        println!(
            "{}: {:?} {:.1} s: {}",
            block.at(),
            kind,
            elapsed.as_secs_f64(),
            verdict.as_ref().map_or("FAILED", |_| "ok")
        );
        if let Err(why) = verdict {
            failures.push(format!("{} ({kind:?}): {why}\n{}\n{}", block.at(), block.text, run.tails()));
        }
    }
    server.stop();
    if let Ok(Some(status)) = server.child.try_wait() {
        println!("server stopped: {status}");
    }
    assert!(failures.is_empty(), "{} block(s) failed:\n\n{}", failures.len(), failures.join("\n\n"));
    let _ = std::fs::remove_dir_all(&scratch);
}
