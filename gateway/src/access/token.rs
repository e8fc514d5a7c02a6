//! Signed URLs: a `token` that grants one action (play or publish) on one channel
//! until an expiry, optionally from one client address.
//!
//! A token reads `<expiry>.<bound>.<signature>`: the expiry in Unix seconds, `a` for any
//! address or `i` for the address it was signed for, and the first 128 bits of
//! HMAC-SHA256(secret, "<action>\n<channel>\n<expiry>\n<address or empty>") in hex.
//! Tokens are opaque to viewers; only the gateway, which holds the secret, makes them.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::attempt::{Action, Attempt};
use super::webhook::{Verdict, Webhook};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("a token is required to {0} this channel")]
    Missing(&'static str),
    #[error("the token is malformed")]
    Malformed,
    #[error("the token expired {0} s ago")]
    Expired(u64),
    #[error("the token is not valid for this channel, action or address")]
    BadSignature,
    #[error("the authorisation webhook refused ({0})")]
    Refused(String),
    /// Why, for the log: it names the webhook's URL, so clients get only the message.
    #[error("the authorisation service is unavailable")]
    WebhookUnavailable(String),
    #[error("too many authorisation requests {0}; try again shortly")]
    WebhookBusy(&'static str),
}

/// Who may do what: which actions need a token, and the secret that signs them.
#[derive(Clone, Default)]
pub struct Policy {
    secret: Option<Vec<u8>>,
    pub play: bool,
    pub publish: bool,
    /// Asked after the token check, for every publish and play.
    webhook: Option<Arc<Webhook>>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Policy")
            .field("play", &self.play)
            .field("publish", &self.publish)
            .field("webhook", &self.webhook.as_ref().map(|w| w.display()))
            .finish()
    }
}

/// Signatures are cut to 128 bits: plenty against forgery, and URLs stay short.
const SIGNATURE_BYTES: usize = 16;

impl Policy {
    /// Tokens are required for `play` and `publish` as asked; without a secret nothing is.
    pub fn new(secret: Option<&str>, play: bool, publish: bool) -> Policy {
        let secret = secret
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_vec());
        let enforced = secret.is_some();
        Policy {
            secret,
            play: play && enforced,
            publish: publish && enforced,
            webhook: None,
        }
    }

    pub fn with_webhook(mut self, webhook: Option<Webhook>) -> Policy {
        self.webhook = webhook.map(Arc::new);
        self
    }

    pub fn webhook(&self) -> Option<&Arc<Webhook>> {
        self.webhook.as_ref()
    }

    /// The whole decision on an attempt: its token, then the webhook when there is one.
    pub async fn authorise(&self, attempt: &Attempt<'_>) -> Result<(), Denied> {
        self.check(
            attempt.action,
            attempt.channel,
            attempt.token,
            attempt.client_ip,
        )?;
        match &self.webhook {
            None => Ok(()),
            Some(webhook) => webhook.ask(attempt).await.map_err(|v| match v {
                Verdict::Refused(why) => Denied::Refused(why),
                Verdict::Busy(from) => Denied::WebhookBusy(from),
                Verdict::Unavailable(why) => {
                    tracing::warn!(
                        channel = attempt.channel,
                        action = attempt.action.as_str(),
                        "the authorisation webhook could not be asked: {why}"
                    );
                    Denied::WebhookUnavailable(why)
                }
            }),
        }
    }

    pub fn requires(&self, action: Action) -> bool {
        match action {
            Action::Play => self.play,
            Action::Publish => self.publish,
        }
    }

    /// Makes a token for `action` on `channel`, valid for `ttl`, optionally only from `ip`.
    pub fn sign(
        &self,
        action: Action,
        channel: &str,
        ttl: Duration,
        ip: Option<IpAddr>,
    ) -> Option<String> {
        let expiry = now().saturating_add(ttl.as_secs());
        let signature = self.signature(action, channel, expiry, ip)?;
        Some(format!(
            "{expiry}.{}.{signature}",
            if ip.is_some() { "i" } else { "a" }
        ))
    }

    /// Checks a request; `Ok` when no token is needed or the token grants it.
    pub fn check(
        &self,
        action: Action,
        channel: &str,
        token: Option<&str>,
        peer: IpAddr,
    ) -> Result<(), Denied> {
        if !self.requires(action) {
            return Ok(());
        }
        let token = token.ok_or(Denied::Missing(action.as_str()))?;
        let Token {
            expiry,
            bound,
            signature,
        } = Token::parse(token)?;
        let ip = bound.then_some(peer);
        let expected = self
            .signature(action, channel, expiry, ip)
            .ok_or(Denied::BadSignature)?;
        // Constant-time comparison, so timing does not reveal how much of a guess was right.
        let same = expected.len() == signature.len()
            && expected
                .bytes()
                .zip(signature.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Err(Denied::BadSignature);
        }
        let now = now();
        if expiry < now {
            return Err(Denied::Expired(now - expiry));
        }
        Ok(())
    }

    /// What can be told of a token before the channel is known (RTMP `connect`):
    /// whether it is well formed and unexpired, so a bad one is refused at once.
    /// Only when both actions need a token: `connect` does not say which one follows.
    pub fn precheck(&self, token: &str) -> Result<(), Denied> {
        if !(self.play && self.publish) {
            return Ok(());
        }
        let expiry = Token::parse(token)?.expiry;
        let now = now();
        if expiry < now {
            return Err(Denied::Expired(now - expiry));
        }
        Ok(())
    }

    fn signature(
        &self,
        action: Action,
        channel: &str,
        expiry: u64,
        ip: Option<IpAddr>,
    ) -> Option<String> {
        let secret = self.secret.as_deref()?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
        let ip = ip
            .map(|ip| ip.to_canonical().to_string())
            .unwrap_or_default();
        mac.update(format!("{}\n{channel}\n{expiry}\n{ip}", action.as_str()).as_bytes());
        let digest = mac.finalize().into_bytes();
        Some(
            digest
                .iter()
                .take(SIGNATURE_BYTES)
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
    }
}

/// A token's parts, not yet verified.
struct Token<'a> {
    expiry: u64,
    /// Signed for the client's address (`i`) rather than any (`a`).
    bound: bool,
    signature: &'a str,
}

impl<'a> Token<'a> {
    fn parse(token: &'a str) -> Result<Token<'a>, Denied> {
        let mut parts = token.split('.');
        let (Some(expiry), Some(bound), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Denied::Malformed);
        };
        Ok(Token {
            expiry: expiry.parse().map_err(|_| Denied::Malformed)?,
            bound: match bound {
                "a" => false,
                "i" => true,
                _ => return Err(Denied::Malformed),
            },
            signature,
        })
    }
}

/// The `token` parameter of a query string (`a=1&token=…`).
pub fn token_in(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn policy() -> Policy {
        Policy::new(Some("s3cret"), true, true)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_signed_token_grants_its_action_on_its_channel_only() {
        let p = policy();
        let t = p.sign(Action::Play, "cam", HOUR, None).unwrap();
        assert_eq!(
            p.check(Action::Play, "cam", Some(&t), ip("10.0.0.1")),
            Ok(())
        );
        assert_eq!(
            p.check(Action::Play, "other", Some(&t), ip("10.0.0.1")),
            Err(Denied::BadSignature)
        );
        assert_eq!(
            p.check(Action::Publish, "cam", Some(&t), ip("10.0.0.1")),
            Err(Denied::BadSignature)
        );
        let other_secret = Policy::new(Some("other"), true, true);
        assert_eq!(
            other_secret.check(Action::Play, "cam", Some(&t), ip("10.0.0.1")),
            Err(Denied::BadSignature)
        );
    }

    #[test]
    fn an_address_bound_token_works_from_that_address_only() {
        let p = policy();
        let t = p
            .sign(Action::Publish, "cam", HOUR, Some(ip("192.0.2.7")))
            .unwrap();
        assert_eq!(
            p.check(Action::Publish, "cam", Some(&t), ip("192.0.2.7")),
            Ok(())
        );
        assert_eq!(
            p.check(Action::Publish, "cam", Some(&t), ip("::ffff:192.0.2.7")),
            Ok(())
        );
        assert_eq!(
            p.check(Action::Publish, "cam", Some(&t), ip("192.0.2.8")),
            Err(Denied::BadSignature)
        );
    }

    #[test]
    fn expired_missing_and_malformed_tokens_are_refused() {
        let p = policy();
        let sig = p.signature(Action::Play, "cam", 1000, None).unwrap();
        assert!(matches!(
            p.check(
                Action::Play,
                "cam",
                Some(&format!("1000.a.{sig}")),
                ip("::1")
            ),
            Err(Denied::Expired(_))
        ));
        assert_eq!(
            p.check(Action::Play, "cam", None, ip("::1")),
            Err(Denied::Missing("play"))
        );
        for bad in ["", "x", "1.a", "1.a.b.c", "x.a.00", "9999999999.z.00"] {
            assert_eq!(
                p.check(Action::Play, "cam", Some(bad), ip("::1")),
                Err(Denied::Malformed),
                "{bad:?}"
            );
        }
        let t = p.sign(Action::Play, "cam", HOUR, None).unwrap();
        let tampered = t.replacen(".a.", ".i.", 1);
        assert_eq!(
            p.check(Action::Play, "cam", Some(&tampered), ip("::1")),
            Err(Denied::BadSignature)
        );
    }

    #[test]
    fn precheck_refuses_malformed_and_expired_tokens_without_a_channel() {
        let p = policy();
        assert_eq!(p.precheck("1.a"), Err(Denied::Malformed));
        assert!(matches!(p.precheck("1000.a.00"), Err(Denied::Expired(_))));
        // The signature needs the channel: only `check` can judge it.
        assert_eq!(p.precheck("9999999999.a.00"), Ok(()));
        let t = p.sign(Action::Publish, "cam", HOUR, None).unwrap();
        assert_eq!(p.precheck(&t), Ok(()));
        assert_eq!(Policy::new(None, true, true).precheck("x"), Ok(()));
        // With public play, a stale token on a player's URL must not stop it.
        assert_eq!(
            Policy::new(Some("s"), false, true).precheck("1000.a.00"),
            Ok(())
        );
    }

    #[test]
    fn without_a_secret_or_for_open_actions_nothing_is_checked() {
        assert_eq!(
            Policy::new(None, true, true).check(Action::Play, "cam", None, ip("::1")),
            Ok(())
        );
        let open_play = Policy::new(Some("s"), false, true);
        assert_eq!(
            open_play.check(Action::Play, "cam", None, ip("::1")),
            Ok(())
        );
        assert!(
            open_play
                .check(Action::Publish, "cam", None, ip("::1"))
                .is_err()
        );
    }

    #[test]
    fn the_token_is_found_in_a_query_string() {
        assert_eq!(token_in("a=1&token=abc&b=2"), Some("abc"));
        assert_eq!(token_in("token=x"), Some("x"));
        assert_eq!(token_in("a=1"), None);
    }
}
