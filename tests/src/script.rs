//! Scripted conversations (`samples/conversations/*.yaml`) and a player
//! that runs them through the HTTP API and checks every turn.
//!
//! The script format and the expectation checks are the gateway's
//! (`voxbook_gateway::replay`, behind `voxbook replay`): one
//! implementation, so a script means the same to the tests and to QA's
//! replays. This player sends `user:` turns (and `say:` turns, as their
//! text) as HTTP turns; audio turns need the replay's WebSocket player.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde_json::Value;
use voxbook_gateway::replay::HttpLookup;
use voxbook_gateway::replay::check::{check_result, check_transcript};
use voxbook_gateway::replay::script::{Input, fill_ref};

pub use voxbook_gateway::replay::check::subset;
pub use voxbook_gateway::replay::script::{Script, ScriptTurn, nato, spelled};

use crate::gateway::TestGateway;

pub fn conversations_dir() -> PathBuf {
    crate::repo_root().join("samples").join("conversations")
}

pub fn load(path: &Path) -> anyhow::Result<Script> {
    Ok(voxbook_gateway::replay::script::load(path)?)
}

/// Every script in `samples/conversations/`, sorted by file name.
pub fn load_all() -> anyhow::Result<Vec<(PathBuf, Script)>> {
    let paths = voxbook_gateway::replay::script::expand(&[conversations_dir()])?;
    paths.into_iter().map(|p| load(&p).map(|s| (p, s))).collect()
}

/// One conversation being played.
pub struct Run<'s> {
    pub script: &'s Script,
    pub session: String,
    /// The last booking reference any turn returned.
    pub last_ref: Option<String>,
    pub next_turn: usize,
}

impl<'s> Run<'s> {
    pub async fn start(gateway: &TestGateway, script: &'s Script) -> anyhow::Result<Run<'s>> {
        let session = gateway.session(&script.now).await?;
        Ok(Run { script, session, last_ref: None, next_turn: 0 })
    }

    pub fn finished(&self) -> bool {
        self.next_turn >= self.script.turns.len()
    }

    /// Plays the next turn on `gateway` and checks its expectations.
    pub async fn step(&mut self, gateway: &TestGateway) -> anyhow::Result<Value> {
        let index = self.next_turn;
        let turn = self.script.turns.get(index).ok_or_else(|| anyhow!("no turn {index}"))?;
        let template = match turn.input() {
            Some(Input::Text(text) | Input::Say(text)) => text,
            Some(Input::Audio(path)) => bail!("turn {}: audio ({}) needs `voxbook replay`", index + 1, path.display()),
            None => bail!("turn {}: no input", index + 1),
        };
        let text = fill_ref(template, self.last_ref.as_deref())?;
        let (status, body) = gateway.turn(&self.session, &text).await?;
        self.next_turn += 1;
        let context = || format!("script '{}', turn {} ({text:?})\nresponse: {body:#}", self.script.name, index + 1);
        if status != 200 {
            bail!("HTTP {status} in {}", context());
        }
        if let Some(code) = body["booking_ref"].as_str() {
            self.last_ref = Some(code.to_string());
        }
        let lookup = HttpLookup::new(gateway.client.clone(), gateway.base.clone());
        let mut failures = check_transcript(&turn.expect, None, None).failures;
        failures.extend(check_result(&lookup, &self.session, &turn.expect, &body).await);
        if !failures.is_empty() {
            return Err(anyhow!("{}", failures.join("\n"))).with_context(context);
        }
        Ok(body)
    }
}

/// Plays a whole script, turn `i` on `gateways[i % len]`.
pub async fn play(script: &Script, gateways: &[&TestGateway]) -> anyhow::Result<()> {
    let first = gateways.first().ok_or_else(|| anyhow!("no gateway"))?;
    let mut run = Run::start(first, script).await?;
    while !run.finished() {
        let gateway = gateways[run.next_turn % gateways.len()];
        run.step(gateway).await?;
    }
    Ok(())
}

/// The session clock of a script as UTC, for the booking service.
pub fn script_now(script: &Script) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    Ok(chrono::DateTime::parse_from_rfc3339(&script.now)?.with_timezone(&chrono::Utc))
}
