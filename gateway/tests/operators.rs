//! What an operator configures once instead of per channel, against real peers:
//! channels pulled by name (`[[pull]]` patterns from nginx-rtmp, an edge's origin),
//! the RTMP app as part of a channel's address; what an operator does by hand:
//! dropping a channel's publisher or upstream (`POST /api/drop`), listing and kicking
//! clients (`/api/clients`, `POST /api/kick`); and what only the operator sees: each
//! channel's forwards and commands in `/api/channels`.

mod peers;

use std::time::{Duration, Instant};

use peers::upstream::NginxRtmp;
use peers::*;

/// A `[[pull]]` pattern pulls any matching name from nginx-rtmp when asked, counts
/// against the channel cap, and goes once deserted.
#[test]
fn a_pattern_pulls_any_matching_name_on_demand_and_lets_go() {
    let nginx = NginxRtmp::start_on(free_port());
    let _cam = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/live/cam-1", nginx.port), &[]);
    let dir = TempDir::new("pattern");
    let file = config(
        &dir,
        &format!(
            "[limits]\nmax_channels = 1\nabandoned_timeout = 3\n\
             [[pull]]\nmatch = \"cam-*\"\nsource = \"rtmp://127.0.0.1:{}/live/{{name}} live=1\"\nidle_timeout = 1\n",
            nginx.port
        ),
    );
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    assert_eq!(gateway.get("/api/channels").1.trim(), "[]");

    // nginx has the stream a moment after ffmpeg starts: ask until the pull finds it.
    let mut text = String::new();
    eventually(Duration::from_secs(20), "cam-1 playing", || {
        text = ffprobe_streams(&gateway.http_url("cam-1"));
        text.contains("h264,320,240")
    });
    assert!(text.contains("aac"), "{text}");
    let channel = gateway.channel("cam-1").expect("cam-1 listed");
    assert_eq!(channel["source"], "pull");
    // RTMP players reach it through the same admission.
    let rtmp = ffprobe_streams(&gateway.rtmp_url("cam-1"));
    assert!(rtmp.contains("h264,320,240"), "{rtmp}");

    // Not a match: no channel, no pull.
    assert_eq!(gateway.get("/live/dog.flv").0, 404);
    // A match past the cap (cam-1 still counts): refused, not created.
    let (status, body) = gateway.get("/live/cam-2.flv");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("channels"), "{body}");
    assert!(gateway.channel("cam-2").is_none());

    // Deserted: disconnected after idle_timeout, removed after abandoned_timeout.
    eventually(Duration::from_secs(15), "cam-1 removed", || {
        gateway.channel("cam-1").is_none()
    });
    gateway.log_saying("channel closed; upstream stopped");
}

/// A name the pattern covers but the origin does not have is refused quickly, not
/// left on a blank picture.
#[test]
fn a_name_the_origin_lacks_is_refused() {
    let nginx = NginxRtmp::start_on(free_port());
    let dir = TempDir::new("pattern-missing");
    let file = config(
        &dir,
        &format!(
            "[[pull]]\nmatch = \"*\"\nsource = \"rtmp://127.0.0.1:{}/live/{{name}} live=1 timeout=2\"\n",
            nginx.port
        ),
    );
    let gateway = Gateway::start(&["--no-demo", "--config", &file]);
    let started = Instant::now();
    let (status, body) = gateway.get("/live/nobody.flv");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("unavailable"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Edge mode: `--edge-origin` pulls whatever a viewer asks for from another gateway,
/// in any app, with nothing listed on the edge.
#[test]
fn an_edge_pulls_any_channel_of_its_origin() {
    let origin = Gateway::start(&[]);
    let _other = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/other/cam", origin.rtmp), &[]);
    origin.wait_live("demo");
    origin.wait_live("other/cam");
    let base = format!("http://127.0.0.1:{}", origin.http);
    let edge = Gateway::start(&["--no-demo", "--edge-origin", &base]);
    assert_eq!(edge.get("/api/channels").1.trim(), "[]");

    let text = ffprobe_streams(&edge.http_url("demo"));
    assert!(text.contains("h264,640,360"), "{text}");
    let text = ffprobe_streams(&format!("http://127.0.0.1:{}/other/cam.flv", edge.http));
    assert!(text.contains("h264,320,240"), "{text}");
    assert_eq!(edge.channel("other/cam").expect("listed")["app"], "other");
    // The origin has no such channel: the edge says so instead of waiting forever.
    let (status, body) = edge.get("/live/nothing.flv");
    assert_eq!(status, 503, "{body}");
}

/// `rtmp://host/live/cam` and `rtmp://host/other/cam` are two channels, each played by
/// RTMP, at `/<app>/<name>.flv` and at `/live/<app>%2F<name>.flv` (the page's form).
#[test]
fn the_rtmp_app_is_part_of_the_channel_address() {
    let gateway = Gateway::start(&["--no-demo"]);
    let _live = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    let _other = ffmpeg_publish(
        &format!("rtmp://127.0.0.1:{}/other/cam", gateway.rtmp),
        &["-s", "160x120"],
    );
    gateway.wait_live("cam");
    gateway.wait_live("other/cam");
    let other = gateway.channel("other/cam").expect("listed");
    assert_eq!(
        (other["app"].as_str(), other["stream"].as_str()),
        (Some("other"), Some("cam"))
    );
    assert!(
        other["urls"]["http_flv"]
            .as_str()
            .is_some_and(|u| u.ends_with("/other/cam.flv")),
        "{other}"
    );
    assert_eq!(gateway.channel("cam").expect("listed")["app"], "live");

    let http = |path: &str| ffprobe_streams(&format!("http://127.0.0.1:{}{path}", gateway.http));
    assert!(http("/live/cam.flv").contains("h264,320,240"));
    assert!(http("/other/cam.flv").contains("h264,160,120"));
    assert!(http("/live/other%2Fcam.flv").contains("h264,160,120"));
    let rtmp = ffprobe_streams(&format!("rtmp://127.0.0.1:{}/other/cam", gateway.rtmp));
    assert!(rtmp.contains("h264,160,120"), "{rtmp}");
    // Another app's name is not found in the default app, and reserved apps are no apps.
    assert_eq!(gateway.get("/third/cam.flv").0, 404);
    assert_eq!(gateway.get("/api/cam.flv").0, 400);
}

/// `POST /api/drop` disconnects a channel's publisher (who may publish again) and makes
/// a pull connect again; its viewers stay. Only with the admin token.
#[test]
fn an_operator_drops_a_publisher_and_a_pull_and_both_come_back() {
    const ADMIN: &str = "an admin token long enough";
    let nginx = NginxRtmp::start_on(free_port());
    let _src = ffmpeg_publish(&format!("rtmp://127.0.0.1:{}/live/src", nginx.port), &[]);
    let dir = TempDir::new("drop");
    let file = config(
        &dir,
        &format!(
            "[[channel]]\nname = \"pulled\"\nsource = \"rtmp://127.0.0.1:{}/live/src live=1\"\n",
            nginx.port
        ),
    );
    let gateway = Gateway::start(&["--no-demo", "--config", &file, "--admin-token", ADMIN]);
    let publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    gateway.wait_live("cam");
    let drop = |query: &str, headers: &str| {
        let (status, _, body) =
            raw_request(gateway.http, "POST", &format!("/api/drop{query}"), headers);
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    let bearer = format!("Authorization: Bearer {ADMIN}\r\n");

    // Refused without the token, and for what is not there.
    assert_eq!(drop("?channel=cam", "").0, 401);
    assert_eq!(drop("?channel=cam", "Authorization: Bearer no\r\n").0, 403);
    assert_eq!(drop("", &bearer).0, 400);
    let (status, body) = drop("?channel=dog", &bearer);
    assert_eq!(status, 404, "{body}");

    // An HTTP-FLV viewer of cam stays through the drop: when each read came.
    let viewer = std::thread::spawn({
        let port = gateway.http;
        move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connecting");
            write!(s, "GET /live/cam.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").expect("asking");
            s.set_read_timeout(Some(Duration::from_millis(500))).ok();
            let (started, mut buf, mut reads) = (Instant::now(), vec![0u8; 65536], Vec::new());
            while started.elapsed() < Duration::from_secs(15) {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => reads.push(Instant::now()),
                    Err(_) => {}
                }
            }
            reads
        }
    });
    eventually(Duration::from_secs(10), "the viewer counted", || {
        gateway.channel("cam").is_some_and(|c| c["viewers"] == 1)
    });
    let (status, body) = drop("?channel=live/cam", &bearer);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""dropped":"publisher""#), "{body}");
    let ended = publisher.wait(Duration::from_secs(10));
    assert!(!ended.success(), "ffmpeg went on publishing: {ended}");
    gateway.log_saying("closed by an operator");
    eventually(Duration::from_secs(10), "cam no longer live", || {
        gateway.channel("cam").is_some_and(|c| c["state"] != "live")
    });
    let (status, body) = drop("?channel=cam", &bearer);
    assert_eq!(status, 409, "{body}");
    assert_eq!(gateway.channel("cam").expect("cam")["viewers"], 1);

    // The publisher may come back, and the viewer plays on.
    let _again = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    gateway.wait_live("cam");
    let back = Instant::now();
    let reads = viewer.join().expect("the viewer");
    let after = reads.iter().filter(|&&t| t > back).count();
    assert!(
        after > 10,
        "the viewer got {after} reads after the publisher came back"
    );

    // A pull connects again at once.
    gateway.wait_live("pulled");
    let sessions = || gateway.log_text().matches("upstream connected").count();
    let before = sessions();
    let (status, body) = drop("?channel=pulled", &bearer);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""dropped":"upstream""#), "{body}");
    eventually(Duration::from_secs(10), "the pull connected again", || {
        sessions() > before
    });
    gateway.wait_live("pulled");
    gateway.log_saying("dropped by an operator");
}

/// The channel's entry in the admin listener's `/api/channels`.
fn admin_view(admin: u16, name: &str) -> Option<serde_json::Value> {
    let (status, body) = http_get(admin, "/api/channels");
    assert_eq!(status, 200, "{body}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).expect("JSON");
    list.into_iter().find(|c| c["name"] == name)
}

/// The operator sees what each forward and command of a channel does, and why one
/// failed last; the public list shows neither (a target names another server).
#[test]
fn the_operator_sees_each_forward_and_command_and_why_it_failed() {
    let nginx = NginxRtmp::start_on(free_port());
    let port = nginx.port;
    let dir = TempDir::new("jobs");
    let file = config(
        &dir,
        &format!(
            "[[forward]]\nmatch = \"cam\"\nto = \"rtmp://127.0.0.1:{port}/live/secret-key\"\n\
             [[exec]]\nmatch = \"cam\"\ncommand = [\"sleep\", \"600\"]\n"
        ),
    );
    let admin = free_port();
    let gateway = Gateway::start(&[
        "--no-demo",
        "--config",
        &file,
        "--admin-listen",
        &format!("127.0.0.1:{admin}"),
    ]);
    wait_for_port(admin, "the admin listener");
    let jobs = |kind: &str| -> serde_json::Value {
        admin_view(admin, "cam").map_or(serde_json::Value::Null, |c| c[kind].clone())
    };
    let target = format!("127.0.0.1:{port}/live");

    let publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    gateway.wait_live("cam");
    eventually(
        Duration::from_secs(20),
        "forwarding and the command running",
        || jobs("forwards")[0]["state"] == "running" && jobs("commands")[0]["state"] == "running",
    );
    let forward = &jobs("forwards")[0];
    assert_eq!(forward["target"], target.as_str(), "{forward}");
    assert_eq!(forward["failures"], 0, "{forward}");
    assert!(forward["error"].is_null(), "{forward}");
    let command = &jobs("commands")[0];
    assert_eq!(command["program"], "sleep", "{command}");
    let pid = command["pid"].as_u64().expect("the command's pid");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("the command runs");
    assert_eq!(cmdline, b"sleep\x00600\x00");
    // The public list lists the channel, not what only the operator may see.
    let public = gateway.channel("cam").expect("listed");
    assert!(
        public.get("forwards").is_none() && public.get("commands").is_none(),
        "{public}"
    );
    assert!(!gateway.get("/api/channels").1.contains("secret-key"));
    assert!(
        !http_get(admin, "/api/channels").1.contains("secret-key"),
        "the stream key shown"
    );

    // The target gone: the forward retries, and says why it failed.
    drop(nginx);
    eventually(Duration::from_secs(20), "the forward retrying", || {
        jobs("forwards")[0]["state"] == "retrying"
    });
    let forward = &jobs("forwards")[0];
    assert!(forward["failures"].as_u64() >= Some(1), "{forward}");
    let why = forward["error"].as_str().unwrap_or_default().to_owned();
    assert!(!why.is_empty(), "{forward}");
    assert_eq!(
        jobs("commands")[0]["state"],
        "running",
        "the command is not the forward"
    );

    // Back: publishing again, the last failure still shown.
    let _nginx = NginxRtmp::start_on(port);
    eventually(Duration::from_secs(20), "forwarding again", || {
        jobs("forwards")[0]["state"] == "running"
    });
    assert_eq!(jobs("forwards")[0]["error"], why.as_str());

    // The session over: both wait for the next one, the command stopped.
    drop(publisher);
    eventually(Duration::from_secs(20), "both waiting", || {
        jobs("forwards")[0]["state"] == "waiting" && jobs("commands")[0]["state"] == "waiting"
    });
    assert!(jobs("commands")[0].get("pid").is_none());
    eventually(Duration::from_secs(10), "the command stopped", || {
        std::fs::read(format!("/proc/{pid}/cmdline")).map_or(true, |c| c.is_empty())
    });

    // On the public listener, the admin token shows them; none, or a wrong one, does not.
    let gateway = Gateway::start(&["--no-demo", "--config", &file, "--admin-token", "adm1n"]);
    let _publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    gateway.wait_live("cam");
    let listed = |headers: &str| {
        let (status, _, body) = raw_get(gateway.http, "/api/channels", headers);
        assert_eq!(status, 200);
        String::from_utf8_lossy(&body).contains("\"commands\"")
    };
    eventually(
        Duration::from_secs(10),
        "commands listed with the token",
        || listed("Authorization: Bearer adm1n\r\n"),
    );
    assert!(!listed(""));
    assert!(!listed("Authorization: Bearer nope\r\n"));
}

/// The operator lists every client on a connection (a publisher, and viewers over
/// RTMP, HTTP-FLV and WS-FLV) and kicks them one by one: each closed alone, the others
/// playing on.
#[test]
fn an_operator_lists_the_clients_and_kicks_each_alone() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    use tokio_tungstenite::tungstenite::{self, Message};

    const ADMIN: &str = "an admin token long enough";
    let gateway = Gateway::start(&["--no-demo", "--admin-token", ADMIN]);
    let publisher = ffmpeg_publish(&gateway.rtmp_url("cam"), &[]);
    gateway.wait_live("cam");
    let bearer = format!("Authorization: Bearer {ADMIN}\r\n");
    let request = |method: &str, path: &str, headers: &str| {
        let (status, _, body) = raw_request(gateway.http, method, path, headers);
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    let clients = |query: &str| {
        let (status, body) = request("GET", &format!("/api/clients{query}"), &bearer);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Vec<serde_json::Value>>(&body).expect("JSON")
    };
    let id_of = |protocol: &str, role: &str| {
        clients("")
            .into_iter()
            .find(|c| c["protocol"] == protocol && c["role"] == role)
            .and_then(|c| c["id"].as_u64())
            .unwrap_or_else(|| panic!("no {protocol} {role} in {:?}", clients("")))
    };

    // An RTMP player, an HTTP-FLV viewer and a WS-FLV viewer, each until it is closed.
    let dir = TempDir::new("kick");
    let rtmpdump = Guard::spawn(
        Command::new("rtmpdump")
            .args(["-q", "-v", "-r", &gateway.rtmp_url("cam"), "-o"])
            .arg(dir.path("played.flv"))
            .stdin(Stdio::null()),
        "rtmpdump",
    );
    let http_flv = std::thread::spawn({
        let port = gateway.http;
        move || {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connecting");
            write!(s, "GET /live/cam.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").expect("asking");
            s.set_read_timeout(Some(Duration::from_secs(30))).ok();
            let mut buf = vec![0u8; 65536];
            let mut got = 0;
            while let Ok(n @ 1..) = s.read(&mut buf) {
                got += n;
            }
            (got, Instant::now())
        }
    });
    let ws_flv = std::thread::spawn({
        let url = format!("ws://127.0.0.1:{}/live/cam.flv", gateway.http);
        move || {
            let (mut ws, _) = tungstenite::connect(url).expect("a WebSocket");
            let mut got = 0;
            loop {
                match ws.read() {
                    Ok(Message::Binary(b)) => got += b.len(),
                    Ok(Message::Close(frame)) => return (got, frame.map(|f| u16::from(f.code))),
                    Ok(_) => {}
                    Err(_) => return (got, None),
                }
            }
        }
    });
    eventually(Duration::from_secs(10), "four clients listed", || {
        clients("").len() == 4
    });
    for c in clients("") {
        assert_eq!(c["channel"], "cam", "{c}");
        assert_eq!(c["ip"], "127.0.0.1", "{c}");
        assert!(
            c["since"].as_u64().is_some_and(|t| t > 1_700_000_000),
            "{c}"
        );
    }
    // Each counts its media: sent to a viewer, taken from the publisher.
    eventually(
        Duration::from_secs(10),
        "every client's bytes counted",
        || {
            clients("")
                .iter()
                .all(|c| c["bytes"].as_u64().is_some_and(|b| b > 20_000))
        },
    );
    assert!(clients("?channel=other").is_empty());
    assert_eq!(clients("?channel=live/cam").len(), 4);
    let (publisher_id, rtmp_id) = (id_of("rtmp", "publisher"), id_of("rtmp", "viewer"));
    let (http_id, ws_id) = (id_of("http-flv", "viewer"), id_of("ws-flv", "viewer"));

    // Refused without the token, and for what is not there.
    assert_eq!(request("GET", "/api/clients", "").0, 401);
    assert_eq!(
        request("POST", &format!("/api/kick?client={ws_id}"), "").0,
        401
    );
    assert_eq!(request("POST", "/api/kick?client=x", &bearer).0, 400);
    assert_eq!(request("POST", "/api/kick?client=999999", &bearer).0, 404);

    let kick = |id: u64| {
        let (status, body) = request("POST", &format!("/api/kick?client={id}"), &bearer);
        assert_eq!(status, 200, "{body}");
        body
    };
    let kicked = Instant::now();
    let body = kick(http_id);
    assert!(body.contains("http-flv"), "{body}");
    let (got, ended) = http_flv.join().expect("the HTTP-FLV viewer");
    assert!(
        got > 10_000,
        "the HTTP-FLV viewer got {got} bytes before its kick"
    );
    // Its connection closed, not left open for another request after its stream.
    let took = ended.duration_since(kicked);
    assert!(
        took < Duration::from_secs(3),
        "the HTTP-FLV connection closed {took:?} after the kick"
    );
    eventually(
        Duration::from_secs(5),
        "the HTTP-FLV viewer unlisted",
        || clients("").len() == 3,
    );

    kick(ws_id);
    let (got, code) = ws_flv.join().expect("the WS-FLV viewer");
    assert!(
        got > 10_000,
        "the WS-FLV viewer got {got} bytes before its kick"
    );
    assert_eq!(code, Some(1008), "the WS-FLV viewer's close code");

    kick(rtmp_id);
    rtmpdump.wait(Duration::from_secs(10));
    gateway.log_saying("closed by an operator");
    eventually(Duration::from_secs(5), "the publisher alone listed", || {
        clients("").len() == 1
    });
    assert_eq!(gateway.channel("cam").expect("cam")["state"], "live");

    kick(publisher_id);
    let ended = publisher.wait(Duration::from_secs(10));
    assert!(!ended.success(), "ffmpeg went on publishing: {ended}");
    eventually(Duration::from_secs(5), "no client listed", || {
        clients("").is_empty()
    });
    assert_eq!(
        request("POST", &format!("/api/kick?client={publisher_id}"), &bearer).0,
        404
    );

    // Without an admin token the list is the admin listener's only: it names addresses.
    let open = Gateway::start(&["--no-demo"]);
    assert_eq!(raw_request(open.http, "GET", "/api/clients", "").0, 403);
}
