//! [`PostgresSink`]: keyed upserts into a PostgreSQL table through the
//! `postgres` crate (the blocking client of `tokio-postgres`): one
//! `INSERT … ON CONFLICT (key columns) DO UPDATE SET …` statement per batch.
//! Batching, flushing on barriers and retries are [`UpsertBolt`]'s.
//!
//! Each value is sent as a typed parameter with an explicit cast
//! (`$1::int8`, `$2::text`, …) and the server converts it to the column's
//! type on assignment, so an `int4` column takes Squall's 64-bit ints.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use postgres::types::ToSql;
use serde::Deserialize;
use squall::{Result, Value};

use crate::blocking::off_runtime;
use crate::decode::to_json;
use crate::retry::{Backoff, Failure};
use crate::upsert::{
    default_batch_size, default_flush_interval_ms, Batching, Columns, Row, UpsertBolt, UpsertStore,
};

/// Connect timeout of one attempt.
const TIMEOUT: Duration = Duration::from_secs(10);

/// PostgreSQL's limit of parameters per statement.
const MAX_PARAMS: usize = 65_535;

/// What a [`PostgresSink`] writes; the settings of YAML bolt `postgres`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSinkOptions {
    /// A libpq connection string: `host=127.0.0.1 port=5432 user=squall
    /// dbname=counts` or `postgresql://user@host:port/db`.
    pub url: String,
    /// The table (`name` or `schema.name`); it must exist, with a primary
    /// key or unique constraint on the key columns.
    pub table: String,
    /// The key fields, which are also the table's conflict columns.
    pub key_fields: Vec<String>,
    /// The fields written to columns of the same names; none: every field
    /// that is not a key field.
    #[serde(default)]
    pub value_fields: Option<Vec<String>>,
    /// Rows per statement. Default 500.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Longest time a row waits for its batch, ms. Default 1 000.
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u64,
    /// The field holding each row's kind when the input is a changelog
    /// (`+I`, `-U`, `+U`, `-D`): `-D` deletes the key's record, `-U` is
    /// skipped. None: every row is an upsert.
    #[serde(default)]
    pub op_field: Option<String>,
    /// Retries while the database is unreachable.
    #[serde(default)]
    pub retry: Backoff,
}

impl PostgresSinkOptions {
    /// Upserts into `table` at `url`, keyed by `key_fields`, every other
    /// field a column.
    pub fn new(url: impl Into<String>, table: impl Into<String>, key_fields: &[&str]) -> Self {
        PostgresSinkOptions {
            url: url.into(),
            table: table.into(),
            key_fields: key_fields.iter().map(|f| f.to_string()).collect(),
            value_fields: None,
            batch_size: default_batch_size(),
            flush_interval_ms: default_flush_interval_ms(),
            op_field: None,
            retry: Backoff::default(),
        }
    }
}

/// The PostgreSQL side of the sink (see the module docs); build the bolt
/// with [`PostgresSink::bolt`].
pub struct PostgresSink {
    options: PostgresSinkOptions,
    config: postgres::Config,
    client: Mutex<Option<postgres::Client>>,
}

impl Clone for PostgresSink {
    /// A copy with no connection.
    fn clone(&self) -> Self {
        PostgresSink {
            options: self.options.clone(),
            config: self.config.clone(),
            client: Mutex::new(None),
        }
    }
}

/// `name` as a quoted SQL identifier; `a.b` as `"a"."b"`.
fn quote(name: &str) -> String {
    name.split('.').map(|p| format!("\"{}\"", p.replace('"', "\"\""))).collect::<Vec<_>>().join(".")
}

/// One value as a statement parameter and the cast that types it; `None`
/// for SQL `NULL`.
fn param(v: &Value) -> Option<(Box<dyn ToSql + Sync>, &'static str)> {
    Some(match v {
        Value::Null | Value::Native(_) => return None,
        Value::Bool(b) => (Box::new(*b), "bool"),
        Value::Int(i) | Value::Timestamp(i) => (Box::new(*i), "int8"),
        Value::Float(f) => (Box::new(*f), "float8"),
        Value::String(s) => (Box::new(s.clone()), "text"),
        Value::Bytes(b) => (Box::new(b.clone()), "bytea"),
        v @ (Value::List(_) | Value::Map(_)) => (Box::new(to_json(v).to_string()), "text::jsonb"),
    })
}

/// Appends `(v1, v2, ...), (...)` for `rows` to `sql`: each value a typed
/// parameter (`$n::int8`, ...) pushed to `params`, or `NULL`.
fn tuples<'a, R: Iterator<Item = &'a Value>>(
    sql: &mut String,
    params: &mut Vec<Box<dyn ToSql + Sync>>,
    rows: impl Iterator<Item = R>,
) {
    for (i, row) in rows.enumerate() {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        for (j, v) in row.enumerate() {
            if j > 0 {
                sql.push_str(", ");
            }
            match param(v) {
                Some((p, cast)) => {
                    params.push(p);
                    write!(sql, "${}::{cast}", params.len()).expect("write to a String");
                }
                None => sql.push_str("NULL"),
            }
        }
        sql.push(')');
    }
}

impl PostgresSink {
    /// The bolt upserting into PostgreSQL as `options` say.
    ///
    /// # Errors
    /// [`squall::Error::Config`] for a malformed connection string, no key
    /// field or a batch size of 0. An unreachable database is not an error
    /// here: the writes retry.
    pub fn bolt(options: PostgresSinkOptions) -> Result<UpsertBolt<PostgresSink>> {
        let mut config: postgres::Config = options.url.parse().map_err(|e| {
            squall::Error::config(format!("postgres sink: bad url '{}': {e}", options.url))
        })?;
        config.connect_timeout(TIMEOUT);
        let batching = Batching {
            key_fields: options.key_fields.clone(),
            value_fields: options.value_fields.clone(),
            batch_size: options.batch_size,
            flush_interval_ms: options.flush_interval_ms,
            op_field: options.op_field.clone(),
            retry: options.retry,
        };
        UpsertBolt::new(PostgresSink { options, config, client: Mutex::new(None) }, batching)
    }

    /// The statement deleting the keys of `rows` and its parameters.
    fn delete_statement(
        &self,
        columns: &Columns,
        rows: &[&Row],
    ) -> (String, Vec<Box<dyn ToSql + Sync>>) {
        let key: Vec<String> = columns.key.iter().map(|c| quote(c)).collect();
        let mut sql =
            format!("DELETE FROM {} WHERE ({}) IN (", quote(&self.options.table), key.join(", "));
        let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        tuples(&mut sql, &mut params, rows.iter().map(|r| r.key.iter()));
        sql.push(')');
        (sql, params)
    }

    /// The upsert statement for `rows` and its parameters.
    fn statement(&self, columns: &Columns, rows: &[&Row]) -> (String, Vec<Box<dyn ToSql + Sync>>) {
        let names: Vec<String> =
            columns.key.iter().chain(&columns.values).map(|c| quote(c)).collect();
        let mut sql =
            format!("INSERT INTO {} ({}) VALUES ", quote(&self.options.table), names.join(", "));
        let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        tuples(&mut sql, &mut params, rows.iter().map(|r| r.key.iter().chain(&r.values)));
        let key: Vec<String> = columns.key.iter().map(|c| quote(c)).collect();
        write!(sql, " ON CONFLICT ({}) DO ", key.join(", ")).expect("write to a String");
        if columns.values.is_empty() {
            sql.push_str("NOTHING");
        } else {
            let set: Vec<String> =
                names[columns.key.len()..].iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
            write!(sql, "UPDATE SET {}", set.join(", ")).expect("write to a String");
        }
        (sql, params)
    }
}

impl UpsertStore for PostgresSink {
    fn describe(&self) -> String {
        format!("postgres sink into {}", self.options.table)
    }

    fn check(&self, _columns: &Columns, row: &Row) -> std::result::Result<(), String> {
        match row.key.iter().chain(&row.values).find(|v| matches!(v, Value::Native(_))) {
            Some(_) => Err("a native DataStream record has no SQL form".into()),
            None => Ok(()),
        }
    }

    fn upsert(&mut self, columns: &Columns, rows: &[Row]) -> std::result::Result<(), Failure> {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        let slot: &mut Option<postgres::Client> = &mut slot;
        let this = &*self;
        // The client runs (and drops) its own runtime: off the engine's.
        off_runtime(move || this.upsert_with(slot, columns, rows))
    }
}

impl PostgresSink {
    fn upsert_with(
        &self,
        slot: &mut Option<postgres::Client>,
        columns: &Columns,
        rows: &[Row],
    ) -> std::result::Result<(), Failure> {
        if slot.is_none() {
            let client = self
                .config
                .connect(postgres::NoTls)
                .map_err(|e| Failure::Unreachable(e.to_string()))?;
            *slot = Some(client);
        }
        let client = slot.as_mut().expect("connected");
        let per_statement = (MAX_PARAMS / (columns.key.len() + columns.values.len())).max(1);
        let result = (|| {
            let mut txn = client.transaction()?;
            let (deletes, upserts): (Vec<&Row>, Vec<&Row>) = rows.iter().partition(|r| r.deleted);
            for chunk in deletes.chunks(per_statement) {
                let (sql, params) = self.delete_statement(columns, chunk);
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
                txn.execute(sql.as_str(), &refs)?;
            }
            for chunk in upserts.chunks(per_statement) {
                let (sql, params) = self.statement(columns, chunk);
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
                txn.execute(sql.as_str(), &refs)?;
            }
            txn.commit()
        })();
        let closed = client.is_closed();
        result.map_err(|e: postgres::Error| {
            if closed {
                *slot = None;
            }
            match e.as_db_error() {
                // Class 08: connection exception; 57P: the server is
                // shutting down or starting.
                Some(db)
                    if !db.code().code().starts_with("08")
                        && !db.code().code().starts_with("57P") =>
                {
                    Failure::Refused(format!("{}: {}", db.code().code(), db.message()))
                }
                _ => Failure::Unreachable(e.to_string()),
            }
        })
    }
}

impl Drop for PostgresSink {
    /// Closes the connection off the engine's runtime (the client drops
    /// its own).
    fn drop(&mut self) {
        let client = self.client.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(client) = client {
            off_runtime(move || drop(client));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_upserts_with_typed_parameters_and_quoted_names() {
        let sink =
            PostgresSink::bolt(PostgresSinkOptions::new("host=h", "wc.Counts", &["word"])).unwrap();
        let columns = Columns { key: vec!["word".into()], values: vec!["count".into()] };
        let rows = [
            Row { key: vec!["o\"er".into()], values: vec![Value::Int(3)], deleted: false },
            Row { key: vec!["ay".into()], values: vec![Value::Null], deleted: false },
        ];
        let rows: Vec<&Row> = rows.iter().collect();
        let (sql, params) = sink.store().statement(&columns, &rows);
        assert_eq!(
            sql,
            "INSERT INTO \"wc\".\"Counts\" (\"word\", \"count\") VALUES ($1::text, $2::int8), \
             ($3::text, NULL) ON CONFLICT (\"word\") DO UPDATE SET \"count\" = EXCLUDED.\"count\""
        );
        assert_eq!(params.len(), 3);
        let (sql, params) = sink.store().delete_statement(&columns, &rows);
        assert_eq!(
            sql,
            "DELETE FROM \"wc\".\"Counts\" WHERE (\"word\") IN (($1::text), ($2::text))"
        );
        assert_eq!(params.len(), 2);
    }
}
