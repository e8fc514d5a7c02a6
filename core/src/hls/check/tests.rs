use super::*;

const GOOD: &str = "#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.000
#EXT-X-PART-INF:PART-TARGET=0.500
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-MAP:URI=\"init0.mp4\"
#EXTINF:2.000,
seg7.m4s
#EXT-X-PART:DURATION=0.500,URI=\"part8.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI=\"part8.1.m4s\"
#EXT-X-PART:DURATION=0.500,URI=\"part8.2.m4s\"
#EXT-X-PART:DURATION=0.500,URI=\"part8.3.m4s\"
#EXTINF:2.000,
seg8.m4s
#EXT-X-PART:DURATION=0.500,URI=\"part9.0.m4s\",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part9.1.m4s\"
";

fn broken(text: &str) -> Vec<String> {
    check(text)
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.rule)
        .collect()
}

#[test]
fn a_good_playlist_passes_and_reads_back() {
    let p = check(GOOD).unwrap();
    assert_eq!(p.segments.len(), 2);
    assert_eq!(p.segments[1].msn, 8);
    assert_eq!(p.segments[1].parts.len(), 4);
    assert_eq!(p.open_parts.len(), 1);
    assert_eq!(p.next_msn(), 9);
    assert_eq!(p.preload_hint.as_deref(), Some("part9.1.m4s"));
}

#[test]
fn a_segments_final_part_and_an_independent_one_may_be_short() {
    let short_final = GOOD
        .replace("0.500,URI=\"part8.3", "0.080,URI=\"part8.3")
        .replace("#EXTINF:2.000,\nseg8", "#EXTINF:1.580,\nseg8");
    assert_eq!(broken(&short_final), Vec::<String>::new());
    let short_independent = GOOD.replace(
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part9.1.m4s\"",
        "#EXT-X-PART:DURATION=0.100,URI=\"part9.1.m4s\",INDEPENDENT=YES\n\
         #EXT-X-PART:DURATION=0.500,URI=\"part9.2.m4s\"\n\
         #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part9.3.m4s\"",
    );
    assert_eq!(broken(&short_independent), Vec::<String>::new());
    // The open segment's last part may be its final one.
    let short_last_open = GOOD.replace(
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part9.1.m4s\"",
        "#EXT-X-PART:DURATION=0.080,URI=\"part9.1.m4s\"\n\
         #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part9.2.m4s\"",
    );
    assert_eq!(broken(&short_last_open), Vec::<String>::new());
}

#[test]
fn each_broken_rule_is_named() {
    let cases = [
        (
            GOOD.replace("TARGETDURATION:2", "TARGETDURATION:1"),
            "past the target",
        ),
        (
            GOOD.replace("PART-TARGET=0.500", "PART-TARGET=0.400"),
            "exceeds PART-TARGET",
        ),
        (
            GOOD.replace("PART-HOLD-BACK=1.000", "PART-HOLD-BACK=0.900"),
            "twice PART-TARGET",
        ),
        (
            GOOD.replace("part9.1.m4s\"\n", "part9.0.m4s\"\n"),
            "already listed",
        ),
        (
            GOOD.replace("part9.1.m4s\"\n", "part8.3.m4s\"\n"),
            "already listed",
        ),
        (
            GOOD.replace("#EXTINF:2.000,\nseg8", "#EXTINF:1.500,\nseg8"),
            "add up",
        ),
        (GOOD.replace("VERSION:6", "VERSION:3"), "VERSION 6"),
        (
            GOOD.replace("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part9.1.m4s\"\n", ""),
            "PRELOAD-HINT",
        ),
        (
            GOOD.replace("#EXT-X-MAP:URI=\"init0.mp4\"\n", ""),
            "EXT-X-MAP",
        ),
        (GOOD.replace("#EXTM3U\n", ""), "#EXTM3U"),
        (
            GOOD.replace(
                "#EXTINF:2.000,\nseg7",
                "#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:2.000,\nseg7",
            ),
            "ISO 8601",
        ),
        (
            dated("2026-12-05T18:00:02.000Z", "2026-12-05T18:00:01.000Z"),
            "date is before",
        ),
        (
            GOOD.replace("0.500,URI=\"part8.1", "0.400,URI=\"part8.1")
                .replace("#EXTINF:2.000,\nseg8", "#EXTINF:1.900,\nseg8"),
            "under 85 %",
        ),
        (
            GOOD.replace(
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part9.1.m4s\"",
                "#EXT-X-PART:DURATION=0.400,URI=\"part9.1.m4s\"\n\
                 #EXT-X-PART:DURATION=0.500,URI=\"part9.2.m4s\"\n\
                 #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part9.3.m4s\"",
            ),
            "under 85 %",
        ),
    ];
    for (text, rule) in cases {
        let found = broken(&text);
        assert!(
            found.iter().any(|r| r.contains(rule)),
            "{rule:?} not in {found:?}"
        );
    }
}

/// [`GOOD`] with dates for its two complete segments.
fn dated(first: &str, second: &str) -> String {
    GOOD.replace(
        "#EXTINF:2.000,\nseg7",
        &format!("#EXT-X-PROGRAM-DATE-TIME:{first}\n#EXTINF:2.000,\nseg7"),
    )
    .replacen(
        "#EXT-X-PART:DURATION=0.500,URI=\"part8.0.m4s\"",
        &format!(
            "#EXT-X-PROGRAM-DATE-TIME:{second}\n#EXT-X-PART:DURATION=0.500,URI=\"part8.0.m4s\""
        ),
        1,
    )
}

#[test]
fn dates_are_read_and_must_stay_with_their_segment() {
    let p = check(&dated(
        "2026-12-05T18:00:00.000Z",
        "2026-12-05T18:00:02.000Z",
    ))
    .unwrap();
    let dates: Vec<_> = p.segments.iter().map(|s| s.program_ms).collect();
    assert_eq!(dates, [Some(1_796_493_600_000), Some(1_796_493_602_000)]);
    let mut r = Reloads::default();
    r.reload(&dated(
        "2026-12-05T18:00:00.000Z",
        "2026-12-05T18:00:02.000Z",
    ))
    .unwrap();
    let moved = dated("2026-12-05T18:00:00.000Z", "2026-12-05T18:00:02.500Z");
    assert!(r.reload(&moved).is_err(), "a segment's date changed");
}

#[test]
fn reloads_catch_a_sequence_going_back_and_a_changed_target() {
    let mut r = Reloads::default();
    r.reload(GOOD).unwrap();
    r.reload(GOOD).unwrap();
    let back = GOOD.replace("MEDIA-SEQUENCE:7", "MEDIA-SEQUENCE:6");
    assert!(r.reload(&back).is_err());
    let mut r = Reloads::default();
    r.reload(GOOD).unwrap();
    let target = GOOD.replace("TARGETDURATION:2", "TARGETDURATION:3");
    let rules: Vec<String> = r
        .reload(&target)
        .unwrap_err()
        .into_iter()
        .map(|v| v.rule)
        .collect();
    assert!(
        rules.iter().any(|r| r.contains("target duration changed")),
        "{rules:?}"
    );
}

#[test]
fn attributes_read_quoted_and_bare_values() {
    let list = "TYPE=PART,URI=\"a,b.m4s?x=1\",BYTERANGE-START=3";
    assert_eq!(attribute(list, "URI").as_deref(), Some("a,b.m4s?x=1"));
    assert_eq!(attribute(list, "BYTERANGE-START").as_deref(), Some("3"));
    assert_eq!(attribute(list, "NONE"), None);
}
