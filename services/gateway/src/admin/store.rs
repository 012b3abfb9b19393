//! Where uploaded assistant configs are kept: numbered, immutable versions
//! and a pointer to the active one, in Redis (shared by every gateway of a
//! deployment) or, without Redis, in this process's memory.
//!
//! Redis layout, under the configured key prefix:
//!
//! - `{prefix}assistant:versions`: a hash, field = version number, value =
//!   a [`VersionRecord`] as JSON (the YAML, its SHA-256, when, a note);
//! - `{prefix}assistant:active`: the active version number;
//! - `{prefix}assistant:seq`: the last version number handed out;
//! - `{prefix}assistant:changed`: the pub/sub channel a new active version
//!   is announced on (the message is the number; receivers re-read
//!   `active` anyway, so a lost or stale message does no harm).
//!
//! Storing a version, making it active and announcing it is one Lua
//! script, so no gateway ever sees an active number without its version,
//! and two uploads racing each other get distinct numbers. Versions are
//! never rewritten: a rollback only moves the `active` pointer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One stored config version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Lowercase hex SHA-256 of `yaml`.
    pub sha256: String,
    /// RFC 3339, UTC.
    pub uploaded_at: String,
    #[serde(default)]
    pub note: String,
    pub yaml: String,
}

impl VersionRecord {
    /// A record for `yaml` stamped now.
    pub fn new(yaml: String, note: String) -> VersionRecord {
        VersionRecord {
            sha256: sha256_hex(yaml.as_bytes()),
            uploaded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            note,
            yaml,
        }
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    Sha256::digest(bytes).iter().fold(String::with_capacity(64), |mut out, b| {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[derive(Debug, thiserror::Error)]
pub enum VersionStoreError {
    #[error("the config store is unavailable: {0}")]
    Unavailable(String),
    #[error("the config store holds something unreadable: {0}")]
    Corrupt(String),
}

/// Every version, newest first, and which one is active.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub active: Option<u64>,
    pub versions: Vec<(u64, VersionRecord)>,
}

/// The versions of a deployment (Redis) or of this process (memory).
#[derive(Clone)]
pub enum VersionStore {
    Redis(RedisVersions),
    Memory(MemoryVersions),
}

impl VersionStore {
    /// True when other gateways see these versions (Redis).
    pub fn is_shared(&self) -> bool {
        matches!(self, VersionStore::Redis(_))
    }

    /// The active version's number; None before the first upload.
    pub async fn active(&self) -> Result<Option<u64>, VersionStoreError> {
        match self {
            VersionStore::Redis(r) => r.active().await,
            VersionStore::Memory(m) => Ok(m.lock().active),
        }
    }

    pub async fn get(&self, version: u64) -> Result<Option<VersionRecord>, VersionStoreError> {
        match self {
            VersionStore::Redis(r) => r.get(version).await,
            VersionStore::Memory(m) => Ok(m.lock().versions.get(&version).cloned()),
        }
    }

    pub async fn list(&self) -> Result<Listing, VersionStoreError> {
        match self {
            VersionStore::Redis(r) => r.list().await,
            VersionStore::Memory(m) => {
                let inner = m.lock();
                let versions = inner.versions.iter().rev().map(|(n, r)| (*n, r.clone())).collect();
                Ok(Listing { active: inner.active, versions })
            }
        }
    }

    /// Stores `record` as the next version and makes it active, in one
    /// step. When nothing was stored yet and a `baseline` is given (the
    /// config the gateways ran before), it is stored first, so the first
    /// upload can be rolled back. Returns the new version's number.
    pub async fn publish(
        &self,
        record: &VersionRecord,
        baseline: Option<&VersionRecord>,
    ) -> Result<u64, VersionStoreError> {
        match self {
            VersionStore::Redis(r) => r.publish(record, baseline).await,
            VersionStore::Memory(m) => Ok(m.lock().publish(record, baseline)),
        }
    }

    /// Makes a stored version active; false when there is no such version.
    pub async fn activate(&self, version: u64) -> Result<bool, VersionStoreError> {
        match self {
            VersionStore::Redis(r) => r.activate(version).await,
            VersionStore::Memory(m) => Ok(m.lock().activate(version)),
        }
    }
}

/// In-process versions: what a gateway without Redis keeps, for itself
/// only, until it exits. Cloning shares the same versions.
#[derive(Clone, Default)]
pub struct MemoryVersions(Arc<Mutex<MemoryInner>>);

#[derive(Default)]
struct MemoryInner {
    versions: BTreeMap<u64, VersionRecord>,
    active: Option<u64>,
    seq: u64,
}

impl MemoryVersions {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panic while holding this lock cannot leave it half-written
        // (every change is a few plain assignments), so poison is ignored.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl MemoryInner {
    fn publish(&mut self, record: &VersionRecord, baseline: Option<&VersionRecord>) -> u64 {
        if let (None, Some(baseline)) = (self.active, baseline) {
            self.seq += 1;
            self.versions.insert(self.seq, baseline.clone());
        }
        self.seq += 1;
        self.versions.insert(self.seq, record.clone());
        self.active = Some(self.seq);
        self.seq
    }

    fn activate(&mut self, version: u64) -> bool {
        if !self.versions.contains_key(&version) {
            return false;
        }
        self.active = Some(version);
        true
    }
}

/// KEYS: versions, active, seq. ARGV: record JSON, channel, baseline JSON
/// ('' for none). Returns the new version number.
const PUBLISH: &str = r"
if ARGV[3] ~= '' and redis.call('EXISTS', KEYS[2]) == 0 then
  local b = redis.call('INCR', KEYS[3])
  redis.call('HSET', KEYS[1], tostring(b), ARGV[3])
end
local n = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], tostring(n), ARGV[1])
redis.call('SET', KEYS[2], tostring(n))
redis.call('PUBLISH', ARGV[2], tostring(n))
return n
";

/// KEYS: versions, active. ARGV: version, channel. Returns 1 when
/// activated, 0 when there is no such version.
const ACTIVATE: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[1])
return 1
";

/// The Redis keys of one deployment (one prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub versions: String,
    pub active: String,
    pub seq: String,
    pub channel: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            versions: format!("{prefix}assistant:versions"),
            active: format!("{prefix}assistant:active"),
            seq: format!("{prefix}assistant:seq"),
            channel: format!("{prefix}assistant:changed"),
        }
    }
}

#[derive(Clone)]
pub struct RedisVersions {
    connection: ConnectionManager,
    keys: Keys,
    publish: Script,
    activate: Script,
}

fn unavailable(e: redis::RedisError) -> VersionStoreError {
    VersionStoreError::Unavailable(e.to_string())
}

fn parse_version(raw: &str) -> Result<u64, VersionStoreError> {
    raw.parse().map_err(|_| VersionStoreError::Corrupt(format!("bad version number '{raw}'")))
}

fn decode(version: u64, json: &str) -> Result<VersionRecord, VersionStoreError> {
    serde_json::from_str(json).map_err(|e| VersionStoreError::Corrupt(format!("version {version}: {e}")))
}

fn encode(record: &VersionRecord) -> Result<String, VersionStoreError> {
    serde_json::to_string(record).map_err(|e| VersionStoreError::Corrupt(e.to_string()))
}

impl RedisVersions {
    /// Connects (reconnecting on its own later); fails fast when Redis is
    /// not there.
    pub async fn connect(client: redis::Client, prefix: &str) -> Result<RedisVersions, VersionStoreError> {
        let connection = tokio::time::timeout(Duration::from_secs(5), ConnectionManager::new(client))
            .await
            .map_err(|_| VersionStoreError::Unavailable("no answer from Redis within 5 s".into()))?
            .map_err(unavailable)?;
        Ok(RedisVersions {
            connection,
            keys: Keys::new(prefix),
            publish: Script::new(PUBLISH),
            activate: Script::new(ACTIVATE),
        })
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    async fn active(&self) -> Result<Option<u64>, VersionStoreError> {
        let mut c = self.connection.clone();
        let raw: Option<String> =
            redis::cmd("GET").arg(&self.keys.active).query_async(&mut c).await.map_err(unavailable)?;
        raw.as_deref().map(parse_version).transpose()
    }

    async fn get(&self, version: u64) -> Result<Option<VersionRecord>, VersionStoreError> {
        let mut c = self.connection.clone();
        let raw: Option<String> = redis::cmd("HGET")
            .arg(&self.keys.versions)
            .arg(version.to_string())
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        raw.map(|json| decode(version, &json)).transpose()
    }

    async fn list(&self) -> Result<Listing, VersionStoreError> {
        let mut c = self.connection.clone();
        // One MULTI/EXEC, so the active number and the versions agree.
        let (active, all): (Option<String>, Vec<(String, String)>) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(&self.keys.active)
            .cmd("HGETALL")
            .arg(&self.keys.versions)
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        let mut versions = all
            .into_iter()
            .map(|(n, json)| {
                let n = parse_version(&n)?;
                Ok((n, decode(n, &json)?))
            })
            .collect::<Result<Vec<_>, VersionStoreError>>()?;
        versions.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
        Ok(Listing { active: active.as_deref().map(parse_version).transpose()?, versions })
    }

    async fn publish(
        &self,
        record: &VersionRecord,
        baseline: Option<&VersionRecord>,
    ) -> Result<u64, VersionStoreError> {
        let baseline = baseline.map(encode).transpose()?.unwrap_or_default();
        let mut c = self.connection.clone();
        self.publish
            .key(&self.keys.versions)
            .key(&self.keys.active)
            .key(&self.keys.seq)
            .arg(encode(record)?)
            .arg(&self.keys.channel)
            .arg(baseline)
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn activate(&self, version: u64) -> Result<bool, VersionStoreError> {
        let mut c = self.connection.clone();
        let done: i64 = self
            .activate
            .key(&self.keys.versions)
            .key(&self.keys.active)
            .arg(version.to_string())
            .arg(&self.keys.channel)
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(yaml: &str) -> VersionRecord {
        VersionRecord::new(yaml.to_string(), String::new())
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(record("abc").sha256, sha256_hex(b"abc"));
    }

    #[test]
    fn keys_live_under_the_prefix() {
        let keys = Keys::new("vx:");
        assert_eq!(keys.versions, "vx:assistant:versions");
        assert_eq!(keys.active, "vx:assistant:active");
        assert_eq!(keys.seq, "vx:assistant:seq");
        assert_eq!(keys.channel, "vx:assistant:changed");
    }

    #[test]
    fn records_round_trip_and_tolerate_a_missing_note() {
        let r = VersionRecord::new("a: 1\n".into(), "why".into());
        assert_eq!(decode(1, &encode(&r).unwrap()).unwrap(), r);
        let old = r#"{"sha256":"x","uploaded_at":"2030-01-01T00:00:00Z","yaml":"a: 1"}"#;
        assert_eq!(decode(2, old).unwrap().note, "");
        assert!(matches!(decode(3, "{"), Err(VersionStoreError::Corrupt(_))));
        assert!(parse_version("x").is_err());
    }

    #[tokio::test]
    async fn the_first_upload_keeps_the_baseline_and_later_ones_do_not() {
        let store = VersionStore::Memory(MemoryVersions::default());
        assert_eq!(store.active().await.unwrap(), None);
        let first = store.publish(&record("one"), Some(&record("base"))).await.unwrap();
        assert_eq!(first, 2, "the baseline took number 1");
        assert_eq!(store.get(1).await.unwrap().unwrap().yaml, "base");
        let second = store.publish(&record("two"), Some(&record("ignored"))).await.unwrap();
        assert_eq!(second, 3);
        assert_eq!(store.active().await.unwrap(), Some(3));
        let listing = store.list().await.unwrap();
        assert_eq!(listing.active, Some(3));
        let numbers: Vec<u64> = listing.versions.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [3, 2, 1], "newest first");
        assert!(listing.versions.iter().all(|(_, r)| r.yaml != "ignored"));
    }

    #[tokio::test]
    async fn without_a_baseline_numbering_starts_at_one() {
        let store = VersionStore::Memory(MemoryVersions::default());
        assert_eq!(store.publish(&record("one"), None).await.unwrap(), 1);
        assert_eq!(store.list().await.unwrap().versions.len(), 1);
    }

    #[tokio::test]
    async fn activation_moves_the_pointer_only_to_a_stored_version() {
        let store = VersionStore::Memory(MemoryVersions::default());
        store.publish(&record("one"), None).await.unwrap();
        store.publish(&record("two"), None).await.unwrap();
        assert!(store.activate(1).await.unwrap());
        assert_eq!(store.active().await.unwrap(), Some(1));
        assert!(!store.activate(7).await.unwrap());
        assert_eq!(store.active().await.unwrap(), Some(1), "a missing version changes nothing");
        // A rollback does not renumber or rewrite: the next upload is 3.
        assert_eq!(store.publish(&record("three"), None).await.unwrap(), 3);
        assert_eq!(store.get(2).await.unwrap().unwrap().yaml, "two");
    }

    #[tokio::test]
    async fn clones_of_a_memory_store_share_versions() {
        let a = MemoryVersions::default();
        let store_a = VersionStore::Memory(a.clone());
        let store_b = VersionStore::Memory(a);
        store_a.publish(&record("one"), None).await.unwrap();
        assert_eq!(store_b.active().await.unwrap(), Some(1));
        assert!(!store_b.is_shared(), "memory versions are this process's only");
    }
}
