//! [`MemoryBackend`]: keyed state in hash maps on the heap, one map per
//! (state, key group) — Flink's `HashMapStateBackend`. The default.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use foldhash::fast::RandomState;
use serde_bytes::{ByteBuf, Bytes};

use crate::error::Result;
use crate::state::backend::{KeyGroupState, NamedEntries, StateBackend, StateId, StateKind};

/// The entries of one state in one key group.
#[derive(Debug)]
enum Table {
    /// Value, list and reducing state: point lookups only.
    Hashed(HashMap<ByteBuf, ByteBuf, RandomState>),
    /// Map state: ordered, for prefix scans.
    Ordered(BTreeMap<ByteBuf, ByteBuf>),
}

impl Table {
    fn new(kind: StateKind) -> Table {
        match kind {
            StateKind::Value => Table::Hashed(HashMap::default()),
            StateKind::Map => Table::Ordered(BTreeMap::new()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Table::Hashed(m) => m.len(),
            Table::Ordered(m) => m.len(),
        }
    }

    fn entries(&self) -> Vec<(ByteBuf, ByteBuf)> {
        match self {
            Table::Hashed(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Table::Ordered(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

/// One registered state: its name, kind, and a table per key group.
#[derive(Debug)]
struct Registered {
    name: String,
    kind: StateKind,
    groups: Vec<Table>,
}

/// Keyed state held in memory. Fast, bounded by the heap; a snapshot copies
/// every entry.
#[derive(Debug)]
pub struct MemoryBackend {
    key_groups: Range<usize>,
    states: Vec<Registered>,
}

impl MemoryBackend {
    /// An empty backend for the key groups `key_groups`.
    pub fn new(key_groups: Range<usize>) -> MemoryBackend {
        MemoryBackend { key_groups, states: Vec::new() }
    }

    fn table(&self, state: StateId, key_group: usize) -> &Table {
        &self.states[state].groups[key_group - self.key_groups.start]
    }

    fn table_mut(&mut self, state: StateId, key_group: usize) -> &mut Table {
        let start = self.key_groups.start;
        &mut self.states[state].groups[key_group - start]
    }
}

impl StateBackend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn key_groups(&self) -> Range<usize> {
        self.key_groups.clone()
    }

    fn register(&mut self, id: StateId, name: &str, kind: StateKind) {
        debug_assert_eq!(id, self.states.len(), "state ids are given out in order");
        let groups = self.key_groups.clone().map(|_| Table::new(kind)).collect();
        self.states.push(Registered { name: name.to_string(), kind, groups });
    }

    fn get(&self, state: StateId, key_group: usize, key: &[u8]) -> Result<Option<Cow<'_, [u8]>>> {
        let found = match self.table(state, key_group) {
            Table::Hashed(m) => m.get(Bytes::new(key)),
            Table::Ordered(m) => m.get(Bytes::new(key)),
        };
        Ok(found.map(|v| Cow::Borrowed(v.as_slice())))
    }

    fn put(&mut self, state: StateId, key_group: usize, key: &[u8], value: &[u8]) -> Result<()> {
        let slot = match self.table_mut(state, key_group) {
            Table::Hashed(m) => m.get_mut(Bytes::new(key)),
            Table::Ordered(m) => m.get_mut(Bytes::new(key)),
        };
        match slot {
            // Overwrite in place: no allocation for an updated key.
            Some(slot) => {
                slot.clear();
                slot.extend_from_slice(value);
            }
            None => {
                let (k, v) = (ByteBuf::from(key), ByteBuf::from(value));
                match self.table_mut(state, key_group) {
                    Table::Hashed(m) => m.insert(k, v),
                    Table::Ordered(m) => m.insert(k, v),
                };
            }
        }
        Ok(())
    }

    fn remove(&mut self, state: StateId, key_group: usize, key: &[u8]) -> Result<()> {
        match self.table_mut(state, key_group) {
            Table::Hashed(m) => m.remove(Bytes::new(key)),
            Table::Ordered(m) => m.remove(Bytes::new(key)),
        };
        Ok(())
    }

    fn scan_prefix(
        &self,
        state: StateId,
        key_group: usize,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(match self.table(state, key_group) {
            Table::Ordered(m) => m
                .range(ByteBuf::from(prefix)..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect(),
            Table::Hashed(m) => {
                let mut found: Vec<(Vec<u8>, Vec<u8>)> = m
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect();
                found.sort();
                found
            }
        })
    }

    fn snapshot(&self) -> Result<Vec<KeyGroupState>> {
        let mut out = Vec::new();
        for (i, key_group) in self.key_groups.clone().enumerate() {
            let states: Vec<NamedEntries> = self
                .states
                .iter()
                .filter(|s| s.groups[i].len() > 0)
                .map(|s| NamedEntries {
                    name: s.name.clone(),
                    kind: s.kind,
                    entries: s.groups[i].entries(),
                })
                .collect();
            if !states.is_empty() {
                out.push(KeyGroupState { key_group: key_group as u32, states });
            }
        }
        Ok(out)
    }

    fn restore(&mut self, group: KeyGroupState) -> Result<()> {
        let kg = group.key_group as usize;
        assert!(self.key_groups.contains(&kg), "key group {kg} is not held by this task");
        for named in group.states {
            let id = match self.states.iter().position(|s| s.name == named.name) {
                Some(id) => id,
                None => {
                    let id = self.states.len();
                    self.register(id, &named.name, named.kind);
                    id
                }
            };
            for (k, v) in named.entries {
                match self.table_mut(id, kg) {
                    Table::Hashed(m) => {
                        m.insert(k, v);
                    }
                    Table::Ordered(m) => {
                        m.insert(k, v);
                    }
                }
            }
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.states.iter().flat_map(|s| &s.groups).map(Table::len).sum()
    }
}
