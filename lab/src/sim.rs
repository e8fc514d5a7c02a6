//! `lab sim`: the cluster on paper, by simulation. Viewers pick among channels by a
//! Zipf law; a load balancer hashes each viewer's `/live/<channel>.flv` onto a ring of
//! edges (HAProxy's `balance uri` + `hash-type consistent`: our own ring and hash, the
//! same idea), plainly or with bounded loads (HAProxy's `hash-balance-factor`). Out:
//! the origin's egress in streams (one per edge and channel it watches), the spread of
//! viewers over edges, and where the hottest channel goes; into `docs/scaling.md`.
//!
//! No I/O but the report: deterministic from its seed, checked by unit tests.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::report;

const DOC: &str = "docs/scaling.md";
const SECTION: &str = "cluster-sim";

/// HAProxy gives a server of weight 1 this many points on its ring (`BE_WEIGHT_SCALE`).
pub const HAPROXY_POINTS: u32 = 16;

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub channels: usize,
    pub viewers: usize,
    /// The Zipf law's exponent: channel of rank k gets a share ∝ 1/k^s.
    pub zipf: f64,
    pub edges: usize,
    /// Points per edge on the ring.
    pub points: u32,
    /// Bounded loads: no edge above `factor` × the mean (e.g. 1.25); `None`: plain hashing.
    pub balance_factor: Option<f64>,
    pub seed: u64,
}

/// What came out.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Channels with at least one viewer.
    pub watched: usize,
    /// Streams the origin sends: distinct (edge, channel) pairs.
    pub origin_streams: usize,
    /// Viewers on the busiest edge, and the mean.
    pub max_load: usize,
    pub mean_load: f64,
    /// The hottest channel's viewers and the edges they are on.
    pub hot_viewers: usize,
    pub hot_edges: usize,
}

/// Runs one simulation.
pub fn simulate(p: &Params) -> Outcome {
    let ring = Ring::new(p.edges, p.points);
    let zipf = Zipf::new(p.channels, p.zipf);
    let mut rng = SplitMix(p.seed);
    let mut load = vec![0usize; p.edges];
    let mut pairs = HashSet::new();
    let mut watched = HashSet::new();
    let mut per_channel = vec![0usize; p.channels];
    let mut hot_edges = HashSet::new();
    for arrived in 0..p.viewers {
        let channel = zipf.sample(rng.unit());
        let key = hash(format!("/live/ch{channel}.flv").as_bytes());
        // HAProxy's bound: ceil(factor × (viewers + 1) / edges), the newcomer counted.
        let cap = p
            .balance_factor
            .map(|f| (f * (arrived + 1) as f64 / p.edges as f64).ceil() as usize);
        let edge = ring.pick(key, |e| cap.is_none_or(|c| load[e] < c));
        load[edge] += 1;
        pairs.insert((edge, channel));
        watched.insert(channel);
        per_channel[channel] += 1;
        if channel == 0 {
            hot_edges.insert(edge);
        }
    }
    Outcome {
        watched: watched.len(),
        origin_streams: pairs.len(),
        max_load: load.iter().copied().max().unwrap_or(0),
        mean_load: p.viewers as f64 / p.edges as f64,
        hot_viewers: per_channel.first().copied().unwrap_or(0),
        hot_edges: hot_edges.len(),
    }
}

/// The options of `lab sim`.
#[derive(Debug, Clone, Copy)]
pub struct Args {
    pub channels: usize,
    pub viewers: usize,
    pub zipf: f64,
    pub seed: u64,
    /// Write the section of `docs/scaling.md` (else print it only).
    pub write: bool,
}

impl Args {
    pub fn parse(args: &[String]) -> Result<Args> {
        let mut out = Args {
            channels: 1000,
            viewers: 100_000,
            zipf: 1.0,
            seed: 20,
            write: false,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--channels" => out.channels = value()?.parse().context("--channels")?,
                "--viewers" => out.viewers = value()?.parse().context("--viewers")?,
                "--zipf" => out.zipf = value()?.parse().context("--zipf")?,
                "--seed" => out.seed = value()?.parse().context("--seed")?,
                "--write" => out.write = true,
                other => bail!(
                    "lab sim: unknown option {other} (--channels N --viewers N --zipf S --seed N --write)"
                ),
            }
        }
        if out.channels == 0 || out.viewers == 0 {
            bail!("lab sim: --channels and --viewers must be at least 1");
        }
        Ok(out)
    }
}

/// Simulates 3, 10 and 100 edges, plain and bounded, and reports.
pub fn run(root: &Path, args: &Args) -> Result<()> {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Written by `cargo run -p flashless-lab --release -- sim --write`: {} viewers over {} channels, \
         Zipf exponent {}, seed {}; a ring of {HAPROXY_POINTS} points per edge (HAProxy's, weight 1) \
         and of 160 (weight 10); bounded loads at 1.25 × the mean (HAProxy `hash-balance-factor 125`).\n",
        args.viewers, args.channels, args.zipf, args.seed
    );
    report::table_head(
        &mut s,
        &[
            "edges",
            "ring points",
            "balance",
            "watched channels",
            "origin streams",
            "busiest edge / mean",
            "hottest channel: viewers on edges",
        ],
        &[true, true, false, true, true, true, false],
    );
    for edges in [3, 10, 100] {
        for points in [HAPROXY_POINTS, 160] {
            for factor in [None, Some(1.25)] {
                let o = simulate(&Params {
                    channels: args.channels,
                    viewers: args.viewers,
                    zipf: args.zipf,
                    edges,
                    points,
                    balance_factor: factor,
                    seed: args.seed,
                });
                report::row(
                    &mut s,
                    &[
                        edges.to_string(),
                        points.to_string(),
                        factor.map_or("plain".into(), |f| format!("bounded {f}")),
                        o.watched.to_string(),
                        o.origin_streams.to_string(),
                        format!("{:.2}", o.max_load as f64 / o.mean_load),
                        format!("{} on {}", o.hot_viewers, o.hot_edges),
                    ],
                );
            }
        }
    }
    print!("{s}");
    if args.write {
        let header = "# Scaling past one machine\n";
        report::write_section(&root.join(DOC), header, SECTION, &s)?;
        println!("==> written to {DOC}");
    }
    Ok(())
}

/// The ring: each edge's points, sorted by position.
struct Ring {
    points: Vec<(u64, usize)>,
}

impl Ring {
    fn new(edges: usize, per_edge: u32) -> Ring {
        let mut points: Vec<(u64, usize)> = (0..edges)
            .flat_map(|e| (0..per_edge).map(move |i| (hash(format!("edge{e}#{i}").as_bytes()), e)))
            .collect();
        points.sort_unstable();
        Ring { points }
    }

    /// The first edge clockwise from `key` that `fits`; the first at all when none does.
    fn pick(&self, key: u64, fits: impl Fn(usize) -> bool) -> usize {
        let start = self.points.partition_point(|&(at, _)| at < key);
        let n = self.points.len();
        let mut first = None;
        for i in 0..n {
            let (_, edge) = self.points[(start + i) % n];
            first.get_or_insert(edge);
            if fits(edge) {
                return edge;
            }
        }
        first.unwrap_or(0)
    }
}

/// Channel ranks by a Zipf law, by its cumulative distribution.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut total = 0.0;
        let mut cumulative: Vec<f64> = (1..=n)
            .map(|k| {
                total += 1.0 / (k as f64).powf(s);
                total
            })
            .collect();
        for c in &mut cumulative {
            *c /= total;
        }
        Zipf { cumulative }
    }

    /// The rank (0 = the hottest) for `u` in [0, 1).
    fn sample(&self, u: f64) -> usize {
        self.cumulative
            .partition_point(|&c| c <= u)
            .min(self.cumulative.len() - 1)
    }
}

/// A 64-bit hash with full avalanche (FNV-1a, then SplitMix64's finaliser).
fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SplitMix64: a small, seeded, reproducible generator.
struct SplitMix(u64);

impl SplitMix {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        (mix(self.0) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(edges: usize, factor: Option<f64>) -> Params {
        Params {
            channels: 1000,
            viewers: 20_000,
            zipf: 1.0,
            edges,
            points: HAPROXY_POINTS,
            balance_factor: factor,
            seed: 7,
        }
    }

    #[test]
    fn one_edge_pulls_each_watched_channel_once() {
        let o = simulate(&params(1, None));
        assert_eq!(o.origin_streams, o.watched);
        assert_eq!(o.max_load, 20_000);
        assert_eq!(o.hot_edges, 1);
    }

    #[test]
    fn plain_hashing_puts_a_channel_on_one_edge_whatever_the_edges() {
        for edges in [3, 10, 100] {
            let o = simulate(&params(edges, None));
            assert_eq!(o.origin_streams, o.watched, "{edges} edges");
            assert_eq!(o.hot_edges, 1);
        }
    }

    #[test]
    fn bounded_loads_cap_the_busiest_edge_and_spread_the_hot_channel() {
        let o = simulate(&params(10, Some(1.25)));
        assert!(o.max_load as f64 <= 1.25 * o.mean_load + 1.0, "{o:?}");
        assert!(o.hot_edges > 1, "{o:?}");
        // Spreading costs origin streams, but far fewer than one per viewer.
        assert!(
            o.origin_streams > o.watched && o.origin_streams < 2 * o.watched,
            "{o:?}"
        );
    }

    #[test]
    fn zipf_ranks_follow_the_law() {
        let z = Zipf::new(1000, 1.0);
        // The hottest channel's share is 1 / H(1000) ≈ 13.4 %.
        let mut rng = SplitMix(1);
        let hot = (0..100_000).filter(|_| z.sample(rng.unit()) == 0).count();
        assert!((12_500..14_500).contains(&hot), "{hot}");
    }

    #[test]
    fn the_ring_moves_only_a_leaving_edges_keys() {
        let three = Ring::new(3, HAPROXY_POINTS);
        let two = Ring::new(2, HAPROXY_POINTS);
        for c in 0..1000 {
            let key = hash(format!("/live/ch{c}.flv").as_bytes());
            let before = three.pick(key, |_| true);
            if before != 2 {
                assert_eq!(two.pick(key, |_| true), before, "channel {c} moved");
            }
        }
    }
}
