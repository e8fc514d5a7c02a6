//! Who is connected: every publisher and viewer on a connection (RTMP, HTTP-FLV,
//! WS-FLV), listed for the operator (`GET /api/clients`) and closed on demand
//! (`POST /api/kick`), as SRS's clients API and nginx-rtmp's `drop/client` do. A client
//! is listed from its admission to its end (its hooks' [`Session`](crate::hooks::Session)
//! holds its place). HLS players hold no connection, and are not listed.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::Notify;

/// Publishing or playing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Publisher,
    Viewer,
}

/// A connected client as the operator sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Client {
    /// The hooks' `client_id`: the same number in `on_play` and `on_stop`.
    pub id: u64,
    pub channel: String,
    pub role: Role,
    /// `rtmp`, `http-flv` or `ws-flv`.
    pub protocol: &'static str,
    /// The client's address (the one a trusted proxy names).
    pub ip: Option<IpAddr>,
    /// Unix time, in seconds, of its admission.
    pub since: u64,
    /// The media's bytes sent to it (a viewer) or taken from it (a publisher) since:
    /// the tags' bodies, as `/metrics` counts them.
    pub bytes: u64,
    /// Its request's query, for the authorisation webhook's asks again: not listed (it
    /// may hold a token).
    #[serde(skip)]
    pub query: Box<str>,
    /// Unix time, in seconds, when the webhook was last asked about it.
    #[serde(skip)]
    pub checked: u64,
}

/// What ties a client's connection to its entry: the kick its task waits on, and the
/// bytes it moved.
#[derive(Debug)]
pub struct Link {
    kick: Arc<Notify>,
    bytes: AtomicU64,
}

impl Link {
    /// A link whose kick notifies `kick`.
    pub fn new(kick: Arc<Notify>) -> Arc<Link> {
        Arc::new(Link {
            kick,
            bytes: AtomicU64::new(0),
        })
    }

    /// `n` more bytes sent or taken.
    pub fn moved(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Relaxed);
    }

    /// Ready once the operator kicked the client.
    pub async fn kicked(&self) {
        self.kick.notified().await;
    }
}

/// The clients connected now; each with its link.
#[derive(Debug, Default)]
pub struct Clients(Mutex<BTreeMap<u64, (Client, Arc<Link>)>>);

impl Clients {
    /// Lists `client` until [`Clients::remove`].
    pub fn add(&self, client: Client, link: Arc<Link>) {
        self.lock().insert(client.id, (client, link));
    }

    pub fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Every client, or those of `channel`, oldest first.
    pub fn list(&self, channel: Option<&str>) -> Vec<Client> {
        let clients = self.lock();
        let of = |(c, _): &&(Client, Arc<Link>)| channel.is_none_or(|name| c.channel == name);
        clients.values().filter(of).map(listed).collect()
    }

    /// The clients the webhook was last asked about `every` seconds or more before
    /// `now`, marked as asked now.
    pub fn due(&self, every: u64, now: u64) -> Vec<Client> {
        let mut clients = self.lock();
        let due = clients
            .values_mut()
            .filter(|(c, _)| now >= c.checked.saturating_add(every));
        due.map(|entry| {
            entry.0.checked = now;
            listed(entry)
        })
        .collect()
    }

    /// Closes client `id`'s connection: what it was, or `None` when there is no such
    /// client (gone already).
    pub fn kick(&self, id: u64) -> Option<Client> {
        let clients = self.lock();
        let entry = clients.get(&id)?;
        // A permit if its task is not waiting now: it ends at its next wait.
        entry.1.kick.notify_one();
        Some(listed(entry))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, (Client, Arc<Link>)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The client as listed now, with its bytes.
fn listed((client, link): &(Client, Arc<Link>)) -> Client {
    Client {
        bytes: link.bytes.load(Relaxed),
        ..client.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: u64, channel: &str, role: Role) -> Client {
        Client {
            id,
            channel: channel.into(),
            role,
            protocol: "rtmp",
            ip: None,
            since: 0,
            bytes: 0,
            query: "".into(),
            checked: 0,
        }
    }

    #[tokio::test]
    async fn a_kick_reaches_its_client_alone_and_a_gone_one_is_none() {
        let clients = Clients::default();
        let (a, b) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        clients.add(client(1, "cam", Role::Publisher), Link::new(a.clone()));
        let link = Link::new(b.clone());
        clients.add(client(2, "other", Role::Viewer), link.clone());
        assert_eq!(clients.list(None).len(), 2);
        link.moved(1000);
        link.moved(24);
        let other = clients.list(Some("other"));
        assert_eq!((other[0].id, other[0].bytes), (2, 1024));

        assert_eq!(clients.kick(2).map(|c| c.role), Some(Role::Viewer));
        // Kicked before it waited: the permit waits for it.
        b.notified().await;
        let not_a = tokio::time::timeout(std::time::Duration::from_millis(20), a.notified());
        assert!(not_a.await.is_err(), "the other client was kicked too");

        clients.remove(2);
        assert!(clients.kick(2).is_none());
        assert_eq!(clients.list(None).len(), 1);
    }
}
