//! The processes of one benchmark run: a server pinned to core 0, the publisher and
//! the load generator on core 1, on free loopback ports, all killed when dropped.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::deps::BENCH_NPM_DIR;

/// The core the server runs on; the publisher and the load generator get the other.
pub const SERVER_CORE: usize = 0;
pub const CLIENT_CORE: usize = 1;
/// Open files for the server and the generator: one per viewer, and some to spare.
pub const OPEN_FILES: u32 = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Server {
    Flashless,
    NodeMedia,
    NginxRtmp,
}

impl Server {
    pub fn name(self) -> &'static str {
        match self {
            Server::Flashless => "flashless",
            Server::NodeMedia => "node-media-server",
            Server::NginxRtmp => "nginx-rtmp",
        }
    }
}

/// A child killed when dropped, also when the run fails half-way.
pub struct Guard {
    child: Child,
}

impl Guard {
    pub fn spawn(cmd: &mut Command, what: &str) -> Result<Guard> {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {what}"))?;
        Ok(Guard { child })
    }

    /// Guards a child started elsewhere (one whose pipes the caller takes).
    pub fn adopt(child: Child) -> Guard {
        Guard { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the child to exit, then kills it.
    pub fn wait(mut self, limit: Duration) -> Result<()> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("still running after {limit:?}, killed")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program args…` pinned to `core` with a raised open-files limit: `exec` keeps the
/// pid, so the guard and /proc/<pid> are the program's own.
pub fn pinned(core: usize, program: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -n {OPEN_FILES} && exec taskset -c {core} \"$@\""
        ))
        .arg("sh")
        .arg(program)
        .args(args);
    cmd
}

pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn wait_for_port(port: u16, what: &str) -> Result<()> {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(15) {
            bail!("{what} did not listen on port {port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// A started server: its process, where viewers and the publisher connect.
pub struct Running {
    pub guard: Guard,
    pub publish_url: String,
    pub rtmp_play_url: String,
    pub ws_url: String,
}

const CHANNEL: &str = "bench";

/// Starts `server` with its log and files in `dir`.
pub fn start(server: Server, root: &Path, dir: &Path) -> Result<Running> {
    start_on(server, root, dir, free_port()?, free_port()?)
}

/// [`start`] on given ports: a restarted origin comes back where its pullers look.
pub fn start_on(server: Server, root: &Path, dir: &Path, http: u16, rtmp: u16) -> Result<Running> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = fs::File::create(dir.join("server.log"))?;
    let mut cmd = match server {
        Server::Flashless => {
            let bin = root.join("target/release/flashless");
            let args = [
                "serve",
                "--no-demo",
                "--http",
                &format!("127.0.0.1:{http}"),
                "--rtmp",
                &format!("127.0.0.1:{rtmp}"),
                // Every load-generator viewer comes from 127.0.0.1.
                "--connections-per-ip",
                "1000000",
                "--max-viewers",
                "1000000",
            ];
            pinned(SERVER_CORE, &bin, &strings(&args))
        }
        Server::NodeMedia => {
            // Only the parts that serve media: no admin console, no HTTPS, no auth
            // (with auth configured the app writes generated secrets into its config).
            let config = format!(
                "{{\"bind\": \"127.0.0.1\", \"rtmp\": {{\"port\": {rtmp}}}, \
                 \"http\": {{\"port\": {http}}}, \"webadmin\": {{\"enable\": false}}, \
                 \"store\": {{\"path\": \"{}\"}}}}",
                dir.join("data").display()
            );
            let config_path = dir.join("nms.json");
            fs::write(&config_path, config)?;
            let app = root
                .join(BENCH_NPM_DIR)
                .join("node_modules/node-media-server/bin/app.js");
            let args = vec![
                app.display().to_string(),
                "-c".into(),
                config_path.display().to_string(),
            ];
            pinned(SERVER_CORE, Path::new("node"), &args)
        }
        Server::NginxRtmp => {
            let module = nginx_rtmp_module()?;
            let conf = format!(
                "load_module {module};\n\
                 daemon off;\nmaster_process off;\nworker_processes 1;\n\
                 worker_rlimit_nofile {OPEN_FILES};\n\
                 pid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\n\
                 events {{ worker_connections {OPEN_FILES}; }}\n\
                 rtmp {{ server {{ listen 127.0.0.1:{rtmp};\n\
                   application live {{ live on; record off; }} }} }}\n",
                dir = dir.display()
            );
            let conf_path = dir.join("nginx.conf");
            fs::write(&conf_path, conf)?;
            let args = vec![
                "-e".into(),
                dir.join("error.log").display().to_string(),
                "-p".into(),
                dir.display().to_string(),
                "-c".into(),
                conf_path.display().to_string(),
            ];
            pinned(SERVER_CORE, Path::new("nginx"), &args)
        }
    };
    cmd.stdout(log.try_clone()?).stderr(log);
    let guard = Guard::spawn(&mut cmd, server.name())?;
    wait_for_port(rtmp, server.name())?;
    let http_port = match server {
        Server::NginxRtmp => None,
        _ => Some(http),
    };
    if let Some(port) = http_port {
        wait_for_port(port, server.name())?;
    }
    let rtmp_url = format!("rtmp://127.0.0.1:{rtmp}/live/{CHANNEL}");
    Ok(Running {
        guard,
        publish_url: rtmp_url.clone(),
        rtmp_play_url: rtmp_url,
        ws_url: format!("ws://127.0.0.1:{http}/live/{CHANNEL}.flv"),
    })
}

fn nginx_rtmp_module() -> Result<String> {
    [
        "/usr/lib/nginx/modules/ngx_rtmp_module.so",
        "/usr/share/nginx/modules/ngx_rtmp_module.so",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .map(str::to_owned)
    .context("nginx's RTMP module is missing (Debian package libnginx-mod-rtmp)")
}

/// ffmpeg publishing the clip in real time, looped, without re-encoding.
pub fn publish(clip: &Path, url: &str, log: &Path) -> Result<Guard> {
    let args = strings(&[
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-re",
        "-stream_loop",
        "-1",
        "-i",
        &clip.display().to_string(),
        "-c",
        "copy",
        "-f",
        "flv",
        url,
    ]);
    let log = fs::File::create(log)?;
    let mut cmd = pinned(CLIENT_CORE, Path::new("ffmpeg"), &args);
    cmd.stdout(log.try_clone()?).stderr(log);
    Guard::spawn(&mut cmd, "ffmpeg")
}

/// The publisher's clip: made once, then reused by every run. Encoding it live would
/// take a good part of the load generator's core.
pub fn clip(root: &Path) -> Result<PathBuf> {
    let clip = root.join("target/bench/clip.flv");
    if clip.exists() {
        return Ok(clip);
    }
    fs::create_dir_all(root.join("target/bench"))?;
    let partial = clip.with_extension("partial.flv");
    let status = Command::new("ffmpeg")
        .args(CLIP_ARGS)
        .arg("-y")
        .arg(&partial)
        .stdin(Stdio::null())
        .status()
        .context("running ffmpeg")?;
    if !status.success() {
        bail!("ffmpeg could not make the clip: {status}");
    }
    fs::rename(&partial, &clip)?;
    Ok(clip)
}

/// 30 s of testsrc 640x360 and a sine at ~1 Mbps; CBR so that it is 1 Mbps, not
/// whatever x264 needs for a test pattern. A keyframe every second.
#[rustfmt::skip]
pub const CLIP_ARGS: &[&str] = &[
    "-hide_banner", "-loglevel", "error", "-nostdin",
    "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
    "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100",
    "-t", "30",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
    "-b:v", "900k", "-minrate", "900k", "-maxrate", "900k", "-bufsize", "900k",
    "-x264-params", "nal-hrd=cbr", "-g", "25", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "64k",
];

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}
