//! Lookup joins (Flink's processing-time temporal join against a lookup
//! table; Nexmark q13's bounded side input):
//!
//! ```sql
//! SELECT B.auction, S.`value` FROM (SELECT *, PROCTIME() AS p_time FROM bid) B
//! JOIN side_input FOR SYSTEM_TIME AS OF B.p_time AS S ON MOD(B.auction, 10000) = S.key
//! ```
//!
//! When the table read `FOR SYSTEM_TIME AS OF` has no watermark, it is a
//! lookup table: a bounded `'connector' = 'filesystem'` table read whole
//! (by each task, on its first row) into a hash map by the join key, and
//! each row of the probe side is joined with the rows of its key as it
//! arrives (the AS OF column's value is not used: a file read whole has
//! one version). The result is append-only; `LEFT JOIN` pads a row whose
//! key is not in the table. No keyed state: the table is read again after
//! a restore.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use datafusion_common::arrow::datatypes::SchemaRef;
use datafusion_common::arrow::record_batch::RecordBatch;
use datafusion_common::DFSchema;
use datafusion_expr::logical_plan::Join as JoinPlan;
use datafusion_expr::LogicalPlan;
use datafusion_physical_expr::PhysicalExpr;
use squall::datastream::Stream;

use crate::batch::{batch_of, scalar_at, Batch, Scalar};
use crate::catalog::{Catalog, TableDef};
use crate::error::{SqlError, SqlResult};
use crate::ops::{eval, filter};
use crate::rows::Rows;
use crate::stream_source::LineFormat;
use crate::translate::{fail, physical};

/// The lookup table's rows by join key.
type Index = HashMap<Vec<Scalar>, Vec<Vec<Scalar>>>;

/// How to read the lookup table: the table, the filter and projection of
/// its scan, and its key expressions over the projected rows.
#[derive(Clone)]
struct Loader {
    table: TableDef,
    scan_filter: Option<Arc<dyn PhysicalExpr>>,
    projection: Option<Vec<usize>>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
}

impl Loader {
    /// Reads every file of the table into the index.
    fn load(&self) -> SqlResult<Index> {
        let path = std::path::PathBuf::from(self.table.required("path")?);
        let format = LineFormat::of(&self.table)?;
        let mut rows = Rows::new(self.table.schema.clone(), None)?;
        let files = crate::file_source::list_files(&path).map_err(|e| {
            SqlError::config(format!("table '{}': '{}': {e}", self.table.name, path.display()))
        })?;
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                SqlError::config(format!("table '{}': '{}': {e}", self.table.name, file.display()))
            })?;
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                format.push_line(line, &mut rows).map_err(|why| {
                    SqlError::exec(format!(
                        "lookup table '{}': {} line {}: {why}",
                        self.table.name,
                        file.display(),
                        i + 1
                    ))
                })?;
            }
        }
        let mut batch = rows.take()?;
        if let Some(f) = &self.scan_filter {
            batch = filter(f, &batch)?;
        }
        if let Some(p) = &self.projection {
            batch = batch.project(p).map_err(|e| SqlError::exec(e.to_string()))?;
        }
        let keys = self.keys.iter().map(|k| eval(k, &batch)).collect::<SqlResult<Vec<_>>>()?;
        let mut index = Index::new();
        'rows: for r in 0..batch.num_rows() {
            let mut key = Vec::with_capacity(keys.len());
            for k in &keys {
                match scalar_at(k.as_ref(), r)? {
                    Scalar::Null => continue 'rows,
                    v => key.push(v),
                }
            }
            let row = batch
                .columns()
                .iter()
                .map(|c| scalar_at(c.as_ref(), r))
                .collect::<SqlResult<_>>()?;
            index.entry(key).or_default().push(row);
        }
        Ok(index)
    }
}

/// The lookup join of one batch of the probe side.
#[derive(Clone)]
struct Lookup {
    loader: Loader,
    index: Arc<OnceLock<Index>>,
    probe_keys: Vec<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
    residual: Option<Arc<dyn PhysicalExpr>>,
    outer: bool,
}

impl Lookup {
    fn join(&self, batch: &RecordBatch) -> SqlResult<Option<RecordBatch>> {
        let index = match self.index.get() {
            Some(i) => i,
            None => {
                let loaded = self.loader.load()?;
                self.index.get_or_init(|| loaded)
            }
        };
        let keys = self.probe_keys.iter().map(|k| eval(k, batch)).collect::<SqlResult<Vec<_>>>()?;
        let width = self.schema.fields().len();
        let row_at = |r: usize| -> SqlResult<Vec<Scalar>> {
            batch.columns().iter().map(|c| scalar_at(c.as_ref(), r)).collect()
        };
        // Every (probe row, table row) pair of equal keys, and whose.
        let (mut pairs, mut owner) = (Vec::new(), Vec::new());
        for r in 0..batch.num_rows() {
            let key =
                keys.iter().map(|k| scalar_at(k.as_ref(), r)).collect::<SqlResult<Vec<_>>>()?;
            if let Some(found) = index.get(&key) {
                let probe = row_at(r)?;
                for s in found {
                    pairs.push(probe.iter().chain(s).cloned().collect::<Vec<_>>());
                    owner.push(r);
                }
            }
        }
        let pass = crate::outer_join::passing(&self.schema, self.residual.as_ref(), &pairs)?;
        let mut matched = vec![false; batch.num_rows()];
        let mut out = Vec::with_capacity(pairs.len());
        for ((pair, ok), r) in pairs.into_iter().zip(pass).zip(owner) {
            if ok {
                matched[r] = true;
                out.push(pair);
            }
        }
        if self.outer {
            for (r, _) in matched.iter().enumerate().filter(|(_, m)| !**m) {
                let probe = row_at(r)?;
                let n = width - probe.len();
                out.push(probe.into_iter().chain(std::iter::repeat_n(Scalar::Null, n)).collect());
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        Ok(Some(batch_of(&self.schema, &out)?))
    }
}

/// The table scan under `plan`'s aliases.
fn scan_of(plan: &LogicalPlan) -> Option<&datafusion_expr::logical_plan::TableScan> {
    match plan {
        LogicalPlan::TableScan(s) => Some(s),
        LogicalPlan::SubqueryAlias(a) => scan_of(&a.input),
        _ => None,
    }
}

/// The lookup join of `j` (its right side a lookup table of `catalog`),
/// `left` the probe side's stream; `outer` for `LEFT JOIN`. Returns the
/// stream and a line describing it.
///
/// # Errors
/// A lookup table that is not a filesystem table scanned directly, named;
/// keys or conditions DataFusion cannot evaluate.
pub fn plan(
    j: &JoinPlan,
    catalog: &Catalog,
    left: Stream<Batch>,
    outer: bool,
) -> SqlResult<(Stream<Batch>, String)> {
    let scan = scan_of(&j.right).ok_or_else(|| {
        SqlError::unsupported("a lookup join (FOR SYSTEM_TIME AS OF a table without a watermark) against a view or subquery")
    })?;
    let name = scan.table_name.table();
    let table =
        catalog.tables.get(name).ok_or_else(|| SqlError::plan(format!("no table '{name}'")))?;
    let connector = table.connector()?.to_ascii_lowercase();
    if !matches!(connector.as_str(), "filesystem" | "file") {
        return Err(SqlError::unsupported(format!(
            "a lookup join against a '{connector}' table (lookup tables are bounded 'filesystem' tables, read whole)"
        )));
    }
    let full = DFSchema::try_from_qualified_schema(scan.table_name.clone(), &table.schema)?;
    let scan_filter = datafusion_expr::utils::conjunction(scan.filters.clone())
        .map(|p| physical(&p, &full))
        .transpose()?;
    let (ls, rs) = (j.left.schema(), j.right.schema());
    let loader = Loader {
        table: table.clone(),
        scan_filter,
        projection: scan.projection.clone(),
        keys: j.on.iter().map(|(_, r)| physical(r, rs)).collect::<SqlResult<_>>()?,
    };
    let f = Lookup {
        loader,
        index: Arc::default(),
        probe_keys: j.on.iter().map(|(l, _)| physical(l, ls)).collect::<SqlResult<_>>()?,
        schema: Arc::new(j.schema.as_arrow().clone()),
        residual: j.filter.as_ref().map(|f| physical(f, &j.schema)).transpose()?,
        outer,
    };
    let what = format!(
        "lookup join{} on {} against '{name}' (read whole from {}; each row joined as it arrives)",
        if outer { " (LEFT)" } else { "" },
        j.on.iter().map(|(l, r)| format!("{l} = {r}")).collect::<Vec<_>>().join(" AND "),
        table.option("path").unwrap_or("?")
    );
    let stream = left.flat_map(move |b: Batch, out: &mut Vec<Batch>| {
        if let Some(r) = f.join(&b.0).unwrap_or_else(|e| fail(e)) {
            out.push(Batch(r));
        }
    });
    Ok((stream, what))
}
