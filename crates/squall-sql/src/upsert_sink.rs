//! Upsert sinks (Flink's upsert mode): a sink table with
//! `PRIMARY KEY (...) NOT ENFORCED` takes a result, updating or not, as
//! upserts and deletes by its key. For the filesystem connector the sink
//! writes an upsert changelog in its committed CSV part files: each row is
//! the row kind then the table's columns, `+I`/`+U` an upsert of the
//! row's key, `-D` a delete of it; the `-U` rows of an updating result
//! are not written (an upsert replaces them, as in Flink's upsert sinks).
//! The rows are partitioned by the key over the sink's tasks, so each
//! key's rows are in one task's files, in order; [`fold`] reads the final
//! table out of them.

use std::collections::BTreeMap;

use squall::{Fields, Value};

use crate::batch::{value_at, Batch};
use crate::catalog::TableDef;
use crate::error::{SqlError, SqlResult};
use crate::translate::{Node, Translator};

/// The final table of an upsert sink's rows (as [`csv_rows`]-like rows of
/// text, the row kind first, in the order written per key): for each key
/// (the columns `key`, counted without the row kind) its last `+I`/`+U`
/// row, unless a `-D` came after it; without the row kind, ordered by key.
///
/// # Panics
/// On a row kind other than `+I`, `+U`, `-U`, `-D`.
///
/// [`csv_rows`]: https://docs.rs/csv
pub fn fold(rows: Vec<Vec<String>>, key: &[usize]) -> Vec<Vec<String>> {
    let mut table: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for mut row in rows {
        let op = row.remove(0);
        let k: Vec<String> = key.iter().map(|i| row[*i].clone()).collect();
        match op.as_str() {
            "+I" | "+U" => {
                table.insert(k, row);
            }
            "-D" => {
                table.remove(&k);
            }
            "-U" => {}
            other => panic!("row kind {other:?}"),
        }
    }
    table.into_values().collect()
}

/// The columns of `table`'s primary key, by position.
///
/// # Errors
/// A key column the table does not have.
pub fn key_columns(table: &TableDef) -> SqlResult<Vec<usize>> {
    table
        .primary_key
        .iter()
        .map(|k| {
            table.schema.index_of(k).map_err(|_| {
                SqlError::plan(format!("table '{}': PRIMARY KEY column '{k}' is not a column", table.name))
            })
        })
        .collect()
}

/// Adds the upsert sink of `table` (a filesystem table with a primary key)
/// for `node`: its rows as upserts and deletes, partitioned by the key.
///
/// # Errors
/// A connector or format the upsert mode does not write, a bad path.
pub fn add(t: &mut Translator<'_>, table: &TableDef, node: Node) -> SqlResult<()> {
    let connector = table.connector()?.to_ascii_lowercase();
    if !matches!(connector.as_str(), "filesystem" | "file") {
        return Err(SqlError::unsupported(format!(
            "a PRIMARY KEY on a '{connector}' sink table (upsert sinks are 'filesystem' tables)"
        )));
    }
    let format = table.option("format").unwrap_or("csv").to_ascii_lowercase();
    if format != "csv" {
        return Err(SqlError::unsupported(format!(
            "sink format '{format}' (the filesystem sink writes csv)"
        )));
    }
    key_columns(table)?;
    let path = std::path::PathBuf::from(table.required("path")?);
    let updating = node.updating;
    let names = table.schema.fields().iter().map(|f| f.name().to_string());
    let fields = Fields::new(std::iter::once("op".to_string()).chain(names));
    let key_fields = Fields::new(table.primary_key.iter().cloned());
    let rows = node.stream.flat_map(move |b: Batch, out: &mut Vec<Vec<Value>>| {
        let cols = b.0.columns();
        let (data, op) = match updating {
            true => (&cols[..cols.len() - 1], cols.last()),
            false => (cols, None),
        };
        for r in 0..b.0.num_rows() {
            let op = match op.map(|c| value_at(c.as_ref(), r)) {
                None => Value::String("+I".into()),
                Some(Value::String(s)) if s == "-U" => continue,
                Some(v) => v,
            };
            out.push(std::iter::once(op).chain(data.iter().map(|c| value_at(c.as_ref(), r))).collect());
        }
    });
    let sink = t.file_sink(table, &path)?;
    t.line(format!(
        "sink '{}': upserts by PRIMARY KEY ({}) as CSV part files in {} (row kind first: +I/+U upsert, -D delete; committed with checkpoints)",
        table.name,
        table.primary_key.join(", "),
        path.display()
    ));
    let name = format!("{}sink-{}", t.prefix, table.name);
    let id = rows.to_tuples(&format!("{name}-rows"), fields, |r| r);
    let p = t.parallelism;
    t.env.with_builder(|b| {
        b.set_bolt(&name, sink, p).fields_grouping(&id, key_fields);
    });
    t.outputs.push((name, path));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[&str]) -> Vec<Vec<String>> {
        text.iter().map(|r| r.split(',').map(str::to_string).collect()).collect()
    }

    #[test]
    fn the_last_upsert_of_each_key_stays_unless_deleted() {
        let log = rows(&["+I,a,1", "+I,b,1", "-U,a,1", "+U,a,2", "-D,b,1", "+I,c,5", "+I,b,7"]);
        assert_eq!(fold(log, &[0]), rows(&["a,2", "b,7", "c,5"]));
    }
}
