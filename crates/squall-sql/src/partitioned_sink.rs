//! The partitioned filesystem sink, Flink's `PARTITIONED BY (dt, hm)` on a
//! `filesystem` table: each row goes to the folder of its partition
//! values, Hive-style (`path/dt=2015-07-15/hm=00%3A01/part-...csv`, the
//! values escaped as Flink's `PartitionPathUtils.escapePathName` does, a
//! NULL as `__DEFAULT_PARTITION__`), without the partition columns (they
//! are in the path).
//!
//! Exactly-once as the unpartitioned sink: a transaction is one
//! [`TransactionalFileSink`] transaction per partition folder it wrote
//! ([`PartitionedTxn`]); a partition's part files appear only when the
//! checkpoint covering them completes (rename from hidden pending files),
//! and after a failure the pending files no completed checkpoint lists are
//! deleted in every partition folder. Flink commits a partition
//! (`_SUCCESS` files, metastore) on its partition-time trigger; Squall's
//! part files are committed per checkpoint and no success file is written.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use squall::builtins::{PartFile, TransactionalFileSink};
use squall::checkpoint::TwoPhaseCommitSink;
use squall::{Error, Result, TopologyContext, Tuple, Value};

/// The folder name of a NULL partition value (Flink's default
/// `partition.default-name`).
pub const DEFAULT_PARTITION: &str = "__DEFAULT_PARTITION__";

/// `value` escaped for a folder name: `%XX` for control characters and
/// `"#%'*/:=?\{[]^` (Hive's and Flink's `escapePathName`).
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_ascii_control() || "\"#%'*/:=?\\{[]^".contains(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// One transaction: the part file transaction of each partition folder
/// written (relative to the sink's path).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionedTxn {
    /// By partition folder.
    pub parts: BTreeMap<String, PartFile>,
}

/// The sink: rows by the values of `partition` columns into folders under
/// `dir`.
#[derive(Debug)]
pub struct PartitionedFileSink {
    dir: PathBuf,
    /// `(name, index)` of the partition columns in the input tuples.
    partition: Vec<(String, usize)>,
    context: Option<TopologyContext>,
    sinks: HashMap<String, TransactionalFileSink>,
}

impl Clone for PartitionedFileSink {
    /// A fresh copy with no folder open.
    fn clone(&self) -> Self {
        PartitionedFileSink::new(self.dir.clone(), self.partition.clone())
    }
}

impl PartitionedFileSink {
    /// A sink writing under `dir`, partitioned by the columns `partition`
    /// (`(name, index in the input)`, outermost folder first).
    pub fn new(dir: PathBuf, partition: Vec<(String, usize)>) -> PartitionedFileSink {
        PartitionedFileSink { dir, partition, context: None, sinks: HashMap::new() }
    }

    /// The folder (relative) of `row`'s partition.
    fn folder(&self, row: &[Value]) -> String {
        let parts: Vec<String> = self
            .partition
            .iter()
            .map(|(name, i)| {
                let v = match row.get(*i) {
                    None | Some(Value::Null) => DEFAULT_PARTITION.to_string(),
                    Some(v) => escape(&v.to_string()),
                };
                format!("{}={v}", escape(name))
            })
            .collect();
        parts.join("/")
    }

    /// The sink of partition folder `folder`, opened (the folder created)
    /// on first use.
    fn sink(&mut self, folder: &str) -> Result<&mut TransactionalFileSink> {
        if !self.sinks.contains_key(folder) {
            let path = self.dir.join(folder);
            std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            let mut sink = TransactionalFileSink::new(path)?;
            if let Some(c) = &self.context {
                sink.open(c)?;
            }
            self.sinks.insert(folder.to_string(), sink);
        }
        Ok(self.sinks.get_mut(folder).expect("inserted above"))
    }

    /// The partition folders under the sink's path (relative), found on
    /// disk: those `partition.len()` levels down.
    fn folders_on_disk(&self) -> Result<Vec<String>> {
        let mut level = vec![String::new()];
        for _ in &self.partition {
            let mut next = Vec::new();
            for rel in level {
                let path = self.dir.join(&rel);
                let Ok(entries) = std::fs::read_dir(&path) else { continue };
                for e in entries {
                    let e = e.map_err(|e| Error::io(&path, e))?;
                    if e.path().is_dir() {
                        let name = e.file_name().to_string_lossy().into_owned();
                        next.push(if rel.is_empty() { name } else { format!("{rel}/{name}") });
                    }
                }
            }
            level = next;
        }
        Ok(level)
    }
}

impl TwoPhaseCommitSink for PartitionedFileSink {
    type Transaction = PartitionedTxn;

    fn open(&mut self, context: &TopologyContext) -> Result<()> {
        self.context = Some(context.clone());
        for s in self.sinks.values_mut() {
            s.open(context)?;
        }
        Ok(())
    }

    fn begin_transaction(&mut self) -> Result<PartitionedTxn> {
        Ok(PartitionedTxn::default())
    }

    /// # Errors
    /// [`Error::Io`] naming the folder or file that cannot be written.
    fn invoke(&mut self, txn: &mut PartitionedTxn, input: Tuple) -> Result<()> {
        let folder = self.folder(input.values());
        let keep: Vec<Value> = input
            .values()
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.partition.iter().any(|(_, p)| p == i))
            .map(|(_, v)| v.clone())
            .collect();
        let row = Tuple::new(input.source().clone(), keep);
        let sink = self.sink(&folder)?;
        if !txn.parts.contains_key(&folder) {
            let part = sink.begin_transaction()?;
            txn.parts.insert(folder.clone(), part);
        }
        let part = txn.parts.get_mut(&folder).expect("inserted above");
        sink.invoke(part, row)
    }

    fn pre_commit(&mut self, txn: &mut PartitionedTxn, checkpoint_id: u64) -> Result<()> {
        for (folder, part) in txn.parts.iter_mut() {
            self.sink(folder)?.pre_commit(part, checkpoint_id)?;
        }
        Ok(())
    }

    fn commit(&mut self, txn: &PartitionedTxn) -> Result<()> {
        for (folder, part) in &txn.parts {
            self.sink(folder)?.commit(part)?;
        }
        Ok(())
    }

    fn abort(&mut self, txn: &PartitionedTxn) {
        for (folder, part) in &txn.parts {
            if let Ok(s) = self.sink(folder) {
                s.abort(part);
            }
        }
    }

    /// In every partition folder, deletes the pending files this task owns
    /// that `keep` does not list.
    fn discard_others(&mut self, keep: &[PartitionedTxn]) -> Result<()> {
        for folder in self.folders_on_disk()? {
            let kept: Vec<PartFile> =
                keep.iter().filter_map(|t| t.parts.get(&folder).cloned()).collect();
            self.sink(&folder)?.discard_others(&kept)?;
        }
        Ok(())
    }
}

/// The `PARTITIONED BY (...)` columns of `ct` (names only, as Flink
/// writes them), each a column of `schema`.
///
/// # Errors
/// A partition column that is not a column of the table, named.
pub fn partition_columns(
    ct: &datafusion_sql::sqlparser::ast::CreateTable,
    schema: &datafusion_common::arrow::datatypes::SchemaRef,
) -> crate::SqlResult<Vec<String>> {
    use datafusion_sql::sqlparser::ast::HiveDistributionStyle;
    let HiveDistributionStyle::PARTITIONED { columns } = &ct.hive_distribution else {
        return Ok(Vec::new());
    };
    columns
        .iter()
        .map(|c| {
            let name = c.name.value.clone();
            match schema.index_of(&name) {
                Ok(_) => Ok(name),
                Err(_) => Err(crate::SqlError::plan(format!(
                    "table '{}': PARTITIONED BY {name}: no such column",
                    ct.name
                ))),
            }
        })
        .collect()
}

/// The sink bolt of `table` writing under `path` if it is partitioned
/// (`updating`: its rows start with the row kind), else `None`.
///
/// # Errors
/// The folder `path` cannot be created.
pub fn bolt(
    table: &crate::catalog::TableDef,
    path: &Path,
    updating: bool,
) -> crate::SqlResult<Option<squall::checkpoint::TwoPhaseCommitBolt<PartitionedFileSink>>> {
    if table.partition_by.is_empty() {
        return Ok(None);
    }
    std::fs::create_dir_all(path).map_err(|e| {
        crate::SqlError::config(format!(
            "table '{}': cannot create '{}': {e}",
            table.name,
            path.display()
        ))
    })?;
    let partition = table
        .partition_by
        .iter()
        .map(|c| {
            let i = table.schema.index_of(c).map_err(|e| crate::SqlError::plan(e.to_string()))?;
            Ok((c.clone(), i + updating as usize))
        })
        .collect::<crate::SqlResult<_>>()?;
    Ok(Some(squall::checkpoint::TwoPhaseCommitBolt::new(PartitionedFileSink::new(
        path.to_path_buf(),
        partition,
    ))))
}

/// `", partitioned by dt/hm"` for a partitioned table, else nothing.
pub fn describe(table: &crate::catalog::TableDef) -> String {
    match table.partition_by.is_empty() {
        true => String::new(),
        false => format!(", one folder per {}", table.partition_by.join("/")),
    }
}

/// Each committed part file under `dir` with its partition folder:
/// `(folder relative to dir, file)`, sorted; for tests and tools.
///
/// # Errors
/// A folder or file that cannot be read.
pub fn committed(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if p.is_dir() {
                stack.push(p);
            } else if !name.starts_with('.') && !name.starts_with('_') {
                let rel = d.strip_prefix(dir).unwrap_or(&d).to_string_lossy().into_owned();
                out.push((rel, p));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_as_flink_escapes_path_names() {
        assert_eq!(escape("2015-07-15"), "2015-07-15");
        assert_eq!(escape("00:01"), "00%3A01");
        assert_eq!(escape("a/b=c%"), "a%2Fb%3Dc%25");
        assert_eq!(escape("x\ny"), "x%0Ay");
    }
}
