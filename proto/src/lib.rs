//! Wire types shared by the voxbook gateway, the reference booking service
//! and their clients (mobile apps, telephony adapters, QA tools, tests).
//!
//! Everything here is plain data with serde derives: no I/O, no async, no
//! behaviour beyond small helpers on the types themselves. A type changes
//! shape only together with a protocol version bump (see [`stream`]).

pub mod airports;
pub mod api;
pub mod booking;
pub mod error;
pub mod stream;

pub use error::ErrorBody;
