//! Peers for the upstream tests: nginx-rtmp on a chosen port (so it can be restarted
//! in place), nginx's `stream` module terminating TLS in front of any port, a
//! throwaway CA with a certificate for 127.0.0.1 made by `openssl`; and the other
//! end, a test viewer recording what a channel delivers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flashless_core::flv::TagType;
use flashless_core::stream::Role;
use flashless_gateway::hub::{Channel, Feed, Hub, Limits, MediaTag, Source, UpstreamState};
use flashless_gateway::ingest::{self as upstream, PullOptions, UpstreamSpec};
use flashless_gateway::shutdown::{self, Trigger};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Guard, TempDir, wait_for_port};

const MODULE_DIRS: &[&str] = &["/usr/lib/nginx/modules", "/usr/share/nginx/modules"];

fn module(name: &str, package: &str) -> String {
    MODULE_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("nginx module {name} (Debian package {package})"))
        .display()
        .to_string()
}

/// nginx started from `body` (everything after the common top of nginx.conf).
fn nginx(dir: &TempDir, load: &[String], body: &str, what: &str) -> Guard {
    let loads: String = load.iter().map(|m| format!("load_module {m};\n")).collect();
    let conf = format!(
        "{loads}daemon off;\nmaster_process off;\nworker_processes 1;\n\
         pid {dir}/nginx.pid;\nerror_log {dir}/error.log info;\n\
         events {{ worker_connections 256; }}\n{body}",
        dir = dir.0.display()
    );
    let conf_path = dir.path("nginx.conf");
    std::fs::write(&conf_path, conf).expect("writing nginx.conf");
    Guard::spawn(
        Command::new("nginx")
            .arg("-e")
            .arg(dir.path("error.log"))
            .arg("-p")
            .arg(&dir.0)
            .arg("-c")
            .arg(&conf_path),
        what,
    )
}

/// nginx-rtmp with one `live` application on `port`; dropping it kills nginx.
pub struct NginxRtmp {
    pub port: u16,
    _guard: Guard,
    _dir: TempDir,
}

impl NginxRtmp {
    pub fn start_on(port: u16) -> NginxRtmp {
        let dir = TempDir::new("nginx-up");
        let body = format!(
            "rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
               application live {{ live on; record off; }} }} }}\n"
        );
        let guard = nginx(
            &dir,
            &[module("ngx_rtmp_module.so", "libnginx-mod-rtmp")],
            &body,
            "nginx (rtmp)",
        );
        wait_for_port(port, "nginx-rtmp");
        NginxRtmp {
            port,
            _guard: guard,
            _dir: dir,
        }
    }
}

/// A CA and a server certificate it signed for 127.0.0.1 and localhost.
pub struct TestCa {
    pub ca_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    _dir: TempDir,
}

impl TestCa {
    pub fn generate() -> TestCa {
        let dir = TempDir::new("ca");
        let p = |name: &str| dir.path(name).display().to_string();
        let ext = dir.path("leaf.ext");
        std::fs::write(
            &ext,
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("writing leaf.ext");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        openssl(
            &[
                "req",
                "-x509",
                "-days",
                "2",
                "-subj",
                "/CN=flashless test CA",
            ],
            &ec,
            &["-keyout", &p("ca.key"), "-out", &p("ca.pem")],
        );
        openssl(
            &["req", "-subj", "/CN=localhost"],
            &ec,
            &["-keyout", &p("leaf.key"), "-out", &p("leaf.csr")],
        );
        openssl(
            &["x509", "-req", "-days", "2", "-in", &p("leaf.csr")],
            &[
                "-CA",
                &p("ca.pem"),
                "-CAkey",
                &p("ca.key"),
                "-CAcreateserial",
            ],
            &["-extfile", &p("leaf.ext"), "-out", &p("leaf.pem")],
        );
        TestCa {
            ca_pem: dir.path("ca.pem"),
            cert_pem: dir.path("leaf.pem"),
            key_pem: dir.path("leaf.key"),
            _dir: dir,
        }
    }
}

fn openssl(a: &[&str], b: &[&str], c: &[&str]) {
    let out = Command::new("openssl")
        .args(a)
        .args(b)
        .args(c)
        .stdin(Stdio::null())
        .output()
        .expect("running openssl (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {a:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// nginx's `stream` module on a free port, terminating TLS with `ca`'s server
/// certificate and passing the plain bytes to `target_port`.
pub struct TlsTerminator {
    pub port: u16,
    _guard: Guard,
    _dir: TempDir,
}

impl TlsTerminator {
    pub fn start(target_port: u16, ca: &TestCa) -> TlsTerminator {
        let dir = TempDir::new("nginx-tls");
        let port = super::free_port();
        let body = format!(
            "stream {{ server {{ listen 127.0.0.1:{port} ssl;\n\
               ssl_certificate {cert}; ssl_certificate_key {key};\n\
               proxy_pass 127.0.0.1:{target_port}; }} }}\n",
            cert = ca.cert_pem.display(),
            key = ca.key_pem.display()
        );
        let guard = nginx(
            &dir,
            &[module("ngx_stream_module.so", "libnginx-mod-stream")],
            &body,
            "nginx (stream, TLS)",
        );
        wait_for_port(port, "nginx's TLS terminator");
        TlsTerminator {
            port,
            _guard: guard,
            _dir: dir,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Seen {
    Tag {
        at: Instant,
        kind: Role,
        video: bool,
        ts: u32,
    },
    Unpublished,
}

/// A viewer of the channel, subscribed from `watch` until dropped.
pub struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Recorder {
    pub fn watch(channel: &Arc<Channel>) -> Recorder {
        let (start, mut viewer) = channel.subscribe();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            let record = |t: &MediaTag| Seen::Tag {
                at: Instant::now(),
                kind: t.role,
                video: t.tag.tag_type == TagType::Video,
                ts: t.tag.timestamp,
            };
            log.lock().unwrap().extend(start.iter().map(|t| record(t)));
            while let Some(feed) = viewer.next().await {
                let item = match feed {
                    Feed::Tag(t) => record(&t),
                    Feed::Unpublished => Seen::Unpublished,
                };
                log.lock().unwrap().push(item);
            }
        });
        Recorder { seen, task }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn frames(&self) -> usize {
        self.seen()
            .iter()
            .filter(|s| matches!(s, Seen::Tag { kind, .. } if kind.is_coded()))
            .count()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every distinct upstream state the channel passed through, sampled every 10 ms.
pub struct States(Arc<Mutex<Vec<UpstreamState>>>, JoinHandle<()>);

impl States {
    pub fn record(channel: &Arc<Channel>) -> States {
        let log = Arc::new(Mutex::new(Vec::<UpstreamState>::new()));
        let (l, c) = (log.clone(), channel.clone());
        let task = tokio::spawn(async move {
            loop {
                let now = c.snapshot().upstream;
                {
                    let mut l = l.lock().unwrap();
                    if l.last() != Some(&now) {
                        l.push(now);
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        States(log, task)
    }

    pub fn all(&self) -> Vec<UpstreamState> {
        self.0.lock().unwrap().clone()
    }

    pub fn retrying_error(&self) -> Option<String> {
        self.all().into_iter().find_map(|s| match s {
            UpstreamState::Retrying { error, .. } => Some(error),
            _ => None,
        })
    }
}

impl Drop for States {
    fn drop(&mut self) {
        self.1.abort();
    }
}

/// A channel fed by `spec` until the returned trigger fires or is dropped.
pub fn pull(spec: &str, options: PullOptions) -> (Arc<Channel>, Trigger, JoinHandle<()>) {
    let spec = UpstreamSpec::parse(spec).expect("upstream spec");
    let hub = Hub::new(Limits::default());
    let channel = hub.get_or_create("test", Source::Pull);
    let (trigger, shutdown) = shutdown::channel();
    let task = tokio::spawn(upstream::run(spec, options, channel.clone(), shutdown));
    (channel, trigger, task)
}

pub async fn until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
