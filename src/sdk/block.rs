//! The block API: what a block type declares and how it runs.
//!
//! A block type is a Rust type implementing [`BlockType`]: typed parameters
//! (serde, unknown keys rejected), declared ports, an `open` that connects
//! the ports, a `step` the runtime calls in a loop, and a `stop`.
//!
//! Blocks never touch shared memory: they receive input frames as borrowed
//! views ([`Input::recv`]) and write outputs into loaned slots
//! ([`Output::loan`]), both through the runtime's wires.
//!
//! ```
//! use framewire_sdk::prelude::*;
//!
//! framewire_sdk::params! {
//!     /// Parameters of `gain`.
//!     pub struct GainParams {
//!         /// Factor every sample is multiplied by.
//!         pub gain: f32 = 1.0,
//!     }
//! }
//!
//! pub struct Gain { input: Input<Image>, output: Output<Image>, gain: f32 }
//!
//! impl BlockType for Gain {
//!     type Params = GainParams;
//!     fn info() -> BlockInfo {
//!         BlockInfo::new("gain", "Multiplies every sample by a factor")
//!     }
//!     fn ports(_: &GainParams) -> Result<Ports, String> {
//!         Ok(Ports::new().input("input", PortType::image_any()).output("output", PortType::image_from("input", &[])))
//!     }
//!     fn open(p: GainParams, io: &mut Setup) -> Result<Self, BlockError> {
//!         Ok(Gain { input: io.input("input")?, output: io.output("output")?, gain: p.gain })
//!     }
//!     fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
//!         let Some(frame) = self.input.recv(cx.tick()) else { return Ok(Step::Idle) };
//!         let mut out = self.output.loan(cx.tick())?;
//!         let dst = out.image(frame.image().format)?;
//!         for (d, s) in dst.data.iter_mut().zip(frame.iter()) {
//!             *d = (*s as f32 * self.gain).min(255.0) as u8;
//!         }
//!         out.commit_from(frame.meta())?;
//!         Ok(Step::Continue)
//!     }
//! }
//!
//! let mut reg = Registry::new();
//! reg.add::<Gain>().unwrap();
//! assert_eq!(reg.get("gain").map(|s| (s.info)().params[0].name), Some("gain"));
//! ```

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use framewire_wire::PayloadType;
use framewire_wire::image::{FourCC, ImageFormat, ImageMut, ImageRef};

use crate::msg::{Message, MessageInfo};
pub use crate::params::{ParamError, ParamInfo, Params};
use framewire_wire::{self as wire, Expect, FrameMeta, Guard, Reader, SlotId, WireError, Writer};

/// An error inside a block. The runtime logs it with the block's name and
/// the supervisor applies the block's restart policy.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// A wire failed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The parameters or ports are wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// A device failed.
    #[error("device {device}: {message}")]
    Device {
        /// The device path.
        device: String,
        /// What failed and what to do.
        message: String,
    },
    /// An I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Shutdown was requested while the block waited (for a slot on a full
    /// lossless wire): not a failure.
    #[error("stopped while waiting")]
    Stopped,
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// What one `step` achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Did work; call again.
    Continue,
    /// Nothing arrived within the tick; call again.
    Idle,
    /// The block has finished (a finite source); it exits cleanly.
    Done,
}

/// What a block does in the pipeline; actuators are stopped first on
/// shutdown so motors halt before their command sources go away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Produces data from outside (camera, test pattern).
    Source,
    /// Transforms inputs into outputs.
    Filter,
    /// Consumes data (recorder, logger).
    Sink,
    /// Drives hardware that moves (motor drivers): stopped first.
    Actuator,
}

/// A block type's description.
#[derive(Clone, Debug)]
pub struct BlockInfo {
    /// Type name used in TOML (`type = "..."`).
    pub name: &'static str,
    /// One line for `framewire blocks`.
    pub description: &'static str,
    /// What the block does in the pipeline.
    pub role: Role,
    /// Parameters (filled in from the block's [`Params`] declaration).
    pub params: Vec<ParamInfo>,
    /// Parameters naming a device file this block creates when it starts
    /// (a simulated controller's pseudo-terminal): other blocks of the same
    /// pipeline may name that path before it exists.
    pub provides: Vec<&'static str>,
}

impl BlockInfo {
    /// A filter-role block with no parameters yet.
    pub fn new(name: &'static str, description: &'static str) -> BlockInfo {
        BlockInfo { name, description, role: Role::Filter, params: Vec::new(), provides: Vec::new() }
    }
    /// Sets the role.
    pub fn role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }
    /// Documents a parameter by hand, for parameter structs not declared with
    /// [`params!`](crate::params) (which documents them itself).
    pub fn param(mut self, name: &'static str, ty: &str, default: &str, doc: &str) -> Self {
        let (ty, default, doc) = (ty.to_string(), default.to_string(), doc.to_string());
        self.params.push(ParamInfo { name, ty, default, doc, device: false });
        self
    }
    /// Declares that parameter `name` is the path of a device file this block
    /// creates when it starts, so that `framewire check` accepts other blocks
    /// naming it (it is checked to be the same path, not to exist).
    pub fn provides_device(mut self, name: &'static str) -> Self {
        self.provides.push(name);
        self
    }
    /// Documents a parameter naming a device file, checked before start.
    pub fn device_param(mut self, name: &'static str, default: &str, doc: &str) -> Self {
        let (default, doc) = (default.to_string(), doc.to_string());
        self.params.push(ParamInfo { name, ty: "path".into(), default, doc, device: true });
        self
    }
}

/// The type of data a port carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortType {
    /// Images.
    Image {
        /// Accepted (input) or produced (output) formats; empty = any.
        formats: Vec<FourCC>,
        /// Largest width the port handles (outputs: produces).
        max_width: u32,
        /// Largest height.
        max_height: u32,
        /// Inputs: the smallest image the block can work on (`None`: any).
        /// `framewire check` refuses a wire whose producer's images are
        /// smaller, so that the mistake shows before anything starts.
        min: Option<MinSize>,
    },
    /// Images as large as what input `input` receives (a filter that keeps
    /// the size); the runtime sizes the wire from the upstream producer.
    ImageFrom {
        /// The input port whose frames set the size.
        input: &'static str,
        /// Produced formats; empty = the same as the input's.
        formats: Vec<FourCC>,
    },
    /// Fixed-layout messages of one type.
    Msg(PayloadType),
}

/// The smallest image an image input needs, and the parameters that make
/// it so (a crop's region of interest must lie inside the image).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinSize {
    /// Smallest width.
    pub width: u32,
    /// Smallest height.
    pub height: u32,
    /// How the block's parameters give the smallest width, as users write
    /// them (`"x + width"`). `framewire check` names it in its error and
    /// points at the first of its keys the block's table sets.
    pub width_from: &'static str,
    /// How they give the smallest height (`"y + height"`).
    pub height_from: &'static str,
}

impl MinSize {
    /// The parameter keys named in `from` (`"x + width"`: `x`, `width`).
    pub fn keys(from: &str) -> impl Iterator<Item = &str> {
        from.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|k| !k.is_empty() && !k.starts_with(|c: char| c.is_ascii_digit()))
    }
}

impl PortType {
    /// An image input accepting any format and size.
    pub fn image_any() -> PortType {
        PortType::Image { formats: Vec::new(), max_width: u32::MAX, max_height: u32::MAX, min: None }
    }
    /// Images of the given formats up to `max_width` x `max_height`.
    pub fn image(formats: &[FourCC], max_width: u32, max_height: u32) -> PortType {
        PortType::Image { formats: formats.to_vec(), max_width, max_height, min: None }
    }
    /// This image input, needing images of at least `min` (other port
    /// types are returned unchanged: only stated image sizes can be checked).
    pub fn at_least(mut self, min: MinSize) -> PortType {
        if let PortType::Image { min: m, .. } = &mut self {
            *m = Some(min);
        }
        self
    }
    /// Images of `formats` (empty = the input's) sized like input `input`'s.
    pub fn image_from(input: &'static str, formats: &[FourCC]) -> PortType {
        PortType::ImageFrom { input, formats: formats.to_vec() }
    }
    /// Messages of type `M`.
    pub fn msg<M: Message>() -> PortType {
        PortType::Msg(M::TYPE)
    }
    /// Slot size a wire needs to carry what an output of this type produces
    /// (`None` for [`PortType::ImageFrom`], which the runtime resolves).
    pub fn slot_size(&self) -> Option<u64> {
        match self {
            PortType::Image { formats, max_width, max_height, .. } => {
                Some(image_slot(formats, *max_width, *max_height))
            }
            PortType::ImageFrom { .. } => None,
            PortType::Msg(k) => Some(k.size() as u64),
        }
    }
    /// The payload type recorded in the wire header.
    pub fn kind(&self) -> PayloadType {
        match self {
            PortType::Image { .. } | PortType::ImageFrom { .. } => PayloadType::BYTES,
            PortType::Msg(k) => *k,
        }
    }
    /// How users see it in `framewire blocks`.
    pub fn describe(&self) -> String {
        match self {
            PortType::Image { formats, max_width, max_height, min } => {
                let f = if formats.is_empty() {
                    "any format".to_string()
                } else {
                    formats.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("/")
                };
                let at_least = min.as_ref().map(|m| format!(", at least {}x{}", m.width, m.height)).unwrap_or_default();
                if *max_width == u32::MAX {
                    format!("image ({f}{at_least})")
                } else {
                    format!("image ({f}{at_least}, up to {max_width}x{max_height})")
                }
            }
            PortType::ImageFrom { input, formats } => {
                let f = if formats.is_empty() {
                    format!("format of {input}")
                } else {
                    formats.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("/")
                };
                format!("image ({f}, size of {input})")
            }
            PortType::Msg(k) => format!("{} message", k.name()),
        }
    }
}

/// Bytes one slot needs for images of any of `formats` (empty = up to
/// 3 bytes a pixel) up to `w` x `h`.
pub fn image_slot(formats: &[FourCC], w: u32, h: u32) -> u64 {
    let all = [FourCC::RGB24];
    let fs: &[FourCC] = if formats.is_empty() { &all } else { formats };
    fs.iter().map(|f| f.frame_size(w, h) as u64).max().unwrap_or(0)
}

/// A declared port.
#[derive(Clone, Debug)]
pub struct PortDecl {
    /// Port name (`camera.frames` has port `frames`).
    pub name: &'static str,
    /// What it carries.
    pub ty: PortType,
    /// Whether the pipeline must connect it.
    pub required: bool,
}

/// A block's ports, which may depend on its parameters (an image size).
#[derive(Clone, Debug, Default)]
pub struct Ports {
    /// Inputs.
    pub inputs: Vec<PortDecl>,
    /// Outputs.
    pub outputs: Vec<PortDecl>,
    /// Slots the block loans at once on its image outputs beyond one (a
    /// camera queueing buffers); the runtime adds them to the wire's ring.
    pub extra_loans: u32,
}

impl Ports {
    /// No ports.
    pub fn new() -> Ports {
        Ports::default()
    }
    /// Adds a required input.
    pub fn input(mut self, name: &'static str, ty: PortType) -> Self {
        self.inputs.push(PortDecl { name, ty, required: true });
        self
    }
    /// Adds an input the pipeline may leave unconnected.
    pub fn optional_input(mut self, name: &'static str, ty: PortType) -> Self {
        self.inputs.push(PortDecl { name, ty, required: false });
        self
    }
    /// Adds an output (outputs may always be left unconnected).
    pub fn output(mut self, name: &'static str, ty: PortType) -> Self {
        self.outputs.push(PortDecl { name, ty, required: false });
        self
    }
}

/// A block type: parameters, ports and behaviour.
pub trait BlockType: Sized + Send + 'static {
    /// Parameters, declared with [`params!`](crate::params) (which also
    /// documents them) or a serde struct with [`serde_params!`](crate::serde_params).
    type Params: Params;
    /// Name, description, role and parameter docs.
    fn info() -> BlockInfo;
    /// Ports for these parameters. An `Err` is a configuration error.
    fn ports(params: &Self::Params) -> Result<Ports, String>;
    /// Connects ports and opens devices.
    fn open(params: Self::Params, setup: &mut Setup) -> Result<Self, BlockError>;
    /// Does one unit of work. Must return within about [`Context::tick`] so
    /// that shutdown is prompt.
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError>;
    /// Called once on shutdown (actuators command a stop here).
    fn stop(&mut self, _cx: &mut Context) -> Result<(), BlockError> {
        Ok(())
    }
}

/// A running block, type-erased.
pub trait Block: Send {
    /// See [`BlockType::step`].
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError>;
    /// See [`BlockType::stop`].
    fn stop(&mut self, cx: &mut Context) -> Result<(), BlockError>;
}

impl<T: BlockType> Block for T {
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        BlockType::step(self, cx)
    }
    fn stop(&mut self, cx: &mut Context) -> Result<(), BlockError> {
        BlockType::stop(self, cx)
    }
}

/// A registered block type, with its generic functions made into pointers.
#[derive(Clone)]
pub struct BlockSpec {
    /// Description.
    pub info: fn() -> BlockInfo,
    /// Parses the parameters and returns the ports.
    pub ports: fn(&toml::Table) -> Result<Ports, ParamError>,
    /// A parameter table that parses (required keys at their examples).
    pub example: fn() -> toml::Table,
    /// Parses the parameters and opens the block.
    pub open: OpenFn,
}

/// Opens a block from its parameter table.
pub type OpenFn = fn(&toml::Table, &mut Setup) -> Result<Box<dyn Block>, BlockError>;

impl BlockSpec {
    /// The spec of block type `T`.
    pub fn of<T: BlockType>() -> BlockSpec {
        BlockSpec {
            info: || {
                let mut info = T::info();
                if info.params.is_empty() {
                    info.params = T::Params::describe();
                }
                info
            },
            ports: |t| {
                let p = T::Params::from_table(t)?;
                T::ports(&p).map_err(|message| ParamError { key: None, message })
            },
            example: T::Params::example,
            open: |t, setup| {
                let p = T::Params::from_table(t).map_err(|e| BlockError::Config(e.to_string()))?;
                Ok(Box::new(T::open(p, setup)?))
            },
        }
    }
}

/// All known block types and message types, by name.
#[derive(Default, Clone)]
pub struct Registry {
    specs: BTreeMap<&'static str, BlockSpec>,
    /// Where each type came from, for the error when two places declare it.
    origins: BTreeMap<&'static str, &'static str>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }
    /// Registers block type `T`. Two types with the same name are an error
    /// that names both (a user block cannot silently replace a built-in).
    pub fn add<T: BlockType>(&mut self) -> Result<(), RegistryError> {
        let spec = BlockSpec::of::<T>();
        let name = (spec.info)().name;
        let origin = std::any::type_name::<T>();
        if let Some(first) = self.origins.get(name) {
            return Err(RegistryError { name: name.to_string(), first, second: origin });
        }
        self.origins.insert(name, origin);
        self.specs.insert(name, spec);
        Ok(())
    }
    /// Registers message type `M`, so `exec` blocks can name it and
    /// `framewire messages` documents it.
    pub fn add_message<M: Message>(&mut self) -> Result<(), RegistryError> {
        crate::msg::register(MessageInfo::of::<M>()).map_err(|_| RegistryError {
            name: M::TYPE.name().to_string(),
            first: "another message type",
            second: std::any::type_name::<M>(),
        })
    }
    /// The spec named `name`.
    pub fn get(&self, name: &str) -> Option<&BlockSpec> {
        self.specs.get(name)
    }
    /// Every type name, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.specs.keys().copied().collect()
    }
    /// Every spec, sorted by name.
    pub fn specs(&self) -> impl Iterator<Item = &BlockSpec> {
        self.specs.values()
    }
}

/// Two types registered under one name.
#[derive(Debug, thiserror::Error)]
#[error("type name {name:?} is declared twice: by {first} and by {second}; rename one of them")]
pub struct RegistryError {
    /// The name.
    pub name: String,
    /// The first declaration (Rust type path).
    pub first: &'static str,
    /// The second.
    pub second: &'static str,
}

/// Marker type for image ports: `Input<Image>`, `Output<Image>`.
pub struct Image;

/// Marker type for an input whose message type is chosen at run time
/// ([`Setup::input_raw`]): it yields the raw bytes of each message.
pub struct Raw;

/// Where a block's ports are connected, handed to [`BlockType::open`].
pub struct Setup {
    name: String,
    /// Port name to segment name, for connected inputs.
    inputs: BTreeMap<String, String>,
    /// Port name to segment name, for connected outputs.
    outputs: BTreeMap<String, String>,
    /// The block's stop flag, so outputs can wait on a full lossless wire
    /// for as long as the block runs.
    stop: Option<&'static AtomicBool>,
    /// The block's state segment, so a wait on a full wire still beats.
    state: Option<std::sync::Arc<crate::state::BlockState>>,
}

impl Setup {
    /// A setup for block `name` with its connected ports.
    pub fn new(name: &str, inputs: BTreeMap<String, String>, outputs: BTreeMap<String, String>) -> Setup {
        Setup { name: name.to_string(), inputs, outputs, stop: None, state: None }
    }

    /// The same, with the block's stop flag (the runtime's block process
    /// uses this): a `queue` output then waits for its slowest reader until
    /// shutdown instead of failing after one timeout.
    pub fn with_stop(mut self, stop: &'static AtomicBool) -> Setup {
        self.stop = Some(stop);
        self
    }

    /// The same, with the block's state segment: a wait for a slot on a full
    /// wire then keeps the heartbeat going (the block is alive, waiting for
    /// its reader; the watchdog is for the reader if it hung).
    pub fn with_state(mut self, state: std::sync::Arc<crate::state::BlockState>) -> Setup {
        self.state = Some(state);
        self
    }

    /// The block's name in the pipeline.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether input `port` is connected.
    pub fn has_input(&self, port: &str) -> bool {
        self.inputs.contains_key(port)
    }

    /// Whether output `port` is connected.
    pub fn has_output(&self, port: &str) -> bool {
        self.outputs.contains_key(port)
    }

    /// Connects input `port`; an error if it is not connected.
    pub fn input<T: PortData>(&mut self, port: &str) -> Result<Input<T>, BlockError> {
        self.input_opt(port)?.ok_or_else(|| BlockError::Config(format!("input port {port} is not connected")))
    }

    /// Connects input `port` if the pipeline connected it.
    pub fn input_opt<T: PortData>(&mut self, port: &str) -> Result<Option<Input<T>>, BlockError> {
        let Some(seg) = self.inputs.get(port) else { return Ok(None) };
        let reader = Reader::attach(seg, &Expect { kind: Some(T::kind()), ..Default::default() })?;
        Ok(Some(Input { reader, _t: PhantomData }))
    }

    /// Connects input `port`, carrying payloads of type `ty` chosen at run
    /// time (a logger or recorder that handles any message type).
    pub fn input_raw(&mut self, port: &str, ty: PayloadType) -> Result<Input<Raw>, BlockError> {
        let seg =
            self.inputs.get(port).ok_or_else(|| BlockError::Config(format!("input port {port} is not connected")))?;
        let reader = Reader::attach(seg, &Expect { kind: Some(ty), ..Default::default() })?;
        Ok(Input { reader, _t: PhantomData })
    }

    /// Connects output `port`, carrying messages of type `ty` chosen at run
    /// time (a replay of recorded messages); an unconnected output discards
    /// what is sent.
    pub fn output_raw(&mut self, port: &str, ty: PayloadType) -> Result<Output<Raw>, BlockError> {
        let writer = match self.outputs.get(port) {
            Some(seg) => Some(Writer::attach(seg, &Expect { kind: Some(ty), ..Default::default() })?),
            None => None,
        };
        Ok(Output { writer, stop: self.stop, state: self.state.clone(), next_stall_log: 0, _t: PhantomData })
    }

    /// Connects output `port`; an unconnected output discards what is sent.
    pub fn output<T: PortData>(&mut self, port: &str) -> Result<Output<T>, BlockError> {
        let writer = match self.outputs.get(port) {
            Some(seg) => Some(Writer::attach(seg, &Expect { kind: Some(T::kind()), ..Default::default() })?),
            None => None,
        };
        Ok(Output { writer, stop: self.stop, state: self.state.clone(), next_stall_log: 0, _t: PhantomData })
    }
}

/// Data a port can carry: [`Image`] or a [`Message`].
pub trait PortData {
    /// The payload type recorded in the wire header.
    fn kind() -> PayloadType;
}
impl PortData for Image {
    fn kind() -> PayloadType {
        PayloadType::BYTES
    }
}
impl<M: Message> PortData for M {
    fn kind() -> PayloadType {
        M::TYPE
    }
}

/// An input port.
pub struct Input<T> {
    reader: Reader,
    _t: PhantomData<T>,
}

impl<T> Input<T> {
    /// Frames skipped so far (policy latest) or lost.
    pub fn skipped(&self) -> u64 {
        self.reader.skipped()
    }
    /// Spin for up to `d` before sleeping (lower latency for CPU time).
    pub fn set_spin(&mut self, d: Duration) {
        self.reader.set_spin(d)
    }
    /// This input's wake-up source, for a [`Select`](crate::select::Select)
    /// over several inputs.
    pub fn waitable(&self) -> Result<crate::select::Waitable, BlockError> {
        Ok(crate::select::Waitable(self.reader.wake_handle()?))
    }
}

impl Input<Image> {
    /// Waits up to `timeout` for a new frame; the frame stays valid (and its
    /// slot untouched) while the returned guard lives.
    pub fn recv(&mut self, timeout: Duration) -> Option<Guard<'_>> {
        self.reader.read(timeout)
    }
    /// Returns a new frame if one is ready.
    pub fn try_recv(&mut self) -> Option<Guard<'_>> {
        self.reader.try_read()
    }
}

impl Input<Raw> {
    /// Waits up to `timeout` for a new message; the guard derefs to its bytes.
    pub fn recv(&mut self, timeout: Duration) -> Option<Guard<'_>> {
        self.reader.read(timeout)
    }
    /// Returns a new message if one is ready.
    pub fn try_recv(&mut self) -> Option<Guard<'_>> {
        self.reader.try_read()
    }
}

/// A message with the metadata of the frame that carried it.
#[derive(Clone, Copy, Debug)]
pub struct Stamped<M> {
    /// The message.
    pub msg: M,
    /// Sequence number, timestamps, source sequence.
    pub meta: FrameMeta,
}

impl<M: Message> Input<M> {
    /// Waits up to `timeout` for a new message.
    pub fn recv(&mut self, timeout: Duration) -> Option<Stamped<M>> {
        let g = self.reader.read(timeout)?;
        Some(Stamped { msg: M::decode(&g)?, meta: *g.meta() })
    }
    /// Returns a new message if one is ready.
    pub fn try_recv(&mut self) -> Option<Stamped<M>> {
        let g = self.reader.try_read()?;
        Some(Stamped { msg: M::decode(&g)?, meta: *g.meta() })
    }
}

/// An output port. If the pipeline leaves it unconnected, messages sent
/// on it are discarded and image loans fail with a configuration error.
pub struct Output<T> {
    writer: Option<Writer>,
    stop: Option<&'static AtomicBool>,
    state: Option<std::sync::Arc<crate::state::BlockState>>,
    /// When the next "wire is full" warning may be logged (`CLOCK_MONOTONIC` ns).
    next_stall_log: u64,
    _t: PhantomData<T>,
}

/// Reserves a slot on `w`. On a `queue` wire whose slowest reader is a whole
/// ring behind, a lossless wire must wait: so while the block is not asked
/// to stop, it keeps waiting, and says (every 5 s) which reader it waits for.
/// The supervisor's watchdog restarts that reader if it hung.
fn reserve_waiting(
    w: &mut Writer,
    timeout: Duration,
    stop: Option<&'static AtomicBool>,
    state: Option<&crate::state::BlockState>,
    next_log: &mut u64,
) -> Result<SlotId, BlockError> {
    loop {
        match w.reserve(timeout) {
            Ok(id) => return Ok(id),
            Err(WireError::Full { .. }) if w.policy() == framewire_wire::Policy::Queue && stop.is_some() => {
                if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                    return Err(BlockError::Stopped);
                }
                let now = framewire_sys::proc::monotonic_ns();
                if let Some(st) = state {
                    st.beat(now);
                }
                if now >= *next_log {
                    *next_log = now + 5_000_000_000;
                    tracing::warn!("{}", stalled_reader_message(w.name()));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// "wire X is full: reader `sink` (pid 12) last read 2.1 s ago": the reader
/// that has gone longest without reading, named by its block.
fn stalled_reader_message(wire: &str) -> String {
    let Ok(st) = framewire_wire::inspect(wire) else { return format!("wire {wire} is full; waiting for its readers") };
    let now = framewire_sys::proc::monotonic_ns();
    let slowest = st.readers.iter().filter(|r| r.alive).min_by_key(|r| r.last_read_ns);
    match slowest {
        Some(r) => {
            let block = framewire_sys::proc::environ(r.pid)
                .and_then(|env| env.into_iter().find(|(k, _)| k == "FRAMEWIRE_BLOCK").map(|(_, v)| v))
                .map(|b| format!("`{b}` (pid {})", r.pid))
                .unwrap_or_else(|| format!("pid {}", r.pid));
            let ago = if r.last_read_ns == 0 {
                "has read nothing yet".to_string()
            } else {
                format!("last read {:.1} s ago", now.saturating_sub(r.last_read_ns) as f64 / 1e9)
            };
            format!(
                "wire {wire} is full (policy queue): reader {block} {ago}; waiting for it (a hung reader is restarted by its watchdog)"
            )
        }
        None => format!("wire {wire} is full; waiting for its readers"),
    }
}

impl<T> Output<T> {
    /// Whether the pipeline connected this output.
    pub fn is_connected(&self) -> bool {
        self.writer.is_some()
    }
    /// The shared-memory name of the wire this output writes, if connected
    /// (for a block that inspects its wire, e.g. a replay waiting for its
    /// readers to attach before it plays).
    pub fn wire_name(&self) -> Option<&str> {
        self.writer.as_ref().map(|w| w.name())
    }
}

impl<M: Message> Output<M> {
    /// Publishes `msg`, stamped with `source`'s capture time and sequence
    /// (pass `None` for a message with no source frame).
    pub fn send(&mut self, msg: &M, source: Option<&FrameMeta>) -> Result<(), BlockError> {
        let Some(w) = self.writer.as_mut() else { return Ok(()) };
        let id =
            reserve_waiting(w, Duration::from_millis(100), self.stop, self.state.as_deref(), &mut self.next_stall_log)?;
        let mut loan = w.loan_reserved(id);
        msg.encode(&mut loan.bytes()[..M::SIZE]);
        loan.meta.len = M::SIZE;
        if let Some(s) = source {
            loan.meta.timestamp_ns = s.timestamp_ns;
            loan.meta.source_seq = if s.source_seq != 0 { s.source_seq } else { s.seq };
        }
        loan.commit()?;
        Ok(())
    }
}

impl Output<Raw> {
    /// Publishes one message given as its encoded bytes, stamped with
    /// `source`'s capture time and sequence like [`Output::send`].
    pub fn send_bytes(&mut self, bytes: &[u8], source: Option<&FrameMeta>) -> Result<(), BlockError> {
        let Some(w) = self.writer.as_mut() else { return Ok(()) };
        if bytes.len() > w.slot_size() {
            return Err(BlockError::Other(format!(
                "a {}-byte message does not fit wire {}'s {}-byte slots",
                bytes.len(),
                w.name(),
                w.slot_size()
            )));
        }
        let id =
            reserve_waiting(w, Duration::from_millis(100), self.stop, self.state.as_deref(), &mut self.next_stall_log)?;
        let mut loan = w.loan_reserved(id);
        loan.bytes()[..bytes.len()].copy_from_slice(bytes);
        loan.meta.len = bytes.len();
        if let Some(s) = source {
            loan.meta.timestamp_ns = s.timestamp_ns;
            loan.meta.source_seq = if s.source_seq != 0 { s.source_seq } else { s.seq };
        }
        loan.commit()?;
        Ok(())
    }
}

impl Output<Image> {
    fn writer(&mut self) -> Result<&mut Writer, BlockError> {
        self.writer.as_mut().ok_or_else(|| BlockError::Config("image output is not connected".into()))
    }

    /// Loans a free slot to write one image into, waiting up to `timeout`.
    pub fn loan(&mut self, timeout: Duration) -> Result<ImageLoan<'_>, BlockError> {
        let (stop, state, mut next) = (self.stop, self.state.clone(), self.next_stall_log);
        let w = self.writer.as_mut().ok_or_else(|| BlockError::Config("image output is not connected".into()))?;
        let id = reserve_waiting(w, timeout, stop, state.as_deref(), &mut next);
        self.next_stall_log = next;
        let id = id?;
        let w = self.writer.as_mut().ok_or_else(|| BlockError::Config("image output is not connected".into()))?;
        Ok(ImageLoan { loan: w.loan_reserved(id), format: None })
    }

    /// Slot capacity in bytes.
    pub fn slot_size(&self) -> usize {
        self.writer.as_ref().map_or(0, |w| w.slot_size())
    }

    /// Low-level loaning for blocks that keep several slots in flight (a
    /// V4L2 camera queueing USERPTR buffers): reserves a slot.
    pub fn reserve(&mut self, timeout: Duration) -> Result<SlotId, BlockError> {
        Ok(self.writer()?.reserve(timeout)?)
    }
    /// Address and length of a reserved slot, for a driver to fill.
    pub fn slot_addr(&mut self, id: SlotId) -> Result<(usize, usize), BlockError> {
        Ok(self.writer()?.slot_addr(id))
    }
    /// The bytes of a reserved slot.
    pub fn slot_mut(&mut self, id: SlotId) -> Result<&mut [u8], BlockError> {
        Ok(self.writer()?.slot_mut(id))
    }
    /// Publishes a reserved slot.
    pub fn commit_slot(&mut self, id: SlotId, meta: &FrameMeta) -> Result<u64, BlockError> {
        Ok(self.writer()?.commit(id, meta)?)
    }
    /// Returns a reserved slot unpublished.
    pub fn abandon_slot(&mut self, id: SlotId) {
        if let Some(w) = self.writer.as_mut() {
            w.abandon(id)
        }
    }
}

/// A loaned image slot: get the pixels with [`ImageLoan::image`], then commit.
pub struct ImageLoan<'w> {
    loan: wire::Loan<'w>,
    format: Option<ImageFormat>,
}

impl ImageLoan<'_> {
    /// The slot as an image of `format`; fails if it does not fit.
    pub fn image(&mut self, format: ImageFormat) -> Result<ImageMut<'_>, BlockError> {
        let len = format.byte_len();
        let bytes = self.loan.bytes();
        if len > bytes.len() {
            return Err(BlockError::Config(format!(
                "a {}x{} {} image ({len} bytes) does not fit the wire's {}-byte slots; raise the producer's max size",
                format.width,
                format.height,
                format.fourcc,
                bytes.len()
            )));
        }
        self.format = Some(format);
        Ok(ImageMut { format, data: &mut bytes[..len] })
    }

    /// The raw slot bytes, for variable-length data (MJPEG); set the length
    /// with [`ImageLoan::set_len`].
    pub fn bytes(&mut self) -> &mut [u8] {
        self.loan.bytes()
    }

    /// Sets the image format and valid length for raw writes.
    pub fn set_len(&mut self, format: ImageFormat, len: usize) {
        self.format = Some(format);
        self.loan.meta.len = len;
    }

    /// Publishes the image, carrying the capture time and source sequence of
    /// `source` (the input frame it was computed from).
    pub fn commit_from(mut self, source: &FrameMeta) -> Result<u64, BlockError> {
        self.loan.meta.timestamp_ns = source.timestamp_ns;
        self.loan.meta.source_seq = if source.source_seq != 0 { source.source_seq } else { source.seq };
        self.commit()
    }

    /// Publishes the image as a new source frame (capture time now unless set).
    pub fn commit(mut self) -> Result<u64, BlockError> {
        let f = self.format.ok_or_else(|| BlockError::Config("image committed before its format was set".into()))?;
        self.loan.meta.image = f;
        if self.loan.meta.len == 0 {
            self.loan.meta.len = f.byte_len();
        }
        Ok(self.loan.commit()?)
    }

    /// Sets the capture timestamp (`CLOCK_MONOTONIC` ns) and source sequence.
    pub fn set_stamp(&mut self, timestamp_ns: u64, source_seq: u64) {
        self.loan.meta.timestamp_ns = timestamp_ns;
        self.loan.meta.source_seq = source_seq;
    }
}

/// Read access to a frame as an image; implemented by wire guards.
pub trait AsImage {
    /// The image view.
    fn as_image(&self) -> ImageRef<'_>;
}
impl AsImage for Guard<'_> {
    fn as_image(&self) -> ImageRef<'_> {
        self.image()
    }
}

/// What the runtime offers a running block: its name, the stop flag, clocks,
/// and a way to tell the supervisor and `framewire status` how it is doing.
pub struct Context {
    name: String,
    stop: &'static AtomicBool,
    tick: Duration,
    state: Option<std::sync::Arc<crate::state::BlockState>>,
}

impl Context {
    /// A context for block `name` that stops when `stop` is set.
    pub fn new(name: &str, stop: &'static AtomicBool) -> Context {
        Context { name: name.to_string(), stop, tick: Duration::from_millis(100), state: None }
    }
    /// A context that also reports to the block's state segment (the
    /// runtime's block process uses this).
    pub fn with_state(
        name: &str,
        stop: &'static AtomicBool,
        state: std::sync::Arc<crate::state::BlockState>,
    ) -> Context {
        Context { state: Some(state), ..Context::new(name, stop) }
    }
    /// The block's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Whether shutdown was requested.
    pub fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
    /// How long a step may wait for input before returning (100 ms).
    pub fn tick(&self) -> Duration {
        self.tick
    }
    /// `CLOCK_MONOTONIC` in ns (the clock frames are stamped with).
    pub fn now_ns(&self) -> u64 {
        framewire_sys::proc::monotonic_ns()
    }
    /// Publishes a named number (`offset_px`, `latency_p50_ms`) for the live
    /// status line and `framewire status`. Cheap enough to call every frame:
    /// two atomic stores once the name is known.
    pub fn gauge(&self, name: &str, value: f64) {
        if let Some(s) = &self.state {
            s.gauge(name, value);
        }
    }
    /// Reports the state of the block's link to its device (a motor
    /// controller, a camera), with a line of detail (the port, the error).
    /// Call it when the state changes, not every step.
    pub fn set_link(&self, link: crate::state::Link, detail: &str) {
        if let Some(s) = &self.state {
            s.set_link(link, detail, self.now_ns());
        }
    }
    /// A heartbeat for the supervisor's watchdog. The runtime beats once per
    /// step; a block that legitimately spends longer inside one step (a slow
    /// device open, a long computation) calls this to say it is alive.
    pub fn beat(&self) {
        if let Some(s) = &self.state {
            s.beat(self.now_ns());
        }
    }
}
