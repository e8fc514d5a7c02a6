//! The log: text or JSON lines on stderr, filtered by `RUST_LOG`; a reload replaces the
//! format (`[server] log_format`) in place.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::config::LogFormat;

type Output = Box<dyn Layer<Registry> + Send + Sync>;

/// The output layer's handle, once [`init`] made it the process's subscriber.
static OUTPUT: OnceLock<reload::Handle<Output, Registry>> = OnceLock::new();

fn output(format: LogFormat) -> Output {
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer.json().boxed(),
    }
}

/// Makes the log the process's subscriber, in `format`.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "flashless=info,flashless_gateway=info,warn".into());
    let (layer, handle) = reload::Layer::new(output(format));
    if tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init()
        .is_ok()
    {
        let _ = OUTPUT.set(handle);
    }
}

/// Writes from now on in `format` (nothing when [`init`] did not set the log up).
pub fn set_format(format: LogFormat) {
    if let Some(handle) = OUTPUT.get() {
        let _ = handle.reload(output(format));
    }
}
