//! [`Session`]: runs a script's statements.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion_common::config::ConfigOptions;
use datafusion_common::{DFSchema, DataFusionError};
use datafusion_expr::{BinaryExpr, Expr, LogicalPlan, Operator, WriteOp};
use datafusion_optimizer::analyzer::Analyzer;
use datafusion_optimizer::optimizer::{Optimizer, OptimizerContext};
use datafusion_sql::planner::{ParserOptions, PlannerContext, SqlToRel};
use datafusion_sql::sqlparser::ast::{self, Statement};
use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::parser::Parser;
use squall::datastream::StreamEnv;
use squall::{Guarantee, LocalCluster, RunSummary, TopologyConfig};

use crate::catalog::{arrow_type, schema_of, Catalog, Provider, TableDef, WatermarkDef};
use crate::error::{one_line, SqlError, SqlResult};
use crate::script::{self, StatementText};
use crate::translate::{Translator, STREAM_CONNECTOR};
use crate::tvf::interval_ms;

/// What a script did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// What `EXPLAIN` statements printed (the logical plan, then the
    /// operators), one entry per statement.
    pub explained: Vec<String>,
    /// The run of the script's `INSERT`s and queries, if it had any.
    pub summary: Option<RunSummary>,
    /// The operators of that run, one per line.
    pub operators: Vec<String>,
    /// The folders the filesystem sinks write, as `(component id, path)`.
    pub outputs: Vec<(String, std::path::PathBuf)>,
    /// The rows each interval join of the run holds (0 after the final
    /// watermark: [`crate::interval_join`]).
    pub rows_held: Vec<Arc<crate::interval_join::RowsHeld>>,
}

/// A SQL session: a catalog, settings, and the statements run so far.
pub struct Session {
    catalog: Catalog,
    vars: BTreeMap<String, String>,
    /// Tasks per source and operator (`--set parallelism=N`).
    pub parallelism: usize,
    /// The topology's settings (`guarantee`, `checkpoint_interval_ms`,
    /// `checkpoint_dir`, ...).
    pub config: TopologyConfig,
    /// The topology's name.
    pub name: String,
    /// Wraps every operator's bolt (tracing, fault injection in tests); see
    /// [`StreamEnv::wrap_operators`].
    pub wrap: Option<Wrap>,
    /// Put before the id of every component the script makes.
    pub prefix: String,
    /// When set, the result of a bare `SELECT` is not printed but emitted
    /// as tuples (one field per column) by a component of this id (the
    /// YAML `sql` kind's output, see [`crate::yaml`]).
    pub emit_as: Option<String>,
    /// `table.exec.state.ttl` (ms; `None`: state is kept for ever).
    pub state_ttl_ms: Option<i64>,
    /// The file readers per table of the topology being translated.
    readers: std::cell::RefCell<std::collections::HashMap<String, usize>>,
}

/// A wrapper of operators' bolts, given the component id.
pub type Wrap = Arc<dyn Fn(&str, Box<dyn squall::Bolt>) -> Box<dyn squall::Bolt> + Send + Sync>;

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

struct Job {
    sink: TableDef,
    plan: LogicalPlan,
    /// Its tables read `FOR SYSTEM_TIME AS OF`.
    versioned: Vec<crate::temporal_join::Versioned>,
}

fn optimizer() -> Optimizer {
    use datafusion_optimizer::*;
    let rules: Vec<Arc<dyn datafusion_optimizer::OptimizerRule + Send + Sync>> = vec![
        Arc::new(optimize_unions::OptimizeUnions::new()),
        Arc::new(simplify_expressions::SimplifyExpressions::new()),
        Arc::new(extract_equijoin_predicate::ExtractEquijoinPredicate::new()),
        Arc::new(eliminate_duplicated_expr::EliminateDuplicatedExpr::new()),
        Arc::new(eliminate_filter::EliminateFilter::new()),
        Arc::new(eliminate_cross_join::EliminateCrossJoin::new()),
        Arc::new(push_down_filter::PushDownFilter::new()),
        Arc::new(optimize_projections::OptimizeProjections::new()),
        Arc::new(crate::topn_plan::TopNRule),
    ];
    Optimizer::with_rules(rules)
}

fn parser_options() -> ParserOptions {
    ParserOptions {
        enable_ident_normalization: false,
        collect_spans: true,
        ..ParserOptions::default()
    }
}

/// A DataFusion error placed in `st`: at its diagnostic's span if it has
/// one, else at the statement's start.
fn located(e: DataFusionError, st: &StatementText) -> SqlError {
    let (mut line, mut column) = (st.line, st.column);
    if let Some(span) = e.diagnostic().and_then(|d| d.span) {
        if span.start.line > 0 {
            line = span.start.line;
            column = span.start.column;
        }
    }
    let mut msg = e.strip_backtrace();
    for p in ["Error during planning: ", "This feature is not implemented: ", "Schema error: "] {
        if let Some(rest) = msg.strip_prefix(p) {
            msg = rest.to_string();
        }
    }
    SqlError::At { statement: st.index, line, column, message: one_line(&msg) }
}

fn at(e: SqlError, st: &StatementText) -> SqlError {
    match e {
        SqlError::At { .. } => e,
        other => SqlError::At {
            statement: st.index,
            line: st.line,
            column: st.column,
            message: other.to_string(),
        },
    }
}

impl Session {
    /// An empty session: parallelism 1, at-most-once.
    pub fn new() -> Self {
        Session {
            catalog: Catalog::default(),
            vars: BTreeMap::new(),
            parallelism: 1,
            config: TopologyConfig::default(),
            name: "sql".into(),
            wrap: None,
            prefix: String::new(),
            emit_as: None,
            state_ttl_ms: None,
            readers: Default::default(),
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Registers the scalar UDF `udf` under `identifier`, the name a
    /// script's `CREATE FUNCTION name AS 'identifier'` binds
    /// ([`crate::create_function`]).
    pub fn register_udf(&mut self, identifier: &str, udf: datafusion_expr::ScalarUDF) {
        self.catalog.udfs.insert(identifier.to_string(), Arc::new(udf));
    }

    /// Sets `key`: `parallelism`, `name`, `guarantee` (`at_most_once`,
    /// `at_least_once`, `exactly_once`), `checkpoint_interval_ms`,
    /// `checkpoint_dir`, `table.exec.state.ttl` (Flink's state TTL:
    /// `'1 h'`, `'500 ms'`, `0` off); and, whatever the key, the `${key}`
    /// of scripts.
    ///
    /// # Errors
    /// A value that does not fit its setting.
    pub fn set(&mut self, key: &str, value: &str) -> SqlResult<()> {
        let bad = || SqlError::config(format!("--set {key}={value}: not a valid value"));
        match key {
            "parallelism" => {
                self.parallelism = value.parse().map_err(|_| bad())?;
                if self.parallelism == 0 {
                    return Err(bad());
                }
            }
            "name" => self.name = value.to_string(),
            "guarantee" => {
                self.config.guarantee = match value {
                    "at_most_once" => Guarantee::AtMostOnce,
                    "at_least_once" => Guarantee::AtLeastOnce,
                    "exactly_once" => Guarantee::ExactlyOnce,
                    _ => return Err(bad()),
                }
            }
            "checkpoint_interval_ms" => {
                self.config.checkpoint_interval_ms = value.parse().map_err(|_| bad())?
            }
            "checkpoint_dir" => self.config.checkpoint_dir = Some(value.to_string()),
            crate::ttl::SETTING => {
                self.state_ttl_ms = crate::ttl::parse(value).map_err(SqlError::config)?
            }
            _ => {}
        }
        self.vars.insert(key.to_string(), value.to_string());
        Ok(())
    }

    /// Runs `sql`: its DDL fills the catalog, its `EXPLAIN`s are returned,
    /// and its `INSERT`s and queries run together as one topology until
    /// their sources end.
    ///
    /// # Errors
    /// The first statement that does not parse, plan or translate, as one
    /// line naming it; or the run's error.
    pub fn run_script(&mut self, sql: &str) -> SqlResult<Outcome> {
        let (env, mut outcome) = self.prepare(sql)?;
        if let Some(env) = env {
            let topology = env.build()?;
            outcome.summary = Some(LocalCluster::run(topology)?);
        }
        Ok(outcome)
    }

    /// Everything [`Session::run_script`] does but the run: the topology
    /// (if the script has `INSERT`s or queries) and what it printed.
    ///
    /// # Errors
    /// As [`Session::run_script`].
    pub fn prepare(&mut self, sql: &str) -> SqlResult<(Option<StreamEnv>, Outcome)> {
        let (jobs, mut outcome) = self.plan_script(sql)?;
        if jobs.is_empty() {
            return Ok((None, outcome));
        }
        let env = StreamEnv::on_builder(squall::TopologyBuilder::new(&self.name), &self.prefix);
        self.translate_jobs(&env, jobs, &mut outcome)?;
        Ok((Some(env), outcome))
    }

    /// Adds the operators of `sql`'s `INSERT`s and queries to `builder`
    /// (which may hold other components), and sets its configuration to
    /// the session's (`SET` statements included): what the YAML `sql` kind
    /// does.
    ///
    /// # Errors
    /// As [`Session::run_script`]; `builder` is left as it was given, but
    /// for the operators of the statements before the failing one.
    pub fn add_to(
        &mut self,
        sql: &str,
        builder: &mut squall::TopologyBuilder,
    ) -> SqlResult<Outcome> {
        let (jobs, mut outcome) = self.plan_script(sql)?;
        let placeholder = squall::TopologyBuilder::new(&self.name);
        let env = StreamEnv::on_builder(std::mem::replace(builder, placeholder), &self.prefix);
        let translated = self.translate_jobs(&env, jobs, &mut outcome);
        *builder = env.take_builder();
        translated.map(|()| outcome)
    }

    /// Parses and plans every statement: DDL fills the catalog, `SET`
    /// applies, `EXPLAIN` is explained; the `INSERT`s and queries are
    /// returned to translate.
    fn plan_script(&mut self, sql: &str) -> SqlResult<(Vec<(Job, StatementText)>, Outcome)> {
        let sql = script::substitute(sql, &self.vars)?;
        let statements = script::split(&sql)?;
        let mut outcome = Outcome::default();
        let mut jobs: Vec<(Job, StatementText)> = Vec::new();
        for st in &statements {
            let function = crate::create_function::parse(&st.padded)
                .map_err(|e| script::parse_error(st, &e.to_string()))?;
            if let Some(def) = function {
                crate::create_function::create(&mut self.catalog, def).map_err(|e| at(e, st))?;
                continue;
            }
            let (text, versioned) = crate::temporal_join::cut_versions(&st.padded);
            let parsed = Parser::new(&GenericDialect {})
                .try_with_sql(&text)
                .and_then(|mut p| p.parse_statements())
                .map_err(|e| script::parse_error(st, &e.to_string()))?;
            let Some(stmt) = parsed.into_iter().next() else { continue };
            match stmt {
                Statement::CreateTable(ct) => self.create_table(ct, st)?,
                Statement::CreateView(cv) => {
                    let name =
                        cv.name.to_string().trim_matches(|c| c == '`' || c == '"').to_string();
                    let provider = Provider::new(&self.catalog);
                    let planner = SqlToRel::new_with_options(&provider, parser_options());
                    let mut query = Statement::Query(cv.query.clone());
                    crate::group_window::rewrite(&mut query).map_err(|e| at(e, st))?;
                    let plan = planner.sql_statement_to_plan(query).map_err(|e| located(e, st))?;
                    if !cv.or_replace && self.catalog.views.contains_key(&name) {
                        return Err(at(SqlError::plan(format!("view '{name}' exists")), st));
                    }
                    self.catalog.views.insert(name, plan);
                }
                Statement::Explain { statement, .. } => {
                    let mut job = self.plan_job(*statement, st)?;
                    job.versioned = versioned;
                    let env = StreamEnv::on_builder(
                        squall::TopologyBuilder::new(&self.name),
                        &self.prefix,
                    );
                    let mut t = self.translator(&env);
                    t.versioned = job.versioned.clone();
                    let node = t.translate(&job.plan).map_err(|e| at(e, st))?;
                    t.sink(&job.sink, node).map_err(|e| at(e, st))?;
                    outcome.explained.push(format!(
                        "== logical plan (DataFusion, optimised) ==\n{}\n== Squall operators (parallelism {}) ==\n{}",
                        job.plan.display_indent(),
                        self.parallelism,
                        t.lines.join("\n")
                    ));
                }
                Statement::Set(ast::Set::SingleAssignment { variable, values, .. }) => {
                    let key = variable
                        .to_string()
                        .trim_matches(|c| c == '\'' || c == '"' || c == '`')
                        .to_string();
                    let value = values
                        .first()
                        .map(|v| v.to_string().trim_matches('\'').to_string())
                        .unwrap_or_default();
                    self.set(&key, &value).map_err(|e| at(e, st))?;
                }
                other @ (Statement::Insert(_) | Statement::Query(_)) => {
                    let mut job = self.plan_job(other, st)?;
                    job.versioned = versioned;
                    jobs.push((job, st.clone()));
                }
                other => {
                    let text = other.to_string();
                    let words: Vec<&str> = text.split_whitespace().take(2).collect();
                    return Err(at(
                        SqlError::unsupported(format!("the statement {}", words.join(" "))),
                        st,
                    ));
                }
            }
        }
        Ok((jobs, outcome))
    }

    /// Translates the planned statements onto `env`, one topology.
    fn translate_jobs(
        &self,
        env: &StreamEnv,
        jobs: Vec<(Job, StatementText)>,
        outcome: &mut Outcome,
    ) -> SqlResult<()> {
        env.set_parallelism(self.parallelism);
        if let Some(w) = self.wrap.clone() {
            env.wrap_operators(move |id, b| w(id, b));
        }
        let config = self.config.clone();
        env.with_builder(|b| *b.config_mut() = config);
        for (job, st) in jobs {
            let mut t = self.translator(env);
            t.readers = self.readers.take();
            t.versioned = job.versioned.clone();
            let node = t.translate(&job.plan);
            *self.readers.borrow_mut() = std::mem::take(&mut t.readers);
            t.sink(&job.sink, node.map_err(|e| at(e, &st))?).map_err(|e| at(e, &st))?;
            outcome.operators.extend(t.lines);
            outcome.outputs.extend(t.outputs);
            outcome.rows_held.extend(t.rows_held);
        }
        Ok(())
    }

    fn translator<'a>(&'a self, env: &'a StreamEnv) -> Translator<'a> {
        let mut t = Translator::new(env, &self.catalog, self.parallelism);
        t.prefix = self.prefix.clone();
        t.state_ttl_ms = self.state_ttl_ms;
        t
    }

    fn create_table(&mut self, ct: ast::CreateTable, st: &StatementText) -> SqlResult<()> {
        let name = ct.name.to_string().trim_matches(|c| c == '`' || c == '"').to_string();
        if self.catalog.tables.contains_key(&name) && !ct.or_replace {
            if ct.if_not_exists {
                return Ok(());
            }
            return Err(at(SqlError::plan(format!("table '{name}' exists")), st));
        }
        if ct.query.is_some() {
            return Err(at(SqlError::unsupported("CREATE TABLE ... AS SELECT"), st));
        }
        let mut cols = Vec::new();
        for c in &ct.columns {
            cols.push((c.name.value.clone(), arrow_type(&c.data_type).map_err(|e| at(e, st))?));
        }
        let mut options = BTreeMap::new();
        let opts = match &ct.table_options {
            ast::CreateTableOptions::With(o) | ast::CreateTableOptions::Options(o) => o.clone(),
            ast::CreateTableOptions::None => Vec::new(),
            _ => return Err(at(SqlError::unsupported("table options other than WITH (...)"), st)),
        };
        for o in opts {
            match o {
                ast::SqlOption::KeyValue { key, value } => {
                    let v = match value {
                        ast::Expr::Value(v) => match v.value {
                            ast::Value::SingleQuotedString(s)
                            | ast::Value::DoubleQuotedString(s) => s,
                            other => other.to_string(),
                        },
                        other => other.to_string(),
                    };
                    options.insert(key.value.clone(), v);
                }
                other => {
                    return Err(at(SqlError::unsupported(format!("the table option {other}")), st))
                }
            }
        }
        let schema = schema_of(cols);
        let watermark = match &st.watermark {
            None => None,
            Some((column, expr)) => Some(self.watermark(&name, &schema, column, expr, st)?),
        };
        let primary_key = crate::catalog::primary_key(&ct, &schema).map_err(|e| at(e, st))?;
        let partition_by =
            crate::partitioned_sink::partition_columns(&ct, &schema).map_err(|e| at(e, st))?;
        let def =
            TableDef { name: name.clone(), schema, options, watermark, primary_key, partition_by };
        self.catalog.tables.insert(name, def);
        Ok(())
    }

    fn watermark(
        &self,
        table: &str,
        schema: &datafusion_common::arrow::datatypes::SchemaRef,
        column: &str,
        expr: &str,
        st: &StatementText,
    ) -> SqlResult<WatermarkDef> {
        let bad = |why: String| {
            at(
                SqlError::plan(format!("table '{table}': WATERMARK FOR {column} AS {expr}: {why}")),
                st,
            )
        };
        if schema.index_of(column).is_err() {
            return Err(bad("no such column".into()));
        }
        let ast = Parser::new(&GenericDialect {})
            .try_with_sql(expr)
            .and_then(|mut p| p.parse_expr())
            .map_err(|e| bad(e.to_string()))?;
        let provider = Provider::new(&self.catalog);
        let planner = SqlToRel::new_with_options(&provider, parser_options());
        let df = DFSchema::try_from(schema.as_ref().clone()).map_err(|e| bad(e.to_string()))?;
        let e = planner
            .sql_to_expr(ast, &df, &mut PlannerContext::new())
            .map_err(|e| bad(e.strip_backtrace()))?;
        let delay = match &e {
            Expr::Column(c) if c.name == column => 0,
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::Minus, right }) => {
                match left.as_ref() {
                    Expr::Column(c) if c.name == column => interval_ms(right)
                        .ok_or_else(|| bad("the bound must be a constant INTERVAL".into()))?,
                    _ => return Err(bad(format!("must be `{column} - INTERVAL ...`"))),
                }
            }
            _ => return Err(bad(format!("must be `{column}` or `{column} - INTERVAL ...`"))),
        };
        Ok(WatermarkDef { column: column.to_string(), delay_ms: delay })
    }

    /// Plans an INSERT or a query: the sink and the optimised plan.
    fn plan_job(&self, mut stmt: Statement, st: &StatementText) -> SqlResult<Job> {
        crate::group_window::rewrite(&mut stmt).map_err(|e| at(e, st))?;
        let provider = Provider::new(&self.catalog);
        let planner = SqlToRel::new_with_options(&provider, parser_options());
        let is_query = matches!(stmt, Statement::Query(_));
        let plan = planner.sql_statement_to_plan(stmt).map_err(|e| located(e, st))?;
        let (sink, input) = match plan {
            LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Insert(_)) => {
                let name = dml.table_name.table().to_string();
                let sink = self.catalog.tables.get(&name).cloned().ok_or_else(|| {
                    at(SqlError::plan(format!("INSERT INTO '{name}': no such table")), st)
                })?;
                (sink, dml.input.as_ref().clone())
            }
            plan if is_query => {
                let schema = Arc::new(plan.schema().as_arrow().clone());
                let mut options = BTreeMap::new();
                match &self.emit_as {
                    Some(id) => {
                        options.insert("connector".to_string(), STREAM_CONNECTOR.to_string());
                        options.insert("id".to_string(), id.clone());
                    }
                    None => {
                        options.insert("connector".to_string(), "print".to_string());
                    }
                }
                (
                    TableDef {
                        name: format!("query{}", st.index),
                        schema,
                        options,
                        watermark: None,
                        primary_key: Vec::new(),
                        partition_by: Vec::new(),
                    },
                    plan,
                )
            }
            other => {
                return Err(at(
                    SqlError::unsupported(format!("the statement {}", other.display())),
                    st,
                ))
            }
        };
        let mut config = ConfigOptions::new();
        config.sql_parser.enable_ident_normalization = false;
        let analyzed = Analyzer::new()
            .execute_and_check(input, &config, |_, _| {})
            .map_err(|e| located(e, st))?;
        let optimized = optimizer()
            .optimize(analyzed, &OptimizerContext::new(), |_, _| {})
            .map_err(|e| located(e, st))?;
        Ok(Job { sink, plan: optimized, versioned: Vec::new() })
    }
}
