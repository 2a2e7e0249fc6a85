//! The data path: a record's way from a spout through output buffers,
//! partitioners and bounded channels into the next executor's inputs
//! (`plan` turns the logical graph into executors and channels; `part`
//! builds the share of one worker).

pub(crate) mod collector;
pub(crate) mod combiner;
pub(crate) mod executor;
pub(crate) mod inputs;
pub(crate) mod message;
pub(crate) mod part;
pub(crate) mod partition;
pub(crate) mod plan;
pub(crate) mod spout_loop;
