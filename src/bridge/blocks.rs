//! The blocks: `zenoh_out` publishes a wire on a Zenoh key expression,
//! `zenoh_in` writes what arrives on one into a local wire.
//!
//! Parameters, ports and their checks are always built, so `framewire
//! check` and `framewire blocks` know both blocks; the Zenoh I/O needs the
//! `zenoh` feature, and a build without it refuses to open them, saying how
//! to build with it.

use framewire_sdk::block::*;
use framewire_sdk::image::FourCC;
use framewire_sdk::msg::{self, PayloadType};

use crate::rmw;
use crate::session::{ZenohParams, check_key};

framewire_sdk::params! {
    /// Parameters of `zenoh_out`.
    pub struct OutParams {
        /// Zenoh key expression to publish on, e.g. "framewire/robot1/camera" (one exact key, no wildcards).
        pub key: String = required("framewire/robot1/camera"),
        /// What the input wire carries: "image", or a message type (`framewire messages`), e.g. "odometry".
        pub input: String = "image",
        /// "none" (frames as they are) or "jpeg" (image wires only: compressed by the sender, for Wi-Fi).
        pub compress: String = "none",
        /// JPEG quality, 1-100, when compress = "jpeg".
        pub jpeg_quality: u8 = 80,
        /// Most frames a second to publish; 0 = every frame. Frames in between are skipped (counted in `rate_capped`).
        pub max_rate: f64 = 0.0,
        /// Also publish as this ROS 2 topic, as rmw_zenoh does (image wires as sensor_msgs/Image or CompressedImage, odometry as nav_msgs/Odometry); "" = no.
        pub ros_topic: String = "",
        /// ROS_DOMAIN_ID of that topic.
        pub ros_domain: u32 = 0,
        /// The ROS node the topic belongs to (its namespace is the topic's).
        pub ros_node: String = "framewire",
        /// header.frame_id of the ROS messages ("" = the block's name).
        pub ros_frame_id: String = "",
        /// The Zenoh session: { mode, listen, connect, multicast_scouting, tcp_send_buffer_kb } (src/bridge/README.md, "Session").
        pub zenoh: ZenohParams = ZenohParams::defaults(),
    }
}

framewire_sdk::params! {
    /// Parameters of `zenoh_in`.
    pub struct InParams {
        /// Zenoh key expression to subscribe to, e.g. "framewire/robot1/camera" (`*` and `**` allowed as whole chunks).
        pub key: String = required("framewire/robot1/camera"),
        /// What the output wire carries: "image", "image:WxH", "image:WxH:FOURCC" (sizes its slots; JPEG frames arrive as MJPG), or a message type.
        pub output: String = "image",
        /// Drop a frame that took more than this many ms longer than the fastest recent one (it sat in a queue); 0 keeps every frame.
        pub max_delay_ms: u64 = 500,
        /// The Zenoh session: { mode, listen, connect, multicast_scouting, tcp_send_buffer_kb } (src/bridge/README.md, "Session").
        pub zenoh: ZenohParams = ZenohParams::defaults(),
    }
}

/// What a bridge carries, from its `input`/`output` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carried {
    /// Images up to a size, of given formats (empty = any).
    Image {
        /// Largest width.
        width: u32,
        /// Largest height.
        height: u32,
        /// The one format, if named.
        format: Option<FourCC>,
    },
    /// Messages of one type.
    Message(PayloadType),
}

impl Carried {
    /// Parses `image`, `image:WxH`, `image:WxH:FOURCC` or a message type name.
    pub fn parse(s: &str, param: &str) -> Result<Carried, String> {
        let mut parts = s.split(':');
        match parts.next().unwrap_or("") {
            "image" => {
                let (mut width, mut height, mut format) = (1920, 1080, None);
                if let Some(size) = parts.next() {
                    let bad = || format!("{param} = {s:?}: the size is WxH, e.g. \"image:640x480\"");
                    let (a, b) = size.split_once('x').ok_or_else(bad)?;
                    width = a.parse().map_err(|_| bad())?;
                    height = b.parse().map_err(|_| bad())?;
                }
                if let Some(f) = parts.next() {
                    format = Some(FourCC::parse(f).ok_or_else(|| {
                        format!(
                            "{param} = {s:?}: unknown pixel format {f:?} (YUYV, UYVY, NV12, RGB24, BGR24, GREY, MJPG)"
                        )
                    })?);
                }
                Ok(Carried::Image { width, height, format })
            }
            name => match msg::lookup(name) {
                Some(m) => Ok(Carried::Message(m.ty)),
                None => {
                    let known: Vec<String> = msg::known().iter().map(|m| m.ty.name().to_string()).collect();
                    Err(format!(
                        "{param} = {s:?}: use \"image\", \"image:WxH\", \"image:WxH:FOURCC\" or a message type ({})",
                        known.join(", ")
                    ))
                }
            },
        }
    }

    /// The port type.
    pub fn port(&self) -> PortType {
        match *self {
            Carried::Image { width, height, format } => {
                let formats: Vec<FourCC> = format.into_iter().collect();
                PortType::image(&formats, width, height)
            }
            Carried::Message(ty) => PortType::Msg(ty),
        }
    }
}

impl OutParams {
    /// Every check `framewire check` makes; returns what the input carries.
    pub fn validate(&self) -> Result<Carried, String> {
        check_key(&self.key, false).map_err(|e| format!("key: {e}"))?;
        self.zenoh.validate()?;
        let carried = Carried::parse(&self.input, "input")?;
        let is_image = matches!(carried, Carried::Image { .. });
        match self.compress.as_str() {
            "none" => {}
            "jpeg" if is_image => {}
            "jpeg" => return Err(format!("compress = \"jpeg\" is for image wires; input is {:?}", self.input)),
            other => return Err(format!("compress = {other:?}: use \"none\" or \"jpeg\"")),
        }
        if !(1..=100).contains(&self.jpeg_quality) {
            return Err(format!(
                "jpeg_quality = {}: use 1 (smallest) to 100 (best); 80 is a good start",
                self.jpeg_quality
            ));
        }
        if !self.max_rate.is_finite() || self.max_rate < 0.0 {
            return Err(format!("max_rate = {}: frames a second, 0 or more (0 = every frame)", self.max_rate));
        }
        if !self.ros_topic.is_empty() {
            rmw::check_topic(&self.ros_topic).map_err(|e| format!("ros_topic: {e}"))?;
            if !is_image && self.input != "odometry" {
                return Err(format!(
                    "ros_topic: only image wires (sensor_msgs/Image) and odometry (nav_msgs/Odometry) have a ROS 2 type; input is {:?}",
                    self.input
                ));
            }
            if self.ros_node.is_empty() || !self.ros_node.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("ros_node = {:?}: a ROS node name is letters, digits and '_'", self.ros_node));
            }
        }
        Ok(carried)
    }
}

impl InParams {
    /// Every check `framewire check` makes; returns what the output carries.
    pub fn validate(&self) -> Result<Carried, String> {
        check_key(&self.key, true).map_err(|e| format!("key: {e}"))?;
        self.zenoh.validate()?;
        Carried::parse(&self.output, "output")
    }
}

/// The parameter docs of a bridge block, with the `zenoh` table shown as
/// the table it is (the declaration's default is an expression).
fn describe_params(mut v: Vec<framewire_sdk::params::ParamInfo>) -> Vec<framewire_sdk::params::ParamInfo> {
    for p in v.iter_mut().filter(|p| p.name == "zenoh") {
        p.ty = "table".into();
        p.default =
            "{ mode = \"peer\", listen = [], connect = [], multicast_scouting = true, tcp_send_buffer_kb = 128 }"
                .into();
    }
    v
}

/// The message a block without the `zenoh` feature gives when it is asked
/// to start.
pub const NO_ZENOH: &str = "this framewire was built without Zenoh: build it with `cargo build --release --features zenoh` (see src/bridge/README.md)";

/// `zenoh_out`: publishes each frame of its input wire on a key expression.
pub struct ZenohOut {
    #[cfg(feature = "zenoh")]
    inner: crate::io::Out,
}

/// `zenoh_in`: writes what arrives on a key expression into its output wire.
pub struct ZenohIn {
    #[cfg(feature = "zenoh")]
    inner: crate::io::In,
}

impl BlockType for ZenohOut {
    type Params = OutParams;

    fn info() -> BlockInfo {
        let mut info = BlockInfo::new(
            "zenoh_out",
            "Publishes a wire's frames or messages on a Zenoh key expression (optionally JPEG, optionally as a ROS 2 topic)",
        )
        .role(Role::Sink);
        info.params = describe_params(<OutParams as framewire_sdk::params::Params>::describe());
        info
    }

    fn ports(p: &OutParams) -> Result<Ports, String> {
        let carried = p.validate()?;
        let ty = match carried {
            Carried::Image { .. } => PortType::image_any(),
            Carried::Message(ty) => PortType::Msg(ty),
        };
        Ok(Ports::new().input("input", ty))
    }

    #[cfg(feature = "zenoh")]
    fn open(p: OutParams, io: &mut Setup) -> Result<Self, BlockError> {
        Ok(ZenohOut { inner: crate::io::Out::open(p, io)? })
    }
    #[cfg(not(feature = "zenoh"))]
    fn open(_: OutParams, _: &mut Setup) -> Result<Self, BlockError> {
        Err(BlockError::Config(NO_ZENOH.into()))
    }

    fn step(&mut self, _cx: &mut Context) -> Result<Step, BlockError> {
        #[cfg(feature = "zenoh")]
        return self.inner.step(_cx);
        #[cfg(not(feature = "zenoh"))]
        Ok(Step::Done)
    }

    fn stop(&mut self, _cx: &mut Context) -> Result<(), BlockError> {
        #[cfg(feature = "zenoh")]
        self.inner.stop();
        Ok(())
    }
}

impl BlockType for ZenohIn {
    type Params = InParams;

    fn info() -> BlockInfo {
        let mut info = BlockInfo::new(
            "zenoh_in",
            "Writes the frames or messages arriving on a Zenoh key expression into a wire (latest: stale ones dropped and counted)",
        )
        .role(Role::Source);
        info.params = describe_params(<InParams as framewire_sdk::params::Params>::describe());
        info
    }

    fn ports(p: &InParams) -> Result<Ports, String> {
        Ok(Ports::new().output("output", p.validate()?.port()))
    }

    #[cfg(feature = "zenoh")]
    fn open(p: InParams, io: &mut Setup) -> Result<Self, BlockError> {
        Ok(ZenohIn { inner: crate::io::In::open(p, io)? })
    }
    #[cfg(not(feature = "zenoh"))]
    fn open(_: InParams, _: &mut Setup) -> Result<Self, BlockError> {
        Err(BlockError::Config(NO_ZENOH.into()))
    }

    fn step(&mut self, _cx: &mut Context) -> Result<Step, BlockError> {
        #[cfg(feature = "zenoh")]
        return self.inner.step(_cx);
        #[cfg(not(feature = "zenoh"))]
        Ok(Step::Done)
    }

    fn stop(&mut self, _cx: &mut Context) -> Result<(), BlockError> {
        #[cfg(feature = "zenoh")]
        self.inner.stop(_cx);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use framewire_sdk::msg::Message;
    use framewire_sdk::params::Params;

    fn out(text: &str) -> Result<Carried, String> {
        let t: framewire_sdk::toml::Table = framewire_sdk::toml::from_str(text).unwrap();
        OutParams::from_table(&t).map_err(|e| e.to_string())?.validate()
    }
    fn inp(text: &str) -> Result<Carried, String> {
        let t: framewire_sdk::toml::Table = framewire_sdk::toml::from_str(text).unwrap();
        InParams::from_table(&t).map_err(|e| e.to_string())?.validate()
    }

    #[test]
    fn ports_follow_the_parameters() {
        assert!(matches!(out("key = \"a/b\"").unwrap(), Carried::Image { .. }));
        assert_eq!(
            out("key = \"a/b\"\ninput = \"odometry\"").unwrap(),
            Carried::Message(framewire_sdk::msg::Odometry::TYPE)
        );
        assert_eq!(
            inp("key = \"a/*\"\noutput = \"image:640x480:MJPG\"").unwrap(),
            Carried::Image { width: 640, height: 480, format: Some(FourCC::MJPEG) }
        );
        assert_eq!(
            inp("key = \"a/b\"\noutput = \"drive\"").unwrap(),
            Carried::Message(framewire_sdk::msg::DriveCommand::TYPE)
        );
    }

    #[test]
    fn the_zenoh_table_is_documented_as_a_table() {
        let info = (framewire_sdk::block::BlockSpec::of::<ZenohIn>().info)();
        let z = info.params.iter().find(|p| p.name == "zenoh").unwrap();
        assert_eq!(z.ty, "table");
        assert!(z.default.contains("multicast_scouting = true"), "{}", z.default);
    }

    #[test]
    fn mistakes_are_named() {
        let e = out("").unwrap_err();
        assert!(e.contains("key"), "{e}");
        let e = out("key = \"a/*\"").unwrap_err();
        assert!(e.contains("key:") && e.contains("wildcard"), "{e}");
        let e = out("key = \"a/b\"\ninput = \"odometry\"\ncompress = \"jpeg\"").unwrap_err();
        assert!(e.contains("image wires"), "{e}");
        let e = out("key = \"a/b\"\ncompress = \"png\"").unwrap_err();
        assert!(e.contains("\"none\" or \"jpeg\""), "{e}");
        let e = out("key = \"a/b\"\njpeg_quality = 0").unwrap_err();
        assert!(e.contains("jpeg_quality"), "{e}");
        let e = out("key = \"a/b\"\ninput = \"drive\"\nros_topic = \"/cmd_vel\"").unwrap_err();
        assert!(e.contains("ros_topic"), "{e}");
        let e = out("key = \"a/b\"\nros_topic = \"/cam era\"").unwrap_err();
        assert!(e.contains("ros_topic"), "{e}");
        let e = out("key = \"a/b\"\nzenoh = { mode = \"router\" }").unwrap_err();
        assert!(e.contains("zenoh.mode"), "{e}");
        let e = out("key = \"a/b\"\nzenoh = { conect = [] }").unwrap_err();
        assert!(e.contains("zenoh") && e.contains("connect"), "{e}");
        let e = inp("key = \"a/b\"\noutput = \"image:640\"").unwrap_err();
        assert!(e.contains("WxH"), "{e}");
        let e = inp("key = \"a/b\"\noutput = \"pose\"").unwrap_err();
        assert!(e.contains("message type"), "{e}");
    }
}
