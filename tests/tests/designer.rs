//! The designer page (`GET /designer`) in a real headless Chromium, driven
//! through chromedriver over WebDriver, against a real gateway (Redis,
//! SQLite): enter the admin token, load the running config, break a slot
//! type and see the problem beside its line, fix it and see it valid, try
//! an utterance against the draft, publish.
//!
//! Chromium and chromedriver are required, not optional: CI installs them
//! (`deploy/setup.sh`), so a machine without them fails here with the
//! command that fixes it instead of passing without having looked.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use voxbook_dialogue::config::DEFAULT_ASSISTANT_YAML;
use voxbook_gateway::Config;
use voxbook_tests::{Backend, TestGateway};

const TOKEN: &str = "designer-admin-token";
/// How long any one thing the page does may take to show (a cold
/// Chromium, a debug-build compile of the config on a busy machine).
const PATIENCE: Duration = Duration::from_secs(30);
const UTTERANCE: &str = "i need a flight from london to paris";

/// A program the test needs: `$VAR` if set, else its Debian path; a clear
/// failure when it is not there.
fn program(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.is_file(),
        "{} not found: the designer test needs a real Chromium. Install it with \
         `apt-get install -y chromium chromium-driver` (deploy/setup.sh does), or point {var} at the program",
        path.display()
    );
    path
}

/// A chromedriver on a free local port, killed when dropped.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let chromedriver = program("VOXBOOK_CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("a bound address").port()
        };
        let mut child = tokio::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", chromedriver.display()));
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(response) = client.get(format!("{url}/status")).send().await
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                return Driver { child, url };
            }
            if let Ok(Some(exit)) = child.try_wait() {
                panic!("chromedriver exited before it was ready: {exit}");
            }
            assert!(started.elapsed() < PATIENCE, "chromedriver not ready on port {port} after {PATIENCE:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn browser(&self) -> Client {
        let chromium = program("VOXBOOK_CHROMIUM", "/usr/bin/chromium");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"],
            },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("a JSON object literal") };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("chromedriver could not start Chromium: {e}"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // kill_on_drop would do it too; start the kill now so the port and
        // the browser go away before the next test binary runs.
        let _ = self.child.start_kill();
    }
}

/// Runs `script` (a function body returning a value) until it returns
/// something truthy, and returns that. On timeout, fails naming `what` and
/// showing what the page says, so a failure explains itself.
async fn until(client: &Client, what: &str, script: &str, args: Vec<Value>) -> Value {
    let started = Instant::now();
    loop {
        let value = client.execute(script, args.clone()).await.unwrap_or_else(|e| panic!("{what}: script failed: {e}"));
        let truthy = match &value {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return value;
        }
        if started.elapsed() > PATIENCE {
            let page = client
                .execute(
                    "const t = (id) => document.getElementById(id).textContent;
                     return {status: t('status'), summary: t('summary'), errors: t('errors'), result: t('result')};",
                    vec![],
                )
                .await
                .unwrap_or(Value::Null);
            panic!("{what}: not within {PATIENCE:?}; the page shows {page:#}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Selects `from` on 1-based `line` of the editor and types `to` over it
/// with real key presses, as a designer would.
async fn retype(client: &Client, line: usize, from: &str, to: &str) {
    let selected = client
        .execute(
            "const [line, word] = arguments;
             const t = document.getElementById('yaml');
             const lines = t.value.split('\\n');
             let start = 0;
             for (let i = 0; i < line - 1; i++) start += lines[i].length + 1;
             const at = lines[line - 1].indexOf(word);
             if (at < 0) return false;
             t.focus();
             t.setSelectionRange(start + at, start + at + word.length);
             return true;",
            vec![json!(line), json!(from)],
        )
        .await
        .expect("selecting in the editor");
    assert_eq!(selected, true, "{from:?} is not on line {line}");
    let editor = client.find(Locator::Id("yaml")).await.expect("the editor");
    editor.send_keys(to).await.expect("typing into the editor");
}

async fn editor_text(client: &Client) -> String {
    let value = client.execute("return document.getElementById('yaml').value;", vec![]).await.expect("the editor");
    value.as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_designer_edits_validates_tries_and_publishes_in_a_real_browser() {
    let started = Instant::now();
    let backend = Backend::redis_sqlite();
    let config = Config { admin_tokens: vec![TOKEN.into()], ..backend.config() };
    let gateway = TestGateway::start_config(&backend, config).await.expect("gateway starts");

    let page = gateway.client.get(gateway.url("/designer")).send().await.expect("GET /designer");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().expect("an ASCII policy").to_string();
    assert!(csp.contains("script-src 'sha256-") && csp.contains("connect-src 'self'"), "{csp}");

    let driver = Driver::start().await;
    let client = driver.browser().await;
    client.goto(&gateway.url("/designer")).await.expect("the page opens");

    // The token, then the running config (never uploaded: the shipped default).
    client.find(Locator::Id("token")).await.expect("the token field").send_keys(TOKEN).await.expect("typing");
    client.find(Locator::Id("load")).await.expect("the load button").click().await.expect("clicking");
    until(
        &client,
        "the running config loads and checks valid",
        "return document.getElementById('yaml').value.length > 0
             && document.getElementById('summary').dataset.state === 'valid';",
        vec![],
    )
    .await;
    assert_eq!(editor_text(&client).await, DEFAULT_ASSISTANT_YAML, "the editor holds the running config");
    // The inline style and script ran: the policy's hashes match the page.
    let styled = client
        .execute("return getComputedStyle(document.querySelector('.editor')).display;", vec![])
        .await
        .expect("js");
    assert_eq!(styled, "grid", "the page's style was refused (CSP hash?)");
    let stored = client.execute("return sessionStorage.getItem('voxbook.designer.token');", vec![]).await.expect("js");
    assert_eq!(stored, TOKEN, "the token is kept for this tab");

    // An unknown slot type on a known line: the problem shows beside it.
    let line = DEFAULT_ASSISTANT_YAML.lines().position(|l| l == "    type: city").expect("a city slot") + 1;
    retype(&client, line, "city", "zeppelin_port").await;
    assert_eq!(
        editor_text(&client).await,
        DEFAULT_ASSISTANT_YAML.replacen("    type: city\n", "    type: zeppelin_port\n", 1)
    );
    let note = until(
        &client,
        "the problem shows beside its line",
        "const [line] = arguments;
         const note = document.querySelector(`#notes-inner .note[data-line=\"${line}\"]`);
         const item = document.querySelector(`#errors li[data-line=\"${line}\"]`);
         const gutter = document.querySelector(`#gutter-inner span.bad[data-line=\"${line}\"]`);
         return document.getElementById('summary').dataset.state === 'invalid' && note && item && gutter
             ? note.textContent : null;",
        vec![json!(line)],
    )
    .await;
    let note = note.as_str().unwrap_or_default();
    assert!(note.starts_with(&format!("{line}:")), "the note names its line and column: {note}");
    assert!(note.contains("zeppelin_port"), "the note says what is wrong: {note}");

    // Fixed again: valid, and nothing is marked.
    retype(&client, line, "zeppelin_port", "city").await;
    until(
        &client,
        "the fixed config checks valid",
        "const s = document.getElementById('summary');
         return s.dataset.state === 'valid' && s.textContent.startsWith('Valid')
             && document.querySelectorAll('#notes-inner .note, #errors li, #gutter-inner span.bad').length === 0;",
        vec![],
    )
    .await;

    // Try it, against the draft: typed key by key.
    client.find(Locator::Id("utterance")).await.expect("the try-it box").send_keys(UTTERANCE).await.expect("typing");
    let parsed = until(
        &client,
        "the utterance parses to a flight from London to Paris",
        "const r = document.getElementById('result');
         const slot = (name) => document.querySelector(`#slots tr[data-slot=\"${name}\"] td`);
         if (r.dataset.state !== 'parsed' || !slot('origin') || !slot('destination')) return null;
         return {intent: document.getElementById('intent-name').textContent,
                 confidence: document.getElementById('intent-confidence').textContent,
                 origin: slot('origin').textContent, destination: slot('destination').textContent};",
        vec![],
    )
    .await;
    assert_eq!(parsed["intent"], "book_flight", "{parsed:#}");
    let text = |key: &str| parsed[key].as_str().unwrap_or_default().to_lowercase();
    assert!(text("origin").contains("london"), "{parsed:#}");
    assert!(text("destination").contains("paris"), "{parsed:#}");
    assert!(text("confidence").parse::<f64>().is_ok_and(|c| c > 0.0), "{parsed:#}");

    // Publish: the shipped default is kept as version 1, the draft is 2.
    client
        .find(Locator::Id("note"))
        .await
        .expect("the note field")
        .send_keys("from the designer")
        .await
        .expect("typing");
    client.find(Locator::Id("publish")).await.expect("the publish button").click().await.expect("clicking");
    until(
        &client,
        "the publish is confirmed and listed",
        "return document.getElementById('status').textContent.startsWith('Published version 2')
             && document.querySelectorAll('#versions tr[data-version]').length === 2;",
        vec![],
    )
    .await;
    let info: Value = gateway
        .client
        .get(gateway.url("/v1/admin/assistant"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("GET /v1/admin/assistant")
        .json()
        .await
        .expect("JSON");
    assert_eq!(info["active"]["version"], 2, "{info:#}");
    assert_eq!(info["active"]["note"], "from the designer", "{info:#}");

    client.close().await.expect("the browser closes");
    drop(driver);
    eprintln!("designer browser test took {:?}", started.elapsed());
}
