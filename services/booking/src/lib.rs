//! The reference booking service (placeholder, filled in by the booking work).
