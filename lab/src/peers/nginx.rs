//! nginx as a peer: its configuration (the RTMP module's `live` application, the
//! stream module terminating TLS), started from a directory of its own.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use super::process::{Guard, TempDir, free_port, wait_for_port};
use super::tls::TestCa;

const MODULE_DIRS: &[&str] = &["/usr/lib/nginx/modules", "/usr/share/nginx/modules"];

/// An nginx.conf: the modules to load, the common top, then `body`.
pub struct Conf {
    pub modules: Vec<String>,
    /// `error_log`'s level: `info` in tests, `warn` under load.
    pub log_level: &'static str,
    pub worker_connections: u32,
    /// `worker_rlimit_nofile`, when a run needs more than the default.
    pub open_files: Option<u32>,
    pub body: String,
}

impl Conf {
    pub fn text(&self, dir: &Path) -> String {
        let loads: String = self
            .modules
            .iter()
            .map(|m| format!("load_module {m};\n"))
            .collect();
        let rlimit = self
            .open_files
            .map_or(String::new(), |n| format!("worker_rlimit_nofile {n};\n"));
        format!(
            "{loads}daemon off;\nmaster_process off;\nworker_processes 1;\n{rlimit}\
             pid {dir}/nginx.pid;\nerror_log {dir}/error.log {level};\n\
             events {{ worker_connections {connections}; }}\n{body}",
            dir = dir.display(),
            level = self.log_level,
            connections = self.worker_connections,
            body = self.body,
        )
    }

    /// Writes `dir/nginx.conf` and returns nginx's arguments to run it from `dir`.
    pub fn write(&self, dir: &Path) -> Result<Vec<String>> {
        let conf_path = dir.join("nginx.conf");
        fs::write(&conf_path, self.text(dir))
            .with_context(|| format!("writing {}", conf_path.display()))?;
        Ok(vec![
            "-e".into(),
            dir.join("error.log").display().to_string(),
            "-p".into(),
            dir.display().to_string(),
            "-c".into(),
            conf_path.display().to_string(),
        ])
    }
}

/// The path of an nginx module from Debian's `package`.
pub fn module(name: &str, package: &str) -> Result<String> {
    MODULE_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .map(|p| p.display().to_string())
        .with_context(|| format!("nginx module {name} is missing (Debian package {package})"))
}

pub fn rtmp_module() -> Result<String> {
    module("ngx_rtmp_module.so", "libnginx-mod-rtmp")
}

/// The RTMP module's one `live` application on loopback `port`.
pub fn rtmp_body(port: u16, chunk_size: Option<u32>) -> String {
    let chunk = chunk_size.map_or(String::new(), |c| format!(" chunk_size {c};"));
    format!(
        "rtmp {{ server {{ listen 127.0.0.1:{port};{chunk}\n\
           application live {{ live on; record off; }} }} }}\n"
    )
}

/// nginx from `conf`, in the test's own temporary directory.
fn start_in(dir: &TempDir, conf: &Conf, what: &str) -> Result<Guard> {
    let args = conf.write(&dir.0)?;
    Guard::spawn(Command::new("nginx").args(args).stdin(Stdio::null()), what)
}

/// nginx-rtmp with one `live` application; dropping it kills nginx.
pub struct NginxRtmp {
    pub port: u16,
    guard: Guard,
    _dir: TempDir,
}

impl NginxRtmp {
    /// On a free port.
    pub fn start(chunk_size: u32) -> Result<NginxRtmp> {
        NginxRtmp::start_on(free_port()?, chunk_size)
    }

    /// On `port`: a restarted origin comes back where its pullers look.
    pub fn start_on(port: u16, chunk_size: u32) -> Result<NginxRtmp> {
        let dir = TempDir::new("nginx")?;
        let conf = Conf {
            modules: vec![rtmp_module()?],
            log_level: "info",
            worker_connections: 256,
            open_files: None,
            body: rtmp_body(port, Some(chunk_size)),
        };
        let guard = start_in(&dir, &conf, "nginx (rtmp)")?;
        wait_for_port(port, "nginx-rtmp")?;
        Ok(NginxRtmp {
            port,
            guard,
            _dir: dir,
        })
    }

    /// The nginx process (one: no master process), e.g. to stop it with SIGSTOP.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }
}

/// nginx's `stream` module on a free port, terminating TLS with `ca`'s server
/// certificate and passing the plain bytes to `target_port`.
pub struct TlsTerminator {
    pub port: u16,
    _guard: Guard,
    _dir: TempDir,
}

impl TlsTerminator {
    pub fn start(target_port: u16, ca: &TestCa) -> Result<TlsTerminator> {
        let dir = TempDir::new("nginx-tls")?;
        let port = free_port()?;
        let conf = Conf {
            modules: vec![module("ngx_stream_module.so", "libnginx-mod-stream")?],
            log_level: "info",
            worker_connections: 256,
            open_files: None,
            body: format!(
                "stream {{ server {{ listen 127.0.0.1:{port} ssl;\n\
                   ssl_certificate {cert}; ssl_certificate_key {key};\n\
                   proxy_pass 127.0.0.1:{target_port}; }} }}\n",
                cert = ca.cert_pem.display(),
                key = ca.key_pem.display()
            ),
        };
        let guard = start_in(&dir, &conf, "nginx (stream, TLS)")?;
        wait_for_port(port, "nginx's TLS terminator")?;
        Ok(TlsTerminator {
            port,
            _guard: guard,
            _dir: dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_benchmark_configuration_raises_the_limits() {
        let conf = Conf {
            modules: vec!["/m/ngx_rtmp_module.so".into()],
            log_level: "warn",
            worker_connections: 20_000,
            open_files: Some(20_000),
            body: rtmp_body(1935, None),
        };
        assert_eq!(
            conf.text(Path::new("/d")),
            "load_module /m/ngx_rtmp_module.so;\ndaemon off;\nmaster_process off;\nworker_processes 1;\n\
             worker_rlimit_nofile 20000;\npid /d/nginx.pid;\nerror_log /d/error.log warn;\n\
             events { worker_connections 20000; }\n\
             rtmp { server { listen 127.0.0.1:1935;\napplication live { live on; record off; } } }\n"
        );
        assert!(rtmp_body(1, Some(4096)).contains("listen 127.0.0.1:1; chunk_size 4096;\n"));
    }
}
