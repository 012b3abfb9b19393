//! Shared helpers for voxbook's end-to-end tests and benchmarks: gateways
//! started in this process on real sockets, against the real Redis and the
//! real databases of the machine, and a player for the scripted
//! conversations in `samples/conversations/`.
//!
//! Each gateway is a full [`voxbook_gateway::Gateway`] with its own router,
//! connection pools and in-process booking service, sharing nothing with
//! another gateway but Redis and the database, exactly as two gateway
//! processes would.

pub mod bench;
pub mod gateway;
pub mod phone;
pub mod postgres;
pub mod script;
pub mod speech;
pub mod spoken;
pub mod twilio;
pub mod wer;

pub use gateway::{Backend, TestGateway};

/// The Redis every test talks to (override with VOXBOOK_TEST_REDIS_URL).
pub fn redis_url() -> String {
    std::env::var("VOXBOOK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test run uses, so runs never see each other.
pub fn unique_prefix() -> String {
    format!("voxbook-test:{}:", uuid::Uuid::new_v4().simple())
}

/// The repository root (for samples/).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(|p| p.to_path_buf()).unwrap_or_default()
}
