//! The page: plain HTML rendered here with the chosen wire's stream in an
//! `<img>` (so the image shows without JavaScript, and switching works as a
//! plain form), plus a small script (`viewer.js`, no build step, nothing
//! loaded from elsewhere) that switches wires and overlays in place and
//! refreshes the statistics tables from `/api/state` once a second.

use std::fmt::Write;

use framewire_sdk::image::FourCC;
use framewire_sdk::msg::{Detection, Message};
use framewire_wire as wire;

use super::http::{MAX_OVERLAYS, Request};
use super::{Shared, Snapshot};

/// The page's script.
pub(crate) const SCRIPT: &str = include_str!("viewer.js");
const STYLE: &str = include_str!("viewer.css");

/// `s` with HTML's special characters escaped.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// `s` escaped for a URL's path segment or query value.
pub(crate) fn url(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

/// The stream's address for `wire` with `overlays`, for page `client`.
pub(crate) fn stream_url(wire: &str, overlays: &[String], client: &str) -> String {
    let mut u = format!("/stream/{}", url(wire));
    for (i, o) in overlays.iter().enumerate() {
        let _ = write!(u, "{}overlay={}", if i == 0 { '?' } else { '&' }, url(o));
    }
    let _ = write!(u, "{}client={}", if overlays.is_empty() { '?' } else { '&' }, url(client));
    u
}

/// A new page's id: 64 bits from the kernel, in hex. It only tells one
/// page's streams from another's (see `feed::Hub`), so a clock fallback
/// does no harm.
fn client_id() -> String {
    use std::io::Read;
    let mut b = [0u8; 8];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_ok();
    let v = if ok { u64::from_le_bytes(b) } else { framewire_sdk::monotonic_ns() };
    format!("{v:016x}")
}

/// Renders the page for request `req` (`?wire=W&overlay=O...`).
pub(crate) fn render(snap: &Snapshot, req: &Request, shared: &Shared) -> String {
    let client = client_id();
    // Which wires can be shown, and which can be drawn on them.
    let mut images = Vec::new();
    let mut overlays = Vec::new();
    for w in &snap.wires {
        let Ok(st) = wire::inspect(&w.segment) else { continue };
        if st.policy != wire::Policy::Latest {
            continue;
        }
        if !st.kind.is_message() {
            images.push(w.name.clone());
        }
        if st.kind == Detection::TYPE || st.last_image.is_some_and(|(_, _, f)| f == FourCC::GREY) {
            overlays.push(w.name.clone());
        }
    }
    let chosen = req
        .get("wire")
        .filter(|w| images.iter().any(|i| i == w))
        .map(str::to_string)
        .or_else(|| images.first().cloned());
    let on: Vec<String> = req
        .all("overlay")
        .into_iter()
        .filter(|o| overlays.contains(o) && Some(o) != chosen.as_ref())
        .take(MAX_OVERLAYS)
        .collect();
    let mut options = String::new();
    for i in &images {
        let sel = if Some(i) == chosen.as_ref() { " selected" } else { "" };
        let _ = write!(options, "<option value=\"{0}\"{sel}>{0}</option>", esc(i));
    }
    let mut boxes = String::new();
    for o in &overlays {
        let checked = if on.contains(o) { " checked" } else { "" };
        let _ = write!(
            boxes,
            "<label><input type=\"checkbox\" name=\"overlay\" value=\"{0}\"{checked}> {0}</label> ",
            esc(o)
        );
    }
    let view = match &chosen {
        Some(w) => format!(
            "<img id=\"view\" src=\"{}\" alt=\"live image of wire {}\">",
            esc(&stream_url(w, &on, &client)),
            esc(w)
        ),
        None => "<p id=\"noimage\">This pipeline has no image wire to show (yet). The page updates when one appears.</p><img id=\"view\" alt=\"\" hidden>".to_string(),
    };
    let warning = if shared.loopback {
        String::new()
    } else {
        format!(
            "<p class=\"warn\">This live view listens on {}: every machine that reaches it can watch, without a password.</p>",
            esc(&shared.addr.to_string())
        )
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>framewire: {name}</title>
<style>{STYLE}</style>
</head>
<body data-max-fps="{fps}" data-client="{client}">
<header><h1>framewire <span id="pipeline">{name}</span></h1> <span id="status">{status}</span></header>
{warning}
<main>
<section id="left">
<form id="controls" method="get" action="/">
<label>Wire <select id="wire" name="wire">{options}</select></label>
<span id="overlays">{boxes}</span>
<noscript><button type="submit">Show</button></noscript>
</form>
<div id="frame">{view}</div>
<p id="feed"></p>
</section>
<section id="right">
<h2>Wires</h2>
<table id="wires"><thead><tr><th>wire</th><th>carries</th><th>policy</th><th>frames/s</th><th>latency</th><th>drops</th><th>frames</th><th>readers</th></tr></thead><tbody></tbody></table>
<h2>Blocks</h2>
<table id="blocks"><thead><tr><th>block</th><th>type</th><th>state</th><th>pid</th><th>restarts</th><th>CPU</th><th>heartbeat</th><th>link</th><th>gauges</th><th>last exit</th></tr></thead><tbody></tbody></table>
<p class="note">Statistics refresh every second. The image is encoded only while this page shows it, at most {fps} frames/s.</p>
</section>
</main>
<script src="/viewer.js"></script>
</body>
</html>
"#,
        name = esc(&snap.pipeline),
        status = if snap.running { "running" } else { "not running" },
        fps = shared.config.max_fps,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_for_html_and_urls() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(url("cam.frames"), "cam.frames");
        assert_eq!(url("a b/c?"), "a%20b%2Fc%3F");
        assert_eq!(
            stream_url("cam.frames", &["blob.detection".into(), "hsv.mask".into()], "ab12"),
            "/stream/cam.frames?overlay=blob.detection&overlay=hsv.mask&client=ab12"
        );
        assert_eq!(stream_url("cam.frames", &[], "ab12"), "/stream/cam.frames?client=ab12");
        assert_ne!(client_id(), client_id());
    }

    #[test]
    fn the_page_and_its_script_load_nothing_from_elsewhere() {
        for text in [SCRIPT, STYLE] {
            for bad in ["http://", "https://", "//cdn", "@import", "url("] {
                assert!(!text.contains(bad), "{bad} in the page's resources");
            }
        }
    }
}
