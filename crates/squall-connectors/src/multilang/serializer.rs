//! [`Serializer`]: how multilang messages are encoded and framed on a
//! child's pipes, Storm's `topology.multilang.serializer`, chosen per shell
//! component. Two come with Squall:
//!
//! - [`JsonSerializer`] (`json`, the default): Storm 2.x's
//!   `JsonSerializer`, one JSON document followed by a line `end`, both
//!   ways; what `storm.py`, `storm.js` and pystorm speak by default.
//! - [`MsgpackSerializer`] (`msgpack`): pystorm's `MsgpackSerializer`
//!   (`pystorm/serializers/msgpack_serializer.py`): one MessagePack value
//!   per message, back to back, with no `end` line (MessagePack delimits
//!   itself); maps with text keys, as pystorm's `msgpack.packb` and
//!   `msgpack.Unpacker` write and read them. Tuple bytes cross as binary.
//!
//! A user adds one by implementing the trait (any serde format fits: the
//! messages are serde types) and passing it to
//! `ShellBolt::serializer`/`ShellSpout::serializer`; [`register_serializer`]
//! makes it available to YAML by name.
//!
//! Owns encoding and framing only: which messages exist is
//! [`super::protocol`]'s, the pipes are [`super::shell_process`]'s.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, Read};
use std::sync::{Arc, OnceLock, RwLock};

use serde::de::IgnoredAny;
use serde::Deserialize;
use squall::{Error, Result};

use super::protocol::{self, ChildMessage, PidReply, ToChild};

/// Encodes messages to a child and frames and decodes the child's.
///
/// Called from the child's pipe threads: `write` on the task's thread,
/// `read_frame` and the decoders on the child's stdout reader.
pub trait Serializer: Send + Sync + fmt::Debug {
    /// The name YAML selects it by (`json`, `msgpack`); also given to the
    /// child as `topology.multilang.serializer` in the handshake's `conf`.
    fn name(&self) -> &str;

    /// Appends `msg`, framed, to `out`.
    ///
    /// # Errors
    /// Why `msg` cannot be encoded (the format's words).
    fn write(&self, msg: &ToChild<'_>, out: &mut Vec<u8>) -> std::result::Result<(), String>;

    /// Reads the next message of the child from `input` into `frame`
    /// (cleared first): its bytes as [`Serializer::decode`] takes them.
    ///
    /// # Errors
    /// `Ok(false)` when `input` ended before a message began;
    /// [`io::ErrorKind::InvalidData`] for bytes that cannot begin or
    /// continue a message (`frame` holds what was read, to be quoted); any
    /// other error of `input`, or [`io::ErrorKind::UnexpectedEof`] if it
    /// ended inside a message.
    fn read_frame(&self, input: &mut dyn BufRead, frame: &mut Vec<u8>) -> io::Result<bool>;

    /// Decodes a command of the child from one frame.
    ///
    /// # Errors
    /// Why it is not a message (serde's words, naming the field).
    fn decode(&self, frame: &[u8]) -> std::result::Result<ChildMessage, String>;

    /// Decodes the child's answer to the handshake from one frame.
    ///
    /// # Errors
    /// As [`Serializer::decode`].
    fn decode_pid(&self, frame: &[u8]) -> std::result::Result<PidReply, String>;

    /// A frame as text for an error message. Default: the bytes as UTF-8,
    /// invalid sequences replaced.
    fn show(&self, frame: &[u8]) -> String {
        String::from_utf8_lossy(frame).into_owned()
    }
}

/// Storm's default: JSON, each message followed by a line `end`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonSerializer;

/// The line that ends every JSON message, both ways.
pub const END: &str = "end";

impl Serializer for JsonSerializer {
    fn name(&self) -> &str {
        "json"
    }

    fn write(&self, msg: &ToChild<'_>, out: &mut Vec<u8>) -> std::result::Result<(), String> {
        serde_json::to_writer(&mut *out, msg).map_err(|e| e.to_string())?;
        out.extend_from_slice(b"\nend\n");
        Ok(())
    }

    /// The lines up to a line `end`, joined by `\n` (without the `end`).
    fn read_frame(&self, input: &mut dyn BufRead, frame: &mut Vec<u8>) -> io::Result<bool> {
        frame.clear();
        let mut line = Vec::new();
        let mut started = false;
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line)? == 0 {
                return match started {
                    false => Ok(false),
                    true => Err(io::ErrorKind::UnexpectedEof.into()),
                };
            }
            let content = line.strip_suffix(b"\n").unwrap_or(&line);
            if content == END.as_bytes() {
                return Ok(true);
            }
            if started {
                frame.push(b'\n');
            }
            started = true;
            frame.extend_from_slice(content);
        }
    }

    fn decode(&self, frame: &[u8]) -> std::result::Result<ChildMessage, String> {
        protocol::parse_child_message(utf8(frame)?)
    }

    fn decode_pid(&self, frame: &[u8]) -> std::result::Result<PidReply, String> {
        protocol::parse_pid_reply(utf8(frame)?)
    }
}

fn utf8(frame: &[u8]) -> std::result::Result<&str, String> {
    std::str::from_utf8(frame).map_err(|e| format!("not UTF-8: {e}"))
}

/// pystorm's `MsgpackSerializer`: one MessagePack value per message.
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgpackSerializer;

/// A reader that keeps a copy of what it reads.
struct Tee<'a> {
    input: &'a mut dyn BufRead,
    copy: &'a mut Vec<u8>,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.input.read(buf)?;
        self.copy.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl Serializer for MsgpackSerializer {
    fn name(&self) -> &str {
        "msgpack"
    }

    /// Structs as maps with their field names (pystorm reads dicts).
    fn write(&self, msg: &ToChild<'_>, out: &mut Vec<u8>) -> std::result::Result<(), String> {
        rmp_serde::encode::write_named(out, msg).map_err(|e| e.to_string())
    }

    /// One whole MessagePack value, skipped through by rmp-serde (nested
    /// at most 1024 deep).
    fn read_frame(&self, input: &mut dyn BufRead, frame: &mut Vec<u8>) -> io::Result<bool> {
        frame.clear();
        if input.fill_buf()?.is_empty() {
            return Ok(false);
        }
        let mut tee = rmp_serde::Deserializer::new(Tee { input, copy: frame });
        match IgnoredAny::deserialize(&mut tee) {
            Ok(IgnoredAny) => Ok(true),
            Err(rmp_serde::decode::Error::InvalidMarkerRead(e))
            | Err(rmp_serde::decode::Error::InvalidDataRead(e))
                if e.kind() != io::ErrorKind::InvalidData =>
            {
                Err(e)
            }
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        }
    }

    fn decode(&self, frame: &[u8]) -> std::result::Result<ChildMessage, String> {
        rmp_serde::from_slice(frame).map_err(|e| e.to_string())
    }

    fn decode_pid(&self, frame: &[u8]) -> std::result::Result<PidReply, String> {
        rmp_serde::from_slice(frame).map_err(|e| e.to_string())
    }

    /// The value as JSON when it has a JSON form, else its bytes in hex.
    fn show(&self, frame: &[u8]) -> String {
        match rmp_serde::from_slice::<serde_json::Value>(frame) {
            Ok(json) => json.to_string(),
            Err(_) => frame.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "),
        }
    }
}

/// Makes a serializer.
pub type SerializerFactory = fn() -> Arc<dyn Serializer>;

fn registry() -> &'static RwLock<BTreeMap<String, SerializerFactory>> {
    static REGISTRY: OnceLock<RwLock<BTreeMap<String, SerializerFactory>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut known: BTreeMap<String, SerializerFactory> = BTreeMap::new();
        known.insert("json".into(), || Arc::new(JsonSerializer));
        // Storm's class name for its JSON serializer, as Storm configs say it.
        known.insert("org.apache.storm.multilang.JsonSerializer".into(), || {
            Arc::new(JsonSerializer)
        });
        known.insert("msgpack".into(), || Arc::new(MsgpackSerializer));
        RwLock::new(known)
    })
}

/// Makes `name` select the serializer `make` builds in YAML's `serializer`
/// setting (replacing one of that name).
pub fn register_serializer(name: &str, make: SerializerFactory) {
    registry().write().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), make);
}

/// The serializer named `name`.
///
/// # Errors
/// [`Error::Config`] naming the known serializers if none has that name.
pub fn serializer_named(name: &str) -> Result<Arc<dyn Serializer>> {
    let known = registry().read().unwrap_or_else(|p| p.into_inner());
    match known.get(name) {
        Some(make) => Ok(make()),
        None => {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            Err(Error::config(format!(
                "multilang: unknown serializer '{name}' (known: {})",
                names.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::ValuesAsJson;
    use crate::multilang::protocol::BoltTuple;
    use squall::Value;

    fn frames(s: &dyn Serializer, bytes: &[u8]) -> Vec<io::Result<Vec<u8>>> {
        let mut input = io::BufReader::with_capacity(3, bytes);
        let mut out = Vec::new();
        loop {
            let mut frame = Vec::new();
            match s.read_frame(&mut input, &mut frame) {
                Ok(true) => out.push(Ok(frame)),
                Ok(false) => return out,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }

    #[test]
    fn msgpack_messages_are_maps_back_to_back_as_pystorm_reads_them() {
        let values = vec![Value::from("to be"), Value::Int(-3), Value::Bytes(vec![0, 255])];
        let tuple = BoltTuple {
            id: "7",
            comp: Some("lines"),
            stream: "default",
            task: 2,
            tuple: ValuesAsJson(&values),
        };
        let mut out = Vec::new();
        MsgpackSerializer.write(&ToChild::Tuple(tuple), &mut out).unwrap();
        MsgpackSerializer.write(&ToChild::TaskIds(&[3, 4]), &mut out).unwrap();
        // fixmap of 5, then "id": "7" (fixstr); the bytes as bin 8.
        assert_eq!(&out[..6], &[0x85, 0xa2, b'i', b'd', 0xa1, b'7']);
        assert!(out.windows(4).any(|w| w == [0xc4, 2, 0, 255]), "bytes as binary: {out:02x?}");
        assert!(out.ends_with(&[0x92, 3, 4]), "task ids as an array");
        let split = frames(&MsgpackSerializer, &out);
        assert_eq!(split.len(), 2);
        #[derive(serde::Deserialize)]
        struct Seen {
            comp: String,
            task: i64,
        }
        let first: Seen = rmp_serde::from_slice(split[0].as_ref().unwrap()).unwrap();
        assert_eq!((first.comp.as_str(), first.task), ("lines", 2));
    }

    #[test]
    fn msgpack_child_messages_decode_with_bytes_as_bytes() {
        #[derive(serde::Serialize)]
        struct EmitOut<'a> {
            command: &'a str,
            tuple: ValuesAsJson<'a>,
            anchors: [&'a str; 1],
        }
        let values = [Value::from("w"), Value::Bytes(vec![1, 2]), Value::Float(0.5)];
        let emit = EmitOut { command: "emit", tuple: ValuesAsJson(&values), anchors: ["5"] };
        let bytes = rmp_serde::to_vec_named(&emit).unwrap();
        let ChildMessage::Emit(emit) = MsgpackSerializer.decode(&bytes).unwrap() else { panic!() };
        assert_eq!(emit.tuple, values);
        assert_eq!(emit.anchors, ["5"]);
        let pid = rmp_serde::to_vec_named(&serde_json::json!({"pid": 42})).unwrap();
        assert_eq!(MsgpackSerializer.decode_pid(&pid).unwrap().pid, 42);
    }

    #[test]
    fn broken_frames_are_refused_with_what_was_read() {
        // 0xc1 is never used by MessagePack.
        let split = frames(&MsgpackSerializer, &[0x81, 0xc1]);
        let e = split[0].as_ref().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        // A map of two entries cut after the first.
        let split = frames(&MsgpackSerializer, &[0x82, 0xa1, b'a', 1]);
        assert_eq!(split[0].as_ref().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let no_command = rmp_serde::to_vec_named(&serde_json::json!({"tuple": []})).unwrap();
        let reason = MsgpackSerializer.decode(&no_command).unwrap_err();
        assert!(reason.contains("command"), "{reason}");
        assert_eq!(MsgpackSerializer.show(&rmp_serde::to_vec(&("a", 1)).unwrap()), "[\"a\",1]");
        let json =
            frames(&JsonSerializer, b"{\"command\":\"sync\"}\nend\n{\"a\":\n1}\nend\n{\"cut");
        assert_eq!(json[0].as_deref().unwrap(), b"{\"command\":\"sync\"}");
        assert_eq!(json[1].as_deref().unwrap(), b"{\"a\":\n1}");
        assert_eq!(json[2].as_ref().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let err = serializer_named("yaml").unwrap_err().to_string();
        assert!(err.contains("unknown serializer 'yaml'") && err.contains("msgpack"), "{err}");
    }
}
