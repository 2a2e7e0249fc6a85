//! The JSON bodies the REST API accepts (submit, rebalance, savepoint):
//! any body is read or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use squall_cluster::api::SubmitRequest;
use squall_cluster::control_api::{RebalanceRequest, SavepointBody};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<SubmitRequest>(data);
    let _ = serde_json::from_slice::<RebalanceRequest>(data);
    let _ = serde_json::from_slice::<SavepointBody>(data);
    if let Ok(submit) = serde_json::from_slice::<SubmitRequest>(data) {
        // The topology text inside goes to the YAML loader.
        squall_connectors::register();
        let _ = squall::yaml::parse(&submit.yaml, &submit.overrides);
    }
});
