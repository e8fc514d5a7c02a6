//! The byte stream from the gateway: WS-FLV (`ws://`, `wss://`) or HTTP-FLV read
//! with fetch streaming (`http://`, `https://`). Both hand every received chunk to
//! [`Core::on_bytes`] and report the end once to [`Core::on_end`], tagged with the
//! connection's generation so that late callbacks of a replaced connection are
//! ignored.

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, BinaryType, CloseEvent, MessageEvent, ReadableStreamDefaultReader,
    RequestInit, Response, WebSocket,
};

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
        let scheme = url.split_once("://")?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "ws" | "wss" => Some(Kind::WebSocket),
            "http" | "https" => Some(Kind::Fetch),
            _ => None,
        }
    }
}

pub enum Transport {
    WebSocket {
        socket: WebSocket,
        _on_message: Closure<dyn FnMut(MessageEvent)>,
        _on_close: Closure<dyn FnMut(CloseEvent)>,
    },
    Fetch {
        abort: AbortController,
    },
}

impl Transport {
    pub fn open(url: &str, kind: Kind, generation: u32, core: WeakCore) -> Result<Self, JsValue> {
        match kind {
            Kind::WebSocket => websocket(url, generation, core),
            Kind::Fetch => fetch(url, generation, core),
        }
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        match self {
            Transport::WebSocket { socket, .. } => {
                socket.set_onmessage(None);
                socket.set_onclose(None);
                let _ = socket.close();
            }
            Transport::Fetch { abort } => abort.abort(),
        }
    }
}

fn websocket(url: &str, generation: u32, core: WeakCore) -> Result<Transport, JsValue> {
    let socket = WebSocket::new(url)?;
    socket.set_binary_type(BinaryType::Arraybuffer);
    let weak = core.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let data = ev.data();
        // The gateway sends only binary messages; a text one is not FLV.
        if data.is_instance_of::<js_sys::ArrayBuffer>() {
            let bytes = Uint8Array::new(&data).to_vec();
            with(&weak, |c| c.on_bytes(generation, &bytes));
        }
    });
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
        let mut reason = "WebSocket closed with code ".to_owned() + &ev.code().to_string();
        let said = ev.reason();
        if !said.is_empty() {
            reason = reason + ": " + &said;
        }
        with(&core, |c| c.on_end(generation, reason));
    });
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    Ok(Transport::WebSocket {
        socket,
        _on_message: on_message,
        _on_close: on_close,
    })
}

fn fetch(url: &str, generation: u32, core: WeakCore) -> Result<Transport, JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let abort = AbortController::new()?;
    let init = RequestInit::new();
    init.set_signal(Some(&abort.signal()));
    init.set_cache(web_sys::RequestCache::NoStore);
    let response = window.fetch_with_str_and_init(url, &init);
    wasm_bindgen_futures::spawn_local(async move {
        let reason = read(JsFuture::from(response), generation, &core).await;
        with(&core, |c| c.on_end(generation, reason));
    });
    Ok(Transport::Fetch { abort })
}

/// Reads the response body until it ends, fails, or the connection is replaced;
/// returns why it stopped.
async fn read(response: JsFuture, generation: u32, core: &WeakCore) -> String {
    let response: Response = match response.await {
        Ok(r) => r.unchecked_into(),
        Err(e) => return "fetch failed: ".to_owned() + &js::describe(&e),
    };
    if !response.ok() {
        return "HTTP status ".to_owned() + &response.status().to_string();
    }
    let Some(body) = response.body() else {
        return "the response has no body".into();
    };
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    loop {
        let chunk = match JsFuture::from(reader.read()).await {
            Ok(c) => c,
            Err(e) => return "reading the response: ".to_owned() + &js::describe(&e),
        };
        if js::get(&chunk, "done").as_bool() == Some(true) {
            return "the server ended the stream".into();
        }
        let value = js::get(&chunk, "value");
        let Some(bytes) = value.dyn_ref::<Uint8Array>().map(Uint8Array::to_vec) else {
            continue;
        };
        let mut current = false;
        with(core, |c: &mut Core| {
            current = c.generation() == generation;
            c.on_bytes(generation, &bytes);
        });
        if !current {
            let _ = reader.cancel();
            return "replaced".into();
        }
    }
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
}
