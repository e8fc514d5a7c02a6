//! HAProxy (Debian's `haproxy`) as the load balancer in front of edge gateways: the
//! configuration `docs/deployment.md` shows, on loopback ports, with a stats page to
//! read which edges it sees up.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::gateway::http_get;
use super::process::{Guard, TempDir, free_port, wait_for_port};

/// One edge behind the balancer: its HTTP and RTMP ports on loopback.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    pub http: u16,
    pub rtmp: u16,
}

/// The configuration: an HTTP frontend hashing the channel's name in the path over the
/// edges (so a channel's HTTP-FLV, WS-FLV and HLS viewers land on one edge),
/// a TCP frontend for RTMP, health checks on `/healthz` every 0.5 s, and a stats page.
pub fn config(http: u16, rtmp: u16, stats: u16, edges: &[Edge]) -> String {
    let mut text = format!(
        "global\n\
         \x20   maxconn 4096\n\
         \n\
         defaults\n\
         \x20   timeout connect 2s\n\
         \x20   timeout client 30s\n\
         \x20   timeout server 30s\n\
         \x20   # WebSocket and HTTP-FLV streams last for hours.\n\
         \x20   timeout tunnel 1h\n\
         \x20   timeout http-request 10s\n\
         \x20   # A request refused by a draining edge (503) or one whose connection fails\n\
         \x20   # is tried again on another edge.\n\
         \x20   retries 3\n\
         \x20   option redispatch 1\n\
         \n\
         frontend http\n\
         \x20   mode http\n\
         \x20   bind 127.0.0.1:{http}\n\
         \x20   default_backend edges\n\
         \n\
         backend edges\n\
         \x20   mode http\n\
         \x20   # A channel's viewers on one edge, whatever they play it by: the hash is of\n\
         \x20   # the channel's name in the path (`cam` of /live/cam.flv and of\n\
         \x20   # /live/cam/index.m3u8 and its segments; the query, tokens, apart), on a\n\
         \x20   # consistent hash ring, so an edge leaving moves only its own channels.\n\
         \x20   balance hash path,field(3,/),field(1,.)\n\
         \x20   hash-type consistent\n\
         \x20   retry-on conn-failure empty-response 503\n\
         \x20   option httpchk GET /healthz\n\
         \x20   http-check expect status 200\n\
         \x20   default-server inter 500ms fall 1 rise 2\n"
    );
    for (i, e) in edges.iter().enumerate() {
        text.push_str(&format!(
            "    server edge{n} 127.0.0.1:{port} check\n",
            n = i + 1,
            port = e.http
        ));
    }
    text.push_str(&format!(
        "\n\
         frontend rtmp\n\
         \x20   mode tcp\n\
         \x20   bind 127.0.0.1:{rtmp}\n\
         \x20   default_backend edges_rtmp\n\
         \n\
         backend edges_rtmp\n\
         \x20   mode tcp\n\
         \x20   # TCP mode cannot see the stream's name: one client address, one edge.\n\
         \x20   balance source\n\
         \x20   hash-type consistent\n\
         \x20   option httpchk GET /healthz\n\
         \x20   http-check expect status 200\n\
         \x20   default-server inter 500ms fall 1 rise 2\n"
    ));
    for (i, e) in edges.iter().enumerate() {
        text.push_str(&format!(
            "    server edge{n} 127.0.0.1:{port} check port {check}\n",
            n = i + 1,
            port = e.rtmp,
            check = e.http
        ));
    }
    text.push_str(&format!(
        "\n\
         frontend stats\n\
         \x20   mode http\n\
         \x20   bind 127.0.0.1:{stats}\n\
         \x20   stats enable\n\
         \x20   stats uri /stats\n\
         \x20   stats refresh 1s\n"
    ));
    text
}

/// HAProxy in front of `edges`; dropping it kills it.
pub struct Haproxy {
    pub http: u16,
    pub rtmp: u16,
    pub stats: u16,
    _guard: Guard,
    _dir: TempDir,
}

impl Haproxy {
    pub fn start(edges: &[Edge]) -> Result<Haproxy> {
        let dir = TempDir::new("haproxy")?;
        let (http, rtmp, stats) = (free_port()?, free_port()?, free_port()?);
        let path = dir.0.join("haproxy.cfg");
        fs::write(&path, config(http, rtmp, stats, edges))
            .with_context(|| format!("writing {}", path.display()))?;
        let log = fs::File::create(dir.0.join("haproxy.log")).context("haproxy's log")?;
        let guard = Guard::spawn(
            Command::new("haproxy")
                // -db: in the foreground, so that the guard holds the process itself.
                .args(["-db", "-f"])
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log),
            "haproxy",
        )?;
        let listening = wait_for_port(http, "haproxy (http)")
            .and_then(|()| wait_for_port(rtmp, "haproxy (rtmp)"))
            .and_then(|()| wait_for_port(stats, "haproxy (stats)"));
        if let Err(e) = listening {
            let log = fs::read_to_string(dir.0.join("haproxy.log")).unwrap_or_default();
            bail!("{e:#}; haproxy said:\n{log}");
        }
        Ok(Haproxy {
            http,
            rtmp,
            stats,
            _guard: guard,
            _dir: dir,
        })
    }

    pub fn ws_url(&self, channel: &str) -> String {
        format!("ws://127.0.0.1:{}/live/{channel}.flv", self.http)
    }

    pub fn http_url(&self, channel: &str) -> String {
        format!("http://127.0.0.1:{}/live/{channel}.flv", self.http)
    }

    pub fn rtmp_url(&self, channel: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{channel}", self.rtmp)
    }

    /// Which HTTP edges (`edge1`…, in the order given) HAProxy's checks see up.
    pub fn edges_up(&self) -> Result<Vec<bool>> {
        let (status, body) = http_get(self.stats, "/stats;csv")?;
        if status != 200 {
            bail!("haproxy's stats answered {status}");
        }
        // HAProxy answers chunked even to HTTP/1.0.
        let csv = dechunk(&body).unwrap_or(body);
        // `# pxname,svname,qcur,…,status,…`: the `status` column of each server line.
        let header = csv
            .lines()
            .find(|l| l.starts_with("# pxname"))
            .context("no header in haproxy's stats")?;
        let column = header
            .trim_start_matches("# ")
            .split(',')
            .position(|c| c == "status")
            .context("no status column")?;
        let mut up = Vec::new();
        for line in csv.lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            if fields.first() == Some(&"edges")
                && fields.get(1).is_some_and(|s| s.starts_with("edge"))
            {
                up.push(fields.get(column).is_some_and(|s| s.starts_with("UP")));
            }
        }
        Ok(up)
    }

    /// Waits until the checks see exactly `want` (per edge: up or not).
    pub fn wait_for(&self, want: &[bool], limit: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            let up = self.edges_up()?;
            if up == want {
                return Ok(());
            }
            if started.elapsed() >= limit {
                bail!("haproxy sees the edges {up:?}, not {want:?}, after {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A chunked body's content, or `None` when `body` is not chunked.
fn dechunk(body: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}

#[cfg(test)]
mod tests {
    use super::{Edge, config};
    use crate::peers::TempDir;

    /// HAProxy itself accepts the configuration (`haproxy -c`).
    #[test]
    fn haproxy_accepts_the_configuration() {
        let dir = TempDir::new("haproxy-check").expect("a directory");
        let path = dir.path("haproxy.cfg");
        let edge = Edge {
            http: 8080,
            rtmp: 1935,
        };
        std::fs::write(&path, config(80, 1935, 8404, &[edge, edge])).expect("writing");
        let out = std::process::Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("running haproxy (Debian package haproxy)");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
