//! `framewire check` refuses a `crop` whose region of interest lies outside
//! the images its producer sends (issue 11 item 16), before anything starts:
//! the real command on real pipeline files, exit code 2, an error that
//! names the file, the line of the offending key, the wire, both sizes and
//! the fix. A region that fits passes.

mod common;

use common::{Prefix, framewire, temp_config, text};

/// A 64x48 test pattern feeding `crop` (directly, or through `flip`, which
/// keeps its input's size) with the given region.
fn pipeline(through_flip: bool, roi: &str) -> String {
    let (connect, turn) = if through_flip {
        (
            r#"["cam.frames -> turn.input", "turn.output -> roi.input", "roi.output -> sink.input"]"#,
            "[[block]]\nname = \"turn\"\ntype = \"flip\"\n",
        )
    } else {
        (r#"["cam.frames -> roi.input", "roi.output -> sink.input"]"#, "")
    };
    format!(
        r#"[pipeline]
connect = {connect}

[[block]]
name = "cam"
type = "test_pattern"
format = "GREY"
width = 64
height = 48

{turn}
[[block]]
name = "roi"
type = "crop"
{roi}

[[block]]
name = "sink"
type = "frame_sink"
"#
    )
}

/// The 1-based line of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.trim() == needle).unwrap_or_else(|| panic!("{needle:?} not in\n{text}")) + 1
}

#[test]
fn check_refuses_a_crop_region_outside_the_image() {
    let p = Prefix::new();
    let body = pipeline(false, "x = 40\nwidth = 40\nheight = 10");
    let cfg = temp_config(&p, "roi_outside", &body);
    let out = framewire(&p).arg("check").arg(&cfg).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    // At the offset that pushes the region out, in this file.
    let at = format!("{}:{}:1:", cfg.display(), line_of(&body, "x = 40"));
    assert!(all.contains(&at), "expected {at} in:\n{all}");
    assert!(
        all.contains(
            "block \"roi\" (crop) needs images of at least 80x10 on roi.input, but wire cam.frames carries images of \
             at most 64x48: x + width = 80 exceeds the width 64"
        ),
        "{all}"
    );
    assert!(
        all.contains("help: make x + width at most 64 (the size of cam's images), or give cam larger images"),
        "{all}"
    );

    // `run` refuses it the same way, before starting anything.
    let out = framewire(&p).arg("run").arg(&cfg).args(["--for", "5s"]).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("needs images of at least 80x10"), "{all}");
    assert!(p.leftovers().is_empty(), "left in /dev/shm: {:?}", p.leftovers());
}

#[test]
fn check_refuses_a_crop_too_tall_and_too_wide_through_a_filter_that_keeps_the_size() {
    let p = Prefix::new();
    // The size reaches the crop through `flip`; no `x`/`y` set, so the
    // error points at `width`.
    let body = pipeline(true, "width = 65\ny = 40\nheight = 9");
    let cfg = temp_config(&p, "roi_through", &body);
    let out = framewire(&p).arg("check").arg(&cfg).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    let at = format!("{}:{}:1:", cfg.display(), line_of(&body, "width = 65"));
    assert!(all.contains(&at), "expected {at} in:\n{all}");
    assert!(
        all.contains(
            "needs images of at least 65x49 on roi.input, but wire turn.output carries images of at most 64x48: \
             x + width = 65 exceeds the width 64 and y + height = 49 exceeds the height 48"
        ),
        "{all}"
    );
    assert!(all.contains("make x + width at most 64 and y + height at most 48 (the size of turn's images)"), "{all}");
}

#[test]
fn check_accepts_a_crop_region_inside_the_image() {
    let p = Prefix::new();
    for (name, through_flip, roi) in [
        ("fits", false, "x = 24\nwidth = 40\nheight = 10"),
        ("whole", false, "width = 64\nheight = 48"),
        ("corner", true, "x = 63\ny = 47\nwidth = 1\nheight = 1"),
    ] {
        let cfg = temp_config(&p, name, &pipeline(through_flip, roi));
        let out = framewire(&p).arg("check").arg(&cfg).output().unwrap();
        assert!(out.status.success(), "{name}: {}", text(&out));
    }
}
