//! Shared fixtures for the database tests: a few real airports, a clock
//! that stands still, and a fresh database per test on SQLite (a temporary
//! file) or PostgreSQL (a randomly named database, dropped afterwards).
//!
//! PostgreSQL is expected at `postgres://postgres@127.0.0.1:5432/postgres`
//! (override with `VOXBOOK_TEST_POSTGRES_URL`, which must point at a
//! database the user may `CREATE DATABASE` from). When it cannot be reached
//! the PostgreSQL tests fail, unless `VOXBOOK_TEST_SKIP_POSTGRES=1` says to
//! skip them.

#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sqlx::{AssertSqlSafe, Connection};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use voxbook_booking::inventory::InventoryKey;
use voxbook_booking::pricing::cabin_capacity;
use voxbook_booking::{AirportDirectory, AirportInfo, BookingConfig, BookingService, ManualClock};
use voxbook_proto::booking::{BookedItem, Booking, FlightOffer, FlightSegment};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// "Now" for every test: the morning of 1 June 2026.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap()
}

pub fn airports() -> Arc<AirportDirectory> {
    Arc::new(AirportDirectory::new(vec![
        AirportInfo::new("LHR", "London", 51.47, -0.4543).with_utc_offset(0),
        AirportInfo::new("CDG", "Paris", 49.0097, 2.5479).with_utc_offset(60),
        AirportInfo::new("JFK", "New York", 40.6398, -73.7789).with_utc_offset(-300),
        AirportInfo::new("MAD", "Madrid", 40.4719, -3.5626).with_utc_offset(60),
        AirportInfo::new("EDI", "Edinburgh", 55.95, -3.3725).with_utc_offset(0),
        AirportInfo::new("BCN", "Barcelona", 41.2971, 2.0785).with_utc_offset(60),
        AirportInfo::new("NRT", "Tokyo", 35.7647, 140.3864).with_utc_offset(540),
    ]))
}

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A service on a fresh database with a manual clock.
pub struct Harness {
    pub service: Arc<BookingService>,
    pub clock: Arc<ManualClock>,
    pub backend: Backend,
    /// Dropped last: removes the database once the service is gone.
    _db: TestDb,
}

impl Harness {
    /// `None` only when PostgreSQL is unavailable and skipping was asked for.
    pub async fn start(backend: Backend) -> Option<Harness> {
        let db = match backend {
            Backend::Sqlite => TestDb::sqlite(),
            Backend::Postgres => TestDb::postgres().await?,
        };
        let clock = Arc::new(ManualClock::new(start_time()));
        let config = BookingConfig::default()
            .with_clock(clock.clone())
            .with_hold_ttl(Duration::from_secs(600))
            .with_max_connections(6);
        let service = BookingService::connect(&db.url, airports(), config).await.expect("connect the booking service");
        Some(Harness { service: Arc::new(service), clock, backend, _db: db })
    }

    /// Seats left on one flight in one cabin (capacity if never touched).
    pub async fn seats_left(&self, offer: &FlightOffer, seg: &FlightSegment) -> u32 {
        let key = InventoryKey::flight(&seg.origin, &seg.destination, date(&seg.date), &seg.flight_no, offer.cabin);
        self.service.store().units_left(&key).await.unwrap().unwrap_or_else(|| cabin_capacity(offer.cabin))
    }

    pub async fn rooms_left(&self, hotel_id: &str, night: &str, capacity: u32) -> u32 {
        let key = InventoryKey::HotelNight { hotel_id: hotel_id.to_string(), night: date(night) };
        self.service.store().units_left(&key).await.unwrap().unwrap_or(capacity)
    }
}

pub fn flight_of(b: &Booking) -> &FlightOffer {
    match &b.item {
        BookedItem::Flight(f) => f,
        BookedItem::Hotel(h) => panic!("expected a flight, got hotel {h:?}"),
    }
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}_{}_{:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos & 0xffff_ffff)
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let path = std::env::temp_dir().join(format!("voxbook_booking_test_{}.db", unique_suffix()));
        TestDb { url: format!("sqlite://{}", path.display()), cleanup: Cleanup::File(path) }
    }

    pub async fn postgres() -> Option<TestDb> {
        sqlx::any::install_default_drivers();
        let admin_url = std::env::var("VOXBOOK_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
        let mut admin = match sqlx::AnyConnection::connect(&admin_url).await {
            Ok(conn) => conn,
            Err(e) if std::env::var("VOXBOOK_TEST_SKIP_POSTGRES").as_deref() == Ok("1") => {
                eprintln!("skipping: PostgreSQL unavailable ({e})");
                return None;
            }
            Err(e) => panic!(
                "PostgreSQL is needed at {admin_url} ({e}); \
                 set VOXBOOK_TEST_SKIP_POSTGRES=1 to skip these tests"
            ),
        };
        let name = format!("voxbook_booking_test_{}", unique_suffix());
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("cannot derive a database URL from {admin_url}"),
        };
        Some(TestDb { url, cleanup: Cleanup::Postgres { admin_url, name } })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                // Drop runs inside the test's runtime, which cannot block on
                // a future; a thread with a runtime of its own can.
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let dropped = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                    rt.block_on(async {
                        let mut admin = sqlx::AnyConnection::connect(&admin_url).await.ok()?;
                        sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                            .execute(&mut admin)
                            .await
                            .ok()?;
                        let _ = admin.close().await;
                        Some(())
                    })
                })
                .join();
                if !matches!(dropped, Ok(Some(()))) {
                    eprintln!("warning: could not drop a test database");
                }
            }
        }
    }
}
