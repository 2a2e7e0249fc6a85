//! The Kafka spout's record decoding (JSON, CSV, raw text and bytes):
//! any payload decodes to rows or to an error the spout sends to its
//! `errors` stream, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use squall_connectors::Format;

fuzz_target!(|data: &[u8]| {
    let fields = |n: usize| (0..n).map(|i| format!("f{i}")).collect::<Vec<_>>();
    let formats =
        [Format::Raw, Format::Lines, Format::Json { fields: fields(2) }, Format::Csv { fields: fields(3) }];
    for format in &formats {
        let _ = format.decode(Some(data));
    }
});
