//! `voxbook replay --record SESSION`: a session tried by hand becomes a
//! regression script. The session's history gives each turn's words and
//! intent; a gateway that keeps recordings (`recordings_dir`) gives each
//! spoken turn's audio as the recogniser heard it. The script replays the
//! audio where there is some (expecting the same transcript, within a
//! small word error rate) and the words where there is none, expects the
//! same intents, and the same number of bookings at the end.

use std::path::{Path, PathBuf};

use reqwest::header::HeaderValue;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("invalid gateway URL {0:?}: expected http://host:port or https://host:port")]
    InvalidUrl(String),
    #[error("invalid API key: {0}")]
    InvalidApiKey(String),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{what}: HTTP {status}: {body}")]
    Status { what: String, status: u16, body: String },
    #[error("the session has no turns to record")]
    Empty,
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("the script could not be written as YAML: {0}")]
    Yaml(String),
}

/// The word error rate a recorded turn's transcript may drift by on
/// replay (the same audio normally decodes the same; a changed model or
/// decoder settings may move a word).
pub const RECORDED_WER_MAX: f64 = 20.0;

/// Writes the script (`{out}/{name}.yaml`) and its audio
/// (`{out}/{name}-turn-{n}.wav`) for `session` on the gateway at `url`;
/// returns the script's path.
pub async fn record(url: &str, api_key: Option<&str>, session: &str, out: &Path) -> Result<PathBuf, RecordError> {
    let base = url.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(RecordError::InvalidUrl(url.to_string()));
    }
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = api_key {
        let value =
            HeaderValue::from_str(&format!("Bearer {key}")).map_err(|e| RecordError::InvalidApiKey(e.to_string()))?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let client = reqwest::Client::builder().default_headers(headers).build()?;

    let what = format!("GET /v1/sessions/{session}");
    let response = client.get(format!("{base}/v1/sessions/{session}")).send().await?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    if status != 200 {
        return Err(RecordError::Status { what, status, body });
    }
    let view: Value = serde_json::from_str(&body).map_err(|e| RecordError::Status {
        what,
        status,
        body: format!("not JSON: {e}"),
    })?;
    let history = view["history"].as_array().cloned().unwrap_or_default();
    if history.is_empty() {
        return Err(RecordError::Empty);
    }
    std::fs::create_dir_all(out).map_err(|source| RecordError::Write { path: out.to_path_buf(), source })?;
    let name = format!("recorded-{}", session.chars().take(8).collect::<String>());

    let mut turns = Vec::new();
    for entry in &history {
        let turn = entry["turn"].as_u64().unwrap_or(0);
        let said = entry["user"].as_str().unwrap_or_default().to_string();
        let mut expect = serde_json::Map::new();
        if let Some(intent) = entry["intent"].as_str() {
            expect.insert("intent".into(), json!(intent));
        }
        let response = client.get(format!("{base}/v1/sessions/{session}/recordings/{turn}")).send().await?;
        let mut step = serde_json::Map::new();
        if response.status().as_u16() == 200 {
            let file = format!("{name}-turn-{turn}.wav");
            let path = out.join(&file);
            let bytes = response.bytes().await?;
            std::fs::write(&path, &bytes).map_err(|source| RecordError::Write { path, source })?;
            step.insert("audio".into(), json!(file));
            expect.insert("transcript".into(), json!(said));
            expect.insert("wer_max".into(), json!(RECORDED_WER_MAX));
        } else {
            step.insert("user".into(), json!(said));
        }
        step.insert("expect".into(), Value::Object(expect));
        turns.push(Value::Object(step));
    }
    // The conversation's outcome: as many bookings as the session made.
    let bookings = view["bookings"].as_array().map(Vec::len).unwrap_or(0);
    if let Some(Value::Object(last)) = turns.last_mut()
        && let Some(Value::Object(expect)) = last.get_mut("expect")
    {
        expect.insert("session_bookings".into(), json!(bookings));
    }
    let script = json!({
        "name": format!("Recorded from session {session}"),
        "now": view["now"].as_str().unwrap_or_default(),
        "turns": turns,
    });
    let yaml = serde_yaml_ng::to_string(&script).map_err(|e| RecordError::Yaml(e.to_string()))?;
    let path = out.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).map_err(|source| RecordError::Write { path: path.clone(), source })?;
    Ok(path)
}
