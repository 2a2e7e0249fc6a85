//! Flink's legacy group windows (Calcite's syntax, which the Nexmark suite's
//! q11 uses): `GROUP BY k, SESSION(ts, gap)`, `TUMBLE(ts, size)` and
//! `HOP(ts, slide, size)`, with `SESSION_START(ts, gap)` /
//! `SESSION_END(...)` (and `TUMBLE_`/`HOP_` `START`/`END`/`ROWTIME`) in
//! the select list.
//!
//! DataFusion has no such grouping function, so the parsed statement is
//! rewritten, before planning, into the window TVF form Flink documents as
//! its replacement: the one table of `FROM` becomes
//! `TABLE(SESSION(TABLE t PARTITION BY k, DESCRIPTOR(ts), gap)) AS alias`
//! (a legacy session is per the other `GROUP BY` keys), the grouping
//! function becomes `window_start, window_end`, and the `_START`, `_END`
//! and `_ROWTIME` functions become those columns and `window_time`. The
//! rewrite works on sqlparser's syntax tree; planning stays DataFusion's.

use datafusion_sql::sqlparser::ast::{
    self, visit_expressions_mut, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    GroupByExpr, Ident, Query, SetExpr, Statement, TableFactor,
};
use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::parser::Parser;
use std::ops::ControlFlow;

use crate::error::{SqlError, SqlResult};

/// Rewrites the legacy group windows of `stmt` (a query or an `INSERT ...
/// SELECT`, its subqueries in `FROM` included) into window TVFs.
///
/// # Errors
/// A legacy group window over anything but one table, a `SESSION` grouped
/// by something other than columns, or a time argument that is not a
/// column.
pub fn rewrite(stmt: &mut Statement) -> SqlResult<()> {
    match stmt {
        Statement::Query(q) => query(q),
        Statement::Insert(i) => match &mut i.source {
            Some(q) => query(q),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

fn query(q: &mut Query) -> SqlResult<()> {
    if let Some(with) = &mut q.with {
        for cte in &mut with.cte_tables {
            query(&mut cte.query)?;
        }
    }
    set_expr(&mut q.body)
}

fn set_expr(s: &mut SetExpr) -> SqlResult<()> {
    match s {
        SetExpr::Select(sel) => select(sel),
        SetExpr::Query(q) => query(q),
        SetExpr::SetOperation { left, right, .. } => {
            set_expr(left)?;
            set_expr(right)
        }
        _ => Ok(()),
    }
}

/// The legacy group window `e` is, if it is one: its name (upper case) and
/// arguments.
fn group_window(e: &Expr) -> Option<(String, Vec<Expr>)> {
    let Expr::Function(f) = e else { return None };
    let name = f.name.to_string().to_ascii_uppercase();
    if !matches!(name.as_str(), "SESSION" | "TUMBLE" | "HOP") {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else { return None };
    let args = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some((name, args))
}

/// The column `e` names, unqualified.
fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(i.value.clone()),
        Expr::CompoundIdentifier(p) => p.last().map(|i| i.value.clone()),
        Expr::Nested(e) => column_name(e),
        _ => None,
    }
}

fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn select(sel: &mut ast::Select) -> SqlResult<()> {
    for t in &mut sel.from {
        if let TableFactor::Derived { subquery, .. } = &mut t.relation {
            query(subquery)?;
        }
    }
    let GroupByExpr::Expressions(exprs, _) = &mut sel.group_by else { return Ok(()) };
    let Some(pos) = exprs.iter().position(|e| group_window(e).is_some()) else { return Ok(()) };
    let (kind, args) = group_window(&exprs[pos]).expect("found");
    let want = if kind == "HOP" { 3 } else { 2 };
    if args.len() != want {
        return Err(SqlError::plan(format!(
            "GROUP BY {kind}(...) takes {want} arguments (the time column, then {}), got {}",
            if kind == "HOP" { "slide and size" } else { "an INTERVAL" },
            args.len()
        )));
    }
    let time = column_name(&args[0]).ok_or_else(|| {
        SqlError::plan(format!("GROUP BY {kind}(...): '{}' is not a time column", args[0]))
    })?;
    let [from] = sel.from.as_slice() else {
        return Err(SqlError::unsupported(format!(
            "GROUP BY {kind}(...) over a FROM of several tables (use the {kind} window TVF)"
        )));
    };
    let TableFactor::Table { name, alias, .. } = &from.relation else {
        return Err(SqlError::unsupported(format!(
            "GROUP BY {kind}(...) over a subquery or a join (use the {kind} window TVF)"
        )));
    };
    if !from.joins.is_empty() {
        return Err(SqlError::unsupported(format!(
            "GROUP BY {kind}(...) over a join (use the {kind} window TVF)"
        )));
    }
    let table = name.to_string();
    // A legacy session is per the other GROUP BY keys.
    let mut table_arg = table.clone();
    if kind == "SESSION" {
        let keys = exprs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != pos)
            .map(|(_, e)| {
                column_name(e).map(|c| quoted(&c)).ok_or_else(|| {
                    SqlError::unsupported(format!(
                        "GROUP BY {e}, SESSION(...): the keys of a session must be columns"
                    ))
                })
            })
            .collect::<SqlResult<Vec<_>>>()?;
        if !keys.is_empty() {
            table_arg = format!("{table} => ({})", keys.join(", "));
        }
    }
    let alias = match alias {
        Some(a) => a.name.to_string(),
        None => name.0.last().map(|p| p.to_string()).unwrap_or(table),
    };
    let rest: Vec<String> = args[1..].iter().map(|a| a.to_string()).collect();
    let text = format!(
        "TABLE({kind}({table_arg}, DESCRIPTOR({}), {})) AS {alias}",
        quoted(&time),
        rest.join(", ")
    );
    let relation = Parser::new(&GenericDialect {})
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_table_factor())
        .map_err(|e| SqlError::plan(format!("rewriting GROUP BY {kind}(...) as '{text}': {e}")))?;
    exprs.splice(
        pos..=pos,
        [Expr::Identifier(Ident::new("window_start")), Expr::Identifier(Ident::new("window_end"))],
    );
    sel.from[0].relation = relation;
    let _ = visit_expressions_mut(sel, |e| {
        if let Expr::Function(f) = e {
            let name = f.name.to_string().to_ascii_uppercase();
            let column = ["SESSION", "TUMBLE", "HOP"].iter().find_map(|k| {
                match name.strip_prefix(k)?.strip_prefix('_')? {
                    "START" => Some("window_start"),
                    "END" => Some("window_end"),
                    "ROWTIME" => Some("window_time"),
                    _ => None,
                }
            });
            if let Some(c) = column {
                *e = Expr::Identifier(Ident::new(c));
            }
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut stmt = Parser::new(&GenericDialect {})
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_statement())
            .unwrap();
        rewrite(&mut stmt).unwrap();
        stmt.to_string()
    }

    #[test]
    fn a_legacy_session_becomes_the_session_tvf_partitioned_by_the_keys() {
        let sql = rewritten(
            "SELECT B.bidder, count(*), SESSION_START(B.dateTime, INTERVAL '10' SECOND), \
             SESSION_END(B.dateTime, INTERVAL '10' SECOND) FROM bid B \
             GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND)",
        );
        assert_eq!(
            sql,
            "SELECT B.bidder, count(*), window_start, window_end FROM \
             TABLE(SESSION(bid => (`bidder`), DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND)) AS B \
             GROUP BY B.bidder, window_start, window_end"
        );
    }

    #[test]
    fn a_legacy_tumble_has_no_partition_and_a_join_is_refused() {
        let sql = rewritten(
            "SELECT TUMBLE_END(ts, INTERVAL '1' SECOND), count(*) FROM t GROUP BY TUMBLE(ts, INTERVAL '1' SECOND)",
        );
        assert!(
            sql.contains("FROM TABLE(TUMBLE(t, DESCRIPTOR(`ts`), INTERVAL '1' SECOND)) AS t"),
            "{sql}"
        );
        let mut stmt = Parser::new(&GenericDialect {})
            .try_with_sql("SELECT count(*) FROM a JOIN b ON a.k = b.k GROUP BY SESSION(a.ts, INTERVAL '1' SECOND)")
            .and_then(|mut p| p.parse_statement())
            .unwrap();
        let err = rewrite(&mut stmt).unwrap_err().to_string();
        assert!(err.contains("over a join"), "{err}");
    }
}
