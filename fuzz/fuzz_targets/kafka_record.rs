//! The Kafka spout's record decoding (JSON, CSV, Avro, raw text and bytes):
//! any payload decodes to rows or to an error the spout sends to its
//! `errors` stream, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use squall_connectors::Format;

fuzz_target!(|data: &[u8]| {
    let fields = |n: usize| (0..n).map(|i| format!("f{i}")).collect::<Vec<_>>();
    // An Avro record with a union, an array and a map: the schema's
    // decoder reads arbitrary bytes as a datum.
    let schema = r#"{"type": "record", "name": "r", "fields": [
        {"name": "f0", "type": "string"}, {"name": "f1", "type": ["null", "long"]},
        {"name": "f2", "type": {"type": "array", "items": "double"}},
        {"name": "f3", "type": {"type": "map", "values": "boolean"}}]}"#;
    let formats = [
        Format::Raw,
        Format::Lines,
        Format::Json { fields: fields(2) },
        Format::Csv { fields: fields(3) },
        Format::Avro { schema: schema.to_string(), fields: fields(4) },
    ];
    for format in &formats {
        let _ = format.decode(Some(data));
    }
});
