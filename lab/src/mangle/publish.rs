//! A real RTMP publish: the core's sans-IO `ClientSession` driven over a blocking TCP
//! socket. A thread reads what the server sends (acknowledgements, pings) while the
//! caller sends tags; both write under the session's lock, so bytes stay in order.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use flashless_core::flv::Tag;
use flashless_core::rtmp::session::{ClientEvent, ClientMode, ClientSession};
use flashless_core::rtmp::url;

/// How long connecting and `publish` may take.
const SETUP_LIMIT: Duration = Duration::from_secs(10);
/// Attempts to publish: right after a reconnect the server may still hold the old one.
const ATTEMPTS: u32 = 20;

pub struct Publisher {
    socket: TcpStream,
    session: Arc<Mutex<ClientSession>>,
}

impl Publisher {
    /// Connects to `rtmp_url` and publishes, retrying while the server refuses.
    pub fn connect(rtmp_url: &str) -> Result<Publisher> {
        let mut last = anyhow!("never tried");
        for _ in 0..ATTEMPTS {
            match Publisher::try_connect(rtmp_url) {
                Ok(p) => return Ok(p),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(last.context(format!("publishing to {rtmp_url}")))
    }

    fn try_connect(rtmp_url: &str) -> Result<Publisher> {
        let parsed = url::parse(rtmp_url).with_context(|| format!("bad URL {rtmp_url}"))?;
        let mut socket = TcpStream::connect((parsed.host.as_str(), parsed.port))
            .with_context(|| format!("connecting to {}:{}", parsed.host, parsed.port))?;
        socket.set_nodelay(true)?;
        socket.set_read_timeout(Some(SETUP_LIMIT))?;
        let random: Vec<u8> = (0..1528u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut session = ClientSession::new(parsed, ClientMode::Publish, 0, &random);
        let mut buf = vec![0; 64 * 1024];
        loop {
            while let Some(bytes) = session.poll_transmit() {
                socket.write_all(&bytes).context("writing to the server")?;
            }
            match session.poll_event() {
                Some(ClientEvent::Publishing) => break,
                Some(ClientEvent::StreamEnd { reason }) => bail!("refused: {reason}"),
                Some(ClientEvent::Status { level, code, .. }) if level == "error" => {
                    bail!("refused: {code}")
                }
                Some(_) => continue,
                None => {}
            }
            let n = socket.read(&mut buf).context("reading from the server")?;
            if n == 0 {
                bail!("the server closed the connection before publish started");
            }
            session.feed(&buf[..n]).context("the RTMP session")?;
        }
        socket.set_read_timeout(None)?;
        let session = Arc::new(Mutex::new(session));
        let (reader, writer) = (socket.try_clone()?, socket.try_clone()?);
        let shared = Arc::clone(&session);
        std::thread::spawn(move || drain(reader, writer, &shared));
        Ok(Publisher { socket, session })
    }

    pub fn send(&mut self, tag: &Tag) -> Result<()> {
        let mut session = self
            .session
            .lock()
            .map_err(|_| anyhow!("the session's reader panicked"))?;
        session.send_tag(tag)?;
        while let Some(bytes) = session.poll_transmit() {
            self.socket.write_all(&bytes).context("writing a tag")?;
        }
        Ok(())
    }

    /// Unpublishes politely and closes the connection.
    pub fn close(self) {
        if let Ok(mut session) = self.session.lock() {
            session.close();
            let mut socket = &self.socket;
            while let Some(bytes) = session.poll_transmit() {
                let _ = socket.write_all(&bytes);
            }
        }
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

/// Reads and answers what the server sends, until the connection closes.
fn drain(mut reader: TcpStream, mut writer: TcpStream, session: &Mutex<ClientSession>) {
    let mut buf = vec![0; 16 * 1024];
    while let Ok(n) = reader.read(&mut buf) {
        if n == 0 {
            return;
        }
        let Ok(mut session) = session.lock() else {
            return;
        };
        if session.feed(&buf[..n]).is_err() {
            return;
        }
        while session.poll_event().is_some() {}
        while let Some(bytes) = session.poll_transmit() {
            if writer.write_all(&bytes).is_err() {
                return;
            }
        }
    }
}
