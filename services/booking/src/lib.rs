//! The reference booking service: flights and hotels between real airports,
//! with deterministic inventory, idempotent writes and a small HTTP API.
//!
//! Nothing here talks to a real airline or hotel. Schedules, prices,
//! capacities and hotel lists are pure functions of the airports involved
//! and the dates asked for (see [`schedule`], [`hotels`], [`pricing`]), so a
//! search is stateless and repeatable; only the counts of seats and rooms
//! left, and the bookings themselves, live in a database (SQLite or
//! PostgreSQL through sqlx's `Any` driver, see [`store`]).
//!
//! The gateway uses [`BookingService`] in-process; the `voxbook-booking`
//! binary serves the same service over HTTP through [`http::router`].

pub mod airports;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod error;
pub mod fingerprint;
pub mod hotels;
pub mod http;
pub mod inventory;
pub mod offer_id;
pub mod pricing;
pub mod refs;
pub mod schedule;
pub mod service;
pub mod stable_hash;
pub mod store;
pub mod validate;

pub use airports::{AirportDirectory, AirportInfo};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::BookingConfig;
pub use error::BookingError;
pub use http::router;
pub use service::BookingService;
