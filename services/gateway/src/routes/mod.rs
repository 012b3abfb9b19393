//! Request handlers, one module per resource.

pub mod bookings;
pub mod health;
pub mod nlu;
pub mod sessions;
pub mod stream;
