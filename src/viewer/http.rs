//! The HTTP/1.1 side: one thread per connection, one request per
//! connection (`Connection: close`), GET and HEAD only. Small on purpose:
//! the viewer serves a page, a JSON document, single JPEGs and MJPEG
//! streams, and nothing that changes the pipeline.
//!
//! Routes:
//!
//! | path | answer |
//! |---|---|
//! | `/` (`?wire=W&overlay=O...`) | the page, showing wire `W` (default: the first image wire) |
//! | `/viewer.js` | the page's script |
//! | `/api/state` | JSON: pipeline, wires with rates, blocks with states, the viewer's own feeds |
//! | `/stream/W` (`?overlay=O...`) | MJPEG stream of image wire `W`, with overlays |
//! | `/frame/W.jpg` (`?overlay=O...`) | the next frame of `W` as one JPEG |
//! | `/api/release?client=C` | ends page `C`'s stream (the page was hidden) |
//!
//! A stream URL may carry `client=C`, an id the page was rendered with: a
//! page's newer stream ends its older one, since browsers do not reliably
//! close an image's stream when the image is pointed elsewhere.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{Shared, Snapshot, WireEntry, feed, page, stats};

/// Longest request head accepted (request line and headers).
const MAX_HEAD: usize = 8192;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write may block before the client is given up (a browser
/// that stopped reading, a dead network): its thread ends, nothing else
/// waits for it.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most overlays on one image.
pub(crate) const MAX_OVERLAYS: usize = 4;

/// A parsed request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) host: Option<String>,
}

impl Request {
    /// Every value of query parameter `key`.
    pub(crate) fn all(&self, key: &str) -> Vec<String> {
        self.query.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }

    /// The first value of query parameter `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Decodes `%XX` escapes and `+` (a space in a query). Invalid escapes stay
/// as they are.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a request head (everything before the blank line).
pub(crate) fn parse(head: &str) -> Result<Request, String> {
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("malformed request line {first:?}"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(format!("unsupported protocol {version:?}"));
    }
    if !target.starts_with('/') {
        return Err(format!("request target {target:?} is not a path"));
    }
    let (path, q) = target.split_once('?').unwrap_or((target, ""));
    let query = q
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let host = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("host").then(|| v.trim().to_string())
    });
    Ok(Request { method: method.to_string(), path: percent_decode(path), query, host })
}

/// Whether `host` (a Host header) names this machine's loopback: what a
/// browser sends for `http://localhost:8090/` or `http://127.0.0.1:8090/`,
/// also through an SSH tunnel. Any other name reaching a loopback-only
/// viewer came through DNS rebinding (a web page's script aiming at
/// localhost under its own name), and is refused.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, p)| if p.bytes().all(|b| b.is_ascii_digit()) { h } else { host })
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn read_head(stream: &mut TcpStream) -> Result<String, String> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    loop {
        if let Some(end) = buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
            return String::from_utf8(buf[..end].to_vec()).map_err(|_| "request head is not UTF-8".to_string());
        }
        if len == buf.len() {
            return Err(format!("request head longer than {MAX_HEAD} bytes"));
        }
        match stream.read(&mut buf[len..]) {
            Ok(0) => return Err("connection closed before the request ended".into()),
            Ok(n) => len += n,
            // A signal for the supervisor (Ctrl-C) may land on this thread.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading the request: {e}")),
        }
    }
}

/// Writes a complete response with a body (not for streams).
pub(crate) fn respond(stream: &mut TcpStream, head_only: bool, status: &str, ctype: &str, body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        COMMON_HEADERS
    );
    if ctype.starts_with("text/html") {
        head.push_str(CSP);
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    if !head_only {
        let _ = stream.write_all(body);
    }
    let _ = stream.flush();
}

/// Sent with every response: nothing is cached (it is all live), nothing
/// is sniffed, the connection closes after the response.
pub(crate) const COMMON_HEADERS: &str =
    "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nConnection: close";

/// The page loads nothing from elsewhere (the robot may be offline, and a
/// page that can reach other sites could leak what the camera sees), and
/// may not be framed by another site.
const CSP: &str = "Content-Security-Policy: default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'\r\nX-Frame-Options: DENY\r\n";

/// A plain-text error response.
pub(crate) fn error(stream: &mut TcpStream, head_only: bool, status: &str, text: &str) {
    respond(stream, head_only, status, "text/plain; charset=utf-8", format!("{text}\n").as_bytes());
}

/// Finds wire `name` (`block.port`) in the pipeline, or says which exist.
pub(crate) fn find_wire<'s>(snap: &'s Snapshot, name: &str) -> Result<&'s WireEntry, String> {
    snap.wires.iter().find(|w| w.name == name).ok_or_else(|| {
        let known: Vec<&str> = snap.wires.iter().map(|w| w.name.as_str()).collect();
        if snap.wires.is_empty() {
            format!("no wire {name:?}: pipeline {:?} has no wires (yet)", snap.pipeline)
        } else {
            format!("no wire {name:?} in pipeline {:?}; its wires are: {}", snap.pipeline, known.join(", "))
        }
    })
}

/// Serves one connection.
pub(crate) fn serve(mut stream: TcpStream, shared: &std::sync::Arc<Shared>, over_limit: bool) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let req = match read_head(&mut stream).and_then(|h| parse(&h)) {
        Ok(r) => r,
        Err(e) => {
            error(&mut stream, false, "400 Bad Request", &e);
            return;
        }
    };
    if over_limit {
        error(
            &mut stream,
            false,
            "503 Service Unavailable",
            &format!(
                "the live view serves at most {} connections at once; close another viewer tab and reload",
                shared.config.max_connections
            ),
        );
        return;
    }
    if shared.loopback && !req.host.as_deref().is_some_and(is_loopback_host) {
        error(
            &mut stream,
            false,
            "403 Forbidden",
            &format!(
                "this live view listens on loopback only and answers requests for localhost only, not for host {:?}; open http://localhost:{}/ (through an SSH tunnel from another machine)",
                req.host.as_deref().unwrap_or(""),
                shared.addr.port()
            ),
        );
        return;
    }
    let head_only = match req.method.as_str() {
        "GET" => false,
        "HEAD" => true,
        m => {
            error(
                &mut stream,
                false,
                "405 Method Not Allowed",
                &format!("method {m} is not served; the live view only shows"),
            );
            return;
        }
    };
    let path = req.path.as_str();
    if path == "/" || path == "/index.html" {
        let snap = shared.source.snapshot();
        let html = page::render(&snap, &req, shared);
        respond(&mut stream, head_only, "200 OK", "text/html; charset=utf-8", html.as_bytes());
    } else if path == "/viewer.js" {
        respond(&mut stream, head_only, "200 OK", "text/javascript; charset=utf-8", page::SCRIPT.as_bytes());
    } else if path == "/api/state" {
        let json = stats::state_json(shared);
        respond(&mut stream, head_only, "200 OK", "application/json", json.as_bytes());
    } else if path == "/api/release" {
        // A page going hidden or away: its stream ends, and with the last
        // watcher the encoding.
        if let Some(c) = req.get("client") {
            shared.feeds.release(c);
        }
        respond(&mut stream, head_only, "204 No Content", "text/plain", b"");
    } else if path == "/favicon.ico" {
        respond(&mut stream, head_only, "204 No Content", "image/x-icon", b"");
    } else if let Some(wire) = path.strip_prefix("/stream/") {
        feed::serve_stream(stream, shared, wire, &req, head_only, false);
    } else if let Some(wire) = path.strip_prefix("/frame/").and_then(|w| w.strip_suffix(".jpg")) {
        feed::serve_stream(stream, shared, wire, &req, head_only, true);
    } else {
        error(
            &mut stream,
            head_only,
            "404 Not Found",
            &format!("nothing at {path}; the page is at /, statistics at /api/state, streams at /stream/WIRE"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_query_and_host() {
        let r = parse("GET /stream/cam.frames?overlay=blob.detection&overlay=hsv%2Emask&x HTTP/1.1\r\nUser-Agent: t\r\nhost: localhost:8090").unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/stream/cam.frames");
        assert_eq!(r.all("overlay"), ["blob.detection", "hsv.mask"]);
        assert_eq!(r.get("x"), Some(""));
        assert_eq!(r.host.as_deref(), Some("localhost:8090"));
        assert!(parse("GET / HTTP/2").is_err());
        assert!(parse("GET http://evil/ HTTP/1.1").is_err());
        assert!(parse("nonsense").is_err());
        assert_eq!(percent_decode("a+b%20c%zz%4"), "a b c%zz%4");
    }

    #[test]
    fn only_loopback_names_pass_the_host_check() {
        for ok in ["localhost", "localhost:8090", "127.0.0.1:8090", "127.1.2.3", "[::1]:8090", "[::1]", "LOCALHOST."] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in ["evil.example:8090", "192.168.1.2:8090", "localhost.evil.example", "[2001:db8::1]:80", ""] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
