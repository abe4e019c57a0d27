//! Zenoh session settings as a block's `zenoh` table, and key expressions.
//!
//! ```toml
//! [[block]]
//! name = "uplink"
//! type = "zenoh_out"
//! key = "framewire/robot1/camera"
//! zenoh = { mode = "peer", listen = ["tcp/0.0.0.0:7447"], multicast_scouting = false }
//! ```
//!
//! Every key has a default, chosen for one robot and one laptop on one LAN:
//! peer mode, multicast scouting on (the two find each other with no
//! address written anywhere), Zenoh's default listener (every interface, a
//! port the OS picks) and nothing to connect to. Where multicast does not
//! pass (some Wi-Fi access points, containers, network namespaces), turn
//! scouting off and write the addresses: one side `listen`s, the other
//! `connect`s.

framewire_sdk::params! {
    /// The `zenoh` table of `zenoh_out` and `zenoh_in`: how the block's Zenoh
    /// session finds its peers.
    pub struct ZenohParams {
        /// "peer" (talk directly to other peers; the default) or "client" (go through a Zenoh router, `zenohd`, named in `connect`).
        pub mode: String = "peer",
        /// Endpoints to listen on, e.g. ["tcp/0.0.0.0:7447"]; empty = Zenoh's default for the mode (peer: every interface, a port the OS picks).
        pub listen: Vec<String> = Vec::new(),
        /// Endpoints to connect to, e.g. ["tcp/192.168.1.20:7447"]; retried in the background until they answer.
        pub connect: Vec<String> = Vec::new(),
        /// Find peers by UDP multicast on the LAN (224.0.0.224:7446); turn off where multicast does not pass and use listen/connect.
        pub multicast_scouting: bool = true,
        /// TCP send buffer, kB: bounds what the kernel queues when the link is slower than the frames, so Zenoh drops instead; 0 = the kernel's autotuning (deep queues).
        pub tcp_send_buffer_kb: u32 = 128,
    }
}

impl ZenohParams {
    /// Every key at its default.
    pub fn defaults() -> ZenohParams {
        <ZenohParams as framewire_sdk::params::Params>::from_table(&framewire_sdk::toml::Table::new())
            .expect("the defaults parse")
    }

    /// Checks the settings, naming the key and the fix. `framewire check`
    /// runs this (through the blocks' ports), so a typo is reported before
    /// anything starts.
    pub fn validate(&self) -> Result<(), String> {
        if self.mode != "peer" && self.mode != "client" {
            return Err(format!(
                "zenoh.mode = {:?}: use \"peer\" (direct connections; the default) or \"client\" (through a zenohd router named in zenoh.connect)",
                self.mode
            ));
        }
        for (field, list) in [("listen", &self.listen), ("connect", &self.connect)] {
            for (i, e) in list.iter().enumerate() {
                check_endpoint(e).map_err(|why| format!("zenoh.{field}[{i}] = {e:?}: {why}"))?;
            }
        }
        if self.mode == "client" && self.connect.is_empty() && !self.multicast_scouting {
            return Err("zenoh.mode = \"client\" needs a router: name it in zenoh.connect (e.g. [\"tcp/192.168.1.20:7447\"]) or turn zenoh.multicast_scouting on".into());
        }
        if self.tcp_send_buffer_kb > 0 && !(16..=65_536).contains(&self.tcp_send_buffer_kb) {
            return Err(format!(
                "zenoh.tcp_send_buffer_kb = {}: use 16 to 65536 (kB), or 0 for the kernel's autotuning; 128 suits Wi-Fi",
                self.tcp_send_buffer_kb
            ));
        }
        if self.mode == "client" && !self.listen.is_empty() {
            return Err("zenoh.listen is for peers: a client does not listen; remove it or use mode = \"peer\"".into());
        }
        Ok(())
    }

    /// The session configuration as Zenoh's JSON5 settings, key by key:
    /// (`mode`, `"peer"`), (`listen/endpoints`, `[...]`), ...
    pub fn json5_settings(&self) -> Vec<(&'static str, String)> {
        let list = |v: &[String]| format!("[{}]", v.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>().join(","));
        let mut out = vec![
            ("mode", format!("{:?}", self.mode)),
            ("scouting/multicast/enabled", self.multicast_scouting.to_string()),
            // Never give up on a peer named in `connect`: a robot and its base
            // station start in any order, and a link that drops (Wi-Fi out of
            // range) must come back by itself. With a non-zero timeout and no
            // exit on failure, Zenoh keeps connecting in the background (a
            // zero timeout would try once and never again).
            ("connect/timeout_ms", "1000".into()),
            ("connect/exit_on_failure", "false".into()),
            ("connect/retry", "{period_init_ms: 250, period_max_ms: 1000, period_increase_factor: 2}".into()),
            // A cut link is noticed after this long without a keep-alive; the
            // deadman of the motors stops them well before that in any case.
            ("transport/link/tx/lease", "3000".into()),
        ];
        if self.tcp_send_buffer_kb > 0 {
            // The kernel's own socket buffer, left to autotuning, grows to
            // megabytes: on a slow link that is seconds of frames queued
            // where Zenoh's congestion control cannot see them. A small
            // buffer keeps the queue in Zenoh, which drops.
            out.push(("transport/link/tcp/so_sndbuf", (self.tcp_send_buffer_kb * 1024).to_string()));
        }
        if !self.listen.is_empty() {
            out.push(("listen/endpoints", list(&self.listen)));
        }
        if !self.connect.is_empty() {
            out.push(("connect/endpoints", list(&self.connect)));
        }
        out
    }
}

/// Checks one endpoint, `tcp/HOST:PORT` or `udp/HOST:PORT` (the transports
/// this build has), with an optional `#key=value` configuration suffix.
pub fn check_endpoint(e: &str) -> Result<(), String> {
    let Some((proto, rest)) = e.split_once('/') else {
        return Err("an endpoint is PROTOCOL/HOST:PORT, e.g. \"tcp/192.168.1.20:7447\"".into());
    };
    if proto != "tcp" && proto != "udp" {
        return Err(format!("protocol {proto:?} is not built in; use \"tcp\" (or \"udp\"), e.g. \"tcp/{rest}\""));
    }
    let addr = rest.split(['#', '?']).next().unwrap_or("");
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(format!("{addr:?} has no port; write HOST:PORT, e.g. \"{proto}/{addr}:7447\""));
    };
    if host.is_empty() {
        return Err(format!("no host before :{port}; use 0.0.0.0 (every interface) or an address"));
    }
    if port.parse::<u16>().is_err() {
        return Err(format!("port {port:?} is not a number from 0 to 65535"));
    }
    Ok(())
}

/// Checks a key expression for publishing (`wildcards = false`) or
/// subscribing: chunks separated by `/`, none empty, no leading or trailing
/// `/`, none of `#`, `?`, `$`, and `*`/`**` only as whole chunks (and only
/// when subscribing). These are Zenoh's rules for canonical key expressions.
pub fn check_key(key: &str, wildcards: bool) -> Result<(), String> {
    if key.is_empty() {
        return Err("the key is empty; e.g. \"framewire/robot1/camera\"".into());
    }
    if key.starts_with('/') || key.ends_with('/') {
        return Err(format!("key {key:?} starts or ends with '/'; write it as \"{}\"", key.trim_matches('/')));
    }
    for chunk in key.split('/') {
        if chunk.is_empty() {
            return Err(format!("key {key:?} has an empty chunk (\"//\")"));
        }
        if chunk.contains(['#', '?', '$']) || chunk.chars().any(|c| c.is_whitespace()) {
            return Err(format!(
                "key {key:?}: chunk {chunk:?} contains '#', '?', '$' or a space, which Zenoh keys cannot hold"
            ));
        }
        if chunk.contains('*') {
            if !wildcards {
                return Err(format!("key {key:?} has a wildcard; a publisher needs one exact key"));
            }
            if chunk != "*" && chunk != "**" {
                return Err(format!("key {key:?}: a wildcard must be a whole chunk (\"*\" or \"**\"), not {chunk:?}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use framewire_sdk::params::Params;

    fn parse(text: &str) -> Result<ZenohParams, String> {
        let t: framewire_sdk::toml::Table = framewire_sdk::toml::from_str(text).unwrap();
        let p = ZenohParams::from_table(&t).map_err(|e| e.to_string())?;
        p.validate()?;
        Ok(p)
    }

    #[test]
    fn defaults_suit_one_robot_and_one_laptop() {
        let p = parse("").unwrap();
        assert_eq!((p.mode.as_str(), p.multicast_scouting), ("peer", true));
        assert!(p.listen.is_empty() && p.connect.is_empty());
        let s = p.json5_settings();
        assert!(s.contains(&("mode", "\"peer\"".into())));
        assert!(s.contains(&("scouting/multicast/enabled", "true".into())));
        assert!(s.contains(&("transport/link/tcp/so_sndbuf", "131072".into())));
        let p = parse("tcp_send_buffer_kb = 0").unwrap();
        assert!(!p.json5_settings().iter().any(|(k, _)| k.contains("so_sndbuf")));
        assert!(parse("tcp_send_buffer_kb = 4").unwrap_err().contains("tcp_send_buffer_kb"));
    }

    #[test]
    fn endpoints_become_json5_lists() {
        let p = parse("listen = [\"tcp/0.0.0.0:7447\"]\nconnect = [\"tcp/10.0.0.2:7447\", \"udp/10.0.0.2:7448\"]\nmulticast_scouting = false").unwrap();
        let s = p.json5_settings();
        assert!(s.contains(&("listen/endpoints", "[\"tcp/0.0.0.0:7447\"]".into())));
        assert!(s.contains(&("connect/endpoints", "[\"tcp/10.0.0.2:7447\",\"udp/10.0.0.2:7448\"]".into())));
        assert!(s.contains(&("scouting/multicast/enabled", "false".into())));
    }

    #[test]
    fn bad_values_name_the_field_and_the_fix() {
        let e = parse("mode = \"router\"").unwrap_err();
        assert!(e.contains("zenoh.mode") && e.contains("\"peer\""), "{e}");
        let e = parse("connect = [\"192.168.1.20:7447\"]").unwrap_err();
        assert!(e.contains("zenoh.connect[0]") && e.contains("PROTOCOL/HOST:PORT"), "{e}");
        let e = parse("listen = [\"quic/0.0.0.0:7447\"]").unwrap_err();
        assert!(e.contains("zenoh.listen[0]") && e.contains("\"tcp/0.0.0.0:7447\""), "{e}");
        let e = parse("connect = [\"tcp/10.0.0.2\"]").unwrap_err();
        assert!(e.contains("no port"), "{e}");
        let e = parse("connect = [\"tcp/10.0.0.2:70000\"]").unwrap_err();
        assert!(e.contains("70000"), "{e}");
        let e = parse("mode = \"client\"\nmulticast_scouting = false").unwrap_err();
        assert!(e.contains("needs a router"), "{e}");
        let e = parse("multicast = false").unwrap_err();
        assert!(e.contains("multicast_scouting"), "{e}");
    }

    #[test]
    fn keys_follow_zenoh_rules() {
        assert!(check_key("framewire/robot1/camera", false).is_ok());
        assert!(check_key("framewire/*/camera", true).is_ok());
        assert!(check_key("framewire/**", true).is_ok());
        for (bad, wild) in [
            ("", true),
            ("/framewire/a", true),
            ("framewire/a/", true),
            ("a//b", true),
            ("a/b#c", true),
            ("a/b c", true),
            ("framewire/*/camera", false),
            ("framewire/cam*", true),
        ] {
            assert!(check_key(bad, wild).is_err(), "{bad:?} should be refused");
        }
    }
}
