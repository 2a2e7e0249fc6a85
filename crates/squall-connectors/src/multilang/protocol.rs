//! The messages of Storm's multilang protocol (Storm 2.x), as serde types:
//! what Squall writes to a child ([`ToChild`]: handshake, bolt tuples and
//! heartbeats, spout commands, task-id lists) and what a child writes back
//! (its pid, then [`ChildMessage`]s: `emit`, `ack`, `fail`, `log`, `error`,
//! `metrics` and `sync` commands).
//!
//! Owns the message shapes and nothing else: no encoding or framing
//! ([`super::serializer`]: JSON ended by `end` lines, MessagePack), no I/O
//! ([`super::shell_process`]) and no meaning ([`super::shell_bolt`],
//! [`super::shell_spout`]). Tuple values cross as [`crate::decode`] maps
//! them to JSON; bytes cross as binary in a binary format.
//!
//! Where Storm is loose this is as loose (extra keys ignored, `anchors` a
//! string or a list, ids strings or numbers) and where Storm fails a task
//! this refuses the message: a missing or unknown `command`, a `tuple` that
//! is not a list.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use squall::{Value, Values};

use crate::decode::ValuesAsJson;

/// The stream of heartbeat tuples (Storm's `ShellBolt.HEARTBEAT_STREAM_ID`).
pub const HEARTBEAT_STREAM: &str = "__heartbeat";

/// The task a heartbeat tuple claims to come from (Storm's system task).
pub const HEARTBEAT_TASK: i64 = -1;

/// A message to a child, as a serializer receives it (it serializes as
/// the message it holds: an object, or a list for task ids).
#[derive(Debug)]
pub enum ToChild<'a> {
    /// The first message.
    Handshake(Handshake<'a>),
    /// A bolt's input, or a heartbeat.
    Tuple(BoltTuple<'a>),
    /// A spout's `next`, `ack` or `fail`.
    Command(SpoutCommand<'a>),
    /// The global task ids an emit went to.
    TaskIds(&'a [usize]),
}

impl Serialize for ToChild<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ToChild::Handshake(m) => m.serialize(s),
            ToChild::Tuple(m) => m.serialize(s),
            ToChild::Command(m) => m.serialize(s),
            ToChild::TaskIds(m) => m.serialize(s),
        }
    }
}

/// The first message to a child: where to write its pid file, the
/// topology's configuration and the task's context.
#[derive(Debug, Serialize)]
pub struct Handshake<'a> {
    /// A folder in which the child creates an empty file named by its pid.
    #[serde(rename = "pidDir")]
    pub pid_dir: &'a str,
    /// Storm-style configuration keys (`topology.name`, ...).
    pub conf: &'a serde_json::Map<String, serde_json::Value>,
    /// Where the task sits in the topology.
    pub context: &'a Context,
}

/// The `context` of the handshake: what Storm's `TopologyContext` writes
/// (without the groupings, which Squall's context does not expose).
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// This task's global id.
    pub taskid: usize,
    /// Every task of the topology, its id (as a JSON key, a string) to its
    /// component id.
    #[serde(rename = "task->component")]
    pub task_to_component: BTreeMap<String, String>,
    /// This task's component id.
    pub componentid: String,
    /// The streams this component declares.
    pub streams: Vec<String>,
    /// The fields of each declared stream.
    #[serde(rename = "stream->outputfields")]
    pub stream_to_fields: BTreeMap<String, Vec<String>>,
}

/// The child's answer to the handshake.
#[derive(Debug, Deserialize)]
pub struct PidReply {
    /// The child's process id.
    pub pid: u32,
}

/// A tuple for a bolt's child; heartbeats are tuples too.
#[derive(Debug, Serialize)]
pub struct BoltTuple<'a> {
    /// The id the child acks, fails or anchors to.
    pub id: &'a str,
    /// The component that emitted it (`null` for a heartbeat).
    pub comp: Option<&'a str>,
    /// The stream it came on.
    pub stream: &'a str,
    /// The task that emitted it (-1 for a heartbeat).
    pub task: i64,
    /// Its values.
    pub tuple: ValuesAsJson<'a>,
}

impl<'a> BoltTuple<'a> {
    /// The heartbeat tuple with id `id`; the child answers `sync`.
    pub fn heartbeat(id: &'a str) -> Self {
        BoltTuple {
            id,
            comp: None,
            stream: HEARTBEAT_STREAM,
            task: HEARTBEAT_TASK,
            tuple: ValuesAsJson(&[]),
        }
    }
}

/// A command for a spout's child: `next`, `ack` or `fail`; the child
/// answers `sync` when it is done with it.
#[derive(Debug, Serialize)]
pub struct SpoutCommand<'a> {
    /// `next`, `ack` or `fail`.
    pub command: &'a str,
    /// The message id of an `ack` or `fail` as the child gave it; `""` for
    /// `next` (as Storm sends).
    pub id: &'a serde_json::Value,
}

/// One message from a child after the handshake.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "command", rename_all = "lowercase")]
pub enum ChildMessage {
    /// Emit a tuple.
    Emit(Emit),
    /// A bolt's child is done with tuple `id`.
    Ack {
        /// The id of the tuple as Squall sent it.
        #[serde(deserialize_with = "id_text")]
        id: String,
    },
    /// A bolt's child failed tuple `id`: its tree is replayed.
    Fail {
        /// The id of the tuple as Squall sent it.
        #[serde(deserialize_with = "id_text")]
        id: String,
    },
    /// A line for the worker's log.
    Log {
        /// The text.
        msg: String,
        /// 0 trace, 1 debug, 2 info (the default), 3 warn, 4 error.
        #[serde(default)]
        level: Option<i64>,
    },
    /// An error the child reports (Storm's `reportError`); the task goes on.
    Error {
        /// The text, often a traceback.
        msg: String,
    },
    /// A value for a named metric.
    Metrics {
        /// The metric's name.
        name: String,
        /// Its value, any JSON.
        #[serde(default)]
        params: serde_json::Value,
    },
    /// The child is done with a `next`/`ack`/`fail` command (spouts) or a
    /// heartbeat tuple (bolts).
    Sync,
}

/// An `emit` command.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Emit {
    /// The values, a list (as [`crate::from_json`] maps JSON; binary
    /// strings of a binary format become bytes).
    #[serde(deserialize_with = "wire_values")]
    pub tuple: Values,
    /// The stream; the default stream when absent.
    #[serde(default)]
    pub stream: Option<String>,
    /// A bolt's anchors: ids of its input tuples (a string or a list).
    #[serde(default, deserialize_with = "anchor_ids")]
    pub anchors: Vec<String>,
    /// A direct emit to this global task id (present means direct).
    #[serde(default)]
    pub task: Option<i64>,
    /// A spout's message id (any JSON), echoed back in `ack`/`fail`;
    /// absent for an untracked emit.
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    /// Whether the child waits for the list of task ids the tuple went to
    /// (Storm's default: yes). Never answered for a direct emit.
    #[serde(default = "yes")]
    pub need_task_ids: bool,
}

fn yes() -> bool {
    true
}

fn wire_values<'de, D: Deserializer<'de>>(d: D) -> Result<Values, D::Error> {
    let list: Vec<WireValue> = Vec::deserialize(d)?;
    Ok(list.into_iter().map(|v| v.0).collect())
}

/// A tuple value as a child sent it, in any serde format: what
/// [`crate::from_json`] makes of JSON, and bytes for a binary string.
struct WireValue(Value);

impl<'de> Deserialize<'de> for WireValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WireVisitor).map(WireValue)
    }
}

struct WireVisitor;

impl<'de> serde::de::Visitor<'de> for WireVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a tuple value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        WireValue::deserialize(d).map(|v| v.0)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(WireValue(v)) = seq.next_element()? {
            list.push(v);
        }
        Ok(Value::List(list))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = std::collections::BTreeMap::new();
        while let Some((k, WireValue(v))) = map.next_entry::<String, WireValue>()? {
            out.insert(k, v);
        }
        Ok(Value::Map(out))
    }
}

/// A tuple id as text: Squall sends strings, a child may echo numbers.
fn id_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(D::Error::custom(format!("a tuple id must be a string, not {other}"))),
    }
}

fn anchor_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let ids = match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => return Ok(Vec::new()),
        serde_json::Value::Array(ids) => ids,
        one => vec![one],
    };
    ids.into_iter()
        .map(|id| match id {
            serde_json::Value::String(s) => Ok(s),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            other => Err(D::Error::custom(format!("an anchor must be a tuple id, not {other}"))),
        })
        .collect()
}

/// Parses one JSON message of a child (its text without the `end` line).
///
/// # Errors
/// Why it is not a message: not JSON, no or an unknown `command`, a field
/// of the wrong shape; serde's words, naming the field.
pub fn parse_child_message(text: &str) -> Result<ChildMessage, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Parses the child's JSON answer to the handshake.
///
/// # Errors
/// As [`parse_child_message`].
pub fn parse_pid_reply(text: &str) -> Result<PidReply, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multilang::Serializer as _;

    fn text(msg: ToChild<'_>) -> String {
        let mut out = Vec::new();
        crate::multilang::JsonSerializer.write(&msg, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn outgoing_messages_have_storms_shapes() {
        let values = vec![Value::from("to be\nor not"), Value::Int(3)];
        let tuple = BoltTuple {
            id: "7",
            comp: Some("lines"),
            stream: "default",
            task: 2,
            tuple: ValuesAsJson(&values),
        };
        assert_eq!(
            text(ToChild::Tuple(tuple)),
            "{\"id\":\"7\",\"comp\":\"lines\",\"stream\":\"default\",\"task\":2,\
             \"tuple\":[\"to be\\nor not\",3]}\nend\n"
        );
        assert_eq!(
            text(ToChild::Tuple(BoltTuple::heartbeat("8"))),
            "{\"id\":\"8\",\"comp\":null,\"stream\":\"__heartbeat\",\"task\":-1,\"tuple\":[]}\nend\n"
        );
        let next = SpoutCommand { command: "next", id: &serde_json::Value::from("") };
        assert_eq!(text(ToChild::Command(next)), "{\"command\":\"next\",\"id\":\"\"}\nend\n");
        assert_eq!(text(ToChild::TaskIds(&[3, 4])), "[3,4]\nend\n");
        let context = Context {
            taskid: 3,
            task_to_component: [("3".to_string(), "split".to_string())].into(),
            componentid: "split".into(),
            streams: vec!["default".into()],
            stream_to_fields: [("default".to_string(), vec!["word".to_string()])].into(),
        };
        let conf = serde_json::Map::new();
        let handshake = Handshake { pid_dir: "/tmp/p", conf: &conf, context: &context };
        let json: serde_json::Value = serde_json::to_value(&handshake).unwrap();
        assert_eq!(json["pidDir"], "/tmp/p");
        assert_eq!(json["context"]["task->component"]["3"], "split");
        assert_eq!(json["context"]["stream->outputfields"]["default"][0], "word");
    }

    #[test]
    fn child_messages_parse_as_storm_reads_them() {
        let emit = parse_child_message(
            r#"{"command": "emit", "anchors": ["1", 2], "stream": "s", "tuple": ["w", 1, 2.5]}"#,
        )
        .unwrap();
        let ChildMessage::Emit(emit) = emit else { panic!("{emit:?}") };
        assert_eq!(emit.anchors, ["1", "2"]);
        assert_eq!(emit.tuple, vec![Value::from("w"), Value::Int(1), Value::Float(2.5)]);
        assert!(emit.need_task_ids && emit.task.is_none() && emit.id.is_none());
        let one = r#"{"command":"emit","anchors":"9","tuple":[],"need_task_ids":false,"task":0}"#;
        let ChildMessage::Emit(emit) = parse_child_message(one).unwrap() else { panic!() };
        assert_eq!(
            (emit.anchors, emit.need_task_ids, emit.task),
            (vec!["9".into()], false, Some(0))
        );
        assert_eq!(
            parse_child_message(r#"{"command":"ack","id":12}"#).unwrap(),
            ChildMessage::Ack { id: "12".into() }
        );
        assert_eq!(
            parse_child_message(r#"{"command":"log","msg":"hi","level":3,"extra":1}"#).unwrap(),
            ChildMessage::Log { msg: "hi".into(), level: Some(3) }
        );
        assert_eq!(parse_child_message(r#"{"command":"sync"}"#).unwrap(), ChildMessage::Sync);
        assert_eq!(parse_pid_reply(r#"{"pid": 4242}"#).unwrap().pid, 4242);
    }

    #[test]
    fn malformed_messages_are_refused_with_a_reason() {
        let reason = |t: &str| parse_child_message(t).unwrap_err();
        assert!(reason("not json").contains("expected"), "{}", reason("not json"));
        assert!(reason(r#"{"tuple": []}"#).contains("missing field `command`"));
        assert!(reason(r#"{"command": "dance"}"#).contains("unknown variant `dance`"));
        assert!(reason(r#"{"command": "emit", "tuple": "w"}"#).contains("expected a sequence"));
        assert!(reason(r#"{"command": "ack", "id": [1]}"#).contains("must be a string"));
    }
}
