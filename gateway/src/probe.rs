//! `flashless probe`: connects, prints what the server and the stream say, and leaves.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Result, bail};
use flashless_core::amf::{Value, amf0};
use flashless_core::codec::{AacConfig, AvcConfig, Sps};
use flashless_core::flv::{
    AudioCodec, AudioPacket, AudioTag, Tag, TagType, VideoCodec, VideoPacket, VideoTag,
};
use flashless_core::rtmp::session::{ClientEvent, ClientMode};
use flashless_core::rtmp::url::RtmpUrl;

use crate::rtmp_client::RtmpClient;

/// How long to wait for the sequence headers once media flows.
const MEDIA_WAIT: Duration = Duration::from_secs(5);

pub async fn run(url: RtmpUrl) -> Result<()> {
    let mut client = RtmpClient::connect(&url, ClientMode::Play).await?;
    println!("stream: {}", url.stream_url());
    let mut video = None;
    let mut audio = None;
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
                describe_tag(&tag, &mut video, &mut audio);
                if video.is_some() && audio.is_some() {
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
    if video.is_none() && audio.is_none() {
        bail!("{}: no audio or video arrived", url.stream_url());
    }
    Ok(())
}

fn describe_tag(tag: &Tag, video: &mut Option<String>, audio: &mut Option<String>) {
    match tag.tag_type {
        TagType::Script => match amf0::decode_all(&tag.data) {
            Ok(values) => println!(
                "data: {}",
                values.iter().map(show).collect::<Vec<_>>().join(" ")
            ),
            Err(e) => println!("data: unreadable ({e})"),
        },
        TagType::Video if video.is_none() => match VideoTag::parse(&tag.data) {
            Ok(v) if v.packet == VideoPacket::SequenceStart => {
                let s = describe_video(&v);
                println!("video: {s}");
                *video = Some(s);
            }
            // Codecs without a sequence header (VP6, H.263) say all there is on their first frame.
            Ok(v)
                if !matches!(
                    v.codec,
                    VideoCodec::Avc | VideoCodec::Hevc | VideoCodec::Av1 | VideoCodec::Vp9
                ) =>
            {
                let s = format!("{:?}", v.codec);
                println!("video: {s}");
                *video = Some(s);
            }
            Ok(_) => {}
            Err(e) => println!("video: unreadable tag header ({e})"),
        },
        TagType::Audio if audio.is_none() => match AudioTag::parse(&tag.data) {
            Ok(a) if a.codec == AudioCodec::Aac && a.packet != AudioPacket::SequenceStart => {}
            Ok(a) => {
                let s = describe_audio(&a);
                println!("audio: {s}");
                *audio = Some(s);
            }
            Err(e) => println!("audio: unreadable tag header ({e})"),
        },
        _ => {}
    }
}

fn describe_video(v: &VideoTag) -> String {
    match v.codec {
        VideoCodec::Avc => match AvcConfig::parse(&v.body) {
            Ok(cfg) => {
                let size = cfg
                    .sps
                    .first()
                    .and_then(|s| Sps::parse(s).ok())
                    .map(|s| format!(" {}x{}", s.width, s.height));
                format!(
                    "{}{} (H.264)",
                    cfg.codecs_string(),
                    size.unwrap_or_default()
                )
            }
            Err(e) => format!("H.264 with an unreadable configuration ({e})"),
        },
        VideoCodec::Hevc => "hvc1 (HEVC)".into(),
        VideoCodec::Av1 => "av01 (AV1)".into(),
        VideoCodec::Vp9 => "vp09 (VP9)".into(),
        other => format!("{other:?}"),
    }
}

fn describe_audio(a: &AudioTag) -> String {
    match a.codec {
        AudioCodec::Aac => match AacConfig::parse(&a.body) {
            Ok(cfg) => format!(
                "{} {} Hz {} ch (AAC)",
                cfg.codecs_string(),
                cfg.sample_rate,
                cfg.channels
            ),
            Err(e) => format!("AAC with an unreadable configuration ({e})"),
        },
        other => format!("{other:?}"),
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
