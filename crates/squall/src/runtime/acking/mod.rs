//! Storm's at-least-once: acker tasks track every spout tuple's tree by
//! XOR of edge ids, spouts hear what became of their trees and replay
//! failures, and failed tasks are restarted in place.

pub(crate) mod acker;
pub(crate) mod part_ackers;
pub(crate) mod restart;
pub(crate) mod rotating_map;
pub(crate) mod spout_tracker;
pub(crate) mod tracking;
