//! [`Format`]: how a Kafka record's bytes become tuple fields (raw bytes,
//! UTF-8 lines, JSON objects, CSV rows, Avro records via
//! [`crate::decode_avro`]) and how a tuple becomes a record's bytes (JSON),
//! through `serde_json` and `csv`.
//!
//! Owns the mapping between JSON values and Squall [`Value`]s (also the one
//! the multilang protocol uses).

use serde::Deserialize;
use squall::{Fields, Value, Values};

/// How the value of a Kafka record is decoded into tuples.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum Format {
    /// One tuple `(value)` per record: the bytes as they are.
    Raw,
    /// One tuple `(line)` per line of the record (UTF-8; `\n` or `\r\n`
    /// separated, empty lines skipped).
    Lines,
    /// One tuple per record, a JSON object: field `f` is the object's key `f`
    /// (null when missing). Nested objects become maps, arrays lists.
    Json {
        /// The tuple's fields, in order.
        fields: Vec<String>,
    },
    /// One tuple per record, one CSV row without header: the columns are
    /// `fields` in order, as strings.
    Csv {
        /// The tuple's fields, in order (the row must have exactly as many
        /// columns).
        fields: Vec<String>,
    },
    /// One tuple per record, one Avro datum (binary, no container header
    /// or schema-registry prefix) of the record `schema`: field `f` is the
    /// record's field `f` (null when the schema has none).
    Avro {
        /// The writer's schema, Avro's JSON form; a record.
        schema: String,
        /// The tuple's fields, in order.
        fields: Vec<String>,
    },
}

impl Format {
    /// The fields of the tuples this format makes.
    pub fn fields(&self) -> Fields {
        match self {
            Format::Raw => Fields::new(["value"]),
            Format::Lines => Fields::new(["line"]),
            Format::Json { fields } | Format::Csv { fields } | Format::Avro { fields, .. } => {
                Fields::new(fields.iter().map(String::as_str))
            }
        }
    }

    /// Decodes one record's value (`None`: a tombstone) into tuples.
    ///
    /// # Errors
    /// A reason, for the error stream: not UTF-8, not JSON, not an object,
    /// wrong number of CSV columns, not an Avro datum of the schema, a
    /// tombstone where text or a datum was expected.
    pub fn decode(&self, payload: Option<&[u8]>) -> Result<Vec<Values>, String> {
        let Some(bytes) = payload else {
            return match self {
                Format::Raw => Ok(vec![vec![Value::Null]]),
                _ => Err("record has no value (tombstone)".into()),
            };
        };
        match self {
            Format::Raw => Ok(vec![vec![Value::Bytes(bytes.to_vec())]]),
            Format::Lines => {
                let text =
                    std::str::from_utf8(bytes).map_err(|e| format!("value is not UTF-8: {e}"))?;
                Ok(text
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(|l| vec![Value::String(l.to_string())])
                    .collect())
            }
            Format::Json { fields } => {
                let json: serde_json::Value =
                    serde_json::from_slice(bytes).map_err(|e| format!("value is not JSON: {e}"))?;
                let serde_json::Value::Object(mut object) = json else {
                    return Err("value is JSON but not an object".into());
                };
                Ok(vec![fields
                    .iter()
                    .map(|f| object.remove(f).map_or(Value::Null, from_json))
                    .collect()])
            }
            Format::Csv { fields } => {
                let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes);
                let mut rows = Vec::new();
                for record in reader.records() {
                    let record = record.map_err(|e| format!("value is not CSV: {e}"))?;
                    if record.len() != fields.len() {
                        return Err(format!(
                            "CSV row has {} columns, expected {} ({})",
                            record.len(),
                            fields.len(),
                            fields.join(", ")
                        ));
                    }
                    rows.push(record.iter().map(|c| Value::String(c.to_string())).collect());
                }
                Ok(rows)
            }
            Format::Avro { schema, fields } => crate::decode_avro::decode(schema, fields, bytes),
        }
    }

    /// Checks the format's settings without data (an Avro schema parses and
    /// is a record).
    ///
    /// # Errors
    /// The reason, naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Format::Avro { schema, .. } => crate::decode_avro::parse(schema).map(|_| ()),
            _ => Ok(()),
        }
    }
}

/// A JSON value as a Squall value: integers that fit i64 stay ints, other
/// numbers become floats.
pub fn from_json(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(a) => Value::List(a.into_iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Value::Map(o.into_iter().map(|(k, v)| (k, from_json(v))).collect())
        }
    }
}

/// A Squall value as JSON: bytes as an array of numbers, timestamps as ms,
/// native DataStream records as null (they have no JSON form).
pub fn to_json(value: &Value) -> serde_json::Value {
    serde_json::to_value(AsJson(value)).expect("JSON values serialize")
}

/// Serializes a Squall value as [`to_json`] maps it, without building a
/// `serde_json::Value` first (the multilang protocol writes every tuple);
/// in a binary format (not human-readable, as MessagePack) bytes are
/// binary.
#[derive(Debug, Clone, Copy)]
pub struct AsJson<'a>(pub &'a Value);

impl serde::Serialize for AsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null | Value::Native(_) => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) | Value::Timestamp(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::String(text) => s.serialize_str(text),
            Value::Bytes(b) if !s.is_human_readable() => s.serialize_bytes(b),
            Value::Bytes(b) => s.collect_seq(b),
            Value::List(l) => s.collect_seq(l.iter().map(AsJson)),
            Value::Map(m) => s.collect_map(m.iter().map(|(k, v)| (k, AsJson(v)))),
        }
    }
}

/// Serializes a tuple's values as a JSON array (see [`AsJson`]).
#[derive(Debug, Clone, Copy)]
pub struct ValuesAsJson<'a>(pub &'a [Value]);

impl serde::Serialize for ValuesAsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(AsJson))
    }
}

/// A value as record or key text: strings as they are, others as JSON.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => to_json(v).to_string(),
    }
}

/// `names[i]: values[i]` as one JSON object, serialized.
pub(crate) fn json_object<'a>(
    names: impl IntoIterator<Item = &'a String>,
    values: impl IntoIterator<Item = &'a Value>,
) -> Vec<u8> {
    let object: serde_json::Map<String, serde_json::Value> =
        names.into_iter().zip(values).map(|(n, v)| (n.clone(), to_json(v))).collect();
    serde_json::to_vec(&object).expect("JSON values serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_decodes_and_refuses_with_a_reason() {
        assert_eq!(Format::Raw.decode(Some(b"\xff")), Ok(vec![vec![Value::Bytes(vec![255])]]));
        assert_eq!(
            Format::Lines.decode(Some(b"to be\r\n\nor not")),
            Ok(vec![vec!["to be".into()], vec!["or not".into()]])
        );
        assert!(Format::Lines.decode(Some(b"\xff")).unwrap_err().contains("not UTF-8"));
        let json = Format::Json { fields: vec!["w".into(), "n".into(), "gone".into()] };
        assert_eq!(
            json.decode(Some(br#"{"w":"hamlet","n":3,"x":[1]}"#)),
            Ok(vec![vec!["hamlet".into(), Value::Int(3), Value::Null]])
        );
        assert!(json.decode(Some(b"[1]")).unwrap_err().contains("not an object"));
        assert!(json.decode(Some(b"{")).unwrap_err().contains("not JSON"));
        let csv = Format::Csv { fields: vec!["a".into(), "b".into()] };
        assert_eq!(csv.decode(Some(b"x,\"y,z\"")), Ok(vec![vec!["x".into(), "y,z".into()]]));
        assert!(csv.decode(Some(b"x")).unwrap_err().contains("1 columns, expected 2"));
        assert!(Format::Lines.decode(None).unwrap_err().contains("tombstone"));
    }

    #[test]
    fn json_round_trips_through_values() {
        let json: serde_json::Value =
            serde_json::from_str(r#"{"a":[1,2.5,"x",null,true],"b":{"c":-7}}"#).unwrap();
        assert_eq!(to_json(&from_json(json.clone())), json);
    }
}
