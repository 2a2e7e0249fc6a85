//! Event-time temporal joins against a versioned table (Flink's
//! `FOR SYSTEM_TIME AS OF`, Azure Stream Analytics' reference data):
//!
//! ```sql
//! SELECT o.id, o.amount * r.rate FROM orders o
//! JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.currency = r.currency
//! ```
//!
//! `rates` has a `PRIMARY KEY (currency) NOT ENFORCED` and a watermark:
//! each of its rows is a new version of its key, valid from its event time.
//! Each order joins the version of its key valid at the order's time (the
//! latest version at or before it). An order waits in keyed state until
//! the watermark passes its time (then no version before it can still
//! come), and is emitted then: the result is append-only. A version is
//! dropped once a later one is valid at the watermark. `LEFT JOIN` emits
//! an order without a version padded with NULLs.
//!
//! sqlparser reads `FOR SYSTEM_TIME AS OF` in some dialects only, so the
//! clause is cut out of the statement's text before parsing
//! ([`cut_versions`]) and remembered as a [`Versioned`] table.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion_common::arrow::datatypes::SchemaRef;
use datafusion_expr::logical_plan::Join as JoinPlan;
use datafusion_expr::{JoinType, LogicalPlan};
use datafusion_physical_expr::PhysicalExpr;
use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::tokenizer::{Location, Token, Tokenizer};
use serde::{Deserialize, Serialize};
use squall::datastream::{KeyedContext, KeyedProcessFunction, Stream, TimeDomain};

use crate::batch::{batch_of, Batch, Scalar};
use crate::catalog::Catalog;
use crate::error::{SqlError, SqlResult};
use crate::ops::JoinRow;
use crate::outer_join::passing;
use crate::translate::physical;

/// A table read `FOR SYSTEM_TIME AS OF` a column of the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The versioned table's name.
    pub table: String,
    /// The probe side's time column, as written (`o.ts`).
    pub as_of: String,
}

/// `sql` with each `table FOR SYSTEM_TIME AS OF column` clause's
/// `FOR SYSTEM_TIME AS OF column` blanked out (lines and columns kept, so
/// parse errors still point into the text), and the clauses. The clause is
/// found among sqlparser's tokens, so the same words inside a string
/// literal, a quoted identifier or a comment are left alone. Text that does
/// not tokenize is returned unchanged, for the parser to name its error.
pub fn cut_versions(sql: &str) -> (String, Vec<Versioned>) {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return (sql.to_string(), Vec::new());
    };
    // The tokens other than whitespace and comments, by their index.
    let code: Vec<usize> =
        (0..tokens.len()).filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_))).collect();
    let token = |i: usize| code.get(i).map(|&t| &tokens[t].token);
    let keyword = |i: usize, kw: &str| matches!(token(i), Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw));
    let ident = |i: usize| match token(i) {
        Some(Token::Word(w)) => Some(w.value.clone()),
        _ => None,
    };
    let mut cuts = Vec::new();
    let mut found = Vec::new();
    for i in 1..code.len() {
        if !["FOR", "SYSTEM_TIME", "AS", "OF"].iter().enumerate().all(|(k, kw)| keyword(i + k, kw))
        {
            continue;
        }
        let (Some(table), Some(mut as_of)) = (ident(i - 1), ident(i + 4)) else { continue };
        let mut last = i + 4;
        if let (Some(Token::Period), Some(column)) = (token(last + 1), ident(last + 2)) {
            as_of = format!("{as_of}.{column}");
            last += 2;
        }
        found.push(Versioned { table, as_of });
        // From FOR up to the token after the column (or the end).
        let to = tokens.get(code[last] + 1).map(|t| t.span.start);
        cuts.push((tokens[code[i]].span.start, to));
    }
    let offset = |l: Location| {
        let line_start: usize =
            sql.split_inclusive('\n').take(l.line.saturating_sub(1) as usize).map(str::len).sum();
        let column = usize::try_from(l.column.saturating_sub(1)).unwrap_or(usize::MAX);
        sql[line_start..].char_indices().nth(column).map_or(sql.len(), |(b, _)| line_start + b)
    };
    let mut out = sql.to_string();
    for (from, to) in cuts.into_iter().rev() {
        let range = offset(from)..to.map_or(sql.len(), offset);
        let blank: String =
            sql[range.clone()].chars().map(|c| if c == '\n' { c } else { ' ' }).collect();
        out.replace_range(range, &blank);
    }
    (out, found)
}

/// The table `plan` scans, through aliases, projections and filters.
fn scanned_table(plan: &LogicalPlan) -> Option<String> {
    match plan {
        LogicalPlan::TableScan(s) => Some(s.table_name.table().to_string()),
        LogicalPlan::SubqueryAlias(a) => scanned_table(&a.input),
        LogicalPlan::Projection(p) => scanned_table(&p.input),
        LogicalPlan::Filter(f) => scanned_table(&f.input),
        _ => None,
    }
}

/// What a temporal join needs of its plan.
#[derive(Debug, Clone)]
pub struct TemporalSpec {
    /// The probe side's time column (a left column).
    pub probe_time: usize,
    /// The versioned side's time column (a right column); `None`: the
    /// table has no watermark, and the join is a lookup join
    /// ([`crate::lookup_join`]).
    pub version_time: Option<usize>,
    /// Whether a probe row without a version is emitted padded (LEFT).
    pub outer: bool,
}

/// The temporal join `j` is, if its right side scans one of `versioned`
/// (a lookup join if that table has no watermark).
///
/// # Errors
/// A temporal join Squall does not run, named: the versioned table on the
/// left, a join other than INNER or LEFT, a versioned table without a
/// PRIMARY KEY that the ON condition's keys cover or without a watermark,
/// or an AS OF column that is not one of the left side's.
pub fn detect(
    j: &JoinPlan,
    versioned: &[Versioned],
    catalog: &Catalog,
) -> SqlResult<Option<TemporalSpec>> {
    let is_versioned =
        |p: &LogicalPlan| scanned_table(p).and_then(|t| versioned.iter().find(|v| v.table == t));
    if is_versioned(&j.left).is_some() {
        return Err(SqlError::unsupported(
            "a temporal join with the versioned table (FOR SYSTEM_TIME AS OF) on the left",
        ));
    }
    let Some(v) = is_versioned(&j.right) else { return Ok(None) };
    let outer = match j.join_type {
        JoinType::Inner => false,
        JoinType::Left => true,
        other => {
            return Err(SqlError::unsupported(format!(
                "{other} temporal joins (INNER and LEFT are)"
            )))
        }
    };
    let table = catalog
        .tables
        .get(&v.table)
        .ok_or_else(|| SqlError::plan(format!("'{}' is not a table", v.table)))?;
    let Some(watermark) = table.watermark.as_ref() else {
        return Ok(Some(TemporalSpec { probe_time: 0, version_time: None, outer }));
    };
    let rs = j.right.schema();
    let keyed: Vec<String> =
        j.on.iter()
            .filter_map(|(_, r)| crate::translate::passthrough(r, rs))
            .map(|i| rs.field(i).name().clone())
            .collect();
    if table.primary_key.is_empty() || !table.primary_key.iter().all(|k| keyed.contains(k)) {
        return Err(SqlError::unsupported(format!(
            "a temporal join against '{}' whose ON condition does not equate its PRIMARY KEY ({}) with the probe side",
            v.table,
            table.primary_key.join(", ")
        )));
    }
    let version_time = rs.index_of_column_by_name(None, &watermark.column).ok_or_else(|| {
        SqlError::plan(format!(
            "'{}': its time column {} is not selected",
            v.table, watermark.column
        ))
    })?;
    let version_time = Some(version_time);
    let (qualifier, name) = match v.as_of.rsplit_once('.') {
        Some((q, n)) => (Some(q), n),
        None => (None, v.as_of.as_str()),
    };
    let ls = j.left.schema();
    let probe_time = ls
        .columns()
        .iter()
        .position(|c| {
            c.name == name
                && qualifier.is_none_or(|q| c.relation.as_ref().is_some_and(|r| r.table() == q))
        })
        .ok_or_else(|| {
            SqlError::plan(format!("FOR SYSTEM_TIME AS OF {}: no such column on the left", v.as_of))
        })?;
    Ok(Some(TemporalSpec { probe_time, version_time, outer }))
}

/// One key's state: its versions by valid-from time, and the probe rows
/// waiting for the watermark.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TemporalState {
    versions: BTreeMap<i64, Vec<Scalar>>,
    probes: Vec<(i64, Vec<Scalar>)>,
}

/// The temporal join's process function, keyed by the equi-join key.
#[derive(Clone)]
pub struct TemporalJoin {
    /// The output schema (left columns, then right).
    pub schema: SchemaRef,
    /// The residual ON condition over joined rows.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// The columns and the kind.
    pub spec: TemporalSpec,
    /// The number of left columns.
    pub left_width: usize,
    /// Probe rows dropped for arriving behind the watermark.
    pub late: Arc<AtomicU64>,
}

fn time_at(row: &[Scalar], i: usize) -> Option<i64> {
    match row.get(i) {
        Some(Scalar::Ts(t) | Scalar::Int(t)) => Some(*t),
        _ => None,
    }
}

impl TemporalJoin {
    fn padded(&self, probe: &[Scalar]) -> Vec<Scalar> {
        let n = self.schema.fields().len();
        probe.iter().cloned().chain(std::iter::repeat_n(Scalar::Null, n - probe.len())).collect()
    }

    fn emit(
        &self,
        rows: Vec<Vec<Scalar>>,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, TemporalState, Batch>,
    ) -> squall::Result<()> {
        if !rows.is_empty() {
            ctx.collect(Batch(batch_of(&self.schema, &rows).map_err(squall::Error::from)?));
        }
        Ok(())
    }
}

impl KeyedProcessFunction<Vec<Scalar>, JoinRow> for TemporalJoin {
    type State = TemporalState;
    type Out = Batch;

    fn process_element(
        &mut self,
        row: JoinRow,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, TemporalState, Batch>,
    ) -> squall::Result<()> {
        let null_key = row.key.iter().any(|k| matches!(k, Scalar::Null));
        if !row.left {
            let Some(t) = self.spec.version_time.and_then(|i| time_at(&row.row, i)) else {
                return Ok(());
            };
            if null_key {
                return Ok(());
            }
            let state = ctx.state().get_or_insert_with(Default::default);
            state.versions.insert(t, row.row);
            ctx.register_event_time_timer(t.saturating_add(1));
            return Ok(());
        }
        let Some(t) = time_at(&row.row, self.spec.probe_time) else { return Ok(()) };
        if t < ctx.current_watermark() {
            self.late.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        if null_key {
            if self.spec.outer {
                let padded = self.padded(&row.row);
                self.emit(vec![padded], ctx)?;
            }
            return Ok(());
        }
        let state = ctx.state().get_or_insert_with(Default::default);
        state.probes.push((t, row.row));
        ctx.register_event_time_timer(t.saturating_add(1));
        Ok(())
    }

    /// Emits the probe rows the watermark (at `timestamp`) has passed,
    /// each with its version; drops the versions no later probe can see.
    fn on_timer(
        &mut self,
        timestamp: i64,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, TemporalState, Batch>,
    ) -> squall::Result<()> {
        let Some(state) = ctx.state().as_mut() else { return Ok(()) };
        let (due, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut state.probes).into_iter().partition(|(t, _)| *t < timestamp);
        state.probes = waiting;
        let mut pairs = Vec::new();
        let mut alone = Vec::new();
        for (t, probe) in due {
            match state.versions.range(..=t).next_back() {
                Some((_, v)) => pairs.push(probe.iter().chain(v).cloned().collect::<Vec<_>>()),
                None => alone.push(probe),
            }
        }
        // Every probe still to come is at or after the watermark: only the
        // version valid then and later ones can be seen.
        if let Some(&keep) = state.versions.range(..timestamp).next_back().map(|(t, _)| t) {
            state.versions = state.versions.split_off(&keep);
        }
        if state.probes.is_empty() && state.versions.is_empty() {
            *ctx.state() = None;
        }
        let mut out = Vec::new();
        let pass = passing(&self.schema, self.filter.as_ref(), &pairs)?;
        for (row, ok) in pairs.into_iter().zip(pass) {
            match (ok, self.spec.outer) {
                (true, _) => out.push(row),
                (false, true) => out.push(self.padded(&row[..self.left_width])),
                (false, false) => {}
            }
        }
        if self.spec.outer {
            out.extend(alone.iter().map(|p| self.padded(p)));
        }
        self.emit(out, ctx)
    }
}

/// The temporal join of `j`'s inputs `left` (probe) and `right` (the
/// versioned table's rows); append-only. Returns the stream and a line
/// describing it.
///
/// # Errors
/// A key or condition DataFusion cannot evaluate.
pub fn plan(
    j: &JoinPlan,
    spec: TemporalSpec,
    left: Stream<Batch>,
    right: Stream<Batch>,
) -> SqlResult<(Stream<Batch>, String)> {
    let ls = j.left.schema();
    let keyed = crate::outer_join::keyed_rows(j, left, right)?;
    let filter = j.filter.as_ref().map(|f| physical(f, &j.schema)).transpose()?;
    let what = format!(
        "temporal join{} on {} (each row of the left joins the version valid at {}; emitted when the watermark passes it)",
        if spec.outer { " (LEFT)" } else { "" },
        j.on.iter().map(|(l, r)| format!("{l} = {r}")).collect::<Vec<_>>().join(" AND "),
        ls.field(spec.probe_time).name()
    );
    let f = TemporalJoin {
        schema: Arc::new(j.schema.as_arrow().clone()),
        filter,
        left_width: ls.fields().len(),
        spec,
        late: Arc::default(),
    };
    Ok((keyed.process(f), what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clause_is_blanked_in_place_but_not_inside_literals_or_comments() {
        let sql = "SELECT * FROM o JOIN `rates` for system_time as of\n  o.`ts` AS r -- x FOR SYSTEM_TIME AS OF y\n\
                   ON o.c = r.c WHERE r.n = 'a FOR SYSTEM_TIME AS OF b' /* c FOR SYSTEM_TIME AS OF d */";
        let (text, found) = cut_versions(sql);
        assert_eq!(found, [Versioned { table: "rates".into(), as_of: "o.ts".into() }]);
        let expected = sql.replacen("for system_time as of", "                     ", 1).replacen(
            "  o.`ts` AS",
            "         AS",
            1,
        );
        assert_eq!(text, expected);
        // Text that does not tokenize is left to the parser.
        assert_eq!(cut_versions("SELECT 'open").0, "SELECT 'open");
    }
}
