//! Placeholder until the upstream module lands: configured channels are refused
//! with a clear error, and the demo channel stays idle.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use crate::hub::Channel;
use crate::shutdown::Shutdown;

pub enum UpstreamSpec {
    Rtmp(Box<flashless_core::rtmp::url::RtmpUrl>),
    HttpFlv(String),
    File(std::path::PathBuf),
    Embedded(&'static [u8]),
}

impl UpstreamSpec {
    pub fn parse(s: &str) -> anyhow::Result<UpstreamSpec> {
        bail!("channel source {s:?}: pulling upstreams is not built yet")
    }
}

#[derive(Default)]
pub struct PullOptions {
    pub on_demand: bool,
    pub idle_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

pub async fn run(
    _spec: UpstreamSpec,
    _options: PullOptions,
    _channel: Arc<Channel>,
    mut shutdown: Shutdown,
) {
    shutdown.wait().await
}
