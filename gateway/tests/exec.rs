//! Commands run for channels (`[[exec]]`) through the real gateway: ffmpeg run for a
//! published channel publishes a copy of it back, stops with the session and starts
//! with the next; a command's output reaches the log with the channel in its
//! environment; one that exits is counted and started again; a reload stops them.

mod peers;

use std::time::{Duration, Instant};

use peers::*;

/// Waits until `check` holds, failing with `what` and the log after 20 s.
fn until(gateway: &Gateway, what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}\n{}",
            gateway.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The process `pid` has ended (it may be a zombie no one reaped yet).
fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

fn live(gateway: &Gateway, name: &str) -> bool {
    gateway.channel(name).is_some_and(|c| c["state"] == "live")
}

#[test]
fn ffmpeg_run_for_a_channel_publishes_its_copy_session_by_session() {
    let dir = TempDir::new("exec");
    let ports = (free_port(), free_port());
    let copy = format!(
        "[[exec]]\nmatch = \"cam\"\ncommand = [\"ffmpeg\", \"-hide_banner\", \"-loglevel\", \"error\", \
         \"-i\", \"rtmp://127.0.0.1:{rtmp}/{{app}}/{{name}}\", \"-c\", \"copy\", \"-f\", \"flv\", \
         \"rtmp://127.0.0.1:{rtmp}/{{app}}/{{name}}-copy\"]\n",
        rtmp = ports.1
    );
    let file = config(&dir, &copy);
    let gateway = Gateway::start_on(ports, &["--no-demo", "--config", &file]);
    let publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    gateway.wait_live("cam-copy");
    let streams = ffprobe_streams(&gateway.rtmp_url("cam-copy"));
    assert!(
        streams.contains("h264,320,240") && streams.contains("aac"),
        "{streams}"
    );
    assert_eq!(gateway.metric("flashless_exec_running "), 1.0);

    // The session ends: the command is stopped, and so its copy ends too.
    drop(publisher);
    until(&gateway, "the command stopped", || {
        gateway.metric("flashless_exec_running ") == 0.0
    });
    until(&gateway, "the copy ended", || !live(&gateway, "cam-copy"));
    assert_eq!(gateway.metric("flashless_exec_failures_total "), 0.0);

    // The next session runs it again.
    let _publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    until(&gateway, "the copy again", || live(&gateway, "cam-copy"));

    // Reloaded without the rule: the command stops; the channel plays on.
    config(&dir, "");
    gateway.hup();
    until(&gateway, "the command stopped by the reload", || {
        gateway.metric("flashless_exec_running ") == 0.0
    });
    until(&gateway, "the copy ended", || !live(&gateway, "cam-copy"));
    gateway.wait_live("cam");
}

#[test]
fn a_commands_output_is_logged_and_one_that_exits_is_started_again() {
    let dir = TempDir::new("exec-output");
    let file = config(
        &dir,
        "[[exec]]\nmatch = \"cam\"\n\
         command = [\"sh\", \"-c\", \"echo hello from $FLASHLESS_APP / $FLASHLESS_NAME, {channel}; \
         sleep 300 & echo left $!; exit 3\"]\n",
    );
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    let _publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    gateway.wait_live("cam");
    gateway.log_saying("hello from live / cam, cam");
    until(&gateway, "the exits counted and retried", || {
        gateway.metric("flashless_exec_failures_total ") >= 2.0
    });
    let log = gateway.log_text();
    assert!(
        log.contains("the command \"sh\" failed: it exited (exit status: 3)"),
        "{log}"
    );
    // What a command left behind goes with it (its process group).
    let left: Vec<u32> = log
        .lines()
        .filter_map(|l| {
            l.split_once("exec: left ")?
                .1
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(!left.is_empty(), "{log}");
    for pid in left {
        until(&gateway, &format!("sleep {pid} ended"), || gone(pid));
    }
    // The channel is not disturbed.
    let streams = ffprobe_streams(&gateway.rtmp_url("cam"));
    assert!(streams.contains("h264"), "{streams}");

    for (text, needles) in [
        (
            "[[exec]]\nmatch = \"cam\"\ncommand = []\n",
            &["line 3", "[[exec]] command"][..],
        ),
        (
            "[[exec]]\nmatch = \"cam\"\ncommand = [\" \"]\n",
            &["line 3", "program"][..],
        ),
        (
            "[[exec]]\nmatch = \"c m\"\ncommand = [\"true\"]\n",
            &["line 2", "[[exec]] match"][..],
        ),
        (
            "[[exec]]\nmatch = \"cam\"\n",
            &["missing field `command`"][..],
        ),
    ] {
        let file = config(&dir, text);
        fails_saying(&["serve", "--no-demo", "--config", &file], needles);
    }
}

#[test]
fn a_command_ends_with_a_gateway_that_is_killed() {
    let dir = TempDir::new("exec-killed");
    let file = config(
        &dir,
        "[[exec]]\nmatch = \"cam\"\ncommand = [\"sleep\", \"600\"]\n",
    );
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    let _publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    let log = gateway.log_saying("command started");
    let pid: u32 = log
        .lines()
        .find_map(|l| {
            l.split_once("command started")?
                .1
                .split_once("pid=")?
                .1
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no pid in the log:\n{log}"));
    assert!(!gone(pid), "sleep {pid} runs");

    // No stop runs: the kernel tells the command (SIGTERM) that its gateway died.
    let (status, _) = gateway.stop("KILL");
    assert!(!status.success(), "{status}");
    let started = Instant::now();
    while !gone(pid) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "sleep {pid} outlived its gateway"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
