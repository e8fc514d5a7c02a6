//! Pulling a stream from an RTMP server (`rtmp://`, `rtmps://`) in play mode.

use anyhow::{Result, anyhow, bail};
use flashless_core::flv::Tag;
use flashless_core::rtmp::session::{ClientEvent, ClientMode};
use flashless_core::rtmp::url::RtmpUrl;

use crate::client::rtmp::RtmpClient;

pub struct RtmpPull {
    client: RtmpClient,
}

impl RtmpPull {
    pub async fn connect(url: &RtmpUrl) -> Result<Self> {
        Ok(RtmpPull {
            client: RtmpClient::connect(url, ClientMode::Play).await?,
        })
    }

    pub fn peer(&self) -> &str {
        self.client.peer()
    }

    /// The next media or data tag; the end of the stream is an error saying why it ended.
    pub async fn next_tag(&mut self) -> Result<Tag> {
        loop {
            let event = self.client.next_event().await?;
            match event {
                Some(ClientEvent::Tag(tag)) => return Ok(tag),
                Some(ClientEvent::StreamEnd { reason }) => {
                    bail!("{}: the stream ended ({reason})", self.peer())
                }
                Some(ClientEvent::Status {
                    level,
                    code,
                    description,
                }) => {
                    if level.eq_ignore_ascii_case("error") {
                        bail!("{}: {code}: {description}", self.peer());
                    }
                    tracing::debug!(peer = self.peer(), %code, %description, "status");
                }
                Some(ClientEvent::Playing) => tracing::debug!(peer = self.peer(), "playing"),
                Some(other) => tracing::trace!(peer = self.peer(), ?other, "event"),
                None => return Err(anyhow!("{} closed the connection", self.peer())),
            }
        }
    }

    pub async fn close(self) {
        self.client.close().await.ok();
    }
}
