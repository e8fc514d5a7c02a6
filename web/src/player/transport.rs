//! The byte stream from the gateway: WS-FLV (`ws://`, `wss://`) or HTTP-FLV read
//! with fetch streaming (`http://`, `https://`). Both hand every received chunk to
//! [`Core::on_bytes`] and report the end once to [`Core::on_end`], tagged with the
//! connection's generation so that late callbacks of a replaced connection are
//! ignored.

use alloc::borrow::ToOwned;
use alloc::rc::Rc;
use alloc::string::String;
use core::cell::Cell;

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{
    AbortController, BinaryType, CloseEvent, MessageEvent, ReadableStreamDefaultReader,
    RequestCredentials, RequestInit, Response, WebSocket,
};

use super::failure::Failure;
use super::{Core, WeakCore, with};
use crate::js;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    WebSocket,
    Fetch,
}

impl Kind {
    /// By the URL's scheme; `None` for any other.
    pub fn of(url: &str) -> Option<Kind> {
        let scheme = split_scheme(url)?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "ws" | "wss" => Some(Kind::WebSocket),
            "http" | "https" => Some(Kind::Fetch),
            _ => None,
        }
    }
}

/// How HTTP-FLV is requested: the `headers` and `withCredentials` options.
#[derive(Clone)]
pub struct Request {
    pub headers: JsValue,
    pub with_credentials: bool,
}

pub enum Transport {
    WebSocket {
        socket: WebSocket,
        _on_open: Closure<dyn FnMut()>,
        _on_message: Closure<dyn FnMut(MessageEvent)>,
        _on_close: Closure<dyn FnMut(CloseEvent)>,
    },
    Fetch {
        abort: AbortController,
    },
}

impl Transport {
    pub fn open(
        url: &str,
        kind: Kind,
        request: &Request,
        generation: u32,
        core: WeakCore,
        early: Option<WebSocket>,
    ) -> Result<Self, JsValue> {
        match kind {
            Kind::WebSocket => websocket(url, request, generation, core, early),
            Kind::Fetch => fetch(url, request, generation, core),
        }
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        match self {
            Transport::WebSocket { socket, .. } => {
                socket.set_onopen(None);
                socket.set_onmessage(None);
                socket.set_onclose(None);
                let _ = socket.close();
            }
            Transport::Fetch { abort } => abort.abort(),
        }
    }
}

fn websocket(
    url: &str,
    request: &Request,
    generation: u32,
    core: WeakCore,
    early: Option<WebSocket>,
) -> Result<Transport, JsValue> {
    // An early socket may be open and have received already: the page holds those
    // events and replays them to the handlers set below (`flashless.js`).
    let socket = match early {
        Some(socket) => socket,
        None => WebSocket::new(url)?,
    };
    socket.set_binary_type(BinaryType::Arraybuffer);
    let opened = Rc::new(Cell::new(false));
    let on_open = {
        let opened = opened.clone();
        Closure::<dyn FnMut()>::new(move || opened.set(true))
    };
    let weak = core.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let data = ev.data();
        // The gateway sends only binary messages; a text one is not FLV.
        if data.is_instance_of::<js_sys::ArrayBuffer>() {
            let bytes = Uint8Array::new(&data).to_vec();
            with(&weak, |c| c.on_bytes(generation, &bytes));
        }
    });
    let http = http_twin(url);
    let request = request.clone();
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
        if let Some(f) = Failure::policy_close(ev.code()) {
            let f = Failure {
                close_code: Some(ev.code()),
                ..f.reason(ev.reason())
            };
            return with(&core, |c| c.on_end(generation, f));
        }
        let closed = Failure::close(ev.code());
        if opened.get() {
            return with(&core, |c| c.on_end(generation, closed));
        }
        // Refused at the handshake: the browser hides the HTTP status from
        // WebSocket, so ask the same URL over HTTP for it (and stop at the headers).
        let core = core.clone();
        status_of(&http, &request, move |status| {
            let f = match status {
                Some(s) if s >= 400 => Failure::http(s),
                _ => closed,
            };
            with(&core, |c| c.on_end(generation, f));
        });
    });
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    Ok(Transport::WebSocket {
        socket,
        _on_open: on_open,
        _on_message: on_message,
        _on_close: on_close,
    })
}

/// The `http(s)://` URL of a `ws(s)://` one.
fn http_twin(url: &str) -> String {
    match split_scheme(url) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("wss") => "https://".to_owned() + rest,
        Some((_, rest)) => "http://".to_owned() + rest,
        None => url.to_owned(),
    }
}

/// `url` around its first `://`, as `url.split_once("://")`: found bytewise, since a
/// `&str` pattern brings the two-way searcher and the formatted panic of a bad slice
/// (4 KB of wasm); `get` cannot panic.
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let at = url.as_bytes().windows(3).position(|w| w == b"://")?;
    Some((url.get(..at)?, url.get(at + 3..)?))
}

/// Calls `f` once with the HTTP status `url` answers with (`None` if the request
/// fails); the body is not read.
fn status_of(url: &str, request: &Request, f: impl FnOnce(Option<u16>) + 'static) {
    let (Some(window), Ok(abort)) = (web_sys::window(), AbortController::new()) else {
        return f(None);
    };
    let init = request_init(request, &abort);
    js::settle(&window.fetch_with_str_and_init(url, &init), move |v| {
        abort.abort();
        f(v.dyn_into::<Response>().ok().map(|r| r.status()));
    });
}

fn request_init(request: &Request, abort: &AbortController) -> RequestInit {
    let init = RequestInit::new();
    init.set_signal(Some(&abort.signal()));
    init.set_cache(web_sys::RequestCache::NoStore);
    if !request.headers.is_undefined() && !request.headers.is_null() {
        init.set_headers(&request.headers);
    }
    if request.with_credentials {
        init.set_credentials(RequestCredentials::Include);
    }
    init
}

fn fetch(
    url: &str,
    request: &Request,
    generation: u32,
    core: WeakCore,
) -> Result<Transport, JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no-window"))?;
    let abort = AbortController::new()?;
    let init = request_init(request, &abort);
    let response = window.fetch_with_str_and_init(url, &init);
    js::settle(&response, move |response| {
        let response = match response.dyn_into::<Response>() {
            Ok(r) => r,
            Err(e) => return end(&core, generation, connection_lost(&e)),
        };
        if !response.ok() {
            return end(&core, generation, Failure::http(response.status()));
        }
        match response.body() {
            Some(body) => read(body.get_reader().unchecked_into(), generation, core),
            None => end(&core, generation, Failure::network("connection")),
        }
    });
    Ok(Transport::Fetch { abort })
}

/// Reads the response body, a chunk per call, until it ends, fails, or the
/// connection is replaced; then tells the core why it stopped.
fn read(reader: ReadableStreamDefaultReader, generation: u32, core: WeakCore) {
    let next = reader.read();
    js::settle(&next, move |chunk| {
        // A read fulfils with `{ done, value }`; an error has no `done`.
        let Some(done) = js::get(&chunk, "done").as_bool() else {
            return end(&core, generation, connection_lost(&chunk));
        };
        if done {
            return end(&core, generation, Failure::network("ended"));
        }
        let value = js::get(&chunk, "value");
        if let Some(bytes) = value.dyn_ref::<Uint8Array>().map(Uint8Array::to_vec) {
            let mut current = false;
            with(&core, |c: &mut Core| {
                current = c.generation() == generation;
                c.on_bytes(generation, &bytes);
            });
            if !current {
                let _ = reader.cancel();
                return end(&core, generation, Failure::network("ended"));
            }
        }
        read(reader, generation, core);
    });
}

fn connection_lost(e: &JsValue) -> Failure {
    Failure::network("connection").reason(js::describe(e))
}

fn end(core: &WeakCore, generation: u32, failure: Failure) {
    with(core, |c| c.on_end(generation, failure));
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn transport_follows_the_scheme() {
        assert_eq!(Kind::of("ws://h/live/a.flv"), Some(Kind::WebSocket));
        assert_eq!(Kind::of("WSS://h/live/a.flv"), Some(Kind::WebSocket));
        assert_eq!(Kind::of("http://h/live/a.flv"), Some(Kind::Fetch));
        assert_eq!(Kind::of("https://h/live/a.flv"), Some(Kind::Fetch));
        assert_eq!(Kind::of("rtmp://h/live/a"), None);
        assert_eq!(Kind::of("/live/a.flv"), None);
    }

    #[test]
    fn splits_the_scheme_as_split_once_does() {
        for url in [
            "ws://h/a",
            "a:b://c://d",
            "://x",
            "x://",
            "no scheme",
            "é://ü",
            "",
        ] {
            assert_eq!(super::split_scheme(url), url.split_once("://"), "{url}");
        }
        assert_eq!(super::http_twin("WSS://h/a.flv"), "https://h/a.flv");
        assert_eq!(super::http_twin("ws://h/a.flv"), "http://h/a.flv");
    }
}
