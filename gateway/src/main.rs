//! `flashless`: the gateway, and rtmpdump's jobs (`dump`, `probe`) done with the same core.

use flashless_gateway::{dump, hub, probe, rtmp_server};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use flashless_core::rtmp::url::RtmpUrl;

#[derive(Parser)]
#[command(
    name = "flashless",
    version,
    about = "Watch RTMP channels in any browser, no Flash"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: an RTMP listener that accepts publishers and players.
    Serve {
        /// Address of the RTMP listener.
        #[arg(long, default_value = "0.0.0.0:1935")]
        rtmp: SocketAddr,
    },
    /// Pull a stream and write it as FLV (like rtmpdump).
    Dump {
        /// The URL with librtmp options after it, e.g. `rtmp://host/live/cam live=1 buffer=1000`.
        #[arg(required = true, num_args = 1..)]
        url: Vec<String>,
        /// Output file, `-` for standard output.
        #[arg(short, long)]
        output: PathBuf,
        /// Stop after this many seconds of media.
        #[arg(long)]
        duration: Option<f64>,
        /// No progress line.
        #[arg(short, long)]
        quiet: bool,
        /// Keep the server's timestamps instead of starting the file at 0.
        #[arg(long)]
        keep_timestamps: bool,
    },
    /// Connect, print the server's properties, metadata and codecs, and leave.
    Probe {
        #[arg(required = true, num_args = 1..)]
        url: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "flashless=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve { rtmp } => {
            let listener = rtmp_server::bind(rtmp).await?;
            tracing::info!(addr = %listener.local_addr()?, "rtmp listening");
            let hub = Arc::new(hub::Hub::new(hub::Limits::default()));
            let (stop, shutdown) = flashless_gateway::shutdown::channel();
            let server = tokio::spawn(rtmp_server::serve(listener, hub, shutdown));
            tokio::signal::ctrl_c().await.ok();
            stop.fire();
            server.await.ok();
            Ok(())
        }
        Command::Dump {
            url,
            output,
            duration,
            quiet,
            keep_timestamps,
        } => {
            let duration = duration
                .map(|d| {
                    Duration::try_from_secs_f64(d)
                        .context("--duration must be a positive number of seconds")
                })
                .transpose()?;
            dump::run(dump::DumpArgs {
                url: parse_url(&url)?,
                output,
                duration,
                quiet,
                keep_timestamps,
            })
            .await
        }
        Command::Probe { url } => probe::run(parse_url(&url)?).await,
    }
}

fn parse_url(words: &[String]) -> Result<RtmpUrl> {
    let joined = words.join(" ");
    joined
        .parse()
        .with_context(|| format!("bad RTMP URL {joined:?}"))
}
