//! The live view end to end: `framewire run --view` and `framewire view`
//! with real block processes, real HTTP over loopback, every JPEG decoded
//! and compared with what the test pattern is known to draw (colour bars,
//! and a disc at a place computed from the frame's sequence number), and
//! the page itself in headless Chromium, read through the DevTools
//! protocol.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::*;
use framewire::builtin::TestPattern;
use framewire::image::{FourCC, ImageFormat, ImageMut};
use serde_json::Value;

/// test_pattern's bars, before it dims them to a third.
const BARS: [[u8; 3]; 8] =
    [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255], [0, 0, 0]];

// ------------------------------------------------------------ a pipeline with its view

/// `framewire run ... --view=127.0.0.1:0` and what it printed.
struct Run {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

/// Starts `framewire run CFG ARGS` and waits for its live view's address.
fn start_run(p: &Prefix, cfg: &Path, args: &[&str]) -> Run {
    let child =
        framewire(p).arg("run").arg(cfg).args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    watch_log(child)
}

/// Reads a child's stderr into a shared log (so it never blocks on a full
/// pipe) and returns once it says where its live view is.
fn watch_log(mut child: Child) -> Run {
    let err = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let l = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("live view at http://").nth(1) {
                let _ = tx.send(rest.split('/').next().unwrap_or("").to_string());
            }
            let mut l = l.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(a) => Run { child, addr: a.parse().unwrap(), log },
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no live view address printed:\n{}", log.lock().unwrap());
        }
    }
}

impl Run {
    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log holds `text`; returns the log.
    fn wait_log(&self, text: &str) -> String {
        let t = Instant::now();
        loop {
            let log = self.log();
            if log.contains(text) {
                return log;
            }
            assert!(t.elapsed() < Duration::from_secs(20), "never printed {text:?}:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until wire `name` has carried frames (the pipeline runs).
    fn wait_frames(&self, name: &str) -> Value {
        let t = Instant::now();
        loop {
            let s = state(self.addr);
            if s["wires"].as_array().unwrap().iter().any(|w| w["name"] == name && w["frames"].as_u64() > Some(0)) {
                return s;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "no frames on {name}: {s}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ctrl-C, then the clean exit every run must end with.
    fn stop(mut self) -> String {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), nix::sys::signal::Signal::SIGINT)
            .unwrap();
        let t = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if t.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!("framewire did not stop after SIGINT:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The log thread ends with the pipe.
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log();
        assert!(status.success(), "framewire failed ({status}):\n{log}");
        log
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.child.id() as i32),
                nix::sys::signal::Signal::SIGINT,
            );
            let _ = self.child.wait();
        }
    }
}

/// A test pattern of `w` x `h` at `fps` into a sink; `extra` is appended.
fn camera_pipeline(p: &Prefix, format: &str, w: u32, h: u32, fps: u32, extra: &str) -> std::path::PathBuf {
    temp_config(
        p,
        "t",
        &format!(
            r#"
[pipeline]
name = "t"
connect = ["cam.frames -> sink.input"]

[[block]]
name = "cam"
type = "test_pattern"
format = "{format}"
width = {w}
height = {h}
fps = {fps}

[[block]]
name = "sink"
type = "frame_sink"
report_every_s = 0
{extra}
"#
        ),
    )
}

/// The test pattern, a red mask of it, and the largest blob of the mask.
fn tracker_pipeline(p: &Prefix) -> std::path::PathBuf {
    temp_config(
        p,
        "t",
        r#"
[pipeline]
name = "t"
connect = ["cam.frames -> mask.input", "mask.output -> blobs.input", "blobs.detection -> log.input"]

[[block]]
name = "cam"
type = "test_pattern"
width = 320
height = 240
fps = 30

[[block]]
name = "mask"
type = "hsv_threshold"
lo = [170, 120, 150]
hi = [10, 255, 255]

[[block]]
name = "blobs"
type = "blob_detect"

[[block]]
name = "log"
type = "message_log"
kind = "detection"
every_s = 100
"#,
    )
}

// ------------------------------------------------------------ HTTP by hand

/// One request; returns the status, the head and the body.
fn request(addr: SocketAddr, method: &str, path: &str, host: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: framewire-test\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8(all[..end].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, all[end + 4..].to_vec())
}

fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let (s, _, b) = request(addr, "GET", path, "localhost");
    (s, b)
}

fn get_text(addr: SocketAddr, path: &str) -> (u16, String) {
    let (s, b) = get(addr, path);
    (s, String::from_utf8(b).unwrap())
}

fn state(addr: SocketAddr) -> Value {
    let (s, body) = get(addr, "/api/state");
    assert_eq!(s, 200);
    serde_json::from_slice(&body).unwrap()
}

fn wire<'v>(s: &'v Value, name: &str) -> &'v Value {
    s["wires"].as_array().unwrap().iter().find(|w| w["name"] == name).unwrap_or_else(|| panic!("no wire {name}: {s}"))
}

/// An MJPEG stream, part by part.
struct Mjpeg {
    r: BufReader<TcpStream>,
}

/// One frame of a stream.
struct Part {
    headers: BTreeMap<String, String>,
    jpeg: Vec<u8>,
}

impl Part {
    fn source_seq(&self) -> u64 {
        self.headers["x-source-seq"].parse().unwrap()
    }
    fn overlay_seqs(&self) -> Vec<u64> {
        self.headers["x-overlay-seq"].split(',').map(|s| s.parse().unwrap()).collect()
    }
}

impl Mjpeg {
    fn open(addr: SocketAddr, path: &str) -> Mjpeg {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let mut r = BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
        assert!(head.contains("Content-Type: multipart/x-mixed-replace; boundary=fwframe"), "{head}");
        let mut first = String::new();
        r.read_line(&mut first).unwrap();
        assert_eq!(first, "--fwframe\r\n");
        Mjpeg { r }
    }

    fn next(&mut self) -> Part {
        let mut headers = BTreeMap::new();
        loop {
            let mut line = String::new();
            assert!(self.r.read_line(&mut line).unwrap() > 0, "stream ended");
            if line == "\r\n" {
                break;
            }
            let (k, v) = line.split_once(':').unwrap();
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        assert_eq!(headers["content-type"], "image/jpeg");
        let mut jpeg = vec![0u8; headers["content-length"].parse().unwrap()];
        self.r.read_exact(&mut jpeg).unwrap();
        let mut tail = [0u8; 13];
        self.r.read_exact(&mut tail).unwrap();
        assert_eq!(&tail, b"\r\n--fwframe\r\n");
        Part { headers, jpeg }
    }

    fn local_port(&self) -> u16 {
        self.r.get_ref().local_addr().unwrap().port()
    }
}

/// Decodes a JPEG to packed RGB.
fn decode(jpeg: &[u8]) -> (u32, u32, Vec<u8>) {
    let (w, h) = framewire::filters::jpeg::dimensions(jpeg).unwrap();
    let mut px = vec![0u8; (w * h * 3) as usize];
    framewire::filters::jpeg::JpegDecoder::new()
        .decode(jpeg, &mut ImageMut { format: ImageFormat::packed(FourCC::RGB24, w, h), data: &mut px })
        .unwrap();
    (w, h, px)
}

fn px(img: &(u32, u32, Vec<u8>), x: u32, y: u32) -> [u8; 3] {
    let i = 3 * (y * img.0 + x) as usize;
    [img.2[i], img.2[i + 1], img.2[i + 2]]
}

fn near(a: [u8; 3], b: [u8; 3], tol: i32) -> bool {
    a.iter().zip(b).all(|(&x, y)| (x as i32 - y as i32).abs() <= tol)
}

/// Checks a decoded frame against the test pattern: every bar's colour in
/// the top rows (the disc never goes there), and the disc of frame `seq`
/// where test_pattern drew it.
fn check_pattern(img: &(u32, u32, Vec<u8>), fps: f64, seq: u64, tol: i32) {
    let (w, h) = (img.0, img.1);
    for (b, bar) in BARS.iter().enumerate() {
        let x = (2 * b as u32 + 1) * w / 16;
        let want = bar.map(|c| c / 3);
        assert!(near(px(img, x, 4), want, tol), "bar {b} at x {x}: {:?}, expected {want:?}", px(img, x, 4));
    }
    // test_pattern stamps frame n (from 0) with source sequence n + 1.
    let (cx, cy) = TestPattern::disc_centre(w, h, fps, seq - 1);
    let r = (h / 10) as f64;
    let inside = px(img, cx as u32, cy as u32);
    assert!(near(inside, [255, 0, 0], tol), "disc centre ({cx:.0}, {cy:.0}) of frame {seq}: {inside:?}");
    // Just outside the disc, towards the image centre: the dimmed bars.
    let (ox, oy) = (cx + (w as f64 / 2.0 - cx).signum() * (r + 4.0), cy);
    let outside = px(img, ox as u32, oy as u32);
    assert!(outside.iter().all(|&c| c < 120), "outside the disc at ({ox:.0}, {oy:.0}): {outside:?}");
}

// ------------------------------------------------------------ the tests

#[test]
fn the_stream_shows_the_wires_frames_converted_from_yuyv() {
    let p = Prefix::new();
    let cfg = camera_pipeline(&p, "YUYV", 320, 240, 30, "");
    let run = start_run(&p, &cfg, &["--view=127.0.0.1:0"]);
    run.wait_frames("cam.frames");
    let mut s = Mjpeg::open(run.addr, "/stream/cam.frames");
    let mut last = 0;
    for _ in 0..3 {
        let part = s.next();
        let seq = part.source_seq();
        assert!(seq > last, "frames in order, none twice: {seq} after {last}");
        last = seq;
        let img = decode(&part.jpeg);
        assert_eq!((img.0, img.1), (320, 240));
        // YUYV limited range, converted to RGB, then JPEG: within 24.
        check_pattern(&img, 30.0, seq, 24);
    }
    drop(s);
    // One frame as a plain JPEG, for curl and scripts.
    let (st, jpeg) = get(run.addr, "/frame/cam.frames.jpg");
    assert_eq!(st, 200);
    assert_eq!(framewire::filters::jpeg::dimensions(&jpeg).unwrap(), (320, 240));
    let log = run.stop();
    assert!(log.contains("live view at http://127.0.0.1:"), "{log}");
    assert!(log.contains("ssh -L"), "how to reach it from another machine: {log}");
}

#[test]
fn statistics_count_frames_and_show_block_states() {
    let p = Prefix::new();
    let cfg = camera_pipeline(&p, "RGB24", 64, 48, 50, "");
    let run = start_run(&p, &cfg, &["--view=127.0.0.1:0"]);
    let a = run.wait_frames("cam.frames");
    assert_eq!(a["pipeline"], "t");
    assert_eq!(a["running"], true);
    let w = wire(&a, "cam.frames");
    assert_eq!(
        (w["kind"].as_str(), w["format"].as_str(), w["policy"].as_str()),
        (Some("image"), Some("RGB3 64x48"), Some("latest"))
    );
    assert_eq!(w["viewable"], true);
    let t = Instant::now();
    let b = loop {
        std::thread::sleep(Duration::from_millis(300));
        let b = state(run.addr);
        let fps = wire(&b, "cam.frames")["fps"].as_f64();
        if fps.is_some_and(|f| f > 0.0) || t.elapsed() > Duration::from_secs(20) {
            break b;
        }
    };
    let (wa, wb) = (wire(&a, "cam.frames"), wire(&b, "cam.frames"));
    assert!(wb["frames"].as_u64() > wa["frames"].as_u64(), "frames counted: {wa} then {wb}");
    assert!(wb["fps"].as_f64().unwrap() > 0.0, "{wb}");
    assert!(wb["latency_us"].as_f64().is_some(), "{wb}");
    assert_eq!(wb["readers"], 1, "the sink; the viewer watches nothing yet");
    for name in ["cam", "sink"] {
        let blk = b["blocks"].as_array().unwrap().iter().find(|x| x["name"] == name).unwrap();
        // The supervisor's word and the block's own heartbeat. The phase
        // is shown but not asserted: `supervisor::spawn` marks the segment
        // "opening" after starting the process, which can overwrite the
        // "running" of a block that opened first (seen on a loaded machine).
        assert_eq!(blk["state"].as_str(), Some("running"), "{blk}");
        assert!(blk["phase"].is_string(), "{blk}");
        assert!(blk["pid"].as_u64().unwrap() > 0, "{blk}");
        assert!(blk["heartbeat_ms"].as_f64().is_some_and(|h| h < 5000.0), "a beating block: {blk}");
    }
    // The page names the pipeline and shows the one image wire.
    let (st, html) = get_text(run.addr, "/");
    assert_eq!(st, 200);
    assert!(html.contains("<img id=\"view\" src=\"/stream/cam.frames?client="), "{html}");
    assert!(html.contains("framewire <span id=\"pipeline\">t</span>"), "{html}");
    let (st, js) = get_text(run.addr, "/viewer.js");
    assert!(st == 200 && js.contains("/api/state"));
    run.stop();
}

#[test]
fn it_encodes_only_while_watched_and_gives_the_reader_entry_back() {
    let p = Prefix::new();
    let cfg = camera_pipeline(&p, "RGB24", 64, 48, 50, "");
    let run = start_run(&p, &cfg, &["--view=127.0.0.1:0"]);
    let s0 = run.wait_frames("cam.frames");
    assert_eq!(s0["viewer"]["feeds"].as_array().unwrap().len(), 0, "nothing encoded for nobody: {s0}");
    assert_eq!(wire(&s0, "cam.frames")["viewer_readers"], 0);
    let mut a = Mjpeg::open(run.addr, "/stream/cam.frames");
    a.next();
    let s1 = state(run.addr);
    let feeds = s1["viewer"]["feeds"].as_array().unwrap();
    assert_eq!(feeds.len(), 1, "{s1}");
    assert_eq!((feeds[0]["wire"].as_str(), feeds[0]["watchers"].as_u64()), (Some("cam.frames"), Some(1)));
    assert_eq!(wire(&s1, "cam.frames")["viewer_readers"], 1, "one tap while watched");
    drop(a);
    let t = Instant::now();
    loop {
        let s = state(run.addr);
        if s["viewer"]["feeds"].as_array().unwrap().is_empty() && wire(&s, "cam.frames")["viewer_readers"] == 0 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "the encoder did not stop after its last watcher left: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    run.stop();
}

#[test]
fn one_encoder_serves_every_watcher_at_the_capped_rate() {
    let p = Prefix::new();
    let cfg = camera_pipeline(&p, "RGB24", 64, 48, 100, "");
    let run = start_run(&p, &cfg, &["--view=127.0.0.1:0", "--view-fps=4"]);
    run.wait_frames("cam.frames");
    let mut a = Mjpeg::open(run.addr, "/stream/cam.frames");
    let mut b = Mjpeg::open(run.addr, "/stream/cam.frames");
    a.next();
    b.next();
    let s = state(run.addr);
    let feeds = s["viewer"]["feeds"].as_array().unwrap();
    assert_eq!(feeds.len(), 1, "two watchers of one wire share one encoder: {s}");
    assert_eq!(feeds[0]["watchers"], 2);
    assert_eq!(wire(&s, "cam.frames")["viewer_readers"], 1, "and one tap");
    // The cap: whatever the source's rate, at most 4 frames a second (plus
    // one for the moment the count starts).
    let e0 = feeds[0]["encoded"].as_u64().unwrap();
    let t = Instant::now();
    let mut n = 0;
    while t.elapsed() < Duration::from_secs(2) {
        a.next();
        n += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    let s = state(run.addr);
    let encoded = s["viewer"]["feeds"][0]["encoded"].as_u64().unwrap() - e0;
    assert!(n as f64 <= 4.0 * secs + 2.0, "{n} frames in {secs:.1} s at --view-fps=4");
    assert!(encoded as f64 <= 4.0 * secs + 2.0, "{encoded} encoded in {secs:.1} s at --view-fps=4");
    assert!(wire(&s, "cam.frames")["frames"].as_u64().unwrap() > 2 * encoded, "the source runs at its own rate: {s}");
    drop((a, b));
    run.stop();
}

/// Bytes waiting in the receive queue of this machine's TCP socket bound
/// to 127.0.0.1:`port` (from /proc/net/tcp).
fn rx_queue(port: u16) -> u64 {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!("0100007F:{port:04X}");
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&local.as_str())).then(|| u64::from_str_radix(f[4].split(':').nth(1)?, 16).ok())?
        })
        .next()
        .unwrap_or(0)
}

#[test]
fn a_browser_that_stops_reading_never_slows_the_pipeline_or_other_browsers() {
    let p = Prefix::new();
    // Large, noisy-enough frames at the highest rate, so the stalled
    // connection's socket buffers fill within seconds.
    let cfg = camera_pipeline(&p, "RGB24", 640, 480, 60, "");
    let run = start_run(&p, &cfg, &["--view=127.0.0.1:0", "--view-fps=60"]);
    run.wait_frames("cam.frames");
    // A: reads one frame, then nothing.
    let mut a = Mjpeg::open(run.addr, "/stream/cam.frames");
    a.next();
    // Until its receive queue stops growing: the viewer's write to it is
    // then blocked (its own thread; nothing else).
    let t = Instant::now();
    let mut prev = 0;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let q = rx_queue(a.local_port());
        if q > 0 && q == prev {
            break;
        }
        prev = q;
        assert!(t.elapsed() < Duration::from_secs(60), "the stalled socket never filled ({q} bytes queued)");
    }
    // B still gets new frames, and the pipeline still runs at its rate.
    let s0 = state(run.addr);
    let mut b = Mjpeg::open(run.addr, "/stream/cam.frames");
    let mut seqs = Vec::new();
    for _ in 0..5 {
        seqs.push(b.next().source_seq());
    }
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "fresh frames for B: {seqs:?}");
    let s1 = state(run.addr);
    let (f0, f1) =
        (wire(&s0, "cam.frames")["frames"].as_u64().unwrap(), wire(&s1, "cam.frames")["frames"].as_u64().unwrap());
    assert!(f1 > f0, "the camera keeps writing");
    let sink_reads = |s: &Value| wire(s, "cam.frames")["latency_us"].clone();
    assert!(sink_reads(&s1).as_f64().is_some(), "the sink keeps reading: {s1}");
    drop((a, b));
    run.stop();
}

#[test]
fn wires_that_cannot_be_tapped_are_refused_with_the_reason() {
    let p = Prefix::new();
    let extra = r#"
[[block]]
name = "q"
type = "test_pattern"
width = 32
height = 24

[[block]]
name = "qsink"
type = "frame_sink"
report_every_s = 0

[[block]]
name = "full"
type = "test_pattern"
width = 32
height = 24

[[block]]
name = "fsink"
type = "frame_sink"
report_every_s = 0

[[block]]
name = "mask"
type = "hsv_threshold"
lo = [170, 120, 150]
hi = [10, 255, 255]

[[block]]
name = "blobs"
type = "blob_detect"

[[block]]
name = "log"
type = "message_log"
kind = "detection"
every_s = 100

[wire."q.frames"]
policy = "queue"

[wire."full.frames"]
readers = 1
"#;
    let cfg = temp_config(
        &p,
        "t",
        &format!(
            r#"
[pipeline]
name = "t"
connect = ["cam.frames -> sink.input", "q.frames -> qsink.input", "full.frames -> fsink.input", "cam.frames -> mask.input", "mask.output -> blobs.input", "blobs.detection -> log.input"]

[[block]]
name = "cam"
type = "test_pattern"
width = 32
height = 24

[[block]]
name = "sink"
type = "frame_sink"
report_every_s = 0
{extra}"#
        ),
    );
    let run = start_run(&p, &cfg, &["--view=127.0.0.1:0"]);
    run.wait_frames("blobs.detection");
    // Every block reads its wires by now.
    let t = Instant::now();
    while wire(&state(run.addr), "full.frames")["readers"] != 1 || wire(&state(run.addr), "q.frames")["readers"] != 1 {
        assert!(t.elapsed() < Duration::from_secs(20), "the sinks never attached");
        std::thread::sleep(Duration::from_millis(50));
    }
    let cases: [(&str, u16, &str); 8] = [
        ("/stream/q.frames", 409, "uses policy queue: a reader of it holds back its writer"),
        ("/stream/blobs.detection", 415, "carries detection messages"),
        ("/stream/full.frames", 503, "has all 1 reader entries in use"),
        ("/stream/nope", 404, "no wire \"nope\" in pipeline \"t\"; its wires are: blobs.detection, cam.frames"),
        ("/stream/cam.frames?overlay=q.frames", 409, "policy queue"),
        ("/stream/cam.frames?overlay=nope", 404, "overlay: no wire \"nope\""),
        ("/frame/q.frames.jpg", 409, "policy queue"),
        ("/elsewhere", 404, "the page is at /"),
    ];
    for (path, status, text) in cases {
        let (st, body) = get_text(run.addr, path);
        assert_eq!(st, status, "{path}: {body}");
        assert!(body.contains(text), "{path}: {body}");
    }
    let (st, _, body) = request(run.addr, "POST", "/api/state", "localhost");
    assert_eq!(st, 405, "{}", String::from_utf8_lossy(&body));
    // A loopback view answers only requests that name loopback: a page
    // elsewhere that points its own name at 127.0.0.1 (DNS rebinding)
    // gets nothing.
    let (st, _, body) = request(run.addr, "GET", "/api/state", "evil.example:80");
    assert_eq!(st, 403);
    assert!(String::from_utf8_lossy(&body).contains("loopback only"));
    for host in ["127.0.0.1", "localhost:1", "[::1]:8090"] {
        assert_eq!(request(run.addr, "GET", "/api/state", host).0, 200, "{host}");
    }
    // The statistics still cover the wires that are not shown.
    let s = state(run.addr);
    assert_eq!(
        (wire(&s, "q.frames")["policy"].as_str(), wire(&s, "q.frames")["viewable"].as_bool()),
        (Some("queue"), Some(false))
    );
    assert!(wire(&s, "q.frames")["frames"].as_u64() > Some(0));
    // The full wire's sink was never disturbed by the refused taps.
    assert_eq!(wire(&s, "full.frames")["readers"], 1);
    run.stop();
}

#[test]
fn the_viewer_never_takes_the_reader_entry_of_a_restarting_block() {
    let p = Prefix::new();
    // cam.frames has two block readers (sink, grey) and one spare entry.
    // The sink crashes every 50 frames and is restarted after a growing
    // backoff: while it is down its entry is free, and must stay its own.
    let cfg = temp_config(
        &p,
        "t",
        r#"
[pipeline]
name = "t"
connect = ["cam.frames -> sink.input", "cam.frames -> grey.input", "grey.output -> gsink.input"]

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
crash_after_frames = 50
max_restarts = 100

[[block]]
name = "grey"
type = "convert"
format = "GREY"

[[block]]
name = "gsink"
type = "frame_sink"
report_every_s = 0
"#,
    );
    let run = start_run(&p, &cfg, &["--view=127.0.0.1:0"]);
    run.wait_frames("grey.output");
    // One view takes the spare entry...
    let mut a = Mjpeg::open(run.addr, "/stream/cam.frames");
    a.next();
    // ...and a second, different view of the same wire finds none: it waits
    // through the sink's crashes and restarts, and is refused, rather than
    // take the sink's entry while the sink is down.
    for _ in 0..3 {
        let (st, body) = get(run.addr, "/frame/cam.frames.jpg?overlay=grey.output");
        let body = String::from_utf8_lossy(&body);
        assert_eq!(st, 503, "the view took an entry: {}", &body[..body.len().min(200)]);
        assert!(body.contains("reader entries in use") || body.contains("does not take its place"), "{body}");
    }
    drop(a);
    let log = run.stop();
    assert!(log.contains("framewire: block sink ended (exit code"), "the sink did crash and restart: {log}");
    // Only the blocks' and the supervisor's lines: the live view's refusals (logged without
    // a block or supervisor prefix) say "reader entries in use" by design.
    let blocks: String =
        log.lines().filter(|l| l.starts_with('[') || l.starts_with("framewire:")).collect::<Vec<_>>().join("\n");
    assert!(
        !blocks.contains("ReadersFull") && !blocks.contains("reader entries in use"),
        "a block lost its entry: {log}"
    );
}

/// The bounding box of the pixels `f` picks: (x0, y0, x1, y1, count).
fn bbox(img: &(u32, u32, Vec<u8>), f: impl Fn([u8; 3]) -> bool) -> (u32, u32, u32, u32, u32) {
    let mut b = (u32::MAX, u32::MAX, 0, 0, 0);
    for y in 0..img.1 {
        for x in 0..img.0 {
            if f(px(img, x, y)) {
                b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y), b.4 + 1);
            }
        }
    }
    b
}

#[test]
fn overlays_draw_the_blob_box_the_centroid_and_the_mask() {
    let p = Prefix::new();
    let cfg = tracker_pipeline(&p);
    let run = start_run(&p, &cfg, &["--view=127.0.0.1:0", "--view-fps=30"]);
    run.wait_frames("blobs.detection");
    let r = 24.0; // test_pattern's default radius: height / 10
    // Detection box and centroid, on the frame the detection was made from.
    let mut s = Mjpeg::open(run.addr, "/stream/cam.frames?overlay=blobs.detection");
    let mut matched = 0;
    for _ in 0..150 {
        let part = s.next();
        let (seq, det) = (part.source_seq(), part.overlay_seqs()[0]);
        if seq != det {
            continue;
        }
        matched += 1;
        let img = decode(&part.jpeg);
        let (cx, cy) = TestPattern::disc_centre(320, 240, 30.0, seq - 1);
        let green = bbox(&img, |p| p[1] > 200 && p[0] < 90 && p[2] < 90);
        assert!(green.4 > 100, "a box is drawn: {green:?}");
        // The blob's box is the disc's: 2r across, around the centre (the
        // box is drawn 2 pixels thick inside the blob's bounds).
        for (got, want) in [(green.0, cx - r), (green.1, cy - r), (green.2, cx + r), (green.3, cy + r)] {
            assert!((got as f64 - want).abs() <= 3.0, "box {green:?} around disc ({cx:.1}, {cy:.1}) r {r}");
        }
        let yellow = bbox(&img, |p| p[0] > 200 && p[1] > 200 && p[2] < 90);
        let (ycx, ycy) = ((yellow.0 + yellow.2) as f64 / 2.0, (yellow.1 + yellow.3) as f64 / 2.0);
        assert!(
            (ycx - cx).abs() <= 2.0 && (ycy - cy).abs() <= 2.0,
            "centroid cross at ({ycx}, {ycy}), disc at ({cx:.1}, {cy:.1})"
        );
        if matched == 3 {
            break;
        }
    }
    assert!(matched >= 1, "no frame had its own detection drawn on it within 150 frames");
    drop(s);
    // The mask: the disc's pixels tinted half towards magenta, the rest not.
    let mut s = Mjpeg::open(run.addr, "/stream/cam.frames?overlay=mask.output");
    let mut matched = 0;
    for _ in 0..150 {
        let part = s.next();
        let seq = part.source_seq();
        if part.overlay_seqs()[0] != seq {
            continue;
        }
        matched += 1;
        let img = decode(&part.jpeg);
        let (cx, cy) = TestPattern::disc_centre(320, 240, 30.0, seq - 1);
        let inside = px(&img, cx as u32, cy as u32);
        assert!(near(inside, [255, 0, 128], 24), "tinted red disc: {inside:?}");
        check_pattern_bars(&img);
        break;
    }
    assert!(matched == 1, "no frame had its own mask drawn on it within 150 frames");
    drop(s);
    run.stop();
}

fn check_pattern_bars(img: &(u32, u32, Vec<u8>)) {
    for (b, bar) in BARS.iter().enumerate() {
        let x = (2 * b as u32 + 1) * img.0 / 16;
        assert!(near(px(img, x, 4), bar.map(|c| c / 3), 20), "bar {b}: {:?}", px(img, x, 4));
    }
}

#[test]
fn a_non_loopback_address_is_explicit_and_said_loudly() {
    let p = Prefix::new();
    let cfg = camera_pipeline(&p, "RGB24", 32, 24, 30, "");
    // Bad values are refused before anything starts, as usage errors.
    for (arg, text) in
        [("--view=robot.local:80", "not valid"), ("--view-fps=0", "0.5 to 60"), ("--view=99999", "not a port")]
    {
        let out = framewire(&p).arg("run").arg(&cfg).arg(arg).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{arg}: {}", text_of(&out));
        assert!(text_of(&out).contains(text), "{arg}: {}", text_of(&out));
    }
    // 0.0.0.0 binds every address: allowed when asked for, and said.
    let run = start_run(&p, &cfg, &["--view=0.0.0.0:0"]);
    let log = run.wait_log("warning: the live view listens on 0.0.0.0:");
    assert!(log.contains("without a password"), "{log}");
    let addr = SocketAddr::from(([127, 0, 0, 1], run.addr.port()));
    // Other hosts' names are accepted here: the user chose to be reachable.
    let (st, _, body) = request(addr, "GET", "/", "robot.local:8090");
    assert_eq!(st, 200);
    assert!(String::from_utf8_lossy(&body).contains("every machine that reaches it can watch"));
    run.stop();
}

fn text_of(o: &std::process::Output) -> String {
    text(o)
}

#[test]
fn framewire_view_watches_a_pipeline_started_elsewhere() {
    let p = Prefix::new();
    // Nothing runs: it says so, with the status command's exit code.
    let out = framewire(&p).args(["view", "--addr", "127.0.0.1:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("no framewire pipeline is running"));
    let cfg = camera_pipeline(&p, "RGB24", 64, 48, 30, "");
    let (mut pipeline, _err) = start(&p, &cfg);
    let view = framewire(&p)
        .args(["view", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let view = watch_log(view);
    view.wait_frames("cam.frames");
    let s = state(view.addr);
    assert_eq!((s["pipeline"].as_str(), s["running"].as_bool()), (Some("t"), Some(true)));
    let mut m = Mjpeg::open(view.addr, "/stream/cam.frames");
    let img = decode(&m.next().jpeg);
    assert_eq!((img.0, img.1), (64, 48));
    drop(m);
    // Stopping the view leaves the pipeline running.
    view.stop();
    assert!(pipeline.try_wait().unwrap().is_none(), "the pipeline runs on");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pipeline.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    assert!(pipeline.wait().unwrap().success());
}

// ------------------------------------------------------------ the page in Chromium

/// Headless Chromium driven through the DevTools protocol over a pipe
/// (`--remote-debugging-pipe`: JSON messages ending in a NUL byte, on its
/// file descriptors 3 and 4), so no websocket client is needed.
struct Chromium {
    child: Child,
    to: std::process::ChildStdin,
    from: mpsc::Receiver<Value>,
    next: u64,
    session: String,
}

impl Chromium {
    fn launch(exe: &Path, profile: &Path) -> Chromium {
        // The shell hands our pipes to Chromium as fds 3 and 4.
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null"#)
            .arg(exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-pipe",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let to = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (tx, from) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            while out.read_until(0, &mut buf).map(|n| n > 0).unwrap_or(false) {
                buf.pop();
                if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                    && tx.send(v).is_err()
                {
                    return;
                }
                buf.clear();
            }
        });
        let mut c = Chromium { child, to, from, next: 0, session: String::new() };
        let target = c.call("Target.createTarget", serde_json::json!({"url": "about:blank"}), false);
        let id = target["targetId"].as_str().unwrap().to_string();
        let att = c.call("Target.attachToTarget", serde_json::json!({"targetId": id, "flatten": true}), false);
        c.session = att["sessionId"].as_str().unwrap().to_string();
        c
    }

    /// Sends a command (to the page's session if `page`) and waits for its result.
    fn call(&mut self, method: &str, params: Value, page: bool) -> Value {
        self.next += 1;
        let mut msg = serde_json::json!({"id": self.next, "method": method, "params": params});
        if page {
            msg["sessionId"] = Value::String(self.session.clone());
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.from.recv_timeout(left).unwrap_or_else(|_| panic!("Chromium did not answer {method}"));
            if v["id"].as_u64() == Some(self.next) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `js` in the page; returns its value.
    fn eval(&mut self, js: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            serde_json::json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
            true,
        );
        assert!(r.get("exceptionDetails").is_none(), "{js}: {r}");
        r["result"]["value"].clone()
    }

    /// Evaluates `js` until it returns something truthy (a non-empty string).
    fn wait_for(&mut self, js: &str, what: &str) -> Value {
        let t = Instant::now();
        loop {
            let v = self.eval(js);
            if v.as_str().is_some_and(|s| !s.is_empty()) || v.as_bool() == Some(true) {
                return v;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "the page never showed {what} (last: {v})");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        self.next += 1;
        let _ = self.to.write_all(format!("{{\"id\":{},\"method\":\"Browser.close\"}}\0", self.next).as_bytes());
        let t = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the image shows, read in the page: the image drawn onto a canvas
/// and its pixels classified (bars in the top rows, the red disc, the
/// green box, the white mask).
const ANALYSE: &str = r#"(() => {
  const i = document.getElementById('view');
  if (!i || !i.naturalWidth) return '';
  const c = document.createElement('canvas');
  c.width = i.naturalWidth; c.height = i.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(i, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  const px = (x, y) => { const k = 4 * (y * c.width + x); return [d[k], d[k + 1], d[k + 2]]; };
  const bars = [];
  for (let b = 0; b < 8; b++) bars.push(px(Math.floor((2 * b + 1) * c.width / 16), 4));
  const red = {n: 0, x: 0, y: 0}, white = {n: 0, x: 0, y: 0};
  const box = [1e9, 1e9, -1, -1, 0];
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    const [r, gg, b] = px(x, y);
    if (r > 200 && gg < 80 && b < 80) { red.n++; red.x += x; red.y += y; }
    if (r > 200 && gg > 200 && b > 200) { white.n++; white.x += x; white.y += y; }
    if (gg > 200 && r < 90 && b < 90) {
      box[0] = Math.min(box[0], x); box[1] = Math.min(box[1], y);
      box[2] = Math.max(box[2], x); box[3] = Math.max(box[3], y); box[4]++;
    }
  }
  return JSON.stringify({w: c.width, h: c.height, bars, red, white, box});
})()"#;

/// The statistics tables as the page shows them.
const TABLES: &str = r#"JSON.stringify({
  refreshes: Number(document.body.dataset.refreshes || 0),
  wires: Object.fromEntries([...document.querySelectorAll('#wires tbody tr')].map((tr) =>
    [tr.dataset.wire, Object.fromEntries([...tr.cells].map((td) => [td.dataset.k, td.textContent]))])),
  blocks: Object.fromEntries([...document.querySelectorAll('#blocks tbody tr')].map((tr) =>
    [tr.dataset.block, Object.fromEntries([...tr.cells].map((td) => [td.dataset.k, td.textContent]))])),
  feed: document.getElementById('feed').textContent,
})"#;

fn tables(c: &mut Chromium) -> Value {
    serde_json::from_str(c.eval(TABLES).as_str().unwrap()).unwrap()
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    } as u32;
    let b: Vec<u8> = s.bytes().filter(|&c| c != b'=' && !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(b.len() * 3 / 4);
    for ch in b.chunks(4) {
        let n = ch.iter().enumerate().fold(0u32, |a, (i, &c)| a | val(c) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..ch.len()]);
    }
    out
}

#[test]
fn the_page_in_headless_chromium_shows_the_image_and_live_statistics() {
    const TEST: &str = "the_page_in_headless_chromium_shows_the_image_and_live_statistics";
    let exe =
        std::env::var_os("FRAMEWIRE_CHROMIUM").map(std::path::PathBuf::from).unwrap_or("/usr/bin/chromium".into());
    if !exe.exists() {
        skip(TEST, "chromium", &format!("{} not found (Debian: apt-get install chromium)", exe.display()));
        return;
    }
    let p = Prefix::new();
    let cfg = tracker_pipeline(&p);
    let run = start_run(&p, &cfg, &["--view=127.0.0.1:0"]);
    run.wait_frames("blobs.detection");
    let mut c = Chromium::launch(&exe, &p.dir().join("chromium-profile"));
    let url = format!("http://localhost:{}/?wire=cam.frames&overlay=blobs.detection", run.addr.port());
    c.call("Page.navigate", serde_json::json!({"url": url}), true);

    // The image: the test pattern's bars, the red disc on its circle, and
    // the blob's box around the disc.
    let seen: Value = serde_json::from_str(c.wait_for(ANALYSE, "an image").as_str().unwrap()).unwrap();
    assert_eq!((seen["w"].as_u64(), seen["h"].as_u64()), (Some(320), Some(240)), "{seen}");
    for (b, bar) in BARS.iter().enumerate() {
        let got: Vec<i64> = seen["bars"][b].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        let want = bar.map(|c| (c / 3) as i64);
        assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() <= 24), "bar {b}: {got:?}, expected {want:?}");
    }
    let red = &seen["red"];
    let n = red["n"].as_f64().unwrap();
    assert!(n > 1000.0, "the disc (about 1800 pixels, less the cross): {seen}");
    let (cx, cy) = (red["x"].as_f64().unwrap() / n, red["y"].as_f64().unwrap() / n);
    // test_pattern's disc circles the centre on an ellipse of half the
    // image's half-sizes.
    let e = ((cx - 160.0) / 80.0).powi(2) + ((cy - 120.0) / 60.0).powi(2);
    assert!((0.8..1.2).contains(&e), "disc at ({cx:.0}, {cy:.0}) is off its circle ({e:.2})");
    let b: Vec<f64> = seen["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(b[4] > 100.0, "a detection box is drawn: {seen}");
    assert!(b[0] < cx && cx < b[2] && b[1] < cy && cy < b[3], "box {b:?} around the disc at ({cx:.0}, {cy:.0})");
    assert!((40.0..=60.0).contains(&(b[2] - b[0])), "box {b:?} is the disc's size (48)");

    // The statistics: refreshed, counting, with every block running.
    c.wait_for("Number(document.body.dataset.refreshes || 0) >= 2", "two refreshes");
    let t1 = tables(&mut c);
    let r1 = t1["refreshes"].as_u64().unwrap();
    c.wait_for(&format!("Number(document.body.dataset.refreshes || 0) >= {}", r1 + 2), "two more refreshes");
    let t2 = tables(&mut c);
    let frames = |t: &Value| t["wires"]["cam.frames"]["frames"].as_str().unwrap().parse::<u64>().unwrap();
    assert!(frames(&t2) > frames(&t1), "frame counts move: {t1} then {t2}");
    let fps: f64 = t2["wires"]["cam.frames"]["fps"].as_str().unwrap().parse().unwrap();
    assert!(fps > 0.0, "{t2}");
    assert_eq!(t2["wires"]["cam.frames"]["readers"], "1 + 1 viewer", "{t2}");
    for blk in ["cam", "mask", "blobs", "log"] {
        assert_eq!(t2["blocks"][blk]["state"], "running", "{t2}");
        assert!(t2["blocks"][blk]["heartbeat"].as_str().unwrap().ends_with("ms ago"), "{t2}");
    }
    assert!(t2["feed"].as_str().unwrap().starts_with("Encoding "), "{t2}");

    // A screenshot, for a person to look at (FRAMEWIRE_VIEWER_SCREENSHOT=path).
    if let Some(path) = std::env::var_os("FRAMEWIRE_VIEWER_SCREENSHOT") {
        let shot = c.call("Page.captureScreenshot", serde_json::json!({"format": "png"}), true);
        std::fs::write(path, decode_base64(shot["data"].as_str().unwrap())).unwrap();
    }

    // The switch: the mask wire, with the same overlay.
    let src = c.eval(
        "(() => { const s = document.getElementById('wire'); s.value = 'mask.output'; \
         s.dispatchEvent(new Event('change', {bubbles: true})); return document.getElementById('view').getAttribute('src'); })()",
    );
    assert!(src.as_str().unwrap().starts_with("/stream/mask.output?overlay=blobs.detection&client="), "{src}");
    assert_eq!(c.eval("location.search"), "?wire=mask.output&overlay=blobs.detection");
    let js = format!(
        "(() => {{ const r = {ANALYSE}; if (!r) return ''; const v = JSON.parse(r); return v.bars[0][0] < 40 ? r : ''; }})()"
    );
    let t = Instant::now();
    let mask: Value = loop {
        if let Some(v) = c.eval(&js).as_str().filter(|s| !s.is_empty()) {
            break serde_json::from_str(v).unwrap();
        }
        if t.elapsed() > Duration::from_secs(30) {
            let img =
                c.eval("(() => { const i = document.getElementById('view'); return i.src + ' ' + i.naturalWidth; })()");
            panic!("the page never showed the mask: image {img}, viewer {}", state(run.addr)["viewer"]);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let white = &mask["white"];
    let n = white["n"].as_f64().unwrap();
    assert!(n > 1000.0, "the disc, white in the mask: {mask}");
    let (wx, wy) = (white["x"].as_f64().unwrap() / n, white["y"].as_f64().unwrap() / n);
    let b: Vec<f64> = mask["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(b[0] < wx && wx < b[2] && b[1] < wy && wy < b[3], "box {b:?} around the mask's disc at ({wx:.0}, {wy:.0})");
    assert!(mask["bars"].as_array().unwrap().iter().all(|p| p[0].as_i64() < Some(40)), "no bars in the mask: {mask}");
    drop(c);
    // The browser is gone: the viewer stops encoding.
    let t = Instant::now();
    while !state(run.addr)["viewer"]["feeds"].as_array().unwrap().is_empty() {
        assert!(t.elapsed() < Duration::from_secs(10), "encoders outlived the browser");
        std::thread::sleep(Duration::from_millis(100));
    }
    run.stop();
}
