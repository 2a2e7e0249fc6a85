//! The `avro` record format of [`crate::Format`]: a record's value is one
//! Avro datum (binary encoding, no container header, no schema-registry
//! prefix) of a record schema given in the settings, decoded with the
//! `apache-avro` crate; field `f` of the tuple is the record's field `f`.
//!
//! Owns the mapping from Avro values to Squall [`Value`]s and a per-thread
//! cache of parsed schemas (a schema is parsed once per thread, not per
//! record). Not the other formats ([`crate::decode`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use apache_avro::types::Value as Avro;
use apache_avro::Schema;
use squall::{Value, Values};

/// The most one Avro string or bytes value (bytes), or one block of array
/// or map items (items), may claim: 4 MiB. `apache-avro` reserves what a
/// datum's length prefix claims before it reads what follows, so without a
/// bound a 45-byte record claiming 58 M array items made it reserve 2.8 GB
/// (found by fuzzing `kafka_record`). The bound is `apache-avro`'s own
/// ([`apache_avro::util::max_allocation_bytes`]), set once per process.
pub(crate) const MAX_AVRO_ALLOCATION: usize = 4 * 1024 * 1024;

thread_local! {
    static SCHEMAS: RefCell<HashMap<String, Rc<Schema>>> = RefCell::new(HashMap::new());
}

/// Parses `schema` (Avro's JSON form), which must be a record.
///
/// # Errors
/// The parser's message, or that the schema is not a record.
pub(crate) fn parse(schema: &str) -> Result<Rc<Schema>, String> {
    SCHEMAS.with(|cache| {
        if let Some(s) = cache.borrow().get(schema) {
            return Ok(s.clone());
        }
        let parsed = Schema::parse_str(schema).map_err(|e| format!("avro schema: {e}"))?;
        if !matches!(parsed, Schema::Record(_)) {
            return Err("avro schema: not a record".into());
        }
        let parsed = Rc::new(parsed);
        cache.borrow_mut().insert(schema.to_string(), parsed.clone());
        Ok(parsed)
    })
}

/// One tuple from one datum of `schema`: `fields` of the record, in order
/// (null for a field the schema does not have).
///
/// # Errors
/// A reason for the error stream: the bytes are not a datum of the schema
/// (truncated, invalid), or bytes are left after it.
pub(crate) fn decode(schema: &str, fields: &[String], bytes: &[u8]) -> Result<Vec<Values>, String> {
    let schema = parse(schema)?;
    apache_avro::util::max_allocation_bytes(MAX_AVRO_ALLOCATION);
    let mut reader = bytes;
    let datum = apache_avro::from_avro_datum(&schema, &mut reader, None)
        .map_err(|e| format!("value is not an Avro datum of the schema: {e}"))?;
    if !reader.is_empty() {
        return Err(format!(
            "value is not an Avro datum of the schema: {} bytes left after it",
            reader.len()
        ));
    }
    let Avro::Record(mut record) = datum else {
        return Err("value is an Avro datum but not a record".into());
    };
    Ok(vec![fields
        .iter()
        .map(|f| match record.iter().position(|(name, _)| name == f) {
            Some(i) => from_avro(std::mem::replace(&mut record[i].1, Avro::Null)),
            None => Value::Null,
        })
        .collect()])
}

/// An Avro value as a Squall value: ints and longs as ints, floats and
/// doubles as floats, enums by symbol, unions as their branch, records and
/// maps as maps, timestamps as ms, logical types by their underlying value
/// where Squall has no type for them (decimals as their text).
fn from_avro(v: Avro) -> Value {
    match v {
        Avro::Null => Value::Null,
        Avro::Boolean(b) => Value::Bool(b),
        Avro::Int(i) | Avro::Date(i) | Avro::TimeMillis(i) => Value::Int(i.into()),
        Avro::Long(i) | Avro::TimeMicros(i) => Value::Int(i),
        Avro::Float(f) => Value::Float(f.into()),
        Avro::Double(f) => Value::Float(f),
        Avro::Bytes(b) | Avro::Fixed(_, b) => Value::Bytes(b),
        Avro::String(s) | Avro::Enum(_, s) => Value::String(s),
        Avro::Union(_, inner) => from_avro(*inner),
        Avro::Array(a) => Value::List(a.into_iter().map(from_avro).collect()),
        Avro::Map(m) => Value::Map(m.into_iter().map(|(k, v)| (k, from_avro(v))).collect()),
        Avro::Record(r) => Value::Map(r.into_iter().map(|(k, v)| (k, from_avro(v))).collect()),
        Avro::TimestampMillis(ms) | Avro::LocalTimestampMillis(ms) => Value::Timestamp(ms),
        Avro::TimestampMicros(us) | Avro::LocalTimestampMicros(us) => {
            Value::Timestamp(us.div_euclid(1_000))
        }
        Avro::TimestampNanos(ns) | Avro::LocalTimestampNanos(ns) => {
            Value::Timestamp(ns.div_euclid(1_000_000))
        }
        Avro::Uuid(u) => Value::String(u.to_string()),
        other => Value::String(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{"type": "record", "name": "Click", "fields": [
        {"name": "user", "type": "string"},
        {"name": "n", "type": "long"},
        {"name": "tag", "type": ["null", "string"], "default": null}]}"#;

    fn datum(user: &str, n: i64, tag: Option<&str>) -> Vec<u8> {
        let schema = Schema::parse_str(SCHEMA).unwrap();
        let tag = match tag {
            Some(t) => Avro::Union(1, Box::new(Avro::String(t.into()))),
            None => Avro::Union(0, Box::new(Avro::Null)),
        };
        let record = Avro::Record(vec![
            ("user".into(), Avro::String(user.into())),
            ("n".into(), Avro::Long(n)),
            ("tag".into(), tag),
        ]);
        apache_avro::to_avro_datum(&schema, record).unwrap()
    }

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/kafka_record.rs`): 48 bytes
    /// whose array block claims millions of items. Refused, naming the
    /// bound, before anything that size is reserved.
    #[test]
    fn a_datum_claiming_millions_of_items_is_refused_without_reserving_them() {
        let schema = r#"{"type": "record", "name": "r", "fields": [
            {"name": "f0", "type": "string"}, {"name": "f1", "type": ["null", "long"]},
            {"name": "f2", "type": {"type": "array", "items": "double"}},
            {"name": "f3", "type": {"type": "map", "values": "boolean"}}]}"#;
        let mut bytes = vec![0x0a];
        bytes.extend([0x02; 27]);
        bytes.extend(b"TTTT\xffem\xff\xff\xea/o,t\n\nP}\x9d#");
        let err = decode(schema, &fields(&["f0", "f1", "f2", "f3"]), &bytes).unwrap_err();
        assert!(err.contains(&format!("maximum allowed: {MAX_AVRO_ALLOCATION}")), "{err}");
    }

    #[test]
    fn a_datum_becomes_the_named_fields_in_order() {
        let rows =
            decode(SCHEMA, &fields(&["n", "user", "tag", "missing"]), &datum("ann", 42, Some("x")));
        assert_eq!(
            rows,
            Ok(vec![vec![
                Value::Int(42),
                Value::String("ann".into()),
                Value::String("x".into()),
                Value::Null
            ]])
        );
        let rows = decode(SCHEMA, &fields(&["tag"]), &datum("bob", 1, None));
        assert_eq!(rows, Ok(vec![vec![Value::Null]]));
    }

    #[test]
    fn truncated_or_overlong_bytes_are_reasons_not_panics() {
        let good = datum("ann", 42, Some("x"));
        // Cut inside `user` and inside `n`. (apache-avro 0.21 decodes a
        // datum cut inside its trailing `["null", "string"]` union as null
        // there: such a cut goes unnoticed.)
        for cut in [0, 2, 3, 4] {
            let err = decode(SCHEMA, &fields(&["user"]), &good[..cut]).unwrap_err();
            assert!(err.contains("not an Avro datum"), "cut at {cut}: {err}");
        }
        let mut long = good.clone();
        long.push(0);
        let err = decode(SCHEMA, &fields(&["user"]), &long).unwrap_err();
        assert!(err.contains("1 bytes left"), "{err}");
    }

    #[test]
    fn a_schema_that_is_not_a_record_is_refused() {
        assert!(parse(r#""string""#).unwrap_err().contains("not a record"));
        assert!(parse("{not json").unwrap_err().starts_with("avro schema"));
    }
}
