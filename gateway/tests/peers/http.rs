//! HTTP as the tests speak it: a GET byte for byte, and a hook service that records
//! what the gateway POSTs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

/// What the hook service received, in order.
pub type Received = Arc<Mutex<Vec<Value>>>;

/// An HTTP service on a loopback port, on a thread of its own, that records every
/// JSON body POSTed to `/hooks`; it answers the first `refused` requests `503` (to be
/// retried), then `200`.
pub fn hook_service(refused: u32) -> (u16, Received) {
    let received: Received = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the hook service");
    let port = listener.local_addr().expect("its address").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let state = (received.clone(), Arc::new(Mutex::new(0u32)));
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let app = axum::Router::new()
                .route(
                    "/hooks",
                    post(
                        move |State((received, calls)): State<(Received, Arc<Mutex<u32>>)>,
                              Json(body): Json<Value>| async move {
                            let mut calls = calls.lock().unwrap();
                            *calls += 1;
                            if *calls <= refused {
                                return StatusCode::SERVICE_UNAVAILABLE;
                            }
                            received.lock().unwrap().push(body);
                            StatusCode::OK
                        },
                    ),
                )
                .with_state(state);
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            axum::serve(listener, app).await.expect("the hook service");
        });
    });
    (port, received)
}

/// A GET with `headers`, byte for byte: status, response headers (lowercased), body.
pub fn raw_get(port: u16, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    raw_request(port, "GET", path, headers)
}

/// A request of `method` with no body and `headers`, byte for byte: status, response
/// headers (lowercased), body.
pub fn raw_request(port: u16, method: &str, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n{headers}\r\n"
    )
    .expect("sending");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("reading");
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header block for {path}: {all:?}"));
    let head = String::from_utf8_lossy(&all[..end]).to_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, all[end + 4..].to_vec())
}
