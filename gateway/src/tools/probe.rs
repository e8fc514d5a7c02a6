//! `flashless probe`: connects, prints what the server and the stream say, and leaves.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Result, bail};
use flashless_core::amf::{Value, amf0};
use flashless_core::flv::{AudioCodec, AudioPacket, AudioTag, Tag, TagType, VideoPacket, VideoTag};
use flashless_core::rtmp::session::{ClientEvent, ClientMode};
use flashless_core::rtmp::url::RtmpUrl;
use flashless_core::stream::has_sequence_header;

use crate::client::rtmp::RtmpClient;
use crate::hub::media_info::MediaInfo;

/// How long to wait for the sequence headers once media flows.
const MEDIA_WAIT: Duration = Duration::from_secs(5);

pub async fn run(url: RtmpUrl) -> Result<()> {
    let mut client = RtmpClient::connect(&url, ClientMode::Play).await?;
    println!("stream: {}", url.stream_url());
    let mut info = MediaInfo::default();
    let (mut video, mut audio) = (false, false);
    let deadline = tokio::time::sleep(Duration::from_secs(u64::from(url.timeout_secs.max(1))));
    tokio::pin!(deadline);
    loop {
        let event = tokio::select! {
            ev = client.next_event() => ev?,
            _ = &mut deadline => break,
        };
        match event {
            None => break,
            Some(ClientEvent::Connected { properties, info }) => {
                println!("server: {}", show(&properties));
                println!("connect: {}", show(&info));
            }
            Some(ClientEvent::Playing) => {
                deadline
                    .as_mut()
                    .reset(tokio::time::Instant::now() + MEDIA_WAIT);
                println!("play: NetStream.Play.Start");
            }
            Some(ClientEvent::Status {
                code, description, ..
            }) => println!("status: {code} {description}"),
            Some(ClientEvent::Tag(tag)) => {
                describe_tag(&tag, &mut info, &mut video, &mut audio);
                if video && audio {
                    break;
                }
            }
            Some(ClientEvent::StreamEnd { reason }) => {
                println!("end: {reason}");
                break;
            }
            Some(ClientEvent::StreamCreated { .. } | ClientEvent::Publishing) => {}
        }
    }
    client.close().await.ok();
    if !video && !audio {
        bail!("{}: no audio or video arrived", url.stream_url());
    }
    Ok(())
}

fn describe_tag(tag: &Tag, info: &mut MediaInfo, video: &mut bool, audio: &mut bool) {
    match tag.tag_type {
        TagType::Script => match amf0::decode_all(&tag.data) {
            Ok(values) => println!(
                "data: {}",
                values.iter().map(show).collect::<Vec<_>>().join(" ")
            ),
            Err(e) => println!("data: unreadable ({e})"),
        },
        TagType::Video if !*video => match VideoTag::parse(&tag.data) {
            // Codecs without a sequence header (VP6, H.263) say all there is on their first frame.
            Ok(v) if v.packet == VideoPacket::SequenceStart || !has_sequence_header(v.codec) => {
                info.video_header(&tag.data);
                info.frame(tag);
                let size = info
                    .width
                    .zip(info.height)
                    .map(|(w, h)| format!(" {w}x{h}"))
                    .unwrap_or_default();
                println!(
                    "video: {}{size}",
                    info.video_codec.as_deref().unwrap_or("unknown")
                );
                *video = true;
            }
            Ok(_) => {}
            Err(e) => println!("video: unreadable tag header ({e})"),
        },
        TagType::Audio if !*audio => match AudioTag::parse(&tag.data) {
            Ok(a)
                if a.packet == AudioPacket::SequenceStart
                    || a.packet == AudioPacket::CodedFrames && a.codec != AudioCodec::Aac =>
            {
                info.audio_header(&tag.data);
                let rate = info
                    .sample_rate
                    .map(|r| format!(" {r} Hz"))
                    .unwrap_or_default();
                let channels = info
                    .channels
                    .map(|c| format!(" {c} ch"))
                    .unwrap_or_default();
                println!(
                    "audio: {}{rate}{channels}",
                    info.audio_codec.as_deref().unwrap_or("unknown")
                );
                *audio = true;
            }
            Ok(_) => {}
            Err(e) => println!("audio: unreadable tag header ({e})"),
        },
        _ => {}
    }
}

/// A compact one-line rendering of an AMF value for people.
fn show(v: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

fn write_value(s: &mut String, v: &Value) {
    let pairs = |s: &mut String, props: &[(String, Value)]| {
        s.push('{');
        for (i, (k, v)) in props.iter().enumerate() {
            let _ = write!(s, "{}{k}: ", if i > 0 { ", " } else { "" });
            write_value(s, v);
        }
        s.push('}');
    };
    match v {
        Value::Number(n) => {
            let _ = write!(s, "{n}");
        }
        Value::Integer(n) => {
            let _ = write!(s, "{n}");
        }
        Value::Boolean(b) => {
            let _ = write!(s, "{b}");
        }
        Value::String(t) | Value::XmlDocument(t) => {
            let _ = write!(s, "{t:?}");
        }
        Value::Object(o) => pairs(s, &o.properties),
        Value::EcmaArray(props) => pairs(s, props),
        Value::StrictArray(items) => {
            s.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                write_value(s, item);
            }
            s.push(']');
        }
        Value::Null => s.push_str("null"),
        Value::Undefined => s.push_str("undefined"),
        Value::Date(ms) => {
            let _ = write!(s, "date({ms})");
        }
        Value::ByteArray(b) => {
            let _ = write!(s, "bytes({})", b.len());
        }
    }
}
