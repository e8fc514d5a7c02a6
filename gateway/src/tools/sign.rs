//! `flashless sign`: signed URLs for a channel, made with the gateway's secret.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::access::{Action, Policy};

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The channel.
    pub channel: String,
    /// How long the URLs stay valid: `90s`, `30m`, `1h`, `7d` or seconds.
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// Sign for publishing instead of playing.
    #[arg(long)]
    pub publish: bool,
    /// Valid only from this client address.
    #[arg(long)]
    pub ip: Option<IpAddr>,
    /// The secret the gateway runs with.
    #[arg(long, env = "FLASHLESS_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Where viewers reach the gateway over HTTP.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub http: String,
    /// Where publishers and RTMP players reach it.
    #[arg(long, default_value = "rtmp://127.0.0.1:1935")]
    pub rtmp: String,
}

/// The URLs, one per line.
pub fn sign(args: &SignArgs) -> Result<String> {
    let Some(secret) = args.secret.as_deref().filter(|s| !s.is_empty()) else {
        bail!("no secret: pass --secret or set FLASHLESS_SECRET to the gateway's");
    };
    let policy = Policy::new(Some(secret), true, true);
    let action = if args.publish {
        Action::Publish
    } else {
        Action::Play
    };
    let token = policy
        .sign(action, &args.channel, args.ttl, args.ip)
        .context("signing")?;
    let (http, rtmp, channel) = (
        args.http.trim_end_matches('/'),
        args.rtmp.trim_end_matches('/'),
        &args.channel,
    );
    let mut out = String::new();
    if args.publish {
        let _ = writeln!(out, "{rtmp}/live/{channel}?token={token}");
    } else {
        let ws = http.replacen("http", "ws", 1);
        let _ = writeln!(out, "{http}/live/{channel}.flv?token={token}");
        let _ = writeln!(out, "{ws}/live/{channel}.flv?token={token}");
        let _ = writeln!(out, "{rtmp}/live/{channel}?token={token}");
    }
    Ok(out)
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 90s, 30m, 1h, 7d"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_read_with_units() {
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_ttl("1w").is_err() && parse_ttl("h").is_err());
    }
}
