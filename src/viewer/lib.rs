//! framewire-viewer: the live view. A small web server, on the robot, that
//! shows a running pipeline to a browser: the live image of any image wire
//! as an MJPEG stream (`multipart/x-mixed-replace`, which every browser
//! shows in a plain `<img>`), a switch between wires, a mask and detection
//! overlay (blob box and centroid, drawn into the image), and live per-wire
//! statistics (frames/s, latency, drops) and per-block states.
//!
//! It watches without disturbing: it joins a wire as one more reader only
//! while somebody watches that wire, reads with the `latest` policy (it
//! never holds back a writer; queue wires are shown in the statistics but
//! not tapped), converts and encodes on its own threads at a capped rate,
//! and drops frames rather than queueing them for a slow browser. One
//! encoder per watched wire serves every browser that watches it.
//!
//! It knows nothing of pipeline files or the supervisor: its caller (the
//! `framewire` command, for `framewire run --view` and `framewire view`)
//! hands it a [`Source`] that lists the pipeline's wires and blocks.
//!
//! May depend on: `framewire-wire` (taps and `inspect`), `framewire-sdk`
//! (image views, messages, block state segments), `framewire-filters`
//! (pixel-format conversion, resizing, JPEG decoding), `framewire-sys`
//! (clocks, per-process CPU time), `jpeg-encoder` (pure Rust, no C),
//! `thiserror`, `tracing`. Never on the runtime. Safe Rust only.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod feed;
mod http;
mod page;
pub mod picture;
mod stats;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The port the viewer listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8090;

/// What the viewer serves and how hard it may work.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen. Loopback by default: anything else is an explicit
    /// choice of the user (see [`parse_addr`]).
    pub addr: SocketAddr,
    /// Most frames per second a stream is encoded at (0.5 to 60).
    pub max_fps: f64,
    /// JPEG quality, 1 to 100.
    pub quality: u8,
    /// Frames wider than this are shrunk by a whole factor before encoding
    /// (a 1920-wide frame is shown at 960 with the default of 1280), which
    /// bounds the encoding cost of large cameras.
    pub max_width: u32,
    /// Most connections served at once; more get `503`.
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            max_fps: 10.0,
            quality: 80,
            max_width: 1280,
            max_connections: 16,
        }
    }
}

/// Why the viewer could not start.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    /// The address given is not one the viewer understands.
    #[error(
        "live view address {given:?} is not valid: {why}; give a port (8090), an IP address and port (127.0.0.1:8090, [::1]:8090) or an IP address (0.0.0.0)"
    )]
    BadAddress {
        /// What the user wrote.
        given: String,
        /// What is wrong with it.
        why: String,
    },
    /// A setting is out of range.
    #[error("live view: {0}")]
    BadConfig(String),
    /// The address could not be bound.
    #[error("live view cannot listen on {addr}: {source}{}", hint(source))]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

fn hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "; another program (or another framewire) uses that port: choose another, e.g. --view=127.0.0.1:8091"
        }
        std::io::ErrorKind::AddrNotAvailable => "; that address is not one of this machine's",
        std::io::ErrorKind::PermissionDenied => "; ports below 1024 need root: use a higher port",
        _ => "",
    }
}

/// Parses a listening address as users write it: a port (`8090`, on
/// 127.0.0.1), an IP address (`0.0.0.0`, on [`DEFAULT_PORT`]), an address
/// and port (`127.0.0.1:8090`, `[::1]:8090`), or `localhost[:PORT]`. Host
/// names other than `localhost` are refused: the viewer never resolves
/// names, so what it binds is exactly what was written.
pub fn parse_addr(s: &str) -> Result<SocketAddr, ViewerError> {
    let bad = |why: &str| ViewerError::BadAddress { given: s.to_string(), why: why.to_string() };
    let t = s.trim();
    if t.is_empty() {
        return Err(bad("it is empty"));
    }
    let port = |p: &str| p.parse::<u16>().map_err(|_| bad(&format!("{p:?} is not a port number (0 to 65535)")));
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port(t)?));
    }
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = t.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    if let Some(rest) = t.strip_prefix("localhost") {
        let p = match rest.strip_prefix(':') {
            Some(p) => port(p)?,
            None if rest.is_empty() => DEFAULT_PORT,
            None => return Err(bad("host names other than localhost are not resolved")),
        };
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p));
    }
    Err(bad("host names other than localhost are not resolved; write an IP address"))
}

/// A wire of the pipeline, as the viewer lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireEntry {
    /// Its name in the pipeline file: `producer.port` (`camera.frames`).
    pub name: String,
    /// Its shared-memory segment (`<prefix>.<pipeline>.camera.frames`).
    pub segment: String,
    /// How many blocks read it (0 if unknown). The viewer never takes a
    /// reader entry while fewer than these are attached: the free entry
    /// then belongs to a block that is starting or restarting.
    pub readers: usize,
}

/// A block of the pipeline, as its supervisor records it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockEntry {
    /// Block name.
    pub name: String,
    /// Block type.
    pub type_name: String,
    /// Process id (0 while not running).
    pub pid: u32,
    /// The supervisor's word: running, restarting, finished, stopped.
    pub state: String,
    /// Restarts so far.
    pub restarts: u32,
    /// How its last process ended, if one did.
    pub last_exit: String,
    /// Its state segment (heartbeat, link, gauges), if any.
    pub state_segment: Option<String>,
}

/// What the pipeline looks like right now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Pipeline name.
    pub pipeline: String,
    /// Whether it runs (false before it has started, and after it stopped).
    pub running: bool,
    /// Its wires.
    pub wires: Vec<WireEntry>,
    /// Its blocks.
    pub blocks: Vec<BlockEntry>,
}

/// Where the viewer learns what to show. `framewire` implements it over
/// the supervisor's run file; tests may implement it over anything.
pub trait Source: Send + Sync + 'static {
    /// The pipeline as it is now. Called for each page and each statistics
    /// request, so it should be cheap (reading a small file is).
    fn snapshot(&self) -> Snapshot;
}

impl<F: Fn() -> Snapshot + Send + Sync + 'static> Source for F {
    fn snapshot(&self) -> Snapshot {
        self()
    }
}

/// What the connection threads share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) source: Box<dyn Source>,
    pub(crate) stop: AtomicBool,
    pub(crate) connections: AtomicUsize,
    pub(crate) feeds: feed::Hub,
    pub(crate) rates: Mutex<stats::Rates>,
    /// Whether the listening address is loopback: then requests must name
    /// a loopback host (a defence against DNS rebinding).
    pub(crate) loopback: bool,
    /// The address it listens on (the port the system chose, for port 0).
    pub(crate) addr: SocketAddr,
}

/// A running viewer. Dropping it (or [`Viewer::stop`]) stops listening;
/// streams end within a second.
pub struct Viewer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Viewer {
    /// Binds `config.addr` and serves in background threads.
    pub fn start(config: Config, source: impl Source) -> Result<Viewer, ViewerError> {
        if !(config.max_fps >= 0.5 && config.max_fps <= 60.0) {
            return Err(ViewerError::BadConfig(format!("{} frames/s is out of range: give 0.5 to 60", config.max_fps)));
        }
        if !(1..=100).contains(&config.quality) {
            return Err(ViewerError::BadConfig(format!("JPEG quality {} is out of range 1 to 100", config.quality)));
        }
        if config.max_width < 16 || config.max_connections == 0 {
            return Err(ViewerError::BadConfig("max_width must be at least 16 and max_connections at least 1".into()));
        }
        let listener =
            TcpListener::bind(config.addr).map_err(|source| ViewerError::Bind { addr: config.addr, source })?;
        let addr = listener.local_addr().map_err(|source| ViewerError::Bind { addr: config.addr, source })?;
        let shared = Arc::new(Shared {
            loopback: addr.ip().is_loopback(),
            addr,
            config,
            source: Box::new(source),
            stop: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            feeds: feed::Hub::default(),
            rates: Mutex::new(stats::Rates::default()),
        });
        let s = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name("fw-view-accept".into())
            .spawn(move || accept_loop(listener, s))
            .map_err(|source| ViewerError::Bind { addr, source })?;
        Ok(Viewer { shared, addr, acceptor: Some(acceptor) })
    }

    /// The address it listens on (with the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether it listens on a loopback address only.
    pub fn is_loopback(&self) -> bool {
        self.shared.loopback
    }

    /// The page's address, as a user would type it.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops listening and ends every stream.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // SYNC: Release; pairs with the Acquire loads in the accept loop,
        // the connection threads and the encoders, which then stop.
        self.shared.stop.store(true, Ordering::Release);
        // The acceptor sleeps in accept(): wake it with a connection.
        let wake = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.addr.port()),
            IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new("::1".parse().unwrap(), self.addr.port()),
            _ => self.addr,
        };
        let _ = TcpStream::connect_timeout(&wake, Duration::from_millis(500));
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        self.shared.feeds.wake_all();
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        // SYNC: Acquire; pairs with the Release store in `Viewer::shutdown`.
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let Ok(stream) = conn else {
            // Out of descriptors, or a connection reset before accept:
            // pause briefly rather than spin.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        // Counted here, so a flood of connections cannot start threads
        // beyond the limit; each thread gives its place back when it ends.
        let n = shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let s = shared.clone();
        let spawned = std::thread::Builder::new().name("fw-view-conn".into()).spawn(move || {
            let _place = Place(&s);
            http::serve(stream, &s, n > s.config.max_connections);
        });
        if spawned.is_err() {
            shared.connections.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Gives a connection's place back when its thread ends, however it ends.
struct Place<'a>(&'a Shared);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_default_to_loopback_and_never_resolve_names() {
        assert_eq!(parse_addr("8091").unwrap(), "127.0.0.1:8091".parse().unwrap());
        assert_eq!(parse_addr("0.0.0.0").unwrap(), "0.0.0.0:8090".parse().unwrap());
        assert_eq!(parse_addr("192.168.1.5:80").unwrap(), "192.168.1.5:80".parse().unwrap());
        assert_eq!(parse_addr("[::1]:9000").unwrap(), "[::1]:9000".parse().unwrap());
        assert_eq!(parse_addr("::").unwrap(), "[::]:8090".parse().unwrap());
        assert_eq!(parse_addr("localhost").unwrap(), "127.0.0.1:8090".parse().unwrap());
        assert_eq!(parse_addr("localhost:1234").unwrap(), "127.0.0.1:1234".parse().unwrap());
        assert_eq!(Config::default().addr, "127.0.0.1:8090".parse().unwrap());
        for bad in ["", "robot.local:8090", "70000", "1.2.3.4:x", "localhostx"] {
            let e = parse_addr(bad).unwrap_err().to_string();
            assert!(e.contains("not valid") && e.contains("127.0.0.1:8090"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_port_in_use_says_what_to_do() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let cfg = Config { addr: taken.local_addr().unwrap(), ..Config::default() };
        let e = Viewer::start(cfg, Snapshot::default).err().unwrap().to_string();
        assert!(e.contains("cannot listen") && e.contains("choose another"), "{e}");
    }

    #[test]
    fn settings_out_of_range_are_refused() {
        let c = |f: fn(&mut Config)| {
            let mut c = Config { addr: "127.0.0.1:0".parse().unwrap(), ..Config::default() };
            f(&mut c);
            Viewer::start(c, Snapshot::default).err().map(|e| e.to_string())
        };
        assert!(c(|c| c.max_fps = 0.0).unwrap().contains("0.5 to 60"));
        assert!(c(|c| c.max_fps = f64::NAN).unwrap().contains("0.5 to 60"));
        assert!(c(|c| c.quality = 0).unwrap().contains("quality"));
        assert!(c(|_| {}).is_none());
    }
}
