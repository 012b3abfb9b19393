//! Turn latency and throughput under concurrent text conversations.
//!
//! `cargo bench -p voxbook-tests --bench turns -- [--sessions N] [--seconds S] [--think-ms T] [--url URL]`
//!
//! N simulated callers each run complete booking conversations (a one-way
//! flight or a hotel, five or six turns, ending in a confirmed booking)
//! back to back for S seconds, pausing about T ms between turns (a caller
//! listens and thinks; T = 0 drives the gateway flat out to find its
//! throughput, where latency is mostly queueing), against a gateway with Redis sessions and
//! the booking service. Without `--url` the gateway runs in this process
//! on its own runtime (Redis at 127.0.0.1:6379, a fresh SQLite booking
//! database); with `--url` it drives an already running gateway. Latency
//! is measured at the client, per HTTP turn, so it includes the loopback
//! round trip, JSON, the Redis load and conditional save, and any booking
//! tool calls. Prints a table of p50/p95/p99/max and turns per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{Datelike, Days, Utc};
use serde_json::json;
use tokio::sync::Mutex;
use voxbook_tests::bench::percentile;
use voxbook_tests::{Backend, TestGateway};

const CITIES: [&str; 16] = [
    "london",
    "paris",
    "madrid",
    "rome",
    "berlin",
    "amsterdam",
    "vienna",
    "lisbon",
    "dublin",
    "new york",
    "chicago",
    "tokyo",
    "sydney",
    "toronto",
    "barcelona",
    "athens",
];
const ORDINALS: [&str; 31] = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "twenty first",
    "twenty second",
    "twenty third",
    "twenty fourth",
    "twenty fifth",
    "twenty sixth",
    "twenty seventh",
    "twenty eighth",
    "twenty ninth",
    "thirtieth",
    "thirty first",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

struct Args {
    sessions: usize,
    seconds: u64,
    think_ms: u64,
    url: Option<String>,
}

fn args() -> Args {
    let mut a = Args { sessions: 100, seconds: 20, think_ms: 1000, url: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--sessions" => a.sessions = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.sessions),
            "--seconds" => a.seconds = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.seconds),
            "--think-ms" => a.think_ms = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.think_ms),
            "--url" => a.url = it.next(),
            _ => {} // cargo bench passes --bench
        }
    }
    a
}

/// A small deterministic generator, so every run plays the same mix.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// A conversation's user turns: dates spread over the coming months and
/// routes over many city pairs, so inventory does not run out.
fn conversation(rng: &mut Lcg) -> Vec<String> {
    let day = Utc::now().date_naive() + Days::new(7 + rng.next(200) as u64);
    let date = format!("the {} of {}", ORDINALS[day.day0() as usize], MONTHS[day.month0() as usize]);
    let a = CITIES[rng.next(CITIES.len())];
    let mut b = CITIES[rng.next(CITIES.len())];
    while b == a {
        b = CITIES[rng.next(CITIES.len())];
    }
    let people = ["one", "two", "three"][rng.next(3)];
    if rng.next(3) == 0 {
        vec![
            format!("i need a hotel in {b}"),
            format!("checking in on {date} for two nights"),
            format!("{people} guests"),
            "the first one".into(),
            "yes please".into(),
        ]
    } else {
        vec![
            format!("i need a flight from {a} to {b}"),
            date,
            "one way".into(),
            format!("{people} passengers"),
            "the second one".into(),
            "yes please".into(),
        ]
    }
}

fn main() -> anyhow::Result<()> {
    let args = args();
    // The gateway gets a runtime of its own: load generation must not
    // borrow its worker threads.
    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (base, _gateway) = match &args.url {
        Some(url) => (url.trim_end_matches('/').to_string(), None),
        None => {
            let backend = Backend::redis_sqlite();
            let gateway = server_rt.block_on(TestGateway::start(&backend))?;
            (gateway.base.clone(), Some(gateway))
        }
    };
    let client_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    client_rt.block_on(drive(base, args))
}

async fn drive(base: String, args: Args) -> anyhow::Result<()> {
    let client =
        reqwest::Client::builder().pool_max_idle_per_host(args.sessions).timeout(Duration::from_secs(10)).build()?;
    let latencies = Arc::new(Mutex::new(Vec::<f64>::with_capacity(100_000)));
    let errors = Arc::new(AtomicU64::new(0));
    let bookings = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let think_ms = args.think_ms;
    for caller in 0..args.sessions {
        let (client, base, latencies, errors, bookings) =
            (client.clone(), base.clone(), latencies.clone(), errors.clone(), bookings.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Lcg(caller as u64 * 7919 + 17);
            let mut mine = Vec::new();
            while Instant::now() < deadline {
                let created = client.post(format!("{base}/v1/sessions")).json(&json!({})).send().await;
                let Ok(created) = created else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let body: serde_json::Value = created.json().await.unwrap_or_default();
                let Some(id) = body["session_id"].as_str().map(str::to_string) else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                for text in conversation(&mut rng) {
                    if think_ms > 0 {
                        // 50% to 150% of the think time, so callers do not march in step.
                        let pause = think_ms / 2 + rng.next(think_ms as usize + 1) as u64;
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                    }
                    let t0 = Instant::now();
                    let response =
                        client.post(format!("{base}/v1/sessions/{id}/turns")).json(&json!({"text": text})).send().await;
                    match response {
                        Ok(r) if r.status().is_success() => {
                            let body: serde_json::Value = r.json().await.unwrap_or_default();
                            mine.push(t0.elapsed().as_secs_f64() * 1000.0);
                            if body["booking_ref"].is_string() {
                                bookings.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                let _ = client.delete(format!("{base}/v1/sessions/{id}")).send().await;
            }
            latencies.lock().await.extend(mine);
        }));
    }
    for t in tasks {
        t.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut all = latencies.lock().await.clone();
    all.sort_by(f64::total_cmp);
    println!();
    println!("| sessions | think ms | turns | turns/s | p50 ms | p95 ms | p99 ms | max ms | bookings | errors |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
        args.sessions,
        args.think_ms,
        all.len(),
        all.len() as f64 / elapsed,
        percentile(&all, 50.0),
        percentile(&all, 95.0),
        percentile(&all, 99.0),
        all.last().copied().unwrap_or(f64::NAN),
        bookings.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed)
    );
    Ok(())
}
