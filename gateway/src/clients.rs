//! Who is watching or publishing: every publisher and viewer on a connection (RTMP,
//! HTTP-FLV, WS-FLV) and every HLS player, listed for the operator (`GET /api/clients`)
//! and closed on demand (`POST /api/kick`), as SRS's clients API and nginx-rtmp's
//! `drop/client` do. A client is listed from its admission to its end (its hooks'
//! [`Session`](crate::hooks::Session) holds its place); an HLS player, which holds no
//! connection, from its first request until it stops asking (`crate::egress::hls`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
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
    /// `rtmp`, `http-flv`, `ws-flv` or `hls`.
    pub protocol: &'static str,
    /// The client's address (the one a trusted proxy names).
    pub ip: Option<IpAddr>,
    /// Unix time, in seconds, of its admission.
    pub since: u64,
    /// The media's bytes sent to it (a viewer) or taken from it (a publisher) since:
    /// the tags' bodies, as `/metrics` counts them.
    pub bytes: u64,
}

/// What ties a client's connection to its entry: the kick its task waits on, and the
/// bytes it moved.
#[derive(Debug)]
pub struct Link {
    kick: Arc<Notify>,
    /// Kicked: what a client with no task to wake (an HLS player) is refused by.
    kicked: AtomicBool,
    bytes: AtomicU64,
}

impl Link {
    /// A link whose kick notifies `kick`.
    pub fn new(kick: Arc<Notify>) -> Arc<Link> {
        Arc::new(Link {
            kick,
            kicked: AtomicBool::new(false),
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

    /// Whether the operator kicked the client.
    pub fn was_kicked(&self) -> bool {
        self.kicked.load(Relaxed)
    }
}

/// The longest query kept for the webhook's asks again: a token or a key takes a few
/// hundred bytes, and each viewer's is held for its whole life.
pub const MAX_QUERY: usize = 4096;

/// The clients connected now.
#[derive(Debug, Default)]
pub struct Clients {
    list: Mutex<BTreeMap<u64, Entry>>,
    /// The webhook is asked again (`[auth] webhook_recheck`): new clients keep their query.
    queries: AtomicBool,
}

#[derive(Debug)]
struct Entry {
    client: Client,
    link: Arc<Link>,
    /// Its request's query, for the webhook's asks again: kept only while they are on,
    /// up to [`MAX_QUERY`] bytes (none: it is not asked about again). Never listed: it
    /// may hold a token.
    query: Option<Box<str>>,
    /// Unix time, in seconds, when the webhook was last asked about it.
    checked: u64,
}

impl Entry {
    /// The client as listed now, with its bytes.
    fn listed(&self) -> Client {
        Client {
            bytes: self.link.bytes.load(Relaxed),
            ..self.client.clone()
        }
    }
}

impl Clients {
    /// Lists `client`, admitted with `query`, until [`Clients::remove`].
    pub fn add(&self, client: Client, query: &str, link: Arc<Link>) {
        let kept = self.queries.load(Relaxed) && query.len() <= MAX_QUERY;
        let entry = Entry {
            checked: client.since,
            query: kept.then(|| query.into()),
            client,
            link,
        };
        self.lock().insert(entry.client.id, entry);
    }

    /// Whether the clients admitted from now on keep their query for the webhook's asks
    /// again.
    pub fn keep_queries(&self, keep: bool) {
        self.queries.store(keep, Relaxed);
    }

    pub fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Every client, or those of `channel`, oldest first.
    pub fn list(&self, channel: Option<&str>) -> Vec<Client> {
        let clients = self.lock();
        let of = |e: &&Entry| channel.is_none_or(|name| e.client.channel == name);
        clients.values().filter(of).map(Entry::listed).collect()
    }

    /// The clients with a query kept whom the webhook was last asked about `every`
    /// seconds or more before `now`, each with its query, marked as asked now.
    pub fn due(&self, every: u64, now: u64) -> Vec<(Client, Box<str>)> {
        let mut clients = self.lock();
        let due = clients.values_mut().filter_map(|e| {
            let query = e
                .query
                .as_ref()
                .filter(|_| now >= e.checked.saturating_add(every))?;
            let query = query.clone();
            e.checked = now;
            Some((e.listed(), query))
        });
        due.collect()
    }

    /// Closes client `id`'s connection: what it was, or `None` when there is no such
    /// client (gone already).
    pub fn kick(&self, id: u64) -> Option<Client> {
        let clients = self.lock();
        let entry = clients.get(&id)?;
        // A permit if its task is not waiting now: it ends at its next wait.
        entry.link.kick.notify_one();
        entry.link.kicked.store(true, Relaxed);
        Some(entry.listed())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
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
        }
    }

    #[tokio::test]
    async fn a_kick_reaches_its_client_alone_and_a_gone_one_is_none() {
        let clients = Clients::default();
        let (a, b) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        clients.add(client(1, "cam", Role::Publisher), "", Link::new(a.clone()));
        let link = Link::new(b.clone());
        clients.add(client(2, "other", Role::Viewer), "", link.clone());
        assert_eq!(clients.list(None).len(), 2);
        link.moved(1000);
        link.moved(24);
        let other = clients.list(Some("other"));
        assert_eq!((other[0].id, other[0].bytes), (2, 1024));

        assert_eq!(clients.kick(2).map(|c| c.role), Some(Role::Viewer));
        assert!(link.was_kicked());
        // Kicked before it waited: the permit waits for it.
        b.notified().await;
        let not_a = tokio::time::timeout(std::time::Duration::from_millis(20), a.notified());
        assert!(not_a.await.is_err(), "the other client was kicked too");

        clients.remove(2);
        assert!(clients.kick(2).is_none());
        assert_eq!(clients.list(None).len(), 1);
    }

    #[test]
    fn only_clients_with_a_query_kept_are_due_and_each_once_a_period() {
        let clients = Clients::default();
        let link = || Link::new(Arc::default());
        clients.add(client(1, "cam", Role::Viewer), "sub=a", link());
        clients.keep_queries(true);
        clients.add(client(2, "cam", Role::Viewer), "sub=b", link());
        clients.add(
            client(3, "cam", Role::Viewer),
            &"x".repeat(MAX_QUERY + 1),
            link(),
        );
        // Admitted before queries were kept, or with one too long: never asked about.
        let due = clients.due(60, 60);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].0.id, &*due[0].1), (2, "sub=b"));
        assert!(
            clients.due(60, 119).is_empty(),
            "asked about twice within a period"
        );
        assert_eq!(clients.due(60, 120).len(), 1);
    }
}
