//! Whether a viewer may start watching a channel: one rule for HTTP-FLV, WS-FLV and
//! RTMP play, in one order, so every protocol lets in and turns away the same viewers.
//! Each protocol turns a [`Refusal`] into its own answer (an HTTP status, an RTMP
//! `NetStream.Play.*` status).

use std::sync::Arc;

use crate::access::{Attempt, Denied};
use crate::hub::denials::Reason;
use crate::hub::name::{self, BadName};
use crate::hub::{Channel, Hub, Source, Unclaimed, UpstreamState};

/// How long the first viewer of a channel started on demand waits for its upstream's
/// first answer (media or a failure), so a name the origin does not have is refused
/// rather than left on a blank picture.
const FIRST_ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(6);

/// Why a viewer was not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The token or the authorisation webhook said no.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The name breaks the channel-name rule: no such channel can exist.
    #[error("{0}")]
    BadName(#[from] BadName),
    #[error("no channel named {0:?}")]
    NoSuchChannel(String),
    /// A pulled channel whose upstream never delivered media and is retrying: the
    /// viewer would wait on a blank picture for an upstream that may never answer.
    #[error("channel {channel:?} is unavailable: {reason}")]
    Unavailable { channel: String, reason: String },
    #[error("the gateway has all the viewers it takes")]
    Full,
    /// An HLS player from an address that has `per_ip` players already.
    #[error("{0} has all the players the gateway takes from one address")]
    AddressFull(std::net::IpAddr),
    /// A channel started on demand would be one past the channel cap.
    #[error("the gateway has all the channels it takes")]
    ChannelsFull,
}

impl Refusal {
    /// Refused by a rule (token, webhook, viewer cap) rather than by the channel's state:
    /// these count in `flashless_denied_total{reason}`, and an RTMP connection ends with them.
    pub fn is_denial(&self) -> bool {
        self.denial().is_some()
    }

    /// The `reason` a denial counts under; `None` when refused by the channel's state.
    pub fn denial(&self) -> Option<Reason> {
        match self {
            Refusal::Denied(denied) => Some(denied.into()),
            Refusal::Full | Refusal::AddressFull(_) | Refusal::ChannelsFull => Some(Reason::Limit),
            Refusal::BadName(_) | Refusal::NoSuchChannel(_) | Refusal::Unavailable { .. } => None,
        }
    }
}

/// What admission needs to know of the gateway.
#[derive(Clone, Copy)]
pub struct Admission<'a> {
    /// Its channels, and the `[auth]` in force.
    pub hub: &'a Hub,
    /// Viewers of all channels together.
    pub max_viewers: usize,
}

impl Admission<'_> {
    /// The channel `attempt` may play, checked in this order: the name's rule; the token and the webhook;
    /// the channel exists, or the hub's summoner starts it (under the channel cap); a pulled channel that is retrying and never had media is
    /// unavailable; the gateway's viewer cap. Denials are counted on the hub.
    pub async fn admit(&self, attempt: &Attempt<'_>) -> Result<Arc<Channel>, Refusal> {
        let result = self.decide(attempt).await;
        if let Err(refusal) = &result
            && let Some(reason) = refusal.denial()
        {
            self.hub.denied.count(reason);
        }
        result
    }

    async fn decide(&self, attempt: &Attempt<'_>) -> Result<Arc<Channel>, Refusal> {
        // Before the webhook: it is not asked about names that cannot exist.
        name::check(attempt.channel)?;
        let auth = self.hub.auth.get();
        auth.policy.authorise(attempt).await?;
        let name = attempt.channel;
        let channel = match self.hub.find(name) {
            Ok(Some(channel)) => channel,
            Ok(None) => return Err(Refusal::NoSuchChannel(name.to_owned())),
            Err(Unclaimed::Full | Unclaimed::Taken) => return Err(Refusal::ChannelsFull),
        };
        if channel.is_transient() && channel.source() == Source::Pull {
            first_answer(&channel).await;
        }
        let snapshot = channel.snapshot();
        if let (false, UpstreamState::Retrying { class, .. }) =
            (snapshot.had_media, snapshot.upstream)
        {
            // The class, not the error: that names the origin's URL.
            return Err(Refusal::Unavailable {
                channel: name.to_owned(),
                reason: class.to_owned(),
            });
        }
        if self.hub.viewers() >= self.max_viewers {
            return Err(Refusal::Full);
        }
        Ok(channel)
    }
}

/// Waits, up to [`FIRST_ANSWER_WAIT`], until a channel has had media or its upstream failed.
async fn first_answer(channel: &Channel) {
    let deadline = tokio::time::Instant::now() + FIRST_ANSWER_WAIT;
    while tokio::time::Instant::now() < deadline {
        let s = channel.snapshot();
        if s.had_media || matches!(s.upstream, UpstreamState::Retrying { .. }) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
