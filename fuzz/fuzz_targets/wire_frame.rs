//! The cluster wire protocol's frame decoder on arbitrary frames, plain
//! and LZ4-compressed: every message kind that crosses between workers
//! decodes or is refused with an error, never a panic or a huge
//! allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use squall_cluster::wire::{decode_frame, Hello};

fuzz_target!(|data: &[u8]| {
    for compressed in [false, true] {
        let _ = decode_frame::<Hello>(data, compressed);
        let _ = decode_frame::<squall::runtime::RemoteMessage>(data, compressed);
        let _ = decode_frame::<squall::runtime::CheckpointEvent>(data, compressed);
        let _ = decode_frame::<squall::runtime::AckerTraffic>(data, compressed);
    }
});
