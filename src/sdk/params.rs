//! Block parameters, declared once.
//!
//! A block's parameters are one struct declared with [`params!`](crate::params):
//! the struct, its parsing from the block's TOML table (unknown keys refused
//! with the list of valid ones and the nearest match, every error naming its
//! key), its defaults, and the documentation `framewire blocks` prints, all
//! come from that one declaration, so they cannot drift apart.
//!
//! ```
//! framewire_sdk::params! {
//!     /// Parameters of a hypothetical `gain` block.
//!     pub struct GainParams {
//!         /// Factor every sample is multiplied by.
//!         pub gain: f32 = 1.0,
//!         /// Pixel format to produce.
//!         pub format: String = "RGB24",
//!         /// Leave every n-th row untouched (none if absent).
//!         pub skip_row: Option<u32> = None,
//!         /// Where the lookup table lives (required; an example for the docs).
//!         pub table: String = required("gain.lut"),
//!     }
//! }
//! use framewire_sdk::params::Params;
//! let t: toml::Table = toml::from_str("table = \"x.lut\"\ngain = 2.5").unwrap();
//! let p = GainParams::from_table(&t).unwrap();
//! assert_eq!((p.gain, p.format.as_str(), p.skip_row), (2.5, "RGB24", None));
//! let typo: toml::Table = toml::from_str("table = \"x\"\ngian = 2.5").unwrap();
//! let e = GainParams::from_table(&typo).unwrap_err();
//! assert_eq!(e.key.as_deref(), Some("gian"));
//! assert!(e.message.contains("did you mean `gain`"), "{}", e.message);
//! assert_eq!(GainParams::describe()[0].default, "1.0");
//! ```
//!
//! A field is written `name: Type = default`, `name: Type = required(example)`
//! (the example fills in for `framewire blocks`), or `name: Type` (required,
//! no example). `name: Type = flatten` takes every key of another `params!`
//! struct (keys shared by several blocks). A field of type [`DevicePath`] names a
//! device file, which `framewire check` verifies exists before anything starts.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A parameter error with the path of the offending key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    /// The key (`width`, or `controls.brightness` inside a table), if known.
    pub key: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "parameter `{k}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ParamError {}

impl ParamError {
    /// An error about `key`.
    pub fn at(key: impl Into<String>, message: impl Into<String>) -> ParamError {
        ParamError { key: Some(key.into()), message: message.into() }
    }
}

/// One parameter, for `framewire blocks` and validation messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    /// Key in TOML.
    pub name: &'static str,
    /// Type as users write it: "int", "float", "string", "bool", "path", ...
    pub ty: String,
    /// Default value as TOML text, or "required".
    pub default: String,
    /// Documentation.
    pub doc: String,
    /// Whether the value names a device file that must exist before start.
    pub device: bool,
}

/// A block's parameter set. Implement it with [`params!`](crate::params), or
/// with [`serde_params!`](crate::serde_params) for a plain serde struct.
pub trait Params: Sized + Send + 'static {
    /// Parses the block's TOML table (without `name`, `type` and the other
    /// keys the runtime itself reads).
    fn from_table(t: &toml::Table) -> Result<Self, ParamError>;
    /// Every parameter, in declaration order.
    fn describe() -> Vec<ParamInfo> {
        Vec::new()
    }
    /// A table that parses: every required key set to its example. Used by
    /// `framewire blocks` to show the ports a typical configuration has.
    fn example() -> toml::Table {
        toml::Table::new()
    }
}

/// A path to a device file (`/dev/video0`, `/dev/serial/by-id/...`): the
/// runtime checks that it exists before it starts any block.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct DevicePath(pub PathBuf);

impl std::ops::Deref for DevicePath {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for DevicePath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for DevicePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.display().fmt(f)
    }
}

impl From<&str> for DevicePath {
    fn from(s: &str) -> Self {
        DevicePath(PathBuf::from(s))
    }
}

/// A serial port (`/dev/ttyUSB0`, `/dev/serial/by-id/...`, a simulated
/// controller's pseudo-terminal): the runtime checks that it exists and is a
/// terminal before it starts any block.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct SerialPath(pub PathBuf);

/// A V4L2 video device (`/dev/video0`, `/dev/v4l/by-id/...`): the runtime
/// checks that it exists and is a video device before it starts any block.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct VideoPath(pub PathBuf);

macro_rules! path_type {
    ($($t:ident),*) => {$(
        impl std::ops::Deref for $t {
            type Target = Path;
            fn deref(&self) -> &Path {
                &self.0
            }
        }
        impl AsRef<Path> for $t {
            fn as_ref(&self) -> &Path {
                &self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.display().fmt(f)
            }
        }
        impl From<&str> for $t {
            fn from(s: &str) -> Self {
                $t(PathBuf::from(s))
            }
        }
        impl FromDefault<&'static str> for $t {
            fn from_default(v: &'static str) -> $t {
                $t::from(v)
            }
        }
    )*};
}
path_type!(SerialPath, VideoPath);

/// Converts a declared default into the field's type: the value itself, or
/// a string literal for `String`, `PathBuf` and [`DevicePath`] fields.
pub trait FromDefault<V> {
    /// The field value for default `v`.
    fn from_default(v: V) -> Self;
}
impl<T> FromDefault<T> for T {
    fn from_default(v: T) -> T {
        v
    }
}
impl FromDefault<&'static str> for String {
    fn from_default(v: &'static str) -> String {
        v.to_string()
    }
}
impl FromDefault<&'static str> for PathBuf {
    fn from_default(v: &'static str) -> PathBuf {
        PathBuf::from(v)
    }
}
impl FromDefault<&'static str> for DevicePath {
    fn from_default(v: &'static str) -> DevicePath {
        DevicePath::from(v)
    }
}

/// The first line of a deserialisation error, without toml's location
/// suffixes (the runtime reports the key's own file, line and column).
fn first_line(e: &dyn fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or("").trim().to_string()
}

/// Parses key `key` of `t` as a `T`, if present. Used by [`params!`](crate::params).
pub fn field<T: DeserializeOwned>(t: &toml::Table, key: &'static str) -> Result<Option<T>, ParamError> {
    let Some(v) = t.get(key) else { return Ok(None) };
    serde_path_to_error::deserialize(v.clone()).map(Some).map_err(|e| {
        let sub = e.path().to_string();
        let key = match sub.as_str() {
            "." | "" => key.to_string(),
            s if s.starts_with('[') => format!("{key}{s}"),
            s => format!("{key}.{s}"),
        };
        ParamError { key: Some(key), message: first_line(e.inner()) }
    })
}

/// The error for a required key that is missing.
pub fn missing(key: &'static str, example: Option<&str>) -> ParamError {
    let hint = example.map(|e| format!(", e.g. `{key} = {e}`")).unwrap_or_default();
    ParamError { key: None, message: format!("missing required parameter `{key}`{hint}") }
}

/// Refuses keys of `t` that are not in `known`, naming the nearest valid one.
pub fn check_unknown(t: &toml::Table, known: &[&'static str]) -> Result<(), ParamError> {
    for k in t.keys() {
        if !known.contains(&k.as_str()) {
            let near = nearest(k, known).map(|n| format!("; did you mean `{n}`?")).unwrap_or_default();
            let valid = if known.is_empty() {
                "this block takes no parameters".to_string()
            } else {
                format!("valid: {}", known.join(", "))
            };
            return Err(ParamError::at(k.clone(), format!("unknown parameter `{k}`{near} ({valid})")));
        }
    }
    Ok(())
}

/// The entry of `candidates` closest to `s` by edit distance, if it is close.
pub fn nearest<'a>(s: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates.iter().map(|c| (edit_distance(s, c), *c)).filter(|(d, c)| *d <= 2.max(c.len() / 3)).min().map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// How `framewire blocks` names a Rust parameter type.
pub fn type_label(rust: &str) -> String {
    let t: String = rust.chars().filter(|c| !c.is_whitespace()).collect();
    let inner = t.strip_prefix("Option<").and_then(|s| s.strip_suffix('>')).unwrap_or(&t);
    let word = match inner {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => "int",
        "f32" | "f64" => "float",
        "String" | "&str" => "string",
        "bool" => "bool",
        "PathBuf" | "DevicePath" => "path",
        "SerialPath" => "serial port",
        "VideoPath" => "video device",
        "toml::Table" | "Table" => "table",
        // A fixed-size array says its length and element type: `[int; 3]`.
        _ if inner.starts_with('[') && inner.ends_with(']') && inner.contains(';') => {
            let (elem, n) = inner[1..inner.len() - 1].rsplit_once(';').unwrap_or(("", ""));
            return format!("[{}; {n}]", type_label(elem));
        }
        _ if inner.starts_with("Vec<") || inner.starts_with('[') => "array",
        _ if inner.starts_with("BTreeMap<") || inner.starts_with("HashMap<") => "table",
        _ => "string",
    };
    word.to_string()
}

/// Whether a Rust parameter type names a device file.
pub fn is_device(rust: &str) -> bool {
    rust.contains("DevicePath") || rust.contains("SerialPath") || rust.contains("VideoPath")
}

/// Parses a default or example written as a Rust literal as the TOML value
/// it also is (strings, numbers, booleans and arrays read the same in both).
pub fn literal_value(text: &str) -> Option<toml::Value> {
    let t: toml::Table = toml::from_str(&format!("v = {text}")).ok()?;
    t.get("v").cloned()
}

/// Declares a block's parameters once: the struct, its parsing with defaults
/// and helpful errors, and its documentation. See the [module docs](crate::params).
#[macro_export]
macro_rules! params {
    (
        $(#[doc = $doc:literal])*
        $vis:vis struct $name:ident { $($body:tt)* }
    ) => {
        $crate::params!(@munch [$(#[doc = $doc])* $vis struct $name] [] $($body)*);
    };
    // `name: Type = flatten`: every key of another parameter set.
    (@munch $hdr:tt [$($acc:tt)*]
        $(#[doc = $d:literal])* $fv:vis $f:ident : $t:ty = flatten $(, $($rest:tt)*)?) => {
        $crate::params!(@munch $hdr [$($acc)* {[$($d)*] $fv $f [$t] flatten []}] $($($rest)*)?);
    };
    // `name: Type = required(example)`.
    (@munch $hdr:tt [$($acc:tt)*]
        $(#[doc = $d:literal])* $fv:vis $f:ident : $t:ty = required($ex:expr) $(, $($rest:tt)*)?) => {
        $crate::params!(@munch $hdr [$($acc)* {[$($d)*] $fv $f [$t] required [$ex]}] $($($rest)*)?);
    };
    // `name: Type = default`.
    (@munch $hdr:tt [$($acc:tt)*]
        $(#[doc = $d:literal])* $fv:vis $f:ident : $t:ty = $def:expr $(, $($rest:tt)*)?) => {
        $crate::params!(@munch $hdr [$($acc)* {[$($d)*] $fv $f [$t] default [$def]}] $($($rest)*)?);
    };
    // `name: Type`: required, no example.
    (@munch $hdr:tt [$($acc:tt)*]
        $(#[doc = $d:literal])* $fv:vis $f:ident : $t:ty $(, $($rest:tt)*)?) => {
        $crate::params!(@munch $hdr [$($acc)* {[$($d)*] $fv $f [$t] required []}] $($($rest)*)?);
    };
    (@munch [$(#[doc = $doc:literal])* $vis:vis struct $name:ident]
        [$({[$($d:literal)*] $fv:vis $f:ident [$t:ty] $kind:ident [$($val:expr)?]})*]) => {
        $(#[doc = $doc])*
        #[derive(Clone, Debug)]
        $vis struct $name {
            $(
                $(#[doc = $d])*
                $fv $f: $t,
            )*
        }

        #[allow(clippy::vec_init_then_push)]
        impl $crate::params::Params for $name {
            fn from_table(t: &$crate::toml::Table) -> Result<Self, $crate::params::ParamError> {
                let mut known: Vec<&'static str> = Vec::new();
                $( $crate::params!(@known known $f [$t] $kind); )*
                $crate::params::check_unknown(t, &known)?;
                Ok($name {
                    $( $f: $crate::params!(@take t $f [$t] $kind [$($val)?]), )*
                })
            }

            fn describe() -> Vec<$crate::params::ParamInfo> {
                let mut out = Vec::new();
                $( $crate::params!(@describe out [$($d)*] $f [$t] $kind [$($val)?]); )*
                out
            }

            fn example() -> $crate::toml::Table {
                let mut out = $crate::toml::Table::new();
                $( $crate::params!(@example out $f [$t] $kind [$($val)?]); )*
                out
            }
        }

        // Parameter sets also read from any serde format (`toml::from_str`).
        impl<'de> $crate::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let t = <$crate::toml::Table as $crate::serde::Deserialize>::deserialize(d)?;
                <Self as $crate::params::Params>::from_table(&t).map_err(<D::Error as $crate::serde::de::Error>::custom)
            }
        }
    };

    (@known $k:ident $f:ident [$t:ty] flatten) => {
        $k.extend(<$t as $crate::params::Params>::describe().iter().map(|p| p.name));
    };
    (@known $k:ident $f:ident [$t:ty] $kind:ident) => {
        $k.push(stringify!($f));
    };

    (@take $tab:ident $f:ident [$t:ty] flatten []) => {{
        let keys: Vec<&'static str> =
            <$t as $crate::params::Params>::describe().iter().map(|p| p.name).collect();
        let sub: $crate::toml::Table =
            $tab.iter().filter(|(k, _)| keys.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
        <$t as $crate::params::Params>::from_table(&sub)?
    }};
    (@take $tab:ident $f:ident [$t:ty] required [$($ex:expr)?]) => {
        match $crate::params::field::<$t>($tab, stringify!($f))? {
            Some(v) => v,
            None => return Err($crate::params::missing(stringify!($f), None $(.or(Some(stringify!($ex))))?)),
        }
    };
    (@take $tab:ident $f:ident [$t:ty] default [$def:expr]) => {
        match $crate::params::field::<$t>($tab, stringify!($f))? {
            Some(v) => v,
            None => <$t as $crate::params::FromDefault<_>>::from_default($def),
        }
    };

    (@describe $out:ident [$($d:literal)*] $f:ident [$t:ty] flatten []) => {
        $out.extend(<$t as $crate::params::Params>::describe());
    };
    (@describe $out:ident [$($d:literal)*] $f:ident [$t:ty] $kind:ident [$($val:expr)?]) => {
        $out.push($crate::params::ParamInfo {
            name: stringify!($f),
            ty: $crate::params::type_label(stringify!($t)),
            default: $crate::params!(@default_text $kind [$($val)?]),
            doc: [$($d),*].iter().map(|l: &&str| l.trim()).collect::<Vec<_>>().join(" "),
            device: $crate::params::is_device(stringify!($t)),
        });
    };
    (@default_text default [$def:expr]) => {
        match stringify!($def) {
            "None" => "none".to_string(),
            s => s.to_string(),
        }
    };
    (@default_text required [$($ex:expr)?]) => {
        "required".to_string()
    };

    (@example $out:ident $f:ident [$t:ty] flatten []) => {
        $out.extend(<$t as $crate::params::Params>::example());
    };
    (@example $out:ident $f:ident [$t:ty] required [$ex:expr]) => {
        if let Some(v) = $crate::params::literal_value(stringify!($ex)) {
            $out.insert(stringify!($f).to_string(), v);
        }
    };
    (@example $out:ident $f:ident [$t:ty] $kind:ident [$($val:expr)?]) => {};
}

/// Implements [`Params`] for a plain `serde` struct (use
/// `#[serde(deny_unknown_fields)]`). Its parameters then have no generated
/// documentation: prefer [`params!`](crate::params) for new blocks.
#[macro_export]
macro_rules! serde_params {
    ($t:ty) => {
        impl $crate::params::Params for $t {
            fn from_table(t: &$crate::toml::Table) -> Result<Self, $crate::params::ParamError> {
                $crate::params::from_serde(t)
            }
        }
    };
}

/// Parses `t` as a serde struct, naming the offending key on error.
pub fn from_serde<P: DeserializeOwned>(t: &toml::Table) -> Result<P, ParamError> {
    serde_path_to_error::deserialize(toml::Value::Table(t.clone())).map_err(|e| {
        let path = e.path().to_string();
        let key = (path != "." && !path.is_empty()).then_some(path);
        ParamError { key, message: first_line(e.inner()) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::params! {
        /// Common keys.
        pub struct Common {
            /// Serial port.
            pub port: DevicePath = required("/dev/ttyUSB0"),
            /// Baud rate.
            pub baud: u32 = 115200,
        }
    }

    crate::params! {
        /// A driver.
        pub struct Driver {
            /// Shared keys.
            pub common: Common = flatten,
            /// Wheel radius in metres.
            pub wheel_radius: f64,
            /// Gains.
            pub pid: Option<[f32; 3]> = None,
            /// Name.
            pub label: String = "left",
        }
    }

    fn table(s: &str) -> toml::Table {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn defaults_required_and_flatten() {
        let d = Driver::from_table(&table("port = \"/dev/ttyACM0\"\nwheel_radius = 0.05")).unwrap();
        assert_eq!(d.common.port.0, PathBuf::from("/dev/ttyACM0"));
        assert_eq!((d.common.baud, d.wheel_radius, d.pid, d.label.as_str()), (115200, 0.05, None, "left"));
        let e = Driver::from_table(&table("wheel_radius = 0.05")).unwrap_err();
        assert!(e.message.contains("missing required parameter `port`, e.g. `port = \"/dev/ttyUSB0\"`"), "{e}");
        let e = Driver::from_table(&table("port = \"/dev/x\"")).unwrap_err();
        assert_eq!(e.message, "missing required parameter `wheel_radius`");
    }

    #[test]
    fn errors_name_the_key() {
        let e = Driver::from_table(&table("port = \"p\"\nwheel_radius = 0.05\nbaud = \"fast\"")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("baud"));
        let e = Driver::from_table(&table("port = \"p\"\nwheel_radius = 0.05\npid = [1.0, \"x\", 2.0]")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("pid[1]"));
        let e = Driver::from_table(&table("port = \"p\"\nwheel_radius = 0.05\nwheel_raduis = 1")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("wheel_raduis"));
        assert!(e.message.contains("did you mean `wheel_radius`?"), "{e}");
        assert!(e.message.contains("valid: port, baud, wheel_radius, pid, label"), "{e}");
    }

    #[test]
    fn documentation_comes_from_the_declaration() {
        let d = Driver::describe();
        let names: Vec<_> = d.iter().map(|p| p.name).collect();
        assert_eq!(names, ["port", "baud", "wheel_radius", "pid", "label"]);
        assert!(d[0].device && d[0].ty == "path" && d[0].default == "required");
        assert_eq!((d[1].ty.as_str(), d[1].default.as_str(), d[1].doc.as_str()), ("int", "115200", "Baud rate."));
        assert_eq!((d[3].ty.as_str(), d[3].default.as_str()), ("[float; 3]", "none"));
        assert_eq!(d[4].default, "\"left\"");
        // The example table parses (after the keys with no example are added).
        let mut ex = Driver::example();
        assert_eq!(ex.get("port").and_then(|v| v.as_str()), Some("/dev/ttyUSB0"));
        ex.insert("wheel_radius".into(), toml::Value::Float(0.1));
        assert!(Driver::from_table(&ex).is_ok());
    }

    #[test]
    fn nearest_names() {
        assert_eq!(nearest("widht", &["width", "height"]), Some("width"));
        assert_eq!(nearest("colour", &["width", "height"]), None);
    }
}
