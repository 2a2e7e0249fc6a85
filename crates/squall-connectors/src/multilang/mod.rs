//! Storm's multilang protocol: spouts and bolts written in other languages
//! (Python with Storm's own `storm.py` or with pystorm, Node.js with
//! `storm.js`, ...) run unchanged as Squall components, each task with a
//! child process that speaks JSON (or MessagePack) over its stdin and
//! stdout.
//!
//! - [`ShellBolt`] and [`ShellSpout`]: the components; YAML kind `shell`
//!   for both ([`ShellSettings`]).
//! - [`protocol`]: the messages, as Storm 2.x documents them.
//! - [`Serializer`]: their encoding and framing, per component (Storm's
//!   `topology.multilang.serializer`): [`JsonSerializer`] by default,
//!   [`MsgpackSerializer`] as pystorm's, or one a user adds.
//! - `shell_process`: the child and its pipes (threads; why not
//!   `tokio::process` is said there).
//!
//! What this module does not own: the guarantees. A bolt's child acks and
//! fails through the engine's collector like any manual bolt, and a child
//! that fails its task is restarted (or stops the topology) as the
//! topology's guarantee says.

mod link;
pub mod protocol;
mod serializer;
mod shell_bolt;
mod shell_process;
mod shell_spout;
mod spec;

pub use serializer::{
    register_serializer, serializer_named, JsonSerializer, MsgpackSerializer, Serializer,
    SerializerFactory,
};
pub use shell_bolt::{ShellBolt, TICK};
pub use shell_process::ShellCommand;
pub use shell_spout::ShellSpout;
pub use spec::{ShellMetrics, ShellOptions, ShellSettings, ShellSpec};
