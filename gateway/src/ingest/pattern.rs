//! Channels by name rather than by list: a `[[pull]]` pattern (`match = "cam-*"`, a
//! source with `{name}` in it) or the edge's `origin` pulls any channel a viewer asks
//! for that no configured channel or publisher has. The hub creates such a channel
//! under its channel cap and removes it once deserted, like a published one.

use std::sync::Arc;
use std::time::Duration;

use crate::config::PullRule;
use crate::hub::{Channel, Summon, name};
use crate::shutdown::Shutdown;

use super::{PullOptions, UpstreamSpec, run};

/// The `[[pull]]` rules and the origin, in the order they are tried.
pub struct Patterns {
    rules: Vec<PullRule>,
    shutdown: Shutdown,
}

impl Patterns {
    pub fn new(rules: Vec<PullRule>, shutdown: Shutdown) -> Patterns {
        Patterns { rules, shutdown }
    }
}

impl Summon for Patterns {
    fn plan(&self, channel: &str) -> Option<Box<dyn FnOnce(Arc<Channel>) + Send>> {
        let rule = self.rules.iter().find(|r| r.covers(channel))?;
        let (app, stream) = name::split(channel);
        let source = source_for(&rule.source, app, stream);
        let spec = match UpstreamSpec::parse(&source) {
            Ok(spec) => spec,
            Err(e) => {
                // Checked at load with a sample name; a real name may still break a URL.
                tracing::warn!(channel, "no pull for this name: {e:#}");
                return None;
            }
        };
        let options = PullOptions {
            on_demand: true,
            connect_first: true,
            idle_timeout: rule.idle_timeout,
            ..PullOptions::default()
        };
        let shutdown = self.shutdown.clone();
        Some(Box::new(move |channel| {
            tokio::spawn(run(spec, options, channel, shutdown));
        }))
    }
}

/// `template` with `{app}` and `{name}` (the stream name) filled in.
pub fn source_for(template: &str, app: &str, stream: &str) -> String {
    template.replace("{app}", app).replace("{name}", stream)
}

/// The source template of an edge's origin: a URL with `{name}` is taken as it is;
/// an HTTP(S) base gets `/{app}/{name}.flv` (flashless, SRS), an RTMP one `/{app}/{name}`
/// before its options.
pub fn origin_template(origin: &str) -> String {
    let origin = origin.trim();
    if origin.contains("{name}") {
        return origin.to_owned();
    }
    let (url, options) = origin.split_once(' ').unwrap_or((origin, ""));
    let url = url.trim_end_matches('/');
    if url.to_ascii_lowercase().starts_with("http") {
        format!("{url}/{{app}}/{{name}}.flv")
    } else if options.is_empty() {
        format!("{url}/{{app}}/{{name}}")
    } else {
        format!("{url}/{{app}}/{{name}} {options}")
    }
}

/// Whether `name` matches `glob`, where `*` stands for any run of characters but '/'
/// (so `cam-*` covers the default app's `cam-1`, and `other/*` every stream of `other`).
pub fn glob_matches(glob: &str, name: &str) -> bool {
    match glob.split_once('*') {
        None => glob == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else {
                return false;
            };
            // Try every split of `tail` the star may take, up to the first '/'.
            let reach = tail.find('/').unwrap_or(tail.len());
            (0..=reach).any(|n| tail.get(n..).is_some_and(|t| glob_matches(rest, t)))
        }
    }
}

/// Default for a `[[pull]]` rule's `idle_timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_covers_any_run_within_one_part() {
        assert!(glob_matches("cam-*", "cam-1"));
        assert!(glob_matches("cam-*", "cam-"));
        assert!(!glob_matches("cam-*", "other/cam-1"));
        assert!(!glob_matches("cam-*", "xcam-1"));
        assert!(glob_matches("*-hd", "cam-hd"));
        assert!(glob_matches("other/*", "other/cam"));
        assert!(!glob_matches("other/*", "cam"));
        assert!(glob_matches("*/*", "a/b"));
        assert!(glob_matches("a*b*c", "aXbYc"));
        assert!(!glob_matches("a*b*c", "aXbY"));
        assert!(glob_matches("cam", "cam"));
    }

    #[test]
    fn an_origin_becomes_a_template_for_every_app_and_name() {
        assert_eq!(
            origin_template("http://origin:8080/"),
            "http://origin:8080/{app}/{name}.flv"
        );
        assert_eq!(
            origin_template("rtmp://origin live=1"),
            "rtmp://origin/{app}/{name} live=1"
        );
        assert_eq!(
            origin_template("http://o/live?app={app}&stream={name}"),
            "http://o/live?app={app}&stream={name}"
        );
        assert_eq!(
            source_for("http://origin:8080/{app}/{name}.flv", "live", "cam"),
            "http://origin:8080/live/cam.flv"
        );
    }
}
