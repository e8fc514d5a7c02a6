//! The servers a benchmark compares: flashless, node-media-server and nginx-rtmp,
//! each pinned to the server core with a raised open-files limit, on free loopback
//! ports, killed when dropped.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::nginx::{self, Conf};
use super::process::{Guard, OPEN_FILES, SERVER_CORE, free_port, pinned, wait_for_port};
use crate::NPM_DIR;

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

/// A started server: its process, where viewers and the publisher connect.
pub struct Running {
    pub guard: Guard,
    pub publish_url: String,
    pub rtmp_play_url: String,
    pub ws_url: String,
    /// HTTP-FLV at the same path: flashless and node-media-server both serve it there.
    pub http_flv_url: String,
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
            let args = [
                "serve",
                "--no-demo",
                "--http",
                &format!("127.0.0.1:{http}"),
                "--rtmp",
                &format!("127.0.0.1:{rtmp}"),
                // Every load-generator viewer comes from 127.0.0.1, and its largest
                // step (10,000 viewers and the control viewer) is over the default
                // of 10,000 connections in all.
                "--connections-per-ip",
                "1000000",
                "--max-connections",
                "1000000",
                "--max-viewers",
                "1000000",
            ];
            pinned(
                SERVER_CORE,
                &release_dir()?.join("flashless"),
                &strings(&args),
            )
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
                .join(NPM_DIR)
                .join("node_modules/node-media-server/bin/app.js");
            let args = vec![
                app.display().to_string(),
                "-c".into(),
                config_path.display().to_string(),
            ];
            pinned(SERVER_CORE, Path::new("node"), &args)
        }
        Server::NginxRtmp => {
            let conf = Conf {
                modules: vec![nginx::rtmp_module()?],
                log_level: "warn",
                worker_connections: OPEN_FILES,
                open_files: Some(OPEN_FILES),
                body: nginx::rtmp_body(rtmp, None),
            };
            pinned(SERVER_CORE, Path::new("nginx"), &conf.write(dir)?)
        }
    };
    cmd.stdout(log.try_clone()?).stderr(log);
    let guard = Guard::spawn(&mut cmd, server.name())?;
    wait_for_port(rtmp, server.name())?;
    if server != Server::NginxRtmp {
        wait_for_port(http, server.name())?;
    }
    let rtmp_url = format!("rtmp://127.0.0.1:{rtmp}/live/{CHANNEL}");
    Ok(Running {
        guard,
        publish_url: rtmp_url.clone(),
        rtmp_play_url: rtmp_url,
        ws_url: format!("ws://127.0.0.1:{http}/live/{CHANNEL}.flv"),
        http_flv_url: format!("http://127.0.0.1:{http}/live/{CHANNEL}.flv"),
    })
}

/// The directory of the lab's release binaries (`flashless`, `loadgen`): the running
/// lab's own, since `cargo xtask` builds them together.
pub fn release_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the lab's binary")?;
    exe.parent()
        .map(Path::to_path_buf)
        .context("the lab's binary has no directory")
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}
