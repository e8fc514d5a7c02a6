//! A cluster, for real, on loopback: one origin gateway fed by ffmpeg publishers,
//! three edge gateways run with the Kubernetes ConfigMap's configuration, HAProxy in
//! front (the configuration `docs/deployment.md` shows). WS-FLV viewers and an RTMP
//! player come through HAProxy; the browser's side is `e2e/cluster.test.mjs`.

mod peers;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use flashless_lab::peers::{Edge, Haproxy};
use futures_util::StreamExt;
use peers::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const CHANNELS: &[&str] = &["ch1", "ch2", "ch3"];

/// The edge configuration deployed by `deploy/k8s/configmap.yaml`: its embedded
/// `flashless.toml`, unindented.
fn configmap_toml() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/k8s/configmap.yaml");
    let yaml = std::fs::read_to_string(path).expect("reading the ConfigMap");
    let mut lines = yaml.lines().skip_while(|l| l.trim() != "flashless.toml: |");
    assert!(lines.next().is_some(), "no flashless.toml in the ConfigMap");
    let mut toml = String::new();
    for line in lines {
        if !line.is_empty() && !line.starts_with("    ") {
            break;
        }
        toml.push_str(line.strip_prefix("    ").unwrap_or(line));
        toml.push('\n');
    }
    assert!(
        toml.contains("origin = "),
        "the ConfigMap is not an edge's:\n{toml}"
    );
    toml
}

struct Cluster {
    /// `None` while it restarts.
    origin: Option<Gateway>,
    /// `None` while an edge is down.
    edges: Vec<Option<Gateway>>,
    ports: Vec<Edge>,
    lb: Haproxy,
    config: String,
    _dir: TempDir,
    publishers: Vec<Guard>,
}

impl Cluster {
    fn start() -> Cluster {
        let origin = Gateway::start(&["--no-demo"]);
        let publishers = CHANNELS
            .iter()
            .map(|c| ffmpeg_publish(&origin.rtmp_url(c), &["-s", "160x120"]))
            .collect();
        for c in CHANNELS {
            origin.wait_live(c);
        }
        let dir = TempDir::new("cluster");
        let config = dir.path("flashless.toml").to_string_lossy().into_owned();
        std::fs::write(&config, configmap_toml()).expect("writing the edge configuration");
        let ports: Vec<Edge> = (0..3)
            .map(|_| Edge {
                http: free_port(),
                rtmp: free_port(),
            })
            .collect();
        let mut cluster = Cluster {
            origin: Some(origin),
            edges: Vec::new(),
            lb: or_fail(Haproxy::start(&ports)),
            ports: ports.clone(),
            config,
            _dir: dir,
            publishers,
        };
        cluster.edges = ports.iter().map(|p| Some(cluster.edge(*p))).collect();
        cluster.wait_up(&[true, true, true]);
        cluster
    }

    fn origin(&self) -> &Gateway {
        self.origin.as_ref().expect("the origin is up")
    }

    /// An edge on `ports`, with the ConfigMap's configuration and this origin.
    fn edge(&self, ports: Edge) -> Gateway {
        let origin = format!("http://127.0.0.1:{}", self.origin().http);
        Gateway::start_on(
            (ports.http, ports.rtmp),
            &["--config", &self.config, "--edge-origin", &origin],
        )
    }

    fn wait_up(&self, want: &[bool]) {
        or_fail(self.lb.wait_for(want, Duration::from_secs(10)));
    }

    /// Each live edge's channels and their viewers, from its `/api/channels`.
    fn placement(&self) -> Vec<BTreeMap<String, u64>> {
        self.edges
            .iter()
            .map(|e| e.as_ref().map(channels).unwrap_or_default())
            .collect()
    }

    /// The origin's viewers per channel: the edges pulling it.
    fn origin_viewers(&self) -> BTreeMap<String, u64> {
        channels(self.origin())
    }
}

fn channels(gw: &Gateway) -> BTreeMap<String, u64> {
    let (_, body) = gw.get("/api/channels");
    let list: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    list.as_array()
        .expect("a list")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_owned(),
                c["viewers"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// What one WS-FLV viewer saw: media bytes, when media last came, and how often it
/// was moved (close 1001) or lost its connection.
#[derive(Default)]
struct Seen {
    bytes: AtomicU64,
    last_ms: AtomicU64,
    moved: AtomicU32,
    lost: AtomicU32,
    /// The longest time between two media messages, once media came.
    max_gap_ms: AtomicU64,
}

/// A WS-FLV viewer through the balancer that reconnects at once when told to move
/// (1001) and after 100 ms when the connection fails, as the npm player does.
fn viewer(url: String, seen: Arc<Seen>, epoch: Instant) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
                seen.lost.fetch_add(1, Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let moved = loop {
                match ws.next().await {
                    Some(Ok(Message::Binary(b))) => {
                        let now = epoch.elapsed().as_millis() as u64;
                        if seen.bytes.fetch_add(b.len() as u64, Relaxed) > 0 {
                            let gap = now.saturating_sub(seen.last_ms.load(Relaxed));
                            seen.max_gap_ms.fetch_max(gap, Relaxed);
                        }
                        seen.last_ms.store(now, Relaxed);
                    }
                    Some(Ok(Message::Close(Some(f)))) if f.code == CloseCode::Away => break true,
                    Some(Ok(_)) => {}
                    _ => break false,
                }
            };
            if moved {
                seen.moved.fetch_add(1, Relaxed);
            } else {
                seen.lost.fetch_add(1, Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    })
}

/// Waits until every viewer has had media after `since` (from `epoch`).
async fn all_receiving(seen: &[Arc<Seen>], epoch: Instant, since: Instant, limit: Duration) {
    let started = Instant::now();
    let since = since.saturating_duration_since(epoch).as_millis() as u64;
    loop {
        let stale = seen
            .iter()
            .filter(|s| s.bytes.load(Relaxed) == 0 || s.last_ms.load(Relaxed) <= since)
            .count();
        if stale == 0 {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{stale} of {} viewers without media since {since} ms, after {limit:?}",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Channels land on one edge each, the origin sends one stream per (edge, channel),
/// an edge lists only what its viewers watch; an edge killed mid-play loses no
/// viewer, and an origin restart neither.
#[tokio::test(flavor = "multi_thread")]
async fn a_channel_lands_on_one_edge_and_the_origin_feeds_each_edge_once() {
    let mut cluster = tokio::task::block_in_place(Cluster::start);
    let epoch = Instant::now();
    // Three WS-FLV viewers per channel, through HAProxy.
    let mut seen = BTreeMap::new();
    let mut tasks = Vec::new();
    for c in CHANNELS {
        for _ in 0..3 {
            let s = Arc::new(Seen::default());
            tasks.push(viewer(cluster.lb.ws_url(c), s.clone(), epoch));
            seen.entry(*c).or_insert_with(Vec::new).push(s);
        }
    }
    let everyone: Vec<Arc<Seen>> = seen.values().flatten().cloned().collect();
    all_receiving(&everyone, epoch, epoch, Duration::from_secs(20)).await;

    let placement = tokio::task::block_in_place(|| cluster.placement());
    for c in CHANNELS {
        let on: Vec<usize> = (0..3).filter(|&e| placement[e].contains_key(*c)).collect();
        assert_eq!(on.len(), 1, "{c} is on edges {on:?}: {placement:?}");
        assert_eq!(placement[on[0]][*c], 3, "{c}'s viewers: {placement:?}");
    }
    // Nothing else: an edge pulls only what its viewers watch.
    let listed: usize = placement.iter().map(BTreeMap::len).sum();
    assert_eq!(listed, CHANNELS.len(), "{placement:?}");
    // One stream per (edge, channel) from the origin, not one per viewer.
    let origin = tokio::task::block_in_place(|| cluster.origin_viewers());
    for c in CHANNELS {
        assert_eq!(origin.get(*c), Some(&1), "the origin's viewers: {origin:?}");
    }
    let (_, metrics) = tokio::task::block_in_place(|| cluster.origin().get("/metrics"));
    assert!(
        metrics.contains("flashless_viewers{channel=\"ch1\"} 1"),
        "{metrics}"
    );

    // An RTMP player through the TCP frontend: it plays, and its edge pulls the
    // channel at most once more from the origin.
    let mut rtmpdump = std::process::Command::new("rtmpdump");
    rtmpdump
        .args([
            "-q",
            "-v",
            "-r",
            &cluster.lb.rtmp_url("ch1"),
            "-o",
            "/dev/null",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let rtmpdump = Guard::spawn(&mut rtmpdump, "rtmpdump");
    tokio::task::block_in_place(|| {
        let started = Instant::now();
        loop {
            let placement = cluster.placement();
            let total: u64 = placement.iter().filter_map(|p| p.get("ch1")).sum();
            if total == 4 {
                let edges = placement.iter().filter(|p| p.contains_key("ch1")).count() as u64;
                assert_eq!(cluster.origin_viewers().get("ch1"), Some(&edges));
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "{placement:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    drop(rtmpdump);

    // The edge serving ch2 dies (SIGKILL): its viewers come back through HAProxy on
    // another edge and receive media again.
    let before = tokio::task::block_in_place(|| cluster.placement());
    let victim = (0..3)
        .find(|&e| before[e].contains_key("ch2"))
        .expect("ch2 placed");
    let killed_at = Instant::now();
    drop(cluster.edges[victim].take());
    let mut want = [true; 3];
    want[victim] = false;
    tokio::task::block_in_place(|| cluster.wait_up(&want));
    // Anything read after this came from another edge (what was in flight is read by then).
    let since = killed_at + Duration::from_millis(300);
    all_receiving(&seen["ch2"], epoch, since, Duration::from_secs(15)).await;
    assert!(seen["ch2"].iter().all(|s| s.lost.load(Relaxed) >= 1));
    let back = killed_at.elapsed();
    eprintln!("ch2's viewers back on another edge {back:?} after its edge was killed");
    let placement = tokio::task::block_in_place(|| cluster.placement());
    let on: Vec<usize> = (0..3)
        .filter(|&e| placement[e].contains_key("ch2"))
        .collect();
    assert!(on.len() == 1 && on[0] != victim, "{placement:?}");
    assert_eq!(placement[on[0]]["ch2"], 3, "{placement:?}");
    // The viewers of channels on the other edges were not moved (consistent hashing).
    for c in ["ch1", "ch3"] {
        if before[victim].contains_key(c) {
            continue;
        }
        for s in &seen[c] {
            assert_eq!(s.lost.load(Relaxed) + s.moved.load(Relaxed), 0, "{c} moved");
        }
    }

    // The origin restarts on the same ports, its publishers with it: edges pull again
    // and the viewers carry on, on the same connections.
    let before: Vec<u32> = everyone.iter().map(|s| s.lost.load(Relaxed)).collect();
    let ports = (cluster.origin().http, cluster.origin().rtmp);
    tokio::task::block_in_place(|| {
        cluster.publishers.clear();
        drop(cluster.origin.take());
        // Edges see their pulls fail and retry; their viewers stay.
        std::thread::sleep(Duration::from_secs(1));
        let origin = Gateway::start_on(ports, &["--no-demo"]);
        cluster.publishers = CHANNELS
            .iter()
            .map(|c| ffmpeg_publish(&origin.rtmp_url(c), &["-s", "160x120"]))
            .collect();
        cluster.origin = Some(origin);
    });
    let restarted = Instant::now();
    all_receiving(&everyone, epoch, restarted, Duration::from_secs(20)).await;
    eprintln!(
        "viewers receiving again {:?} after the origin restarted",
        restarted.elapsed()
    );
    let after: Vec<u32> = everyone.iter().map(|s| s.lost.load(Relaxed)).collect();
    assert_eq!(before, after, "viewers lost their connection to the edge");

    // An HLS player of each channel lands on the edge its WS-FLV viewers are on (its
    // producer counts as one more viewer there), not on an edge of its own that
    // would pull the channel a second time.
    tokio::task::block_in_place(|| {
        // The first request starts a producer; its playlist follows its first segment.
        // Every playlist is asked for on each pass, as players poll them: a player (or a
        // producer) that asks nothing for a few target durations is gone. So the counts
        // are read after a pass that waited for nothing: every player asked just now.
        let started = Instant::now();
        loop {
            let pass = Instant::now();
            let missing: Vec<&str> = CHANNELS
                .iter()
                .copied()
                .filter(|c| http_get(cluster.lb.http, &format!("/live/{c}/index.m3u8")).0 != 200)
                .collect();
            if missing.is_empty() && pass.elapsed() < Duration::from_secs(1) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no playlist for {missing:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let placement = cluster.placement();
        for c in CHANNELS {
            let on: Vec<usize> = (0..3).filter(|&e| placement[e].contains_key(*c)).collect();
            assert_eq!(on.len(), 1, "{c} is on edges {on:?}: {placement:?}");
            assert_eq!(placement[on[0]][*c], 4, "{c}'s viewers: {placement:?}");
        }
        let origin = cluster.origin_viewers();
        for c in CHANNELS {
            assert_eq!(origin.get(*c), Some(&1), "the origin's viewers: {origin:?}");
        }
    });
    for t in tasks {
        t.abort();
    }
}

/// A rolling restart under 300 WS-FLV viewers: each edge in turn drains (SIGTERM),
/// exits once its viewers have moved, and comes back; every viewer ends up receiving
/// media, none waits long.
#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_restart_of_every_edge_loses_no_viewer() {
    const VIEWERS: usize = 300;
    let mut cluster = tokio::task::block_in_place(Cluster::start);
    let epoch = Instant::now();
    let everyone: Vec<Arc<Seen>> = (0..VIEWERS).map(|_| Arc::new(Seen::default())).collect();
    let tasks: Vec<_> = everyone
        .iter()
        .enumerate()
        .map(|(i, s)| viewer(cluster.lb.ws_url(CHANNELS[i % 3]), s.clone(), epoch))
        .collect();
    all_receiving(&everyone, epoch, epoch, Duration::from_secs(60)).await;
    let settled = Instant::now();
    let gaps_before: Vec<u64> = everyone
        .iter()
        .map(|s| s.max_gap_ms.load(Relaxed))
        .collect();
    for s in &everyone {
        s.max_gap_ms.store(0, Relaxed);
    }
    let started = Instant::now();
    for e in 0..3 {
        let on_edge: u64 = tokio::task::block_in_place(|| cluster.placement())[e]
            .values()
            .sum();
        let moved_before: u32 = everyone.iter().map(|s| s.moved.load(Relaxed)).sum();
        let edge = cluster.edges[e].take().expect("the edge is up");
        let (status, took) = tokio::task::spawn_blocking(move || edge.stop("TERM"))
            .await
            .expect("stopping");
        assert!(status.success(), "edge {e} exited with {status}");
        // Well before drain_timeout (20 s): it exited because its viewers had gone.
        assert!(
            took < Duration::from_secs(10),
            "edge {e} drained in {took:?}"
        );
        // Every viewer of the edge was told to move (its task may read the close a
        // moment after the edge has exited).
        let moved = || everyone.iter().map(|s| s.moved.load(Relaxed)).sum::<u32>() - moved_before;
        let waited = Instant::now();
        while u64::from(moved()) < on_edge && waited.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!(
            "edge {e}: {on_edge} viewers, {} moved by the drain, exited in {took:?}",
            moved()
        );
        assert_eq!(u64::from(moved()), on_edge, "moved by the drain");
        let mut want = [true; 3];
        want[e] = false;
        tokio::task::block_in_place(|| cluster.wait_up(&want));
        let ports = cluster.ports[e];
        cluster.edges[e] = Some(tokio::task::block_in_place(|| cluster.edge(ports)));
        tokio::task::block_in_place(|| cluster.wait_up(&[true; 3]));
        all_receiving(&everyone, epoch, Instant::now(), Duration::from_secs(20)).await;
    }
    let moved: u32 = everyone.iter().map(|s| s.moved.load(Relaxed)).sum();
    let lost: u32 = everyone.iter().map(|s| s.lost.load(Relaxed)).sum();
    let max_gap = everyone
        .iter()
        .map(|s| s.max_gap_ms.load(Relaxed))
        .max()
        .unwrap_or(0);
    let placement = tokio::task::block_in_place(|| cluster.placement());
    let viewers: u64 = placement.iter().flat_map(|p| p.values()).sum();
    eprintln!(
        "rolling restart of 3 edges under {VIEWERS} viewers in {:?}: {moved} moves, {lost} failed \
         connections, longest gap without media {max_gap} ms (before: {} ms), {viewers} viewers \
         on the edges after: {placement:?} (settled {:?} after the start)",
        started.elapsed(),
        gaps_before.iter().max().unwrap_or(&0),
        settled.duration_since(epoch),
    );
    assert_eq!(viewers, VIEWERS as u64, "viewers lost: {placement:?}");
    // Reconnecting at once to an edge that has the channel's GOP: about a GOP (1 s) at worst.
    assert!(max_gap < 3000, "a viewer went {max_gap} ms without media");
    for t in tasks {
        t.abort();
    }
}
