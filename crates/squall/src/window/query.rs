//! [`WindowView`]: the open windows of a window bolt's keys as queryable
//! state `windows` (Kafka Streams' window stores, read by key): live from
//! the bolt's heap through its [`Mailbox`], committed from the checkpoint's
//! `windows` entries (see [`super::checkpoint`]).
//!
//! A key's value is the list of its open windows, oldest first, each as
//! the row the window would fire now:
//! `{"window_start": ms, "window_end": ms, "records": n, "<aggregate>": v, ...}`
//! (bounds `null` for the global window; `records` counts the records
//! added since the window opened or was last purged).

use std::sync::Arc;

use super::fields::cells_result;
use super::state::Panes;
use super::{global, AggregateFunction, Cell, WindowOperator};
use crate::error::{Error, Result};
use crate::model::{InlineKey, Value};
use crate::state::{
    decode, key_text, value_json, Answer, Ask, HeapView, Mailbox, QueriedEntry, Scan,
};

/// The name queries read a window bolt's open windows by.
pub const WINDOWS_STATE: &str = "windows";

/// One task's open windows, for queries.
pub(crate) struct WindowView {
    mailbox: Arc<Mailbox>,
    /// The aggregates' output names, in order.
    names: Arc<[String]>,
}

impl WindowView {
    /// A view answered through `mailbox`, showing aggregates named `names`.
    pub fn new(mailbox: Arc<Mailbox>, names: Vec<String>) -> Self {
        WindowView { mailbox, names: names.into() }
    }
}

/// One key's open windows as JSON (see the module's header).
pub(crate) fn panes_json(names: &[String], panes: &Panes<Vec<Cell>>) -> serde_json::Value {
    let windows = panes.iter().map(|(window, pane)| {
        let bound = |t: i64| match *window == global::GLOBAL {
            true => serde_json::Value::Null,
            false => serde_json::Value::from(t),
        };
        let mut row = serde_json::Map::new();
        row.insert("window_start".into(), bound(window.start));
        row.insert("window_end".into(), bound(window.end));
        row.insert("records".into(), pane.count.into());
        for (name, value) in names.iter().zip(cells_result(&pane.acc)) {
            row.insert(name.clone(), value_json(&value));
        }
        serde_json::Value::Object(row)
    });
    serde_json::Value::Array(windows.collect())
}

/// Answers `ask` from `op` (on the bolt's own thread; `None` before its
/// first record).
pub(crate) fn answer<F: AggregateFunction<Acc = Vec<Cell>>>(
    names: &[String],
    op: Option<&WindowOperator<InlineKey, F>>,
    ask: &Ask,
) -> Result<Answer> {
    match ask {
        Ask::Key(key) => {
            let panes = op.and_then(|op| op.panes_of(&InlineKey::from_values(key.clone())));
            Ok(Answer::Value(panes.map_or(serde_json::Value::Null, |p| panes_json(names, p))))
        }
        Ask::Scan(scan) => {
            let mut found: Vec<_> = op
                .into_iter()
                .flat_map(|op| op.panes())
                .map(|(key, panes)| {
                    let values = key.to_values();
                    (key_text(&values), values, panes)
                })
                .filter(|(text, _, _)| scan.matches(text))
                .collect();
            found.sort_by(|a, b| a.0.cmp(&b.0));
            found.truncate(scan.limit.saturating_add(1));
            let entries = found.into_iter().map(|(text, key, panes)| {
                let key = key.iter().map(value_json).collect();
                (text, QueriedEntry { key, value: panes_json(names, panes) })
            });
            Ok(Answer::Entries(entries.collect()))
        }
    }
}

fn unexpected(answer: Answer) -> Error {
    Error::State(format!("a window task answered out of turn: {answer:?}"))
}

impl HeapView for WindowView {
    fn get(&self, key: &[Value]) -> Result<serde_json::Value> {
        match self.mailbox.ask(Ask::Key(key.to_vec()))? {
            Answer::Value(value) => Ok(value),
            other => Err(unexpected(other)),
        }
    }

    fn scan(&self, scan: &Scan) -> Result<Vec<(String, QueriedEntry)>> {
        match self.mailbox.ask(Ask::Scan(scan.clone()))? {
            Answer::Entries(entries) => Ok(entries),
            other => Err(unexpected(other)),
        }
    }

    fn show(&self, bytes: &[u8]) -> Result<serde_json::Value> {
        let panes: Panes<Vec<Cell>> = decode(bytes, "a key's checkpointed windows")?;
        Ok(panes_json(&self.names, &panes))
    }
}
