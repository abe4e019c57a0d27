//! Feeds: one encoder thread per watched wire (and set of overlays),
//! shared by every browser that watches it.
//!
//! A feed exists only while somebody watches. The first watcher starts its
//! encoder thread, which attaches to the wire as a reader (policy `latest`
//! only, so the writer never waits for it), takes at most `max_fps` frames
//! a second, copies each out of its slot at once, then draws and encodes it
//! on its own time. The newest JPEG is published to the watchers, each of
//! which sends it when its own connection can take it: a slow browser
//! skips frames, it never queues them and never slows the encoder or the
//! pipeline. When the last watcher leaves, the encoder detaches and ends.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use framewire_sdk::image::{ImageFormat, ImageRef};
use framewire_sdk::msg::{Detection, Message};
use framewire_wire::{self as wire, Expect, PayloadType, Policy, Reader, WireError};

use super::http::{self, MAX_OVERLAYS, Request};
use super::picture::Picture;
use super::{Shared, WireEntry};

/// How long an encoder waits for a frame before looking whether anybody
/// still watches.
const POLL: Duration = Duration::from_millis(200);
/// How long a frame waits for its overlay's matching frame (the overlay's
/// producer runs after the image's, so its result for the same source
/// frame usually comes a little later).
const OVERLAY_WAIT: Duration = Duration::from_millis(50);
/// The MJPEG part boundary.
const BOUNDARY: &str = "fwframe";
/// What follows each frame: the boundary.
const TRAILER: &str = "\r\n--fwframe\r\n";

/// A feed's key: the wire's segment and its overlays' segments.
type Key = (String, Vec<String>);

/// Every feed being watched, and the pages that watch.
#[derive(Default)]
pub(crate) struct Hub {
    feeds: Mutex<HashMap<Key, Arc<Feed>>>,
    /// Per page (its `client` id, which the page puts in its stream URLs):
    /// the number of its newest stream. A browser does not always close
    /// an image's old stream when the page points the image elsewhere
    /// (Chromium keeps it), so a page's new stream ends its older ones,
    /// and a hidden page releases its stream outright.
    clients: Mutex<HashMap<String, u64>>,
}

/// Why a feed cannot serve: an HTTP status and a sentence.
#[derive(Clone, Debug)]
pub(crate) struct Refusal {
    pub(crate) status: &'static str,
    pub(crate) text: String,
}

fn refuse(status: &'static str, text: String) -> Refusal {
    Refusal { status, text }
}

/// One watched wire.
pub(crate) struct Feed {
    /// The wire's name (`camera.frames`), and its overlays'.
    pub(crate) name: String,
    pub(crate) overlays: Vec<String>,
    /// The wires it taps: the image's first, then the overlays'.
    wires: Vec<WireEntry>,
    state: Mutex<FeedState>,
    cond: Condvar,
}

/// What a feed's encoder publishes and its watchers read.
#[derive(Default)]
pub(crate) struct FeedState {
    pub(crate) watchers: usize,
    running: bool,
    /// The newest JPEG, and its number (0: none yet).
    frame: Option<Arc<Vec<u8>>>,
    pub(crate) seq: u64,
    /// The newest JPEG's source frame (its sequence number), and the
    /// source frames of the overlays drawn on it.
    source_seq: u64,
    overlay_seqs: [u64; MAX_OVERLAYS],
    error: Option<Refusal>,
    /// Frames encoded since the feed started.
    pub(crate) encoded: u64,
    /// Work on the newest frame (copy, convert, draw, encode; not the wait
    /// for its overlays), ns.
    pub(crate) work_ns: u64,
    /// Capture to published, of the newest frame, ns.
    pub(crate) age_ns: u64,
    pub(crate) size: (u32, u32),
    pub(crate) jpeg_bytes: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking encoder must not take the viewer down with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    /// Joins the feed for `key`, starting its encoder if none runs.
    fn join(&self, key: Key, wires: Vec<WireEntry>, shared: &Arc<Shared>) -> Arc<Feed> {
        let mut feeds = lock(&self.feeds);
        let feed = feeds
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Feed {
                    name: wires[0].name.clone(),
                    overlays: wires[1..].iter().map(|w| w.name.clone()).collect(),
                    wires,
                    state: Mutex::new(FeedState::default()),
                    cond: Condvar::new(),
                })
            })
            .clone();
        let mut st = lock(&feed.state);
        st.watchers += 1;
        if !st.running {
            st.running = true;
            st.error = None;
            let (f, s) = (feed.clone(), shared.clone());
            let spawned = std::thread::Builder::new().name("fw-view-encode".into()).spawn(move || encoder(f, s, key));
            if let Err(e) = spawned {
                st.running = false;
                st.error = Some(refuse("503 Service Unavailable", format!("cannot start an encoder thread: {e}")));
            }
        }
        drop(st);
        feed
    }

    /// Makes the stream being opened page `client`'s only one; returns its
    /// number, and wakes the older ones so they end.
    fn claim(&self, client: &str) -> u64 {
        let mut c = lock(&self.clients);
        // Bounded: ids come from the network.
        if c.len() >= 1024 && !c.contains_key(client) {
            c.clear();
        }
        let n = c.entry(client.to_string()).or_insert(0);
        *n += 1;
        let n = *n;
        drop(c);
        self.wake_all();
        n
    }

    /// Whether stream `n` of page `client` has been replaced or released.
    fn superseded(&self, client: &str, n: u64) -> bool {
        lock(&self.clients).get(client) != Some(&n)
    }

    /// Ends page `client`'s stream (the page is hidden or closing).
    pub(crate) fn release(&self, client: &str) {
        if let Some(n) = lock(&self.clients).get_mut(client) {
            *n += 1;
        }
        self.wake_all();
    }

    /// Forgets page `client` when its stream `n` ends and no newer one came.
    fn forget(&self, client: &str, n: u64) {
        let mut c = lock(&self.clients);
        if c.get(client) == Some(&n) {
            c.remove(client);
        }
    }

    /// Every feed, for the statistics.
    pub(crate) fn list(&self) -> Vec<Arc<Feed>> {
        lock(&self.feeds).values().cloned().collect()
    }

    /// Wakes every watcher (the viewer is stopping).
    pub(crate) fn wake_all(&self) {
        for f in self.list() {
            f.cond.notify_all();
        }
    }
}

impl Feed {
    /// A copy of the numbers the statistics show.
    pub(crate) fn stats(&self) -> FeedState {
        let st = lock(&self.state);
        FeedState {
            watchers: st.watchers,
            seq: st.seq,
            encoded: st.encoded,
            work_ns: st.work_ns,
            age_ns: st.age_ns,
            size: st.size,
            jpeg_bytes: st.jpeg_bytes,
            ..FeedState::default()
        }
    }
}

/// A published frame as a watcher gets it.
struct Published {
    jpeg: Arc<Vec<u8>>,
    seq: u64,
    source_seq: u64,
    overlay_seqs: [u64; MAX_OVERLAYS],
}

/// A watcher's place in a feed; leaving is in `Drop`, so a connection that
/// ends in any way (closed, timed out, panicked) stops counting.
struct Watch(Arc<Feed>);

impl Drop for Watch {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.watchers -= 1;
    }
}

impl Watch {
    /// Waits until a frame newer than `after` is published (returns it
    /// with its number and source sequence), the feed fails, or `timeout`
    /// passes (`Ok(None)`).
    fn next(&self, after: u64, timeout: Duration, shared: &Shared) -> Result<Option<Published>, Refusal> {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.0.state);
        loop {
            if let Some(e) = &st.error {
                return Err(e.clone());
            }
            if st.seq > after
                && let Some(f) = &st.frame
            {
                return Ok(Some(Published {
                    jpeg: f.clone(),
                    seq: st.seq,
                    source_seq: st.source_seq,
                    overlay_seqs: st.overlay_seqs,
                }));
            }
            let now = Instant::now();
            // SYNC: Acquire; pairs with the Release store in `Viewer::shutdown`.
            if now >= deadline || shared.stop.load(Ordering::Acquire) {
                return Ok(None);
            }
            st = self
                .0
                .cond
                .wait_timeout(st, (deadline - now).min(Duration::from_secs(1)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Checks that `w` can be tapped as `what` without disturbing it, from its
/// header alone (nothing is attached yet).
fn check_tap(w: &WireEntry, overlay: bool) -> Result<PayloadType, Refusal> {
    let st = wire::inspect(&w.segment).map_err(|e| match e {
        WireError::NotFound { .. } => refuse(
            "404 Not Found",
            format!("wire {} does not exist yet (is the pipeline starting, or stopped?)", w.name),
        ),
        e => refuse("502 Bad Gateway", format!("wire {}: {e}", w.name)),
    })?;
    if st.policy != Policy::Latest {
        return Err(refuse(
            "409 Conflict",
            format!(
                "wire {} uses policy {}: a reader of it holds back its writer until it has read every frame, so the live view does not tap it (its statistics are on the page); show a wire with policy latest",
                w.name, st.policy
            ),
        ));
    }
    let ok = if overlay { !st.kind.is_message() || st.kind == Detection::TYPE } else { !st.kind.is_message() };
    if !ok {
        return Err(refuse(
            "415 Unsupported Media Type",
            if overlay {
                format!("wire {} carries {}; overlays are GREY mask images or detection messages", w.name, st.kind)
            } else {
                format!("wire {} carries {}, not images; the live view shows image wires", w.name, st.kind)
            },
        ));
    }
    Ok(st.kind)
}

/// Serves `/stream/WIRE` (an MJPEG stream) or, with `one`, `/frame/WIRE.jpg`.
pub(crate) fn serve_stream(
    mut stream: TcpStream,
    shared: &Arc<Shared>,
    wire_name: &str,
    req: &Request,
    head_only: bool,
    one: bool,
) {
    let snap = shared.source.snapshot();
    let fail = |stream: &mut TcpStream, r: Refusal| http::error(stream, head_only, r.status, &r.text);
    let w = match http::find_wire(&snap, wire_name) {
        Ok(w) => w.clone(),
        Err(e) => return fail(&mut stream, refuse("404 Not Found", e)),
    };
    let mut overlays = Vec::new();
    for o in req.all("overlay").iter().filter(|o| !o.is_empty()) {
        match http::find_wire(&snap, o) {
            Ok(ow) if !overlays.contains(ow) && *o != w.name => overlays.push(ow.clone()),
            Ok(_) => {}
            Err(e) => return fail(&mut stream, refuse("404 Not Found", format!("overlay: {e}"))),
        }
    }
    if overlays.len() > MAX_OVERLAYS {
        return fail(&mut stream, refuse("400 Bad Request", format!("at most {MAX_OVERLAYS} overlays on one image")));
    }
    if let Err(r) = check_tap(&w, false) {
        return fail(&mut stream, r);
    }
    for o in &overlays {
        if let Err(r) = check_tap(o, true) {
            return fail(&mut stream, r);
        }
    }
    if head_only {
        let ctype =
            if one { "image/jpeg".to_string() } else { format!("multipart/x-mixed-replace; boundary={BOUNDARY}") };
        let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n{}\r\n\r\n", http::COMMON_HEADERS);
        let _ = stream.write_all(head.as_bytes());
        return;
    }
    // This page's stream from now on: its older one ends now, and lets its
    // reader entries go for this one.
    let claim = req.get("client").filter(|c| !one && !c.is_empty() && c.len() <= 64).map(|c| Claim {
        hub: &shared.feeds,
        n: shared.feeds.claim(c),
        client: c.to_string(),
    });
    let key = (w.segment.clone(), overlays.iter().map(|o| o.segment.clone()).collect());
    let overlay_names: Vec<String> = overlays.iter().map(|o| o.name.clone()).collect();
    let wires = std::iter::once(w.clone()).chain(overlays.iter().cloned()).collect();
    let watch = Watch(shared.feeds.join(key, wires, shared));
    if one {
        let after = lock(&watch.0.state).seq;
        match watch.next(after, Duration::from_secs(5), shared) {
            Ok(Some(f)) => http::respond(&mut stream, false, "200 OK", "image/jpeg", &f.jpeg),
            Ok(None) => fail(
                &mut stream,
                refuse(
                    "504 Gateway Timeout",
                    format!("no frame on wire {} within 5 s (is its producer running?)", w.name),
                ),
            ),
            Err(r) => fail(&mut stream, r),
        }
        return;
    }
    // Headers only once the first frame (or a refusal) is there, so a
    // refusal still gets its status code (an attach may wait ENTRY_WAIT for
    // a reader entry first). A silent wire gets the headers after a few
    // seconds anyway, and the browser waits with us.
    let first = match watch.next(0, ENTRY_WAIT + Duration::from_secs(2), shared) {
        Err(r) => return fail(&mut stream, r),
        Ok(f) => f,
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary={BOUNDARY}\r\n{}\r\n\r\n--{BOUNDARY}\r\n",
        http::COMMON_HEADERS
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    send_parts(&mut stream, shared, &watch, first, &overlay_names, claim.as_ref());
}

/// A page's claim on its one stream; forgotten when the stream ends.
struct Claim<'h> {
    hub: &'h Hub,
    client: String,
    n: u64,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.hub.forget(&self.client, self.n);
    }
}

/// Sends frames until the connection fails, the feed fails, the viewer
/// stops, or (for a page's stream) the page opens another stream.
fn send_parts(
    stream: &mut TcpStream,
    shared: &Shared,
    watch: &Watch,
    first: Option<Published>,
    overlay_names: &[String],
    claim: Option<&Claim>,
) {
    let mut last = 0;
    let mut pending = first;
    let mut part = String::new();
    loop {
        if let Some(f) = pending.take() {
            use std::fmt::Write as _;
            part.clear();
            // Which source frame this is, and which source frames the
            // overlays drawn on it came from (they match when the overlay's
            // producer kept up).
            let _ = write!(
                part,
                "Content-Type: image/jpeg\r\nContent-Length: {}\r\nX-Source-Seq: {}\r\n",
                f.jpeg.len(),
                f.source_seq
            );
            if !overlay_names.is_empty() {
                let seqs: Vec<String> = f.overlay_seqs[..overlay_names.len()].iter().map(u64::to_string).collect();
                let _ = write!(part, "X-Overlay-Seq: {}\r\n", seqs.join(","));
            }
            part.push_str("\r\n");
            let (jpeg, seq) = (f.jpeg, f.seq);
            // The boundary goes right after each frame: browsers show a
            // part when the next boundary arrives, so this shows it at once.
            let sent = stream
                .write_all(part.as_bytes())
                .and_then(|()| stream.write_all(&jpeg))
                .and_then(|()| stream.write_all(TRAILER.as_bytes()));
            if sent.is_err() {
                return;
            }
            last = seq;
        }
        // SYNC: Acquire; pairs with the Release store in `Viewer::shutdown`.
        if shared.stop.load(Ordering::Acquire) || claim.is_some_and(|c| shared.feeds.superseded(&c.client, c.n)) {
            return;
        }
        match watch.next(last, Duration::from_secs(1), shared) {
            Ok(f) => pending = f,
            // The wire went away (the pipeline stopped): end the stream.
            Err(_) => return,
        }
    }
}

/// An overlay's reader and the newest thing it read.
struct Overlay {
    reader: Reader,
    detection: bool,
    /// Newest mask (packed GREY) or detection, and its source sequence.
    mask: Vec<u8>,
    mask_fmt: ImageFormat,
    det: Detection,
    source_seq: u64,
}

impl Overlay {
    /// Reads what is new; waits up to [`OVERLAY_WAIT`] for the result of
    /// source frame `want` if it has not come yet.
    fn catch_up(&mut self, want: u64) -> Duration {
        let start = Instant::now();
        let deadline = Instant::now() + OVERLAY_WAIT;
        loop {
            let wait = if self.source_seq >= want {
                Duration::ZERO
            } else {
                deadline.saturating_duration_since(Instant::now())
            };
            let Some(g) = self.reader.read(wait) else { return start.elapsed() };
            let m = *g.meta();
            self.source_seq = if m.source_seq != 0 { m.source_seq } else { m.seq };
            if self.detection {
                self.det = Detection::decode(&g[..]).unwrap_or_default();
            } else {
                let f = m.image;
                let row = f.width as usize;
                let stride = f.stride as usize;
                let ok = f.fourcc == framewire_sdk::image::FourCC::GREY
                    && stride >= row
                    && g.len() >= (f.height as usize).saturating_sub(1) * stride + row;
                self.mask.clear();
                if ok {
                    for y in 0..f.height as usize {
                        self.mask.extend_from_slice(&g[y * stride..][..row]);
                    }
                    self.mask_fmt = ImageFormat { stride: f.width, ..f };
                } else {
                    self.mask_fmt = f;
                }
            }
        }
    }

    fn draw(&self, pic: &mut Picture) -> Result<(), Refusal> {
        if self.detection {
            pic.overlay_detection(&self.det);
            return Ok(());
        }
        if self.mask.is_empty() && self.mask_fmt.width == 0 {
            return Ok(());
        }
        pic.overlay_mask(&ImageRef { format: self.mask_fmt, data: &self.mask })
            .map_err(|e| refuse("415 Unsupported Media Type", format!("overlay mask: {e}")))
    }
}

/// How long an attach waits for a reader entry to come free: the feed a
/// browser just switched away from lets its entries go within a second or
/// so (when the old connection's next write fails and its encoder sees
/// nobody watching), and the wire's one spare entry is then this feed's.
const ENTRY_WAIT: Duration = Duration::from_secs(3);

/// Whether every block that reads wire `w` is attached to it, counting
/// readers of other processes than this one (the blocks; the viewer's own
/// taps are this process's).
fn blocks_attached(w: &WireEntry) -> bool {
    let me = std::process::id();
    w.readers == 0
        || wire::inspect(&w.segment).is_ok_and(|s| s.readers.iter().filter(|r| r.pid != me).count() >= w.readers)
}

/// Attaches a tap to `w`. It never takes the place of a block: while one
/// of the wire's readers is missing (starting, or between a crash and its
/// restart, when its entry is free) the tap waits, because the spare entry
/// it may use is only spare once every block has its own.
fn attach(w: &WireEntry, kind: PayloadType) -> Result<Reader, Refusal> {
    let (segment, name) = (&w.segment, &w.name);
    let expect = Expect { kind: Some(kind), policy: Some(Policy::Latest), ..Expect::default() };
    let deadline = Instant::now() + ENTRY_WAIT;
    let attached = loop {
        if !blocks_attached(w) {
            if Instant::now() >= deadline {
                return Err(refuse(
                    "503 Service Unavailable",
                    format!(
                        "a block that reads wire {name} is not attached (starting or restarting); the live view does not take its place: try again in a moment"
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        match Reader::attach(segment, &expect) {
            Err(WireError::ReadersFull { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            r => break r,
        }
    };
    attached.map_err(|e| match e {
        WireError::ReadersFull { max, .. } => refuse(
            "503 Service Unavailable",
            format!(
                "wire {name} has all {max} reader entries in use, none is spare for the live view (each different view of a wire, with its own overlays, takes one); raise `readers` for it in the pipeline file ([wire.\"{name}\"] readers = {})",
                max + 1
            ),
        ),
        WireError::NotFound { .. } => refuse("404 Not Found", format!("wire {name} is gone (the pipeline stopped?)")),
        e => refuse("409 Conflict", format!("wire {name}: {e}")),
    })
}

/// The encoder thread of one feed.
fn encoder(feed: Arc<Feed>, shared: Arc<Shared>, key: Key) {
    loop {
        let result = encode_loop(&feed, &shared);
        let mut feeds = lock(&shared.feeds.feeds);
        let mut st = lock(&feed.state);
        // SYNC: Acquire; pairs with the Release store in `Viewer::shutdown`.
        let stopping = shared.stop.load(Ordering::Acquire);
        if result.is_ok() && st.watchers > 0 && !stopping {
            // Somebody joined while this encoder was leaving, and saw it
            // running: it must not wait for nothing.
            continue;
        }
        st.running = false;
        if let Err(r) = result {
            tracing::warn!("live view of {}: {}", feed.name, r.text);
            st.error = Some(r);
        }
        if st.watchers == 0 {
            feeds.remove(&key);
        }
        drop(st);
        feed.cond.notify_all();
        return;
    }
}

fn encode_loop(feed: &Feed, shared: &Shared) -> Result<(), Refusal> {
    let cfg = &shared.config;
    let mut reader = attach(&feed.wires[0], PayloadType::BYTES)?;
    let mut overlays = Vec::new();
    for w in &feed.wires[1..] {
        let kind = wire::inspect(&w.segment).map(|s| s.kind).unwrap_or(PayloadType::BYTES);
        overlays.push(Overlay {
            reader: attach(w, kind)?,
            detection: kind == Detection::TYPE,
            mask: Vec::new(),
            mask_fmt: ImageFormat::default(),
            det: Detection::default(),
            source_seq: 0,
        });
    }
    // Masks first, so a tint never covers a box or a centroid. The order
    // is the same as the names', which the X-Overlay-Seq header follows.
    let order: Vec<usize> = {
        let mut o: Vec<usize> = (0..overlays.len()).collect();
        o.sort_by_key(|&i| overlays[i].detection);
        o
    };
    let period = Duration::from_secs_f64(1.0 / cfg.max_fps);
    let mut due = Instant::now();
    let mut pic = Picture::new();
    // JPEG buffers: one is being sent while the next is encoded; a buffer
    // still held by a watcher is not reused.
    let mut pool: Vec<Arc<Vec<u8>>> = Vec::new();
    loop {
        // SYNC: Acquire; pairs with the Release store in `Viewer::shutdown`.
        if shared.stop.load(Ordering::Acquire) || lock(&feed.state).watchers == 0 {
            return Ok(());
        }
        // The rate cap: frames that come before their time are never read
        // (the wire skips them for this reader; nothing queues).
        let now = Instant::now();
        if now < due {
            std::thread::sleep((due - now).min(POLL));
            continue;
        }
        let Some(g) = reader.read(POLL) else { continue };
        let started = Instant::now();
        let meta = *g.meta();
        let loaded = pic.load(&g.image(), cfg.max_width, !overlays.is_empty());
        // The slot goes back to the wire before anything else is done.
        drop(g);
        loaded.map_err(|e| refuse("415 Unsupported Media Type", format!("wire {}: {e}", feed.name)))?;
        due = (due + period).max(started);
        let source_seq = if meta.source_seq != 0 { meta.source_seq } else { meta.seq };
        let mut waited = Duration::ZERO;
        let mut overlay_seqs = [0u64; MAX_OVERLAYS];
        for &i in &order {
            let o = &mut overlays[i];
            waited += o.catch_up(source_seq);
            o.draw(&mut pic)?;
            overlay_seqs[i] = o.source_seq;
        }
        let mut buf = match pool.iter().position(|b| Arc::strong_count(b) == 1) {
            Some(i) => pool.swap_remove(i),
            None => Arc::new(Vec::new()),
        };
        {
            let out = Arc::get_mut(&mut buf).expect("a pooled buffer nobody else holds");
            out.clear();
            pic.encode(cfg.quality, out)
                .map_err(|e| refuse("500 Internal Server Error", format!("wire {}: {e}", feed.name)))?;
        }
        let now_ns = framewire_sdk::monotonic_ns();
        let mut st = lock(&feed.state);
        st.seq += 1;
        st.source_seq = source_seq;
        st.encoded += 1;
        st.overlay_seqs = overlay_seqs;
        st.work_ns = started.elapsed().saturating_sub(waited).as_nanos() as u64;
        st.age_ns = now_ns.saturating_sub(meta.timestamp_ns);
        st.size = pic.size();
        st.jpeg_bytes = buf.len();
        // The state holds the newest; the pool holds every buffer, and one
        // only the pool holds is free again.
        st.frame = Some(buf.clone());
        drop(st);
        pool.push(buf);
        // A watcher that is slow to send may hold a buffer a while: let it
        // keep that one, and keep at most a few in the pool.
        while pool.len() > 4 {
            pool.remove(0);
        }
        feed.cond.notify_all();
    }
}
