//! `voxbook`: the gateway binary.

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use voxbook_gateway::Gateway;
use voxbook_gateway::config::{Config, ServeArgs};

#[derive(Parser)]
#[command(name = "voxbook", version, about = "Voice travel booking backend")]
struct Cli {
    /// Log format: text or json.
    #[arg(long, env = "VOXBOOK_LOG_FORMAT", default_value = "text", global = true)]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Check an assistant config and report every problem with file:line.
    CheckConfig { path: std::path::PathBuf },
}

fn init_tracing(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(&cli.log_format);
    match cli.command {
        Command::Serve(args) => {
            let config = Config::load(&args)?;
            let gateway = Gateway::start(&config).await?;
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            tracing::info!(listen = %config.listen, "voxbook gateway ready");
            gateway.serve(listener, shutdown_signal()).await
        }
        Command::CheckConfig { path } => {
            let spec = voxbook_dialogue::config::load_file(&path)?;
            println!(
                "{}: ok ({} intents, {} flows, {} slots)",
                path.display(),
                spec.intents.len(),
                spec.flows.len(),
                spec.slots.len()
            );
            Ok(())
        }
    }
}
