//! The YAML topology loader with `--set` values: any text loads or is
//! refused with an error, never a panic. Input: the YAML, then a NUL byte,
//! then `KEY=VALUE` overrides, one per line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (yaml, sets) = text.split_once('\0').unwrap_or((text, ""));
    let overrides: Vec<(String, String)> = sets
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    squall_connectors::register();
    if let Err(e) = squall::yaml::parse(yaml, &overrides) {
        assert!(!e.to_string().is_empty(), "an error says what is wrong");
    }
});
