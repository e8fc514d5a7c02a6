//! `flashless`: the gateway, and rtmpdump's jobs (`dump`, `probe`) done with the same core.

use flashless_gateway::config::{LogFormat, ServeArgs, Settings};
use flashless_gateway::serve;
use flashless_gateway::tools::{dump, probe, push, sign};

use std::path::PathBuf;
use std::process::ExitCode;
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
    /// Run the gateway: channels from RTMP pulls, publishers and files, served as
    /// HTTP-FLV, WS-FLV and RTMP.
    Serve(Box<ServeArgs>),
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
        /// Output format [default: mp4 for .mp4/.m4v/.m4a file names, else flv].
        #[arg(long, value_enum)]
        format: Option<dump::Format>,
    },
    /// Connect, print the server's properties, metadata and codecs, and leave.
    Probe {
        #[arg(required = true, num_args = 1..)]
        url: Vec<String>,
    },
    /// Publish an FLV or MP4 (H.264 with AAC or MP3) file or standard input in real time (like
    /// `ffmpeg -re … -c copy`).
    ///
    /// Exit code 0 when the input was sent, 1 on an error, 2 when the push could not
    /// finish (the server stayed away after reconnecting, or an interrupt), as rtmpdump.
    Push {
        /// FLV or MP4 file, `-` for standard input.
        input: PathBuf,
        /// The URL with librtmp options after it, e.g. `rtmp://host/live/cam timeout=10`.
        #[arg(required = true, num_args = 1..)]
        url: Vec<String>,
        /// Play the file again at its end, for ever (timestamps keep going forward).
        #[arg(long = "loop")]
        looped: bool,
        /// Reconnections tried in a row when the server drops the connection.
        #[arg(long, default_value_t = 10)]
        retries: u32,
        /// No progress line.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print signed URLs that let someone play (or publish) a channel for a while.
    Sign(sign::SignArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => match Settings::load(&args) {
            Ok(settings) => finish(
                settings.log_format,
                serve::run(*args, settings, serve::signal()),
            ),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Dump {
            url,
            output,
            duration,
            quiet,
            keep_timestamps,
            format,
        } => finish(LogFormat::Text, async move {
            let duration = duration
                .map(|d| {
                    Duration::try_from_secs_f64(d)
                        .context("--duration must be a positive number of seconds")
                })
                .transpose()?;
            let format = format.unwrap_or_else(|| dump::Format::for_path(&output));
            dump::run(dump::DumpArgs {
                url: parse_url(&url)?,
                output,
                duration,
                quiet,
                keep_timestamps,
                format,
            })
            .await
        }),
        Command::Probe { url } => finish(LogFormat::Text, async move {
            probe::run(parse_url(&url)?).await
        }),
        Command::Push {
            input,
            url,
            looped,
            retries,
            quiet,
        } => finish(LogFormat::Text, async move {
            push::run(push::PushArgs {
                input,
                url: parse_url(&url)?,
                looped,
                retries,
                quiet,
            })
            .await
        }),
        Command::Sign(args) => match sign::sign(&args) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Runs `work` on a runtime and turns its result into the exit code.
fn finish(format: LogFormat, work: impl Future<Output = Result<()>>) -> ExitCode {
    flashless_gateway::logging::init(format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // rtmpdump's RD_INCOMPLETE.
            if e.downcast_ref::<push::Incomplete>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn parse_url(words: &[String]) -> Result<RtmpUrl> {
    let joined = words.join(" ");
    joined
        .parse()
        .with_context(|| format!("bad RTMP URL {joined:?}"))
}
