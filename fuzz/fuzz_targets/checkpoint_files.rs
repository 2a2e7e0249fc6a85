//! What a restore reads from checkpoint storage: a checkpoint's
//! `_metadata` (with its incremental RocksDB manifest) and a task's
//! snapshot file. A corrupt file is refused with an error naming why,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use squall::checkpoint::CheckpointMetadata;
use squall::state::TaskSnapshot;

fuzz_target!(|data: &[u8]| {
    if let Ok(metadata) = CheckpointMetadata::from_json(data) {
        let _ = metadata.state_bytes();
    }
    if let Err(e) = TaskSnapshot::decode(data) {
        assert!(!e.to_string().is_empty());
    }
});
