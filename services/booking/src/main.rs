//! `voxbook-booking`: the reference booking service as an HTTP server.
//!
//! ```text
//! voxbook-booking serve --listen 127.0.0.1:8091 --database-url sqlite://voxbook-booking.db
//! ```
//!
//! Every flag has an environment variable (`VOXBOOK_BOOKING_*`) so the
//! service can be configured by a container or a unit file alone. Logs go
//! to stderr, filtered by `RUST_LOG` (default `info`). Ctrl-C or SIGTERM
//! stops accepting connections, lets requests in flight finish, and closes
//! the database.

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;
use voxbook_booking::{AirportDirectory, BookingConfig, BookingService, router};
use voxbook_proto::airports::Airports;

#[derive(Debug, Parser)]
#[command(name = "voxbook-booking", version, about = "The voxbook reference booking service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the booking API over HTTP.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "VOXBOOK_BOOKING_LISTEN", default_value = "127.0.0.1:8091")]
    listen: SocketAddr,
    /// `sqlite://file.db`, `sqlite::memory:`, a file path, or `postgres://...`.
    #[arg(
        long,
        env = "VOXBOOK_BOOKING_DATABASE_URL",
        default_value = "sqlite://voxbook-booking.db",
        hide_env_values = true
    )]
    database_url: String,
    /// How long a hold keeps its seats or rooms, in seconds.
    #[arg(long, env = "VOXBOOK_BOOKING_HOLD_TTL_SECS", default_value_t = 600)]
    hold_ttl_secs: u64,
    /// Largest PostgreSQL pool (SQLite always uses one connection).
    #[arg(long, env = "VOXBOOK_BOOKING_MAX_CONNECTIONS", default_value_t = 10)]
    max_connections: u32,
    /// How often abandoned holds are swept, in seconds (0 disables; holds
    /// are still expired whenever they are read).
    #[arg(long, env = "VOXBOOK_BOOKING_SWEEP_SECS", default_value_t = 30)]
    sweep_secs: u64,
    /// Log line format.
    #[arg(long, env = "VOXBOOK_BOOKING_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Prints a failure as one `error: ...` line with its causes (`anyhow`'s
/// `Debug` would add a backtrace whenever `RUST_BACKTRACE` is set); panics
/// keep theirs.
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| match cli.command {
            Command::Serve(args) => runtime.block_on(serve(args)),
        });
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    anyhow::ensure!(args.hold_ttl_secs > 0, "--hold-ttl-secs must be positive");

    let airports = Arc::new(AirportDirectory::from_proto(Airports::shared()));
    let config = BookingConfig::default()
        .with_hold_ttl(Duration::from_secs(args.hold_ttl_secs))
        .with_max_connections(args.max_connections);
    let service = BookingService::connect(&args.database_url, airports, config)
        .await
        .with_context(|| format!("opening the database {}", redact(&args.database_url)))?;
    let service = Arc::new(service);
    tracing::info!(
        database = %redact(&args.database_url),
        airports = service.airports().len(),
        "booking service ready"
    );

    let sweeper = (args.sweep_secs > 0).then(|| {
        let service = Arc::clone(&service);
        let every = Duration::from_secs(args.sweep_secs);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                match service.sweep_expired_holds().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(expired = n, "swept expired holds"),
                    Err(e) => tracing::warn!(error = %e, "sweeping expired holds failed"),
                }
            }
        })
    });

    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(listen = %args.listen, "listening");
    axum::serve(listener, router(Arc::clone(&service)))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;

    if let Some(sweeper) = sweeper {
        sweeper.abort();
    }
    service.close().await;
    tracing::info!("booking service stopped");
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on Ctrl-C, or SIGTERM where there is one.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// A database URL fit for logs: any password replaced.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let Some((credentials, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let user = credentials.split(':').next().unwrap_or("");
    let slash = if rest.contains('/') { "/" } else { "" };
    if credentials.contains(':') { format!("{scheme}://{user}:***@{host}{slash}{tail}") } else { url.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/voxbook"), "postgres://app:***@db:5432/voxbook");
        assert_eq!(redact("postgres://app@db/voxbook"), "postgres://app@db/voxbook");
        assert_eq!(redact("sqlite://voxbook.db"), "sqlite://voxbook.db");
        assert_eq!(redact("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn cli_parses() {
        let cli = Cli::try_parse_from([
            "voxbook-booking",
            "serve",
            "--listen",
            "127.0.0.1:9000",
            "--database-url",
            "sqlite::memory:",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command;
        assert_eq!(args.listen.port(), 9000);
        assert_eq!(args.database_url, "sqlite::memory:");
        assert_eq!(args.hold_ttl_secs, 600);
    }
}
