//! RTMP play: a viewer on the RTMP listener (rtmpdump, ffplay, VLC), fed from the hub
//! through its connection's `ServerSession`. Each tag is chunked once per channel and
//! those bytes shared by every player (as nginx-rtmp does), not copied per player.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use flashless_core::rtmp::session::ServerSession;
use tracing::info;

use super::admission::Refusal;
use crate::clients::Link;
use crate::hooks::Session;
use crate::hub::{Channel, Feed, MediaTag, Viewer};

/// Tags written to a player per flush: one write for a burst, as at start-up.
const BATCH: usize = 64;

/// The stream id a connection plays on, and its feed.
pub struct Player {
    pub stream_id: u32,
    viewer: Viewer,
    /// Its entry in the clients' list: what it is sent counts there.
    link: Arc<Link>,
}

impl Player {
    /// Accepts the play on `stream_id` and queues the channel's start-up burst; `None`
    /// when the client closed the stream meanwhile (`closeStream` right behind `play`).
    pub fn start(
        session: &mut ServerSession,
        stream_id: u32,
        channel: &Arc<Channel>,
        hooks: Session,
        link: Arc<Link>,
    ) -> Option<Player> {
        if !session.accept_play(stream_id) {
            return None;
        }
        info!(channel = channel.name(), "playing");
        let (start, mut viewer) = channel.subscribe();
        viewer.hold(hooks);
        for media in &start {
            send(session, stream_id, channel, &link, media);
        }
        Some(Player {
            stream_id,
            viewer,
            link,
        })
    }

    /// The next item of the feed; `None` once the channel is gone.
    pub async fn next(&mut self) -> Option<Feed> {
        self.viewer.next().await
    }

    /// Sends one feed item and whatever else is already queued, to be written at once.
    pub fn forward(&mut self, session: &mut ServerSession, first: Feed) {
        let mut item = Some(first);
        let mut sent = 0;
        while let Some(feed) = item.take() {
            match feed {
                Feed::Tag(media) => send(
                    session,
                    self.stream_id,
                    self.viewer.channel(),
                    &self.link,
                    &media,
                ),
                Feed::Unpublished => session.end_stream(self.stream_id),
                Feed::Published => session.resume_stream(self.stream_id),
            }
            sent += 1;
            if sent < BATCH {
                item = self.viewer.try_next();
            }
        }
    }
}

/// Queues one tag for the player, counted in the channel's RTMP egress bytes and the
/// player's own.
fn send(
    session: &mut ServerSession,
    stream_id: u32,
    channel: &Channel,
    link: &Link,
    media: &MediaTag,
) {
    channel
        .counters
        .rtmp_bytes_out
        .fetch_add(media.tag.data.len() as u64, Relaxed);
    link.moved(media.tag.data.len());
    match media.rtmp_chunks() {
        Some(chunked) => session.send_shared(stream_id, &media.tag, chunked),
        None => session.send_tag(stream_id, &media.tag),
    }
}

/// The `onStatus` a refused player gets: its code and description.
pub fn refusal_status(refusal: &Refusal, channel: &str) -> (&'static str, String) {
    match refusal {
        Refusal::BadName(_) | Refusal::NoSuchChannel(_) => {
            ("NetStream.Play.StreamNotFound", refusal.to_string())
        }
        Refusal::Unavailable { .. } => ("NetStream.Play.Failed", refusal.to_string()),
        Refusal::Denied(_) | Refusal::Full | Refusal::AddressFull(_) | Refusal::ChannelsFull => {
            ("NetStream.Play.Failed", format!("{channel}: {refusal}"))
        }
    }
}
