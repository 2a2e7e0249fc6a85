//! Storm's multilang protocol, the child's side: any message text parses
//! to a message or an error quoting it, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use squall_connectors::multilang::protocol::{parse_child_message, parse_pid_reply};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_child_message(text);
    let _ = parse_pid_reply(text);
});
