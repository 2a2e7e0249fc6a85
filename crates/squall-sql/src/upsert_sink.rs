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
//!
//! A `'connector' = 'jdbc'` table (PostgreSQL, Flink's JDBC connector
//! options) or a `'connector' = 'redis'` table with a primary key is
//! written by squall-connectors' upsert sinks (registered by
//! `squall_connectors::register()`): `+I`/`+U` rows upsert the key's
//! record (`INSERT ... ON CONFLICT DO UPDATE`, `SET`/`HSET`), `-D` rows
//! delete it (`DELETE`, `DEL`/`HDEL`), flushed at every checkpoint barrier
//! so a restored run rewrites the same final contents.

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
                SqlError::plan(format!(
                    "table '{}': PRIMARY KEY column '{k}' is not a column",
                    table.name
                ))
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
    key_columns(table)?;
    let target = match connector.as_str() {
        "filesystem" | "file" => {
            let format = table.option("format").unwrap_or("csv").to_ascii_lowercase();
            if format != "csv" {
                return Err(SqlError::unsupported(format!(
                    "sink format '{format}' (the filesystem sink writes csv)"
                )));
            }
            let path = std::path::PathBuf::from(table.required("path")?);
            let sink = t.file_sink(table, &path)?;
            let factory = squall::builtins::registry::bolt_factory(sink);
            let what = format!("CSV part files in {} (committed with checkpoints)", path.display());
            (factory, what, Some(path))
        }
        "jdbc" | "postgres" | "redis" => {
            let (kind, settings) = server_settings(table, &connector)?;
            let built = squall::builtins::registry::bolt(kind, &settings).map_err(|e| {
                SqlError::config(format!(
                    "table '{}': {e} (the '{kind}' sink comes from squall-connectors: \
                     call squall_connectors::register() first)",
                    table.name
                ))
            })?;
            (built.factory, built.description, None)
        }
        other => {
            return Err(SqlError::unsupported(format!(
                "a PRIMARY KEY on a '{other}' sink table (upsert sinks are 'filesystem', 'jdbc' (PostgreSQL) and 'redis' tables)"
            )))
        }
    };
    let (factory, what, path) = target;
    let updating = node.updating;
    let names = table.schema.fields().iter().map(|f| f.name().to_string());
    let fields = Fields::new(std::iter::once(OP_FIELD.to_string()).chain(names));
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
            out.push(
                std::iter::once(op).chain(data.iter().map(|c| value_at(c.as_ref(), r))).collect(),
            );
        }
    });
    t.line(format!(
        "sink '{}': upserts by PRIMARY KEY ({}) to {what} (+I/+U upsert, -D delete)",
        table.name,
        table.primary_key.join(", "),
    ));
    let name = format!("{}sink-{}", t.prefix, table.name);
    let id = rows.to_tuples(&format!("{name}-rows"), fields, |r| r);
    let p = t.parallelism;
    t.env.with_builder(|b| {
        b.set_bolt_factory(&name, factory, p).fields_grouping(&id, key_fields);
    });
    if let Some(path) = path {
        t.outputs.push((name, path));
    }
    Ok(())
}

/// The field of the row kind in the tuples an upsert sink takes.
pub const OP_FIELD: &str = "op";

/// The registry bolt and its settings for a `'jdbc'` (PostgreSQL) or
/// `'redis'` upsert table: Flink's JDBC options `url`
/// (`jdbc:postgresql://host:port/db`), `table-name`, `username`,
/// `password`; for Redis `url` (`redis://host:port`) and `hash` (one hash
/// of all rows) or `key-prefix` (one string key per row), each record the
/// row's non-key columns as a JSON object. Writes flush on every
/// checkpoint barrier; `sink.buffer-flush.max-rows` and
/// `sink.buffer-flush.interval` (ms) as Flink's.
///
/// # Errors
/// A missing option, or a JDBC URL that is not PostgreSQL's.
fn server_settings(
    table: &TableDef,
    connector: &str,
) -> SqlResult<(&'static str, serde_yaml_ng::Value)> {
    use serde_yaml_ng::{Mapping, Value as Y};
    let mut m = Mapping::new();
    let url = table.required("url")?;
    let kind = if connector == "redis" {
        m.insert("url".into(), url.into());
        if let Some(h) = table.option("hash") {
            m.insert("hash".into(), h.into());
        }
        if let Some(p) = table.option("key-prefix") {
            m.insert("key_prefix".into(), p.into());
        }
        "redis"
    } else {
        let url = url.strip_prefix("jdbc:").unwrap_or(url);
        if !url.starts_with("postgresql:") && !url.starts_with("postgres:") {
            return Err(SqlError::unsupported(format!(
                "table '{}': JDBC url '{url}' (Squall's jdbc sink writes PostgreSQL: jdbc:postgresql://host:port/db)",
                table.name
            )));
        }
        let mut params = Vec::new();
        for (opt, param) in [("username", "user"), ("password", "password")] {
            if let Some(v) = table.option(opt) {
                params.push(format!("{param}={v}"));
            }
        }
        let sep = if url.contains('?') { '&' } else { '?' };
        let url = match params.is_empty() {
            true => url.to_string(),
            false => format!("{url}{sep}{}", params.join("&")),
        };
        m.insert("url".into(), url.into());
        m.insert("table".into(), table.option("table-name").unwrap_or(&table.name).into());
        "postgres"
    };
    let keys: Vec<Y> = table.primary_key.iter().map(|k| Y::from(k.as_str())).collect();
    m.insert("key_fields".into(), Y::Sequence(keys));
    m.insert("op_field".into(), OP_FIELD.into());
    for (opt, setting) in [
        ("sink.buffer-flush.max-rows", "batch_size"),
        ("sink.buffer-flush.interval", "flush_interval_ms"),
    ] {
        if let Some(v) = table.option(opt) {
            let n: u64 = v.parse().map_err(|_| {
                SqlError::config(format!("table '{}': '{opt}' = '{v}' is not a number", table.name))
            })?;
            m.insert(setting.into(), n.into());
        }
    }
    Ok((kind, Y::Mapping(m)))
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
