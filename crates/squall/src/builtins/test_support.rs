//! Test helpers for the built-ins: a bolt that collects what it receives,
//! and a bolt that panics on purpose. Tests only.

use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::model::{Tuple, Values};
use crate::runtime::OutputCollector;
use crate::topology::Bolt;

/// A sink that pushes the values of every tuple it receives into a shared
/// vector.
#[derive(Clone, Default)]
pub(crate) struct Collect {
    pub(crate) rows: Arc<Mutex<Vec<Values>>>,
}

impl Collect {
    /// Everything received so far, in arrival order.
    pub(crate) fn rows(&self) -> Vec<Values> {
        self.rows.lock().unwrap().clone()
    }
}

impl Bolt for Collect {
    fn execute(&mut self, input: Tuple, _collector: &mut OutputCollector) -> Result<()> {
        self.rows.lock().unwrap().push(input.into_values());
        Ok(())
    }
}

/// A bolt that forwards its input unchanged on the default stream with
/// `fields`, and panics on input number `panic_at` (counted from 0 per task).
#[derive(Clone)]
pub(crate) struct PanicAfter {
    pub(crate) fields: crate::Fields,
    pub(crate) panic_at: Option<usize>,
    pub(crate) seen: usize,
}

impl Bolt for PanicAfter {
    fn declare_outputs(&self, declarer: &mut crate::topology::OutputDeclarer) {
        declarer.declare(self.fields.clone());
    }

    fn execute(&mut self, input: Tuple, collector: &mut OutputCollector) -> Result<()> {
        if Some(self.seen) == self.panic_at {
            panic!("boom on purpose");
        }
        self.seen += 1;
        collector.emit(input.into_values())
    }
}

/// The names of the entries of `dir`, sorted.
pub(crate) fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Polls until `component` of `running` has executed `n` tuples (20 s at
/// most, then panics).
pub(crate) fn wait_for_executed(running: &crate::RunningTopology, component: &str, n: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while running.metrics().component(component).map_or(0, |m| m.executed) < n {
        assert!(std::time::Instant::now() < deadline, "'{component}' received nothing");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
