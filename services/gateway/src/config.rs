//! The gateway's configuration, loaded once at start-up from a TOML file,
//! then environment variables, then command-line flags (each overriding
//! the one before), into one explicit [`Config`] that is passed down.
//! Nothing reads the environment after this.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;
use voxbook_dialogue::tools::RetryPolicy;

/// Flags of `voxbook serve`; each also reads a `VOXBOOK_*` variable.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML config file.
    #[arg(long, env = "VOXBOOK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "VOXBOOK_LISTEN")]
    pub listen: Option<String>,
    /// Redis URL for sessions; in-process sessions when absent.
    #[arg(long, env = "VOXBOOK_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix for Redis keys.
    #[arg(long, env = "VOXBOOK_REDIS_PREFIX")]
    pub redis_prefix: Option<String>,
    /// Database of the in-process booking service (sqlite:// or postgres://).
    #[arg(long, env = "VOXBOOK_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Base URL of a remote booking service; in-process when absent.
    #[arg(long, env = "VOXBOOK_BOOKING_URL")]
    pub booking_url: Option<String>,
    /// Assistant config (YAML); the shipped travel assistant when absent.
    #[arg(long, env = "VOXBOOK_ASSISTANT")]
    pub assistant: Option<PathBuf>,
    /// API keys accepted on client routes, comma-separated.
    #[arg(long, env = "VOXBOOK_API_KEYS", value_delimiter = ',')]
    pub api_keys: Option<Vec<String>>,
    /// Session time-to-live in seconds.
    #[arg(long, env = "VOXBOOK_SESSION_TTL_SECS")]
    pub session_ttl_secs: Option<u64>,
}

/// The TOML file's shape; every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub redis_url: Option<String>,
    pub redis_prefix: Option<String>,
    pub database_url: Option<String>,
    pub booking_url: Option<String>,
    pub assistant: Option<PathBuf>,
    pub api_keys: Option<Vec<String>>,
    pub session_ttl_secs: Option<u64>,
    pub max_body_bytes: Option<usize>,
    pub tool_attempt_timeout_ms: Option<u64>,
    pub tool_budget_ms: Option<u64>,
    pub tool_max_attempts: Option<u32>,
    pub config_poll_ms: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    /// In-process booking service database; SQLite file by default.
    pub database_url: String,
    pub booking_url: Option<String>,
    pub assistant: Option<PathBuf>,
    /// Empty means authentication is off (loopback only).
    pub api_keys: Vec<String>,
    pub session_ttl: Duration,
    pub max_body_bytes: usize,
    pub retry: RetryPolicy,
    /// How often the assistant file is checked for changes; None disables
    /// hot reload.
    pub config_poll: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            redis_url: None,
            redis_prefix: "voxbook:".into(),
            database_url: "sqlite://voxbook-booking.db".into(),
            booking_url: None,
            assistant: None,
            api_keys: Vec::new(),
            session_ttl: Duration::from_secs(30 * 60),
            max_body_bytes: 64 * 1024,
            retry: RetryPolicy::default(),
            config_poll: Some(Duration::from_secs(2)),
        }
    }
}

impl Config {
    /// File, then environment and flags (clap has merged those two).
    pub fn load(args: &ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let mut c = Config::default();
        let listen = args.listen.clone().or(file.listen);
        if let Some(listen) = listen {
            c.listen = listen.parse().with_context(|| format!("--listen '{listen}' is not HOST:PORT"))?;
        }
        c.redis_url = args.redis_url.clone().or(file.redis_url).filter(|u| !u.is_empty());
        if let Some(prefix) = args.redis_prefix.clone().or(file.redis_prefix) {
            c.redis_prefix = prefix;
        }
        if let Some(db) = args.database_url.clone().or(file.database_url) {
            c.database_url = db;
        }
        c.booking_url = args.booking_url.clone().or(file.booking_url).filter(|u| !u.is_empty());
        c.assistant = args.assistant.clone().or(file.assistant);
        c.api_keys = args
            .api_keys
            .clone()
            .or(file.api_keys)
            .unwrap_or_default()
            .into_iter()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        if let Some(ttl) = args.session_ttl_secs.or(file.session_ttl_secs) {
            c.session_ttl = Duration::from_secs(ttl);
        }
        if let Some(n) = file.max_body_bytes {
            c.max_body_bytes = n;
        }
        if let Some(ms) = file.tool_attempt_timeout_ms {
            c.retry.attempt_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = file.tool_budget_ms {
            c.retry.budget = Duration::from_millis(ms);
        }
        if let Some(n) = file.tool_max_attempts {
            c.retry.max_attempts = n;
        }
        if let Some(ms) = file.config_poll_ms {
            c.config_poll = (ms > 0).then(|| Duration::from_millis(ms));
        }
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> anyhow::Result<()> {
        if !self.listen.ip().is_loopback() && self.api_keys.is_empty() {
            bail!(
                "refusing to listen on {} without API keys: set VOXBOOK_API_KEYS (or api_keys in the config file), or listen on a loopback address",
                self.listen
            );
        }
        if self.session_ttl < Duration::from_secs(10) {
            bail!("session TTL must be at least 10 seconds");
        }
        if self.retry.max_attempts == 0 {
            bail!("tool_max_attempts must be at least 1");
        }
        if self.max_body_bytes < 1024 {
            bail!("max_body_bytes must be at least 1024");
        }
        Ok(())
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_loopback_without_keys() {
        let c = Config::load(&ServeArgs::default()).unwrap();
        assert!(c.listen.ip().is_loopback());
        assert!(c.api_keys.is_empty());
        assert!(c.redis_url.is_none());
    }

    #[test]
    fn public_listen_requires_keys() {
        let args = ServeArgs { listen: Some("0.0.0.0:8080".into()), ..Default::default() };
        let err = Config::load(&args).unwrap_err().to_string();
        assert!(err.contains("without API keys"), "{err}");
        let args =
            ServeArgs { listen: Some("0.0.0.0:8080".into()), api_keys: Some(vec!["k1".into()]), ..Default::default() };
        assert!(Config::load(&args).is_ok());
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("voxbook-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("voxbook.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nsession_ttl_secs = 60\n").unwrap();
        let args =
            ServeArgs { config: Some(path.clone()), listen: Some("127.0.0.1:9100".into()), ..Default::default() };
        let c = Config::load(&args).unwrap();
        assert_eq!(c.listen.port(), 9100);
        assert_eq!(c.session_ttl, Duration::from_secs(60));
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        assert!(Config::load(&ServeArgs { config: Some(path), ..Default::default() }).is_err());
    }
}
