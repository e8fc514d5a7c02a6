//! Live reload (SIGHUP, `POST /api/reload`): the configuration is read again and what
//! it says of channels applied without a restart. Channels added start, removed ones
//! stop (their viewers end), changed ones get a new upstream while their viewers stay
//! and wait through the switch; every other channel and its viewers are left alone.
//! The `[[pull]]` rules, the origin, the event hooks, what is recorded, where
//! channels are forwarded, the commands run for them, `[auth]` and `[hls]` (for the
//! HLS producers started after it) are replaced too, and the certificate is read again
//! (renewed in place, or named anew), and `[limits]`, the trusted proxies and what the
//! RTMP handshake asks judge what comes next (each connection, viewer, publish and
//! channel keeps those it came with); a drain waits as long as the file says. What only a
//! restart changes (the listeners, TLS turned on or off, the log's format) is named in
//! the answer and the log when the file changed it. A file that does not load is refused whole, with the error naming
//! its line, and the running configuration stays.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::task::{AbortHandle, JoinSet};

use crate::access::Auth;
use crate::access::TrustedProxies;
use crate::config::{ChannelSettings, ConfigError, ConnLimits, PullRule, ServeArgs, Settings};
use crate::egress::hls::Hls;
use crate::hub::{Hub, Source};
use crate::ingest::{self, PullOptions, UpstreamSpec, pattern::Patterns};
use crate::outputs::Outputs;
use crate::rtmp::{self, Handshake};
use crate::shutdown::Shutdown;
use crate::swap::Swap;
use crate::tls::Certificate;

/// The configured channels' feeds, and what re-reads the configuration.
pub struct Reloader {
    args: ServeArgs,
    hub: Arc<Hub>,
    /// What is recorded, forwarded and run: its rules are replaced.
    outputs: Outputs,
    hls: Arc<Hls>,
    /// HTTPS's and RTMPS's certificate, read again at each reload.
    certificate: Option<Arc<Certificate>>,
    /// The listeners' `[limits]` (the hub has its own).
    limits: Arc<Swap<ConnLimits>>,
    /// The listeners' `trusted_proxies` and `proxy_protocol`.
    proxies: Arc<Swap<TrustedProxies>>,
    /// What the RTMP handshake asks (`rtmpe_type`, `swf_verify`).
    handshake: Arc<Swap<Handshake>>,
    drain_timeout: Swap<Duration>,
    /// The settings the gateway started with, for what only a restart changes.
    started: Settings,
    shutdown: Shutdown,
    state: Mutex<Running>,
    /// The feeds' tasks; `serve` waits for them at shutdown.
    tasks: Mutex<JoinSet<()>>,
}

/// What the running configuration says of channels.
struct Running {
    /// Each configured channel (the demo too), as configured, and its feed's task.
    channels: BTreeMap<String, (ChannelSettings, AbortHandle)>,
    pulls: Vec<PullRule>,
}

/// What a reload changed, for the log and the answer to `POST /api/reload`.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Applied {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// Settings the file changes that take effect only on a restart, named as in the file.
    pub restart: Vec<&'static str>,
    /// With TLS on: whether the certificate files held another chain (`replaced`) or
    /// the same (`unchanged`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<&'static str>,
}

impl Reloader {
    /// Starts the configured channels of `settings` (loaded from `args`).
    pub fn start(
        args: ServeArgs,
        settings: &Settings,
        hub: Arc<Hub>,
        outputs: Outputs,
        hls: Arc<Hls>,
        certificate: Option<Arc<Certificate>>,
        shutdown: Shutdown,
    ) -> anyhow::Result<Arc<Reloader>> {
        let reloader = Arc::new(Reloader {
            args,
            hub,
            outputs,
            hls,
            certificate,
            limits: Arc::default(),
            proxies: Arc::default(),
            handshake: Arc::default(),
            drain_timeout: Swap::default(),
            started: settings.clone(),
            shutdown,
            state: Mutex::new(Running {
                channels: BTreeMap::new(),
                pulls: Vec::new(),
            }),
            tasks: Mutex::new(JoinSet::new()),
        });
        reloader.apply(settings)?;
        Ok(reloader)
    }

    /// Reads the configuration again and applies it; on an error nothing changes.
    pub fn reload(&self) -> Result<Applied, ConfigError> {
        let settings = Settings::load(&self.args)?;
        // Read before anything changes: files that do not make a certificate refuse the reload.
        let certified = match (&self.certificate, &settings.tls) {
            (Some(_), Some((cert, key))) => Some(Certificate::read(cert, key)?),
            _ => None,
        };
        let mut applied = self.apply(&settings)?;
        if let (Some(certificate), Some(certified)) = (&self.certificate, certified) {
            let replaced = certificate.set(certified);
            applied.certificate = Some(if replaced { "replaced" } else { "unchanged" });
        }
        applied.restart = restart_only(&self.started, &settings);
        crate::logging::set_format(settings.log_format);
        tracing::info!(?applied, "configuration reloaded");
        if !applied.restart.is_empty() {
            tracing::warn!(
                "the configuration changes {}, which take effect only on a restart",
                applied.restart.join("; ")
            );
        }
        Ok(applied)
    }

    /// The listeners' limits in force, which a reload replaces.
    pub fn limits(&self) -> Arc<Swap<ConnLimits>> {
        self.limits.clone()
    }

    /// The trusted proxies in force, which a reload replaces.
    pub fn proxies(&self) -> Arc<Swap<TrustedProxies>> {
        self.proxies.clone()
    }

    /// What the RTMP listeners judge a connection by, which a reload replaces.
    pub fn rtmp_access(&self) -> rtmp::Access {
        rtmp::Access {
            limits: self.limits(),
            proxies: self.proxies(),
            handshake: self.handshake.clone(),
        }
    }

    /// How long a drain waits for viewers to leave, as the file says now.
    pub fn drain_timeout(&self) -> Duration {
        *self.drain_timeout.get()
    }

    /// The feeds' tasks, for `serve` to wait on at shutdown.
    pub fn take_tasks(&self) -> JoinSet<()> {
        std::mem::take(&mut *lock(&self.tasks))
    }

    fn apply(&self, settings: &Settings) -> Result<Applied, ConfigError> {
        let mut wanted: BTreeMap<String, ChannelSettings> = settings
            .channels
            .iter()
            .map(|c| (c.name.clone(), c.clone()))
            .collect();
        if settings.demo {
            wanted.insert("demo".into(), demo());
        }
        // Every source parses before anything changes (the configuration checked them too).
        let mut specs = BTreeMap::new();
        for (name, c) in &wanted {
            let spec = if c.source == DEMO_SOURCE {
                UpstreamSpec::Embedded(DEMO_FLV)
            } else {
                UpstreamSpec::parse(&c.source).map_err(|e| ConfigError::Source {
                    key: "[[channel]] source",
                    value: c.source.clone(),
                    reason: format!("{e:#}"),
                })?
            };
            specs.insert(name.clone(), spec);
        }
        let mut running = lock(&self.state);
        let mut applied = Applied::default();
        let names: Vec<String> = running.channels.keys().cloned().collect();
        for name in names {
            let changed = match wanted.get(&name) {
                None => false,
                Some(c) if running.channels.get(&name).is_some_and(|(old, _)| old == c) => {
                    // Unchanged: untouched.
                    wanted.remove(&name);
                    specs.remove(&name);
                    continue;
                }
                Some(_) => true,
            };
            let Some((old, task)) = running.channels.remove(&name) else {
                continue;
            };
            task.abort();
            let same_kind = changed
                && specs
                    .get(&name)
                    .is_some_and(|spec| source_of(spec) == kind(&old));
            if same_kind {
                applied.changed.push(name);
            } else {
                // Gone, or fed another way (a pull became a file): its viewers end.
                self.hub.remove(&name);
                if changed {
                    applied.changed.push(name);
                } else {
                    applied.removed.push(name);
                }
            }
        }
        for (name, spec) in specs {
            let Some(c) = wanted.remove(&name) else {
                continue;
            };
            if !applied.changed.contains(&name) {
                applied.added.push(name.clone());
            }
            let channel = self.hub.get_or_create(&name, source_of(&spec));
            let options = PullOptions {
                on_demand: c.on_demand,
                idle_timeout: c.idle_timeout,
                ..PullOptions::default()
            };
            let task =
                lock(&self.tasks).spawn(ingest::run(spec, options, channel, self.shutdown.clone()));
            running.channels.insert(name, (c, task));
        }
        if running.pulls != settings.pulls {
            running.pulls = settings.pulls.clone();
            let summoner = (!settings.pulls.is_empty()).then(|| {
                Arc::new(Patterns::new(settings.pulls.clone(), self.shutdown.clone()))
                    as Arc<dyn crate::hub::Summon>
            });
            self.hub.set_summoner(summoner);
        }
        self.hub.hooks.set(settings.hooks.clone());
        self.outputs.recordings.set(settings.record.clone());
        self.outputs.forwards.set(settings.forwards.clone());
        self.outputs.execs.set(settings.execs.clone());
        self.hls.set_settings(settings.hls);
        self.hub.limits.set(settings.limits);
        self.limits.set(settings.conn);
        self.proxies.set(settings.proxies.clone());
        self.handshake.set(Handshake {
            swf_verify: settings.swf_verify,
            rtmpe_type: settings.rtmpe_type,
        });
        self.drain_timeout.set(settings.drain_timeout);
        let rechecks = settings.auth.webhook().and_then(|w| w.recheck()).is_some();
        self.hub.hooks.clients.keep_queries(rechecks);
        self.hub.auth.set(Auth {
            policy: settings.auth.clone(),
            origins: settings.origins.clone(),
            admin_token: settings.admin.token.clone(),
        });
        Ok(applied)
    }
}

/// What `new` changes of `old` that only a restart applies: the listeners and what they
/// accept, named as in the file.
fn restart_only(old: &Settings, new: &Settings) -> Vec<&'static str> {
    [
        (old.http != new.http, "[server] http"),
        (old.rtmp != new.rtmp, "[server] rtmp"),
        (old.rtmps != new.rtmps, "[server] rtmps"),
        // New files are read by the reload; TLS on or off is the listeners'.
        (
            old.tls.is_some() != new.tls.is_some(),
            "[server] tls_cert, tls_key",
        ),
        (
            old.admin.listen != new.admin.listen,
            "[server] admin_listen",
        ),
    ]
    .into_iter()
    .filter_map(|(changed, name)| changed.then_some(name))
    .collect()
}

/// The built-in demo clip (see `assets/README.md`).
pub static DEMO_FLV: &[u8] = include_bytes!("../assets/demo.flv");

/// The built-in demo, as if configured.
fn demo() -> ChannelSettings {
    ChannelSettings {
        name: "demo".into(),
        source: DEMO_SOURCE.into(),
        on_demand: false,
        idle_timeout: PullOptions::default().idle_timeout,
    }
}

/// Stands for the embedded clip in the demo's settings.
const DEMO_SOURCE: &str = "file:(built-in demo)";

fn kind(c: &ChannelSettings) -> Source {
    if c.source == DEMO_SOURCE {
        return Source::File;
    }
    UpstreamSpec::parse(&c.source).map_or(Source::Pull, |spec| source_of(&spec))
}

fn source_of(spec: &UpstreamSpec) -> Source {
    match spec {
        UpstreamSpec::Rtmp(_) | UpstreamSpec::HttpFlv(_) => Source::Pull,
        UpstreamSpec::File(_) | UpstreamSpec::Embedded(_) => Source::File,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
