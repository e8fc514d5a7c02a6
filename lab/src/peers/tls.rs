//! A throwaway certificate authority made by `openssl`, for peers that speak TLS.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::process::TempDir;

/// A CA and a server certificate it signed for 127.0.0.1 and localhost.
pub struct TestCa {
    pub ca_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    _dir: TempDir,
}

impl TestCa {
    pub fn generate() -> Result<TestCa> {
        let dir = TempDir::new("ca")?;
        let p = |name: &str| dir.path(name).display().to_string();
        let ext = dir.path("leaf.ext");
        std::fs::write(
            &ext,
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .with_context(|| format!("writing {}", ext.display()))?;
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
        )?;
        openssl(
            &["req", "-subj", "/CN=localhost"],
            &ec,
            &["-keyout", &p("leaf.key"), "-out", &p("leaf.csr")],
        )?;
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
        )?;
        Ok(TestCa {
            ca_pem: dir.path("ca.pem"),
            cert_pem: dir.path("leaf.pem"),
            key_pem: dir.path("leaf.key"),
            _dir: dir,
        })
    }
}

fn openssl(a: &[&str], b: &[&str], c: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(a)
        .args(b)
        .args(c)
        .stdin(Stdio::null())
        .output()
        .context("running openssl (Debian package openssl)")?;
    if !out.status.success() {
        bail!(
            "openssl {a:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
