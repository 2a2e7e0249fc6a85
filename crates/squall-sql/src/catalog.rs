//! The catalog of tables and views a script creates, and DataFusion's
//! [`ContextProvider`] over it (functions, options, the window TVFs).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion_common::config::ConfigOptions;
use datafusion_common::{plan_err, DataFusionError, Result, TableReference};
use datafusion_expr::logical_plan::builder::LogicalTableSource;
use datafusion_expr::planner::{ExprPlanner, RelationPlanner};
use datafusion_expr::{
    AggregateUDF, HigherOrderUDF, LogicalPlan, ScalarUDF, TableSource, WindowUDF,
};
use datafusion_sql::planner::ContextProvider;

use crate::error::{SqlError, SqlResult};

/// `WATERMARK FOR column AS column - INTERVAL ...`: the table's event-time
/// column and how far behind the largest time seen the watermark stays.
#[derive(Debug, Clone, PartialEq)]
pub struct WatermarkDef {
    /// The event-time column (a TIMESTAMP).
    pub column: String,
    /// The bound on out-of-orderness (ms).
    pub delay_ms: i64,
}

/// A table of `CREATE TABLE ... WITH (...)`: a source or a sink.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// Its name as written.
    pub name: String,
    /// Its columns.
    pub schema: SchemaRef,
    /// The `WITH` options, keys as written.
    pub options: BTreeMap<String, String>,
    /// Its watermark, if declared.
    pub watermark: Option<WatermarkDef>,
    /// Its `PRIMARY KEY (...) NOT ENFORCED` columns (empty if none): the
    /// key of a versioned table's versions and of an upsert sink.
    pub primary_key: Vec<String>,
    /// `PARTITIONED BY (...)` columns of a filesystem sink, outermost
    /// folder first ([`crate::partitioned_sink`]).
    pub partition_by: Vec<String>,
}

impl TableDef {
    /// Option `key`, if given.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// Option `key`, required.
    ///
    /// # Errors
    /// Names the table and the option.
    pub fn required(&self, key: &str) -> SqlResult<&str> {
        self.option(key).ok_or_else(|| {
            SqlError::config(format!("table '{}' needs the option '{key}'", self.name))
        })
    }

    /// The connector (`'connector'` option).
    ///
    /// # Errors
    /// If it is missing.
    pub fn connector(&self) -> SqlResult<&str> {
        self.required("connector")
    }
}

/// The tables and views of a session.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    /// Tables by name.
    pub tables: HashMap<String, TableDef>,
    /// Views by name: their (unoptimised) logical plans.
    pub views: HashMap<String, LogicalPlan>,
    /// Scalar UDFs registered from Rust, by the identifier `CREATE
    /// FUNCTION ... AS 'identifier'` names ([`crate::create_function`]).
    pub udfs: HashMap<String, Arc<ScalarUDF>>,
    /// Functions bound by `CREATE FUNCTION`, by lower-case name.
    pub functions: HashMap<String, Arc<ScalarUDF>>,
}

/// A view as a table source whose plan DataFusion inlines.
#[derive(Debug)]
struct ViewSource {
    plan: LogicalPlan,
}

impl TableSource for ViewSource {
    fn schema(&self) -> SchemaRef {
        Arc::new(self.plan.schema().as_arrow().clone())
    }
    fn get_logical_plan(&self) -> Option<std::borrow::Cow<'_, LogicalPlan>> {
        Some(std::borrow::Cow::Borrowed(&self.plan))
    }
}

/// DataFusion's view of the catalog and of the functions.
pub struct Provider<'a> {
    catalog: &'a Catalog,
    functions: HashMap<String, Arc<ScalarUDF>>,
    aggregates: HashMap<String, Arc<AggregateUDF>>,
    windows: HashMap<String, Arc<WindowUDF>>,
    options: ConfigOptions,
    expr_planners: Vec<Arc<dyn ExprPlanner>>,
    relation_planners: Vec<Arc<dyn RelationPlanner>>,
}

impl<'a> Provider<'a> {
    /// A provider over `catalog` with DataFusion's built-in functions.
    pub fn new(catalog: &'a Catalog) -> Self {
        let mut functions = HashMap::new();
        for f in datafusion_functions::all_default_functions() {
            for alias in f.aliases() {
                functions.insert(alias.to_string(), f.clone());
            }
            functions.insert(f.name().to_string(), f);
        }
        // Flink's names for functions DataFusion spells differently or lacks.
        crate::functions::register(&mut functions);
        crate::udf::register(&mut functions);
        functions.extend(catalog.functions.iter().map(|(k, f)| (k.clone(), f.clone())));
        let mut aggregates = HashMap::new();
        for f in datafusion_functions_aggregate::all_default_aggregate_functions() {
            for alias in f.aliases() {
                aggregates.insert(alias.to_string(), f.clone());
            }
            aggregates.insert(f.name().to_string(), f);
        }
        let mut windows = HashMap::new();
        for f in datafusion_functions_window::all_default_window_functions() {
            for alias in f.aliases() {
                windows.insert(alias.to_string(), f.clone());
            }
            windows.insert(f.name().to_string(), f);
        }
        let mut options = ConfigOptions::new();
        options.sql_parser.enable_ident_normalization = false;
        let expr_planners: Vec<Arc<dyn ExprPlanner>> = vec![
            Arc::new(datafusion_functions::core::planner::CoreFunctionPlanner::default()),
            Arc::new(datafusion_functions::unicode::planner::UnicodeFunctionPlanner),
            Arc::new(datafusion_functions::datetime::planner::DatetimeFunctionPlanner),
            Arc::new(datafusion_functions_aggregate::planner::AggregateFunctionPlanner),
            Arc::new(datafusion_functions_window::planner::WindowFunctionPlanner),
        ];
        Provider {
            catalog,
            functions,
            aggregates,
            windows,
            options,
            expr_planners,
            relation_planners: vec![Arc::new(crate::tvf::WindowTvfPlanner)],
        }
    }
}

impl ContextProvider for Provider<'_> {
    fn get_table_source(&self, name: TableReference) -> Result<Arc<dyn TableSource>> {
        let n = name.table();
        if let Some(t) = self.catalog.tables.get(n) {
            return Ok(Arc::new(LogicalTableSource::new(t.schema.clone())));
        }
        if let Some(v) = self.catalog.views.get(n) {
            return Ok(Arc::new(ViewSource { plan: v.clone() }));
        }
        plan_err!("table '{n}' not found: create it first with CREATE TABLE or CREATE VIEW")
    }

    fn get_expr_planners(&self) -> &[Arc<dyn ExprPlanner>] {
        &self.expr_planners
    }

    fn get_relation_planners(&self) -> &[Arc<dyn RelationPlanner>] {
        &self.relation_planners
    }

    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.functions.get(&name.to_lowercase()).cloned()
    }

    fn get_higher_order_meta(&self, _name: &str) -> Option<Arc<HigherOrderUDF>> {
        None
    }

    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.aggregates.get(&name.to_lowercase()).cloned()
    }

    fn get_window_meta(&self, name: &str) -> Option<Arc<WindowUDF>> {
        self.windows.get(&name.to_lowercase()).cloned()
    }

    fn get_variable_type(&self, _variable_names: &[String]) -> Option<DataType> {
        None
    }

    fn options(&self) -> &ConfigOptions {
        &self.options
    }

    fn udf_names(&self) -> Vec<String> {
        self.functions.keys().cloned().collect()
    }

    fn higher_order_function_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn udaf_names(&self) -> Vec<String> {
        self.aggregates.keys().cloned().collect()
    }

    fn udwf_names(&self) -> Vec<String> {
        self.windows.keys().cloned().collect()
    }
}

/// The Arrow type of a column type written in `CREATE TABLE` (Flink's
/// names: `BIGINT`, `INT`, `DOUBLE`, `VARCHAR`, `STRING`, `BOOLEAN`,
/// `TIMESTAMP(3)`, ...).
///
/// # Errors
/// A type Squall's SQL does not take yet, named.
pub fn arrow_type(t: &datafusion_sql::sqlparser::ast::DataType) -> SqlResult<DataType> {
    use datafusion_sql::sqlparser::ast::DataType as T;
    Ok(match t {
        T::TinyInt(_) => DataType::Int8,
        T::SmallInt(_) => DataType::Int16,
        T::Int(_) | T::Integer(_) | T::Int4(_) => DataType::Int32,
        T::BigInt(_) | T::Int8(_) | T::Int64 => DataType::Int64,
        T::Float(_) | T::Real | T::Float4 => DataType::Float32,
        T::Double(_) | T::DoublePrecision | T::Float8 | T::Float64 => DataType::Float64,
        T::Boolean | T::Bool => DataType::Boolean,
        T::Varchar(_)
        | T::CharVarying(_)
        | T::Char(_)
        | T::Character(_)
        | T::Text
        | T::String(_) => DataType::Utf8,
        T::Timestamp(_, _) | T::Datetime(_) => DataType::Timestamp(TimeUnit::Millisecond, None),
        T::Date => DataType::Date32,
        T::Decimal(_) | T::Numeric(_) | T::Dec(_) => DataType::Float64,
        other => return Err(SqlError::unsupported(format!("column type {other}"))),
    })
}

/// A schema of named, nullable columns.
pub fn schema_of(columns: Vec<(String, DataType)>) -> SchemaRef {
    Arc::new(Schema::new(
        columns.into_iter().map(|(n, t)| Field::new(n, t, true)).collect::<Vec<_>>(),
    ))
}

/// A DataFusion error as ours.
pub fn df(e: DataFusionError) -> SqlError {
    SqlError::from(e)
}

/// The `PRIMARY KEY (...)` of `CREATE TABLE` (a table constraint, or a
/// column's), as column names of `schema`; Flink requires `NOT ENFORCED`
/// and so does Squall (it never checks the key).
///
/// # Errors
/// A key naming no column, or one without `NOT ENFORCED`.
pub fn primary_key(
    ct: &datafusion_sql::sqlparser::ast::CreateTable,
    schema: &SchemaRef,
) -> SqlResult<Vec<String>> {
    use datafusion_sql::sqlparser::ast::{ColumnOption, TableConstraint};
    let mut key = Vec::new();
    let mut enforced = None;
    for c in &ct.constraints {
        if let TableConstraint::PrimaryKey(pk) = c {
            key = pk.columns.iter().map(|c| c.column.expr.to_string()).collect();
            enforced = pk.characteristics.and_then(|ch| ch.enforced);
        }
    }
    for col in &ct.columns {
        for o in &col.options {
            if let ColumnOption::PrimaryKey(pk) = &o.option {
                key = vec![col.name.value.clone()];
                enforced = pk.characteristics.and_then(|ch| ch.enforced);
            }
        }
    }
    let key: Vec<String> =
        key.into_iter().map(|k| k.trim_matches(|c| c == '`' || c == '"').to_string()).collect();
    if key.is_empty() {
        return Ok(key);
    }
    if enforced != Some(false) {
        return Err(SqlError::unsupported(format!(
            "PRIMARY KEY ({}) without NOT ENFORCED (Squall does not check keys; write NOT ENFORCED as Flink requires)",
            key.join(", ")
        )));
    }
    if let Some(k) = key.iter().find(|k| schema.index_of(k).is_err()) {
        return Err(SqlError::plan(format!("PRIMARY KEY: no column '{k}'")));
    }
    Ok(key)
}
