//! What is asked of the access rules: one publish or play, by whom, over which protocol.
//! Tokens and the webhook both judge an [`Attempt`].

use std::net::IpAddr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Play,
    Publish,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Play => "play",
            Action::Publish => "publish",
        }
    }
}

/// A publish or play to authorise; what the webhook is asked, as the JSON body of the POST.
#[derive(Debug, Serialize)]
pub struct Attempt<'a> {
    /// `publish` or `play`.
    pub action: Action,
    pub channel: &'a str,
    pub client_ip: IpAddr,
    /// `rtmp`, `http-flv` or `ws-flv`.
    pub protocol: &'static str,
    /// The request's query string (stream key parameters for RTMP), as the client sent it.
    pub query: &'a str,
    /// The signed-URL token, from the query or (RTMP) the connect URL; the webhook
    /// sees the query as it came.
    #[serde(skip)]
    pub token: Option<&'a str>,
}
