//! The authorisation webhook asked again (`[auth] webhook_recheck`), as nginx-rtmp's
//! `on_update`: every publisher and viewer (HLS players too) is asked about each period
//! after its admission, with the attempt it was admitted on, and a refusal closes it
//! (a subscription that ended, a ban). A webhook that cannot answer closes no one: a
//! stream already playing is not ended by the operator's service being down.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use crate::access::webhook::Verdict;
use crate::access::{Action, Attempt};
use crate::clients::{Client, Role};
use crate::hub::Hub;
use crate::hub::denials::Reason;
use crate::shutdown::Shutdown;

/// How often the clients due are looked for.
const TICK: Duration = Duration::from_secs(1);
/// Asks awaited at once: the webhook's own bound on asks in flight is shared with the
/// admissions, which must not find it taken by a recheck of thousands of viewers.
const AT_ONCE: usize = 16;

/// Asks about the clients due each [`TICK`], while `[auth]` has a webhook with a
/// recheck period, until `shutdown`.
pub async fn run(hub: Arc<Hub>, mut shutdown: Shutdown) {
    let mut asking = JoinSet::new();
    let at_once = Arc::new(Semaphore::new(AT_ONCE));
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(_) = asking.join_next(), if !asking.is_empty() => continue,
            _ = shutdown.wait() => return,
        }
        let auth = hub.auth.get();
        let Some(webhook) = auth.policy.webhook() else {
            continue;
        };
        let Some(every) = webhook.recheck() else {
            continue;
        };
        let now = crate::hooks::unix_now();
        for (client, query) in hub.hooks.clients.due(every.as_secs().max(1), now) {
            let (hub, webhook, at_once) = (hub.clone(), webhook.clone(), at_once.clone());
            asking.spawn(async move {
                let Ok(_turn) = at_once.acquire().await else {
                    return;
                };
                let verdict = webhook.ask_again(&attempt_of(&client, &query)).await;
                judge(&hub, &client, verdict);
            });
        }
    }
}

/// The attempt `client` was admitted on with `query`, as the webhook was asked then.
fn attempt_of<'a>(client: &'a Client, query: &'a str) -> Attempt<'a> {
    Attempt {
        action: match client.role {
            Role::Publisher => Action::Publish,
            Role::Viewer => Action::Play,
        },
        channel: &client.channel,
        client_ip: client.ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
        protocol: client.protocol,
        query,
        token: None,
    }
}

/// Closes `client` if the webhook refused it now.
fn judge(hub: &Hub, client: &Client, verdict: Result<(), Verdict>) {
    match verdict {
        Ok(()) => {}
        Err(Verdict::Refused(why)) => {
            hub.denied.count(Reason::Webhook);
            if hub.hooks.clients.kick(client.id).is_some() {
                tracing::info!(
                    client = client.id,
                    channel = client.channel,
                    ip = ?client.ip,
                    protocol = client.protocol,
                    "closed: the authorisation webhook refused it on a recheck ({why})"
                );
            }
        }
        Err(Verdict::Unavailable(why)) => {
            tracing::debug!(client = client.id, "recheck not answered, kept: {why}");
        }
        Err(Verdict::Busy(_)) => {
            tracing::debug!(client = client.id, "recheck not asked (busy), kept");
        }
    }
}
