//! The filter benchmark runs end to end on a tiny frame: every operation
//! is timed on both sides, so a broken OpenCV call in the helper or a
//! filter that fails on the benchmark's inputs shows here, not only when
//! someone runs `cargo bench`. Timings are not asserted.

use framewire::bench::filters::{Args, run};
use std::time::Duration;

#[test]
fn the_filter_benchmark_times_every_operation_on_both_sides() {
    let args = Args { sizes: vec![(64, 48)], min_iters: 1, min_time: Duration::ZERO, rounds: 1, ..Args::default() };
    let report = run(&args).expect("benchmark run");
    let names: Vec<&str> = report.rows.iter().map(|r| r.op.as_str()).collect();
    for op in [
        "yuyv_to_rgb",
        "nv12_to_bgr",
        "bgr_to_gray",
        "resize_area_3q_gray",
        "flip_h_rgb",
        "morph_dilate31",
        "tracker_bgr",
    ] {
        assert!(names.contains(&op), "{op} missing from {names:?}");
    }
    assert_eq!(names.iter().filter(|n| n.starts_with("morph_")).count(), 4 * 15, "every op and odd size 3..31");
    if report.opencv.contains("OpenCV skipped") {
        framewire::sys::testing::skip(
            "the_filter_benchmark_times_every_operation_on_both_sides",
            "opencv",
            &format!("the OpenCV side did not run ({}); pip install opencv-python-headless numpy", report.opencv),
        );
        return;
    }
    for r in &report.rows {
        assert!(r.opencv_ms.is_some(), "{}: OpenCV did not time it ({})", r.op, report.opencv);
        assert!(r.ms > 0.0 && r.floor_ms > 0.0, "{}: no time measured", r.op);
    }
}
