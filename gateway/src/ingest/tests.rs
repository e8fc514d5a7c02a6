use super::*;

#[test]
fn rtmp_urls_get_a_ten_second_stall_timeout_unless_they_set_one() {
    let UpstreamSpec::Rtmp(url) = UpstreamSpec::parse("rtmp://origin/live/a live=1").unwrap()
    else {
        panic!("not rtmp")
    };
    assert_eq!(url.timeout_secs, 10);
    assert!(url.live);
    let UpstreamSpec::Rtmp(url) = UpstreamSpec::parse("rtmps://origin/live/a timeout=3").unwrap()
    else {
        panic!("not rtmp")
    };
    assert_eq!(url.timeout_secs, 3);
}

#[test]
fn http_files_and_flv_paths_are_recognised() {
    assert!(matches!(
        UpstreamSpec::parse("https://edge:8443/live/a.flv?k=v"),
        Ok(UpstreamSpec::HttpFlv(s)) if s == "https://edge:8443/live/a.flv?k=v"
    ));
    assert!(matches!(
        UpstreamSpec::parse("file:clips/a.bin"),
        Ok(UpstreamSpec::File(p)) if p == std::path::Path::new("clips/a.bin")
    ));
    assert!(matches!(
        UpstreamSpec::parse("/srv/clip.FLV"),
        Ok(UpstreamSpec::File(p)) if p == std::path::Path::new("/srv/clip.FLV")
    ));
}

#[test]
fn anything_else_is_refused_with_what_is_expected() {
    for bad in ["srt://host:9000", "clip.mp4", "file:", "rtmp://", "http://"] {
        let err = UpstreamSpec::parse(bad).expect_err(bad);
        assert!(format!("{err:#}").contains(bad), "{err:#}");
    }
}

#[test]
fn display_leaves_out_query_strings() {
    let spec = UpstreamSpec::parse("http://edge/live/a.flv?token=s3cret").unwrap();
    assert_eq!(spec.to_string(), "http://edge/live/a.flv");
    let spec = UpstreamSpec::parse("rtmp://origin/live?key=s3cret/a").unwrap();
    assert!(!spec.to_string().contains("s3cret"), "{spec}");
}
