//! Recording and replay, end to end: real pipelines record into MCAP files,
//! which tools nobody at framewire wrote read back (the `mcap` Python
//! package, `mcap-ros2-support` and `rosbags`, through `tests/record/mcap_dump.py`);
//! a recorder is killed with SIGKILL mid-chunk; recordings are replayed into
//! a second recorder and compared frame for frame.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use framewire::record::reader::Reader;

// ------------------------------------------------------------ helpers

/// Whether the Python readers are installed; skips `test` visibly if not.
fn python_readers(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import mcap, mcap_ros2, rosbags"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(
            test,
            "mcap-python",
            "python3 with mcap, mcap-ros2-support and rosbags is needed (pip install mcap==1.6.0 mcap-ros2-support==0.6.0 rosbags==0.11.9; .ci/run does)",
        );
    }
    ok
}

/// One line of `mcap_dump.py`: its kind, path, topic and `key=value` fields.
#[derive(Debug)]
struct Line {
    kind: String,
    path: String,
    topic: String,
    f: BTreeMap<String, String>,
}

impl Line {
    fn get(&self, k: &str) -> &str {
        self.f.get(k).map(String::as_str).unwrap_or_else(|| panic!("no {k} in {self:?}"))
    }
    fn num(&self, k: &str) -> u64 {
        self.get(k).parse().unwrap_or_else(|_| panic!("{k} is not a number in {self:?}"))
    }
}

/// Reads `files` with the Python tools; image pixels land in `out`.
fn python_dump(out: &Path, files: &[PathBuf], stream: bool) -> Vec<Line> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/record/mcap_dump.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(out);
    if stream {
        cmd.arg("--stream");
    }
    let o = cmd.args(files).output().unwrap();
    assert!(o.status.success(), "mcap_dump.py failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let mut words = l.split(' ');
            let kind = words.next().unwrap().to_string();
            let path = words.next().unwrap_or("").to_string();
            let mut topic = String::new();
            let mut f = BTreeMap::new();
            for w in words {
                match w.split_once('=') {
                    Some((k, v)) => {
                        f.insert(k.to_string(), v.to_string());
                    }
                    None => topic = w.to_string(),
                }
            }
            Line { kind, path, topic, f }
        })
        .collect()
}

/// The files of a recording, in order.
fn files(dir: &Path, stem: &str) -> Vec<PathBuf> {
    framewire::record::recording::files_of(&dir.join(format!("{stem}.mcap"))).unwrap()
}

/// BT.601 limited-range YUV of an RGB colour, as `test_pattern` computes it.
fn yuv(rgb: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = rgb.map(|v| v as i32);
    let y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    [y, u, v].map(|c| c.clamp(0, 255) as u8)
}

/// `test_pattern`'s eight colour bars.
const BARS: [[u8; 3]; 8] =
    [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255], [0, 0, 0]];

/// Frame `seq` (1, 2, ...) of a `test_pattern` with the default disc, drawn
/// independently of the block: dimmed colour bars and the red disc where
/// `TestPattern::disc_centre` puts it.
fn pattern(format: &str, w: u32, h: u32, fps: f64, seq: u64) -> Vec<u8> {
    let bpp = if format == "YUYV" { 2 } else { 3 };
    let mut buf = vec![0u8; (w * h * bpp) as usize];
    let put = |buf: &mut [u8], x: u32, y: u32, rgb: [u8; 3]| {
        let row = (y * w * bpp) as usize;
        if format == "YUYV" {
            let [yy, u, v] = yuv(rgb);
            buf[row + 2 * x as usize] = yy;
            buf[row + 2 * x as usize + 1] = if x.is_multiple_of(2) { u } else { v };
        } else {
            buf[row + 3 * x as usize..][..3].copy_from_slice(&rgb);
        }
    };
    for y in 0..h {
        for x in 0..w {
            let bar = BARS[(x as usize * 8) / w as usize];
            put(&mut buf, x, y, bar.map(|c| c / 3));
        }
    }
    let (cx, cy) = framewire::builtin::TestPattern::disc_centre(w, h, fps, seq - 1);
    let r = (h / 10).max(1) as f64;
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            if dx * dx + dy * dy <= r * r {
                put(&mut buf, x, y, [255, 0, 0]);
            }
        }
    }
    buf
}

fn wall_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// The pid of block `name` in the run file of pipeline `pipeline`.
fn block_pid(p: &Prefix, pipeline: &str, name: &str) -> i32 {
    let text = std::fs::read_to_string(format!("/dev/shm/{}.{pipeline}._run", p.name)).unwrap();
    let t: toml::Table = text.parse().unwrap();
    t["block"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"].as_str() == Some(name))
        .map(|b| b["pid"].as_integer().unwrap() as i32)
        .unwrap()
}

/// Waits until stderr of a running `framewire run` shows a line with all of `words`.
fn wait_for(err: &mut impl BufRead, words: &[&str]) -> String {
    let t = Instant::now();
    let mut line = String::new();
    while t.elapsed() < Duration::from_secs(30) {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if words.iter().all(|w| line.contains(w)) {
            return line;
        }
    }
    panic!("no line with {words:?} (last: {line})");
}

/// Waits until stderr has shown a line for each of `lines` (each a list of
/// words), in any order: blocks start concurrently.
fn wait_all(err: &mut impl BufRead, lines: &[&[&str]]) {
    let mut seen = vec![false; lines.len()];
    let t = Instant::now();
    let mut line = String::new();
    while !seen.iter().all(|&s| s) {
        line.clear();
        assert!(t.elapsed() < Duration::from_secs(30), "waited for {lines:?}; saw {seen:?}");
        if err.read_line(&mut line).unwrap() == 0 {
            panic!("the pipeline ended before printing {lines:?}");
        }
        for (i, words) in lines.iter().enumerate() {
            seen[i] |= words.iter().all(|w| line.contains(w));
        }
    }
}

/// Kills a `framewire run` if the test fails before stopping it.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sigint(child: &std::process::Child) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
}

// ------------------------------------------------------------ recording

/// A YUYV test pattern and the colour tracker's detections, recorded for
/// two seconds, read back by the Python `mcap` package and decoded by
/// `mcap-ros2-support` and `rosbags`: every image equals the frame the test
/// pattern made for its sequence number, byte for byte; rosbags serializes
/// every message to exactly the recorded bytes; stamps are wall clock, the
/// detection carries its frame's capture stamp.
#[test]
fn python_reads_back_the_frames_the_test_pattern_made() {
    let test = "python_reads_back_the_frames_the_test_pattern_made";
    if !python_readers(test) {
        return;
    }
    let p = Prefix::new();
    let dir = p.dir();
    let cfg = temp_config(
        &p,
        "rec",
        &format!(
            r#"
[pipeline]
name = "rec"
connect = ["cam.frames -> trk.input", "cam.frames -> rec.frames", "trk.detection -> rec.detection"]

[[block]]
name = "cam"
type = "test_pattern"
format = "YUYV"
width = 160
height = 120
fps = 30

[[block]]
name = "trk"
type = "color_tracker"
lo = [170, 120, 150]
hi = [10, 255, 255]

[[block]]
name = "rec"
type = "recorder"
path = "{}/run.mcap"
inputs = {{ frames = "image", detection = "detection" }}
topics = {{ frames = "/camera/image" }}
chunk_ms = 200
"#,
            dir.display()
        ),
    );
    let before = wall_now();
    let (out, all) = run_for(&p, &cfg, "2s");
    let after = wall_now();
    assert!(out.status.success(), "{all}");
    let files = files(&dir, "run");
    assert_eq!(files.len(), 1, "{files:?}");
    let lines = python_dump(&dir, &files, false);
    let file = lines.iter().find(|l| l.kind == "file").unwrap();
    assert_eq!(file.get("summary"), "1", "a cleanly stopped recording has its summary");
    let meta = lines.iter().find(|l| l.kind == "meta").expect("framewire metadata record");
    let offset: i64 = meta.get("clock_offset_ns").parse().unwrap();
    let images: Vec<&Line> = lines.iter().filter(|l| l.kind == "image").collect();
    let detections: Vec<&Line> = lines.iter().filter(|l| l.kind == "msg").collect();
    assert!(images.len() >= 30 && detections.len() >= 20, "{} images, {} detections", images.len(), detections.len());
    let mut last_seq = 0;
    for im in &images {
        assert_eq!(im.topic, "/camera/image");
        assert_eq!((im.get("schema"), im.get("enc"), im.get("step")), ("sensor_msgs/msg/Image", "yuv422_yuy2", "320"));
        assert_eq!((im.num("w"), im.num("h"), im.get("bigendian")), (160, 120, "0"));
        assert_eq!(im.get("rosbags"), "same", "rosbags serializes the recorded bytes exactly: {im:?}");
        let seq = im.num("seq");
        assert!(seq > last_seq, "sequence numbers increase: {seq} after {last_seq}");
        last_seq = seq;
        let got = std::fs::read(dir.join(im.get("data"))).unwrap();
        assert!(got == pattern("YUYV", 160, 120, 30.0, seq), "frame {seq} differs from the test pattern's");
        // Wall clock: within the run, and the capture precedes the commit.
        let (stamp, log) = (im.num("stamp"), im.num("log"));
        assert!(stamp > before && stamp < after, "stamp {stamp} outside the run [{before}, {after}]");
        assert!(log >= stamp && log - stamp < 1_000_000_000, "log time {log}, stamp {stamp}");
        // The original monotonic stamp is the wall stamp less the recorded offset.
        let mono = stamp as i64 - offset;
        assert!(mono > 0 && (mono as u64) < framewire::sdk::monotonic_ns());
    }
    let by_seq: BTreeMap<u64, u64> = images.iter().map(|im| (im.num("seq"), im.num("stamp"))).collect();
    let mut matched = 0;
    for d in &detections {
        assert_eq!((d.topic.as_str(), d.get("schema")), ("/detection", "framewire_msgs/msg/Detection"));
        assert_eq!(d.get("rosbags"), "same", "{d:?}");
        assert_eq!((d.get("image_width"), d.get("image_height")), ("160", "120"));
        // A detection is stamped with the capture time of its source frame.
        if let Some(&s) = by_seq.get(&d.num("seq")) {
            assert_eq!(d.num("stamp"), s, "detection {} and its frame", d.num("seq"));
            matched += 1;
        }
        if d.get("found") == "True" {
            let (cx, cy) = framewire::builtin::TestPattern::disc_centre(160, 120, 30.0, d.num("seq") - 1);
            let (gx, gy): (f64, f64) = (d.get("cx").parse().unwrap(), d.get("cy").parse().unwrap());
            assert!((gx - cx).abs() < 3.0 && (gy - cy).abs() < 3.0, "disc at ({cx}, {cy}), found at ({gx}, {gy})");
        }
    }
    assert!(matched >= detections.len() / 2, "{matched} of {} detections have their frame recorded", detections.len());
    let end = lines.iter().find(|l| l.kind == "end").unwrap();
    assert_eq!(end.get("error"), "", "{end:?}");
}

/// With `max_file_mb` small, the recording rotates: every file stays under
/// the limit, every file is a complete MCAP with a summary, and together they
/// hold the frames in order, each equal to the test pattern's (RGB24 as rgb8).
#[test]
fn files_rotate_under_the_size_limit() {
    let test = "files_rotate_under_the_size_limit";
    if !python_readers(test) {
        return;
    }
    let p = Prefix::new();
    let dir = p.dir();
    let cfg = temp_config(
        &p,
        "rot",
        &format!(
            r#"
[pipeline]
name = "rot"
connect = ["cam.frames -> rec.frames"]

[wire."cam.frames"]
policy = "queue"

[[block]]
name = "cam"
type = "test_pattern"
width = 64
height = 48
fps = 100
frames = 150

[[block]]
name = "rec"
type = "recorder"
path = "{}/rot.mcap"
inputs = {{ frames = "image" }}
max_file_mb = 0.1
chunk_kb = 32
"#,
            dir.display()
        ),
    );
    let (out, all) = run_for(&p, &cfg, "3s");
    assert!(out.status.success(), "{all}");
    let files = files(&dir, "rot");
    assert!(files.len() >= 3, "150 frames of 9 KiB in 100 KiB files: {files:?}");
    let limit = (0.1 * 1024.0 * 1024.0) as u64;
    for f in &files {
        let size = std::fs::metadata(f).unwrap().len();
        assert!(size <= limit, "{} is {size} bytes, over the {limit}-byte limit", f.display());
    }
    let lines = python_dump(&dir, &files, false);
    assert!(lines.iter().filter(|l| l.kind == "file").all(|l| l.get("summary") == "1"), "every file is finished");
    let seqs: Vec<u64> = lines.iter().filter(|l| l.kind == "image").map(|l| l.num("seq")).collect();
    // A queue wire: the recorder gets every frame, in order, across the
    // files, from the first committed after it attached (the runtime starts
    // the producer first) to the last.
    let first = seqs[0];
    assert_eq!(seqs, (first..=150).collect::<Vec<u64>>());
    assert!(seqs.len() >= 100, "{} frames", seqs.len());
    for im in lines.iter().filter(|l| l.kind == "image") {
        assert_eq!(im.get("enc"), "rgb8");
        let got = std::fs::read(dir.join(im.get("data"))).unwrap();
        assert!(got == pattern("RGB24", 64, 48, 100.0, im.num("seq")), "frame {} in {}", im.num("seq"), im.path);
    }
}

/// SIGKILL the recorder in the middle of a chunk: the file has no summary or
/// footer, yet Python's stream reader reads it up to the broken chunk, and
/// what it reads is every frame from the first on, without a gap; what is
/// missing is at most the open chunk. The supervisor restarts the recorder,
/// which continues in the next file without touching the broken one.
#[test]
fn a_killed_recorder_loses_at_most_the_open_chunk() {
    let test = "a_killed_recorder_loses_at_most_the_open_chunk";
    if !python_readers(test) {
        return;
    }
    let p = Prefix::new();
    let dir = p.dir();
    let chunk_kb = 64;
    let cfg = temp_config(
        &p,
        "kill",
        &format!(
            r#"
[pipeline]
name = "kill"
connect = ["cam.frames -> rec.frames", "cam.frames -> sink.input"]

[wire."cam.frames"]
policy = "queue"
slots = 4

[[block]]
name = "cam"
type = "test_pattern"
width = 64
height = 48
fps = 100

[[block]]
name = "sink"
type = "frame_sink"
report_every_s = 0

[[block]]
name = "rec"
type = "recorder"
path = "{}/k.mcap"
inputs = {{ frames = "image" }}
chunk_kb = {chunk_kb}
chunk_ms = 60000
sync = false
"#,
            dir.display()
        ),
    );
    let (child, mut err) = start(&p, &cfg);
    let mut child = Running(child);
    std::thread::sleep(Duration::from_millis(1500));
    let pid = block_pid(&p, "kill", "rec");
    // Every frame committed before the kill was read by the recorder, but
    // for at most a ring (queue policy: the writer waits for it).
    let committed = framewire::wire::inspect(&p.wire("kill", "cam.frames")).unwrap().committed;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_for(&mut err, &["started block rec"]);
    std::thread::sleep(Duration::from_millis(800));
    sigint(&child.0);
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let files = files(&dir, "k");
    assert_eq!(files.len(), 2, "the restarted recorder writes a file of its own: {files:?}");

    let lines = python_dump(&dir, &files[..1], true);
    let end = lines.iter().find(|l| l.kind == "end").unwrap();
    assert!(!end.get("error").is_empty(), "the killed file ends in a broken chunk: {end:?}");
    let seqs: Vec<u64> = lines.iter().filter(|l| l.kind == "image").map(|l| l.num("seq")).collect();
    let n = seqs.len() as u64;
    // The first frames may be committed before the recorder attaches.
    let first = seqs[0];
    assert!(first <= 5, "{seqs:?}");
    assert_eq!(seqs, (first..first + n).collect::<Vec<u64>>(), "the intact part is every frame from the first, no gap");
    for im in lines.iter().filter(|l| l.kind == "image") {
        let got = std::fs::read(dir.join(im.get("data"))).unwrap();
        assert!(got == pattern("RGB24", 64, 48, 100.0, im.num("seq")), "frame {}", im.num("seq"));
    }
    // A chunk holds at most chunk_kb of messages plus the one that crossed it.
    let message = 9 + 22 + 64 + 64 * 48 * 3;
    let per_chunk = (chunk_kb * 1024) / message as u64 + 1;
    let last = first + n - 1;
    assert!(last + 4 + per_chunk >= committed, "read up to frame {last}; {committed} were committed before the kill");
    // The unreadable tail is at most that chunk.
    let size = std::fs::metadata(&files[0]).unwrap().len();
    let lost = size - end.num("readable_end");
    assert!(lost <= chunk_kb * 1024 + message as u64 + 64, "{lost} unreadable bytes at the end");

    // Our own reader plays the same prefix and says where the file broke.
    let mut r = Reader::new(vec![files[0].clone()]);
    let mut ours = 0;
    while r.next_with(|_| ()).unwrap().is_some() {
        ours += 1;
    }
    assert_eq!(ours, n);
    assert!(r.problems.len() == 1 && r.problems[0].contains("stopped abruptly"), "{:?}", r.problems);
    // The next file is complete.
    let second = python_dump(&dir, &files[1..], false);
    assert_eq!(second.iter().find(|l| l.kind == "file").unwrap().get("summary"), "1");
    drop(err);
}

// ------------------------------------------------------------ replay

/// Records 60 frames, then replays them as fast as the wires take them into
/// a second recorder: the second recording has the same frames, byte for
/// byte, with the same sequence numbers; the `stamps` output carries the
/// original capture stamps; the replayed frames' own stamps are today's.
#[test]
fn a_replay_reproduces_the_recording_frame_for_frame() {
    let p = Prefix::new();
    let dir = p.dir();
    let rec = temp_config(
        &p,
        "a",
        &format!(
            r#"
[pipeline]
name = "a"
connect = ["cam.frames -> rec.frames"]
[wire."cam.frames"]
policy = "queue"
[[block]]
name = "cam"
type = "test_pattern"
width = 64
height = 48
fps = 100
frames = 60
[[block]]
name = "rec"
type = "recorder"
path = "{0}/a.mcap"
inputs = {{ frames = "image" }}
"#,
            dir.display()
        ),
    );
    let (out, all) = run_for(&p, &rec, "2s");
    assert!(out.status.success(), "{all}");
    let play = temp_config(
        &p,
        "b",
        &format!(
            r#"
[pipeline]
name = "b"
connect = ["replay.frames -> rec.frames", "replay.stamps -> rec.stamps", "replay.frames -> sink.input"]
[wire."replay.frames"]
policy = "queue"
[wire."replay.stamps"]
policy = "queue"
slots = 64
[[block]]
name = "replay"
type = "replay"
path = "{0}/a.mcap"
rate = 0
[[block]]
name = "sink"
type = "frame_sink"
report_every_s = 0
[[block]]
name = "rec"
type = "recorder"
path = "{0}/b.mcap"
inputs = {{ frames = "image", stamps = "replay_stamp" }}
"#,
            dir.display()
        ),
    );
    let started = framewire::sdk::monotonic_ns();
    let (out, all) = run_for(&p, &play, "3s");
    assert!(out.status.success(), "{all}");
    assert!(all.contains("end of the recording: replayed"), "{all}");
    assert!(all.contains("[sink]  INFO first frame: 64x48 RGB3"), "the frame_sink got the frames: {all}");

    let read = |stem: &str| {
        let mut frames = BTreeMap::new();
        let mut stamps = BTreeMap::new();
        let mut r = Reader::new(files(&dir, stem));
        while let Some(()) = r
            .next_with(|m| {
                let seq = m.header.sequence as u64;
                if m.channel.topic == "/frames" {
                    let im = framewire::record::cdr::decode_image(m.data).unwrap();
                    frames.insert(seq, (im.data.to_vec(), im.stamp.to_ns(), m.file_meta.clone()));
                } else {
                    let mut buf = vec![0u8; 40];
                    framewire::record::cdr::decode_message(
                        m.data,
                        &<framewire::record::ReplayStamp as framewire::msg::Message>::layout(),
                        &mut buf,
                    )
                    .unwrap();
                    stamps.insert(
                        seq,
                        <framewire::record::ReplayStamp as framewire::msg::Message>::decode(&buf).unwrap(),
                    );
                }
            })
            .unwrap()
        {}
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        (frames, stamps)
    };
    let (a, _) = read("a");
    let (b, stamps) = read("b");
    // The recorder may attach after the first frames (frames = 60 in all).
    assert!(a.len() >= 30 && a.len() <= 60, "{} frames recorded", a.len());
    assert!(all.contains(&format!("replayed {} messages", a.len())), "{all}");
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "same frames, same sequence numbers");
    for (seq, (pixels, stamp, meta)) in &a {
        assert!(b[seq].0 == *pixels, "frame {seq} differs after replay");
        assert_eq!(pixels, &pattern("RGB24", 64, 48, 100.0, *seq));
        let s = stamps.get(seq).unwrap_or_else(|| panic!("no replay_stamp for {seq}"));
        assert_eq!(s.capture_wall_ns, *stamp, "original capture stamp of {seq}");
        let offset: i64 = meta["clock_offset_ns"].parse().unwrap();
        assert_eq!(s.capture_monotonic_ns as i64, *stamp as i64 - offset);
        // The replayed frame is stamped now, not then.
        let replayed_mono = b[seq].1 as i64 - b[seq].2["clock_offset_ns"].parse::<i64>().unwrap();
        assert!(replayed_mono as u64 > started, "frame {seq} keeps its old stamp");
    }
}

/// `step = true`: nothing plays until `step N` is appended to the control
/// file, then exactly N frames.
#[test]
fn a_stepping_replay_publishes_one_frame_per_step() {
    let p = Prefix::new();
    let dir = p.dir();
    let rec = temp_config(
        &p,
        "a",
        &format!(
            "[pipeline]\nname = \"a\"\nconnect = [\"cam.frames -> rec.frames\"]\n[wire.\"cam.frames\"]\npolicy = \"queue\"\n\
             [[block]]\nname = \"cam\"\ntype = \"test_pattern\"\nwidth = 32\nheight = 24\nfps = 100\nframes = 20\n\
             [[block]]\nname = \"rec\"\ntype = \"recorder\"\npath = \"{0}/a.mcap\"\ninputs = {{ frames = \"image\" }}\n",
            dir.display()
        ),
    );
    let (out, all) = run_for(&p, &rec, "1.5s");
    assert!(out.status.success(), "{all}");
    let control = dir.join("control");
    let play = temp_config(
        &p,
        "b",
        &format!(
            "[pipeline]\nname = \"b\"\nconnect = [\"replay.frames -> rec.frames\"]\n[wire.\"replay.frames\"]\npolicy = \"queue\"\n\
             [[block]]\nname = \"replay\"\ntype = \"replay\"\npath = \"{0}/a.mcap\"\nstep = true\ncontrol = \"{1}\"\n\
             [[block]]\nname = \"rec\"\ntype = \"recorder\"\npath = \"{0}/b.mcap\"\ninputs = {{ frames = \"image\" }}\n",
            dir.display(),
            control.display()
        ),
    );
    let mut child =
        Running(framewire(&p).arg("run").arg(&play).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    wait_all(&mut err, &[&["[replay]", "replaying 1 file(s)"], &["[rec]", "recording 1 topic(s)"]]);
    std::thread::sleep(Duration::from_millis(500));
    writeln!(std::fs::OpenOptions::new().append(true).open(&control).unwrap(), "step\nstep 2").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    sigint(&child.0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(child.0.wait().unwrap().success(), "{rest}");
    let seqs = |stem: &str| {
        let mut r = Reader::new(files(&dir, stem));
        let mut seqs = Vec::new();
        while let Some(s) = r.next_with(|m| m.header.sequence).unwrap() {
            seqs.push(s);
        }
        seqs
    };
    let recorded = seqs("a");
    assert_eq!(seqs("b"), recorded[..3], "{rest}");
}

// ------------------------------------------------------------ the commands

/// `framewire record` taps a running pipeline's wires; `framewire replay
/// --config` prints a pipeline for the recording, and `framewire replay`
/// runs it: the frame_sink receives the frames.
#[test]
fn framewire_record_taps_a_running_pipeline_and_framewire_replay_plays_it() {
    let p = Prefix::new();
    let dir = p.dir();
    let cfg = temp_config(
        &p,
        "live",
        "[pipeline]\nname = \"live\"\nconnect = [\"cam.frames -> trk.input\", \"trk.detection -> log.input\"]\n\
         [[block]]\nname = \"cam\"\ntype = \"test_pattern\"\nformat = \"YUYV\"\nwidth = 64\nheight = 48\nfps = 30\n\
         [[block]]\nname = \"trk\"\ntype = \"color_tracker\"\nlo = [170, 120, 150]\nhi = [10, 255, 255]\n\
         [[block]]\nname = \"log\"\ntype = \"message_log\"\nkind = \"detection\"\n",
    );
    let mut child =
        Running(framewire(&p).arg("run").arg(&cfg).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    wait_for(&mut err, &["[log]", "INFO"]);
    let out_path = dir.join("tap.mcap");
    let rec = framewire(&p)
        .args(["record", "-o"])
        .arg(&out_path)
        .args(["--wires", "cam.frames,trk.detection", "--for", "1.5s"])
        .output()
        .unwrap();
    let rec_text = text(&rec);
    assert!(rec.status.success(), "{rec_text}");
    assert!(rec_text.contains("/cam/frames:") && rec_text.contains("/trk/detection:"), "{rec_text}");
    let wrong = framewire(&p)
        .args(["record", "-o"])
        .arg(&out_path)
        .args(["--wires", "cam.nope", "--for", "1s"])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(text(&wrong).contains("wire cam.nope of pipeline live"), "{}", text(&wrong));
    sigint(&child.0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(child.0.wait().unwrap().success(), "{rest}");

    let files = files(&dir, "tap");
    assert_eq!(files.len(), 1);
    let mut r = Reader::new(files.clone());
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(()) = r
        .next_with(|m| {
            if m.channel.topic == "/cam/frames" {
                let im = framewire::record::cdr::decode_image(m.data).unwrap();
                assert_eq!(im.data, pattern("YUYV", 64, 48, 30.0, m.header.sequence as u64));
            }
            *counts.entry(m.channel.topic.clone()).or_default() += 1;
        })
        .unwrap()
    {}
    assert!(counts["/cam/frames"] >= 20 && counts["/trk/detection"] >= 20, "{counts:?}");

    let printed = framewire(&p).args(["replay"]).arg(&files[0]).arg("--config").output().unwrap();
    let printed_text = String::from_utf8_lossy(&printed.stdout).to_string();
    assert!(printed.status.success(), "{}", text(&printed));
    assert!(printed_text.contains("\"replay.cam_frames -> cam_frames.input\""), "{printed_text}");
    assert!(printed_text.contains("type = \"message_log\"\nkind = \"detection\""), "{printed_text}");
    let played = framewire(&p).args(["replay"]).arg(&files[0]).args(["--rate", "4", "--for", "2s"]).output().unwrap();
    let played_text = text(&played);
    assert!(played.status.success(), "{played_text}");
    assert!(played_text.contains("[cam_frames]  INFO first frame: 64x48 YUYV"), "{played_text}");
    assert!(played_text.contains("end of the recording"), "{played_text}");
}

/// Bad parameters and files that are not recordings are refused by `check`,
/// naming the file and what to do.
#[test]
fn bad_recorder_and_replay_configurations_are_refused() {
    let p = Prefix::new();
    let dir = p.dir();
    let check = |name: &str, body: &str| {
        let cfg = temp_config(&p, name, &format!("[pipeline]\nname = \"{name}\"\n{body}"));
        let o = framewire(&p).arg("check").arg(&cfg).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        text(&o)
    };
    let t = check(
        "r1",
        "connect = [\"cam.frames -> rec.frames\"]\n[[block]]\nname = \"cam\"\ntype = \"test_pattern\"\n\
         [[block]]\nname = \"rec\"\ntype = \"recorder\"\npath = \"x.mcap\"\ninputs = { frames = \"imag\" }\n",
    );
    assert!(t.contains("unknown port type \"imag\""), "{t}");
    let missing = dir.join("none.mcap");
    let t =
        check("r2", &format!("[[block]]\nname = \"replay\"\ntype = \"replay\"\npath = \"{}\"\n", missing.display()));
    assert!(t.contains(&format!("{}: no such file", missing.display())), "{t}");
    let junk = dir.join("junk.mcap");
    std::fs::write(&junk, b"not an mcap file at all").unwrap();
    let t = check("r3", &format!("[[block]]\nname = \"replay\"\ntype = \"replay\"\npath = \"{}\"\n", junk.display()));
    assert!(t.contains("junk.mcap"), "{t}");
    let t = check(
        "r4",
        &format!("[[block]]\nname = \"replay\"\ntype = \"replay\"\npath = \"{}\"\nstep = true\n", junk.display()),
    );
    assert!(t.contains("step = true needs a control file"), "{t}");
}
