//! The phone webhook path under load: signed Twilio Gather webhooks at
//! rising request rates, against a gateway with Redis sessions and the
//! in-process booking service.
//!
//! `cargo bench -p voxbook-tests --bench webhooks -- [--rates 100,250,500] [--seconds S] [--turn-every-ms T]`
//!
//! Each simulated call answers its prompt every T ms (2 s by default, so a
//! rate R runs 2R concurrent calls), one request at a time per call as
//! Twilio does, walking a flight-booking conversation (which searches the
//! inventory) and starting over. Requests are sent on schedule (open
//! loop), so a slow server shows up as latency, not as a lower rate.
//! Latency is measured at the client per webhook: the signature check,
//! the session load and conditional save in Redis, the dialogue turn and
//! any tool calls, and the TwiML answer. Prints, per rate: requests
//! answered per second, p50/p99/max, and any errors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use voxbook_tests::bench::{arg, percentile};
use voxbook_tests::phone::{TWILIO_TOKEN, TwimlAnswer, post_twilio};
use voxbook_tests::{Backend, TestGateway};

/// What each caller says, in a loop; the last turn starts over.
const SCRIPT: [&str; 5] =
    ["I need a flight from London to Paris", "tomorrow", "one way", "two passengers", "start over"];

fn rates() -> Vec<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--rates")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').filter_map(|r| r.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 250, 500])
}

struct Outcome {
    latencies: Vec<f64>,
    errors: u64,
}

/// One call: opens with the incoming-call webhook, then answers every
/// `every` until `until`; every webhook's latency is recorded.
async fn call(
    base: String,
    client: reqwest::Client,
    id: String,
    every: Duration,
    until: Instant,
    first: Instant,
) -> Outcome {
    let mut outcome = Outcome { latencies: Vec::new(), errors: 0 };
    tokio::time::sleep_until(first.into()).await;
    let params = [("CallSid", id.as_str())];
    let sent = Instant::now();
    let mut action = match post_twilio(&client, &base, "/v1/telephony/twilio/voice", &params, None).await {
        Ok((200, body)) => {
            outcome.latencies.push(Instant::now().saturating_duration_since(first.min(sent)).as_secs_f64() * 1000.0);
            TwimlAnswer::parse(&body).ok().and_then(|a| a.gather_action)
        }
        _ => {
            outcome.errors += 1;
            None
        }
    };
    let mut next = first + every;
    let mut line = 0;
    while next < until {
        tokio::time::sleep_until(next.into()).await;
        let Some(path) = action.clone() else {
            outcome.errors += 1;
            break;
        };
        let said = SCRIPT[line % SCRIPT.len()];
        let params = [("CallSid", id.as_str()), ("SpeechResult", said), ("Confidence", "0.9")];
        let sent = Instant::now();
        match post_twilio(&client, &base, &path, &params, None).await {
            Ok((200, body)) => {
                // Latency from the scheduled time: a request sent late
                // because the previous one was slow counts its wait.
                outcome.latencies.push(Instant::now().saturating_duration_since(next.min(sent)).as_secs_f64() * 1000.0);
                action = TwimlAnswer::parse(&body).ok().and_then(|a| a.gather_action);
            }
            _ => outcome.errors += 1,
        }
        line += 1;
        next += every;
    }
    outcome
}

fn main() -> anyhow::Result<()> {
    let seconds = arg("--seconds", 10);
    let every = Duration::from_millis(arg("--turn-every-ms", 2_000));
    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.telephony.twilio_auth_tokens = vec![TWILIO_TOKEN.to_string()];
    config.asr.model = None;
    let gateway = server_rt.block_on(TestGateway::start_config(&backend, config))?;
    let client_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(4096).timeout(Duration::from_secs(30)).build()?;

    println!(
        "\nTwilio Gather webhooks, Redis sessions, SQLite booking service, one turn per call every {} ms\n",
        every.as_millis()
    );
    println!("| target req/s | calls | answered req/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for rate in rates() {
        let calls = (rate as f64 * every.as_secs_f64()).round().max(1.0) as u64;
        let start = Instant::now() + Duration::from_millis(200);
        let until = start + Duration::from_secs(seconds);
        let results = Arc::new(Mutex::new(Vec::new()));
        client_rt.block_on(async {
            let mut tasks = Vec::new();
            for c in 0..calls {
                // Spread the calls' turns evenly over one period.
                let first = start + every.mul_f64(c as f64 / calls as f64);
                let id = format!("CA{rate:06}{c:026}");
                let task = tokio::spawn(call(gateway.base.clone(), client.clone(), id, every, until, first));
                tasks.push(task);
            }
            for task in tasks {
                if let Ok(outcome) = task.await {
                    results.lock().await.push(outcome);
                }
            }
        });
        let results = Arc::try_unwrap(results).map_err(|_| anyhow::anyhow!("tasks still hold results"))?.into_inner();
        let latencies: Vec<f64> = results.iter().flat_map(|o| o.latencies.iter().copied()).collect();
        let errors: u64 = results.iter().map(|o| o.errors).sum();
        let elapsed = until.saturating_duration_since(start).as_secs_f64();
        println!(
            "| {rate} | {calls} | {:.0} | {:.1} | {:.1} | {:.1} | {errors} |",
            latencies.len() as f64 / elapsed,
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
            latencies.iter().copied().fold(0.0, f64::max),
        );
    }
    drop(gateway);
    Ok(())
}
