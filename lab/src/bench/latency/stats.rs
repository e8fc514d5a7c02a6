//! What the browser side reported (`lab/browser/latency.mjs`, JSON lines), and the
//! figures made of it: percentiles, drift, per-window medians, lost frames.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::report::median;

/// One frame read on screen: when it was shown and when it was stamped (Unix ms).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Frame {
    pub shown: f64,
    pub stamped: f64,
    pub seq: u16,
}

impl Frame {
    pub fn latency(&self) -> f64 {
        self.shown - self.stamped
    }
}

/// A page's way to its first frame: ms since navigation start at each step; and
/// for the fresh browsers opened before the measured one, the frames they read.
#[derive(Debug, Clone, Default)]
pub struct Start {
    pub marks: Vec<(String, f64)>,
    pub frames: Vec<Frame>,
}

impl Start {
    pub fn mark(&self, name: &str) -> Option<f64> {
        self.marks.iter().find(|(k, _)| k == name).map(|m| m.1)
    }

    /// Navigation start to the first frame presented.
    pub fn first_frame(&self) -> Option<f64> {
        self.mark("firstFrame")
    }

    /// The median latency of this short session, if it read frames.
    pub fn latency(&self) -> Option<f64> {
        median(self.frames.iter().map(Frame::latency))
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Seconds since the first frame of the measured page.
    pub at_s: f64,
    pub js_heap: Option<f64>,
    pub renderer_rss_kb: Option<f64>,
    /// The renderer's private memory (RssAnon), without what it shares.
    pub renderer_anon_kb: Option<f64>,
    pub nodes: Option<f64>,
    pub listeners: Option<f64>,
    /// CDP `Performance.getMetrics`: seconds of script and of all tasks on the
    /// renderer's main thread since the page opened.
    pub script_s: Option<f64>,
    pub task_s: Option<f64>,
}

/// The probe's counters at the end of the measured page.
#[derive(Debug, Clone, Default)]
pub struct End {
    pub unreadable: u64,
    /// Frames the `<video>` presented (`presentedFrames`), read or not.
    pub presented: u64,
    pub seeks: u64,
    pub waits: u64,
    pub dropped: u64,
    pub errors: Vec<String>,
}

/// Everything one configuration's browser run reported.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Fresh browsers' first frames; the measured page's start is among them.
    pub starts: Vec<Start>,
    pub frames: Vec<Frame>,
    pub memory: Vec<Memory>,
    pub end: Option<End>,
}

impl Report {
    /// Seconds of (script, all tasks) per minute of the measured page, between its
    /// first and last memory samples; `None` unless the page read at least
    /// `min_share` of the frames `fps` would give in that time (a page that stopped
    /// playing costs little, and must not pass for a fast one).
    pub fn cpu_per_minute(&self, fps: f64, min_share: f64) -> Option<(f64, f64)> {
        let (first, last) = (self.memory.first()?, self.memory.last()?);
        let span_s = last.at_s - first.at_s;
        if span_s < 10.0 || (self.frames.len() as f64) < span_s * fps * min_share {
            return None;
        }
        let per_min = |a: Option<f64>, b: Option<f64>| Some((b? - a?) * 60.0 / span_s);
        Some((
            per_min(first.script_s, last.script_s)?,
            per_min(first.task_s, last.task_s)?,
        ))
    }

    pub fn parse(jsonl: &str) -> Result<Report> {
        let mut report = Report::default();
        for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line)
                .with_context(|| format!("the browser side said {line:?}"))?;
            let f = |k: &str| v[k].as_f64();
            let u = |k: &str| v[k].as_u64().unwrap_or(0);
            match v["kind"].as_str() {
                Some("start") => {
                    let marks = v["marks"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                                .collect()
                        })
                        .unwrap_or_default();
                    let frames = frames(&v)?;
                    report.starts.push(Start { marks, frames });
                }
                Some("frames") => report.frames.extend(frames(&v)?),
                Some("memory") => report.memory.push(Memory {
                    at_s: f("at").unwrap_or(0.0),
                    js_heap: f("jsHeap").or(f("cdpJsHeap")),
                    renderer_rss_kb: f("rendererRssKb"),
                    renderer_anon_kb: f("rendererAnonKb"),
                    nodes: f("nodes"),
                    listeners: f("listeners"),
                    script_s: f("scriptS"),
                    task_s: f("taskS"),
                }),
                Some("end") => {
                    report.end = Some(End {
                        unreadable: u("unreadable"),
                        presented: u("presented"),
                        seeks: u("seeks"),
                        waits: u("waits"),
                        dropped: u("dropped"),
                        errors: v["errors"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|e| e.as_str().map(str::to_owned))
                            .collect(),
                    })
                }
                // The player's own stats every drain, kept in the file for reading a run.
                Some("player") => {}
                _ => bail!("unexpected line from the browser side: {line:?}"),
            }
        }
        Ok(report)
    }

    /// The median latencies of the fresh browsers' short sessions.
    pub fn session_latencies(&self) -> Vec<f64> {
        self.starts.iter().filter_map(Start::latency).collect()
    }

    /// Times to first frame of every fresh browser, in the order they ran.
    pub fn first_frames(&self) -> Vec<f64> {
        self.starts.iter().filter_map(Start::first_frame).collect()
    }

    pub fn latencies(&self) -> Vec<f64> {
        self.frames.iter().map(Frame::latency).collect()
    }

    /// Seconds from the first frame read to the last.
    pub fn span_s(&self) -> f64 {
        match (self.frames.first(), self.frames.last()) {
            (Some(a), Some(b)) => (b.shown - a.shown) / 1000.0,
            _ => 0.0,
        }
    }

    /// Median latency of the last `window_s` minus that of the first `window_s`.
    pub fn drift(&self, window_s: f64) -> Option<f64> {
        let (first, last) = (self.frames.first()?, self.frames.last()?);
        let window_ms = window_s * 1000.0;
        let early = self
            .frames
            .iter()
            .filter(|f| f.shown < first.shown + window_ms);
        let late = self
            .frames
            .iter()
            .filter(|f| f.shown > last.shown - window_ms);
        Some(median(late.map(Frame::latency))? - median(early.map(Frame::latency))?)
    }

    /// The median latency of each successive `len_s` slice, with its start (s). The
    /// frames of a last partial slice shorter than half a slice join the one before.
    pub fn slices(&self, len_s: f64) -> Vec<(f64, f64)> {
        let Some(first) = self.frames.first() else {
            return Vec::new();
        };
        let count = ((self.span_s() / len_s).round() as usize).max(1);
        let mut out: Vec<(f64, Vec<f64>)> = Vec::new();
        for f in &self.frames {
            let i = (((f.shown - first.shown) / 1000.0 / len_s).floor() as usize).min(count - 1);
            while out.len() <= i {
                out.push((out.len() as f64 * len_s, Vec::new()));
            }
            out[i].1.push(f.latency());
        }
        out.into_iter()
            .filter_map(|(at, values)| Some((at, median(values)?)))
            .collect()
    }

    /// Frames the publisher made that were never read on screen, from the gaps in
    /// the frame numbers (modulo 4096). A number seen again (after a seek back) is
    /// not a gap.
    pub fn lost(&self) -> u64 {
        let mut lost = 0;
        for pair in self.frames.windows(2) {
            let step = pair[1].seq.wrapping_sub(pair[0].seq) & 0x0FFF;
            if (2..2048).contains(&step) {
                lost += u64::from(step - 1);
            }
        }
        lost
    }
}

/// The `frames` of a line: `[shown, stamped, n]` each.
fn frames(line: &Value) -> Result<Vec<Frame>> {
    let mut out = Vec::new();
    for f in line["frames"].as_array().into_iter().flatten() {
        let (Some(shown), Some(stamped), Some(seq)) = (f[0].as_f64(), f[1].as_f64(), f[2].as_u64())
        else {
            bail!("a frame should be [shown, stamped, n], got {f}");
        };
        out.push(Frame {
            shown,
            stamped,
            seq: seq as u16,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(latencies: &[(f64, f64)]) -> Report {
        Report {
            frames: latencies
                .iter()
                .enumerate()
                .map(|(i, &(at_s, latency))| Frame {
                    shown: 1e12 + at_s * 1000.0,
                    stamped: 1e12 + at_s * 1000.0 - latency,
                    seq: i as u16,
                })
                .collect(),
            ..Report::default()
        }
    }

    #[test]
    fn drift_compares_the_first_and_last_windows() {
        // 0–9 s at 200 ms, then 10–19 s at 260 ms.
        let mut points: Vec<(f64, f64)> = (0..10).map(|s| (f64::from(s), 200.0)).collect();
        points.extend((10..20).map(|s| (f64::from(s), 260.0)));
        let r = frames(&points);
        assert_eq!(r.drift(5.0), Some(60.0));
        assert_eq!(r.span_s(), 19.0);
        assert_eq!(r.slices(10.0), vec![(0.0, 200.0), (10.0, 260.0)]);
        // 19 s in slices of 6 s: the last second joins the third slice.
        assert_eq!(r.slices(6.0).len(), 3);
        assert_eq!(Report::default().drift(5.0), None);
    }

    #[test]
    fn lost_frames_are_the_gaps_in_frame_numbers() {
        let mut r = frames(&[(0.0, 1.0); 6]);
        for (f, seq) in r.frames.iter_mut().zip([4094, 4095, 1, 2, 2, 1]) {
            f.seq = seq;
        }
        // 4095 → 1 skips 0 (wrapping); 2 → 2 is a repeat; 2 → 1 is a step back.
        assert_eq!(r.lost(), 1);
    }

    #[test]
    fn cpu_per_minute_needs_a_playing_page() {
        let mut r = Report::default();
        let sample = |at_s, script, task| Memory {
            at_s,
            script_s: Some(script),
            task_s: Some(task),
            ..Memory::default()
        };
        r.memory = vec![sample(0.0, 1.0, 2.0), sample(30.0, 1.25, 3.0)];
        // 30 s at 25 fps is 750 frames: too few read, no figure.
        r.frames = vec![Frame::default(); 600];
        assert_eq!(r.cpu_per_minute(25.0, 0.9), None);
        r.frames = vec![Frame::default(); 700];
        assert_eq!(r.cpu_per_minute(25.0, 0.9), Some((0.5, 2.0)));
    }

    #[test]
    fn parses_the_browser_lines() {
        let jsonl = r#"{"kind":"start","marks":{"responseEnd":12.5,"firstFrame":240},"frames":[[500,300,0]]}
{"kind":"start","measured":true,"marks":{"firstFrame":260}}
{"kind":"frames","frames":[[1000.5,900,1],[1040.5,940,2]]}
{"kind":"player","at":2,"stats":{"audioUnderruns":1}}
{"kind":"memory","at":0,"jsHeap":2000000,"rendererRssKb":90000,"nodes":80,"listeners":20,"scriptS":0.5,"taskS":1.5}
{"kind":"end","unreadable":3,"callbacks":5,"presented":5,"seeks":1,"waits":0,"dropped":0,"errors":[]}
"#;
        let r = Report::parse(jsonl).unwrap();
        assert_eq!(r.first_frames(), vec![240.0, 260.0]);
        assert_eq!(r.session_latencies(), vec![200.0]);
        assert_eq!(r.latencies(), vec![100.5, 100.5]);
        assert_eq!(r.memory[0].renderer_rss_kb, Some(90000.0));
        assert_eq!(
            (r.memory[0].script_s, r.memory[0].task_s),
            (Some(0.5), Some(1.5))
        );
        assert_eq!(r.end.as_ref().map(|e| e.unreadable), Some(3));
        assert!(Report::parse("{\"kind\":\"frames\",\"frames\":[[1]]}").is_err());
        assert!(Report::parse("{\"kind\":\"other\"}").is_err());
    }
}
