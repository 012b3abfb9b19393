//! The Redis session store, shared by every gateway process.
//!
//! A session is a hash `{prefix}session:{id}` with two fields: `v`, the
//! version, and `d`, the state as JSON. Writes are Lua scripts that compare
//! the version and write in one step, which works over a multiplexed
//! connection (WATCH/MULTI would need a connection per turn).

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use super::{Saved, SessionStore, StoreError, decode, encode, next_version};
use crate::state::SessionState;

/// KEYS[1] session key; ARGV: data, ttl ms. Returns 1 if created.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', '0', 'd', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// KEYS[1] session key; ARGV: expected version, new version, data, ttl ms.
/// Returns 1 written, 0 conflict, -1 missing.
const SAVE: &str = r"
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
";

#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    /// Namespaces keys so several deployments (or test runs) can share one
    /// Redis without seeing each other's sessions.
    prefix: String,
    create: Script,
    save: Script,
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl RedisStore {
    /// Connects (and reconnects on its own later). Fails fast when Redis
    /// is not there at start-up.
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let connection = tokio::time::timeout(Duration::from_secs(5), ConnectionManager::new(client))
            .await
            .map_err(|_| StoreError::Unavailable(format!("no answer from {url} within 5 s")))?
            .map_err(unavailable)?;
        Ok(RedisStore { connection, prefix: prefix.to_string(), create: Script::new(CREATE), save: Script::new(SAVE) })
    }

    fn key(&self, id: &str) -> String {
        format!("{}session:{id}", self.prefix)
    }
}

fn millis(ttl: Duration) -> u64 {
    ttl.as_millis().clamp(1, u64::MAX as u128) as u64
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, state: &SessionState, ttl: Duration) -> Result<bool, StoreError> {
        let json = encode(state)?;
        let mut c = self.connection.clone();
        let created: i64 = self
            .create
            .key(self.key(&state.id))
            .arg(json)
            .arg(millis(ttl))
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(created == 1)
    }

    async fn load(&self, id: &str) -> Result<Option<SessionState>, StoreError> {
        let mut c = self.connection.clone();
        let (version, data): (Option<String>, Option<String>) =
            redis::cmd("HMGET").arg(self.key(id)).arg("v").arg("d").query_async(&mut c).await.map_err(unavailable)?;
        match (version, data) {
            (Some(v), Some(d)) => {
                let version = v.parse().map_err(|_| StoreError::Corrupt(format!("bad version '{v}'")))?;
                decode(&d, version).map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn save(&self, state: &mut SessionState, ttl: Duration) -> Result<Saved, StoreError> {
        let (expected, next, json) = next_version(state)?;
        let mut c = self.connection.clone();
        let answer: i64 = self
            .save
            .key(self.key(&state.id))
            .arg(expected.to_string())
            .arg(next.to_string())
            .arg(json)
            .arg(millis(ttl))
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(match answer {
            1 => {
                state.version = next;
                Saved::Written
            }
            0 => Saved::Conflict,
            _ => Saved::Missing,
        })
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let mut c = self.connection.clone();
        let removed: i64 = c.del(self.key(id)).await.map_err(unavailable)?;
        Ok(removed > 0)
    }

    async fn ttl(&self, id: &str) -> Result<Option<Duration>, StoreError> {
        let mut c = self.connection.clone();
        let ms: i64 = c.pttl(self.key(id)).await.map_err(unavailable)?;
        Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await.map_err(unavailable)?;
        Ok(())
    }
}
