//! [`FieldAggregates`]: count, sum, min, max and avg over named fields of a
//! tuple, as one [`AggregateFunction`]; what the YAML `window` bolt
//! computes.

use std::cmp::Ordering;

use serde::Deserialize;

use super::AggregateFunction;
use crate::error::{Error, Result};
use crate::model::{Fields, Value, Values};

/// One aggregate function over tuples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateKind {
    /// Number of records (an int); needs no field.
    Count,
    /// Sum of the field: an int while every value is an int, else a float;
    /// null if the window had no value.
    Sum,
    /// Smallest value of the field (numbers, timestamps or strings); null
    /// if none.
    Min,
    /// Largest value of the field; null if none.
    Max,
    /// Mean of the field (a float); null if none.
    Avg,
}

/// One output column: `{ fn: avg, field: dep_delay, as: mean_delay }`.
/// Null values of the field are skipped (as SQL does), so `count` counts
/// records and `avg` is over the values present.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateSpec {
    /// The function.
    #[serde(rename = "fn")]
    pub kind: AggregateKind,
    /// The input field (not for `count`).
    #[serde(default)]
    pub field: Option<String>,
    /// The output field's name; default `count`, or `<fn>_<field>`.
    #[serde(default, rename = "as")]
    pub name: Option<String>,
}

impl AggregateSpec {
    /// A spec of `kind` over `field` named `name`.
    pub fn new(kind: AggregateKind, field: Option<&str>, name: &str) -> Self {
        AggregateSpec { kind, field: field.map(str::to_string), name: Some(name.to_string()) }
    }

    /// The output field's name.
    pub fn output_name(&self) -> String {
        match (&self.name, &self.field) {
            (Some(n), _) => n.clone(),
            (None, Some(f)) => format!("{}_{f}", self.kind_name()),
            (None, None) => self.kind_name().to_string(),
        }
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            AggregateKind::Count => "count",
            AggregateKind::Sum => "sum",
            AggregateKind::Min => "min",
            AggregateKind::Max => "max",
            AggregateKind::Avg => "avg",
        }
    }

    /// Checks that a field is given where needed.
    ///
    /// # Errors
    /// [`Error::Config`] naming the aggregate.
    pub fn validate(&self) -> Result<()> {
        match (self.kind, &self.field) {
            (AggregateKind::Count, _) | (_, Some(_)) => Ok(()),
            (_, None) => Err(Error::config(format!(
                "aggregate '{}' needs a field to {}",
                self.output_name(),
                self.kind_name()
            ))),
        }
    }
}

/// The running value of one aggregate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Cell {
    /// Records counted.
    Count(i64),
    /// Int sum, float sum, whether a float (or an int overflow) was seen,
    /// whether any value was seen.
    Sum(i64, f64, bool, bool),
    /// Smallest so far (null before any).
    Min(Value),
    /// Largest so far (null before any).
    Max(Value),
    /// Sum and number of values.
    Avg(f64, i64),
}

/// Count, sum, min, max and avg over fields of tuples, computed
/// incrementally (one [`Cell`] per aggregate per window, no records kept).
#[derive(Debug, Clone)]
pub struct FieldAggregates {
    specs: Vec<AggregateSpec>,
    /// Position of each aggregate's field in the input schema.
    indices: Vec<Option<usize>>,
}

impl FieldAggregates {
    /// The aggregates `specs` over tuples with fields `input`.
    ///
    /// # Errors
    /// [`Error::Config`] if a spec lacks its field or names a field `input`
    /// does not have (listing the fields it has).
    pub fn new(specs: Vec<AggregateSpec>, input: &Fields) -> Result<Self> {
        let mut indices = Vec::with_capacity(specs.len());
        for s in &specs {
            s.validate()?;
            indices.push(match (&s.field, s.kind) {
                (_, AggregateKind::Count) | (None, _) => None,
                (Some(f), _) => Some(input.index_of(f).ok_or_else(|| {
                    Error::config(format!(
                        "aggregate '{}': the input has no field '{f}'; it has {:?}",
                        s.output_name(),
                        input.names()
                    ))
                })?),
            });
        }
        Ok(FieldAggregates { specs, indices })
    }

    /// Whether an aggregate reads the input field at `index`.
    pub fn reads(&self, index: usize) -> bool {
        self.indices.contains(&Some(index))
    }

    /// The output field names, in order.
    pub fn output_names(&self) -> Vec<String> {
        self.specs.iter().map(AggregateSpec::output_name).collect()
    }

    /// Checks that every aggregated value of `values` has a type its
    /// function takes (sum and avg: numbers; min and max: numbers,
    /// timestamps or strings; null is always skipped).
    ///
    /// # Errors
    /// A one-line reason naming the field and the value's type.
    pub fn check(&self, values: &Values) -> std::result::Result<(), String> {
        for (s, i) in self.specs.iter().zip(&self.indices) {
            let Some(i) = *i else { continue };
            let v = &values[i];
            let ok = matches!(
                (s.kind, v),
                (_, Value::Null)
                    | (AggregateKind::Sum | AggregateKind::Avg, Value::Int(_) | Value::Float(_))
                    | (
                        AggregateKind::Min | AggregateKind::Max,
                        Value::Int(_) | Value::Float(_) | Value::Timestamp(_) | Value::String(_),
                    )
            );
            if !ok {
                return Err(format!(
                    "aggregate '{}' cannot take the {} value '{v}' of field '{}'",
                    s.output_name(),
                    v.type_name(),
                    s.field.as_deref().unwrap_or_default()
                ));
            }
        }
        Ok(())
    }
}

impl FieldAggregates {
    /// Adds a tuple that stands for `weight` records: a producer's partial
    /// aggregate (see [`crate::WindowCombining`]), whose `sum` and `avg`
    /// fields hold the sum of its records' values (none of them null) and
    /// `min` and `max` fields their extreme; 1 is one plain record.
    pub(crate) fn add_weighted(&self, acc: &mut [Cell], input: &Values, weight: u64) {
        let weight = weight as i64;
        for (cell, i) in acc.iter_mut().zip(&self.indices) {
            let v = i.map_or(&Value::Null, |i| &input[i]);
            match cell {
                Cell::Count(n) => *n += weight,
                Cell::Sum(..) => add_sum(cell, v),
                Cell::Min(m) => keep(m, v, Ordering::Less),
                Cell::Max(m) => keep(m, v, Ordering::Greater),
                Cell::Avg(sum, n) => {
                    if let Some(x) = v.as_f64() {
                        *sum += x;
                        *n += weight;
                    }
                }
            }
        }
    }
}

/// Orders two values of one kind (numbers with numbers); `None` across kinds.
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => Some(x.cmp(y)),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Keeps in `slot` the one of `slot` and `v` that `wanted` says.
fn keep(slot: &mut Value, v: &Value, wanted: Ordering) {
    if matches!(v, Value::Null) {
        return;
    }
    if matches!(slot, Value::Null) || compare(v, slot) == Some(wanted) {
        *slot = v.clone();
    }
}

fn add_sum(cell: &mut Cell, v: &Value) {
    let Cell::Sum(int, float, is_float, seen) = cell else { return };
    match v {
        Value::Int(x) => match int.checked_add(*x) {
            Some(s) if !*is_float => *int = s,
            _ => {
                *float += *x as f64;
                *is_float = true;
            }
        },
        Value::Float(x) => {
            *float += x;
            *is_float = true;
        }
        _ => return,
    }
    *seen = true;
}

impl AggregateFunction for FieldAggregates {
    type In = Values;
    type Acc = Vec<Cell>;
    type Out = Values;

    fn create(&self) -> Vec<Cell> {
        self.specs
            .iter()
            .map(|s| match s.kind {
                AggregateKind::Count => Cell::Count(0),
                AggregateKind::Sum => Cell::Sum(0, 0.0, false, false),
                AggregateKind::Min => Cell::Min(Value::Null),
                AggregateKind::Max => Cell::Max(Value::Null),
                AggregateKind::Avg => Cell::Avg(0.0, 0),
            })
            .collect()
    }

    fn add(&self, acc: &mut Vec<Cell>, input: &Values) {
        self.add_weighted(acc, input, 1);
    }

    fn merge(&self, acc: &mut Vec<Cell>, other: Vec<Cell>) {
        for (cell, o) in acc.iter_mut().zip(other) {
            match (cell, o) {
                (Cell::Count(n), Cell::Count(m)) => *n += m,
                (cell @ Cell::Sum(..), Cell::Sum(i, f, is_float, seen)) => {
                    if seen {
                        add_sum(cell, &Value::Int(i));
                        if is_float {
                            add_sum(cell, &Value::Float(f));
                        }
                    }
                }
                (Cell::Min(m), Cell::Min(v)) => keep(m, &v, Ordering::Less),
                (Cell::Max(m), Cell::Max(v)) => keep(m, &v, Ordering::Greater),
                (Cell::Avg(s, n), Cell::Avg(s2, n2)) => {
                    *s += s2;
                    *n += n2;
                }
                _ => unreachable!("accumulators of one function line up"),
            }
        }
    }

    fn result(&self, acc: &Vec<Cell>) -> Values {
        cells_result(acc)
    }
}

/// The aggregates' results from their cells (what [`FieldAggregates`]
/// emits; needs no schema).
pub(crate) fn cells_result(acc: &[Cell]) -> Values {
    let mut out = Vec::with_capacity(acc.len());
    cells_result_into(acc, &mut out);
    out
}

/// Appends the aggregates' results from their cells to `out` (a row
/// being built).
pub(crate) fn cells_result_into(acc: &[Cell], out: &mut Values) {
    out.extend(acc.iter().map(|cell| match cell {
        Cell::Count(n) => Value::Int(*n),
        Cell::Sum(_, _, _, false) => Value::Null,
        Cell::Sum(i, f, true, true) => Value::Float(*i as f64 + f),
        Cell::Sum(i, _, false, true) => Value::Int(*i),
        Cell::Min(v) | Cell::Max(v) => v.clone(),
        Cell::Avg(_, 0) => Value::Null,
        Cell::Avg(s, n) => Value::Float(s / *n as f64),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<AggregateSpec> {
        serde_yaml_ng::from_str(
            "[{fn: count}, {fn: sum, field: x}, {fn: min, field: x}, {fn: max, field: s}, \
             {fn: avg, field: x, as: mean}]",
        )
        .unwrap()
    }

    #[test]
    fn aggregates_skip_nulls_and_merge_like_adding() {
        let f = FieldAggregates::new(specs(), &Fields::new(["s", "x"])).unwrap();
        assert_eq!(f.output_names(), ["count", "sum_x", "min_x", "max_s", "mean"]);
        let rows: Vec<Values> = vec![
            vec!["b".into(), Value::Int(4)],
            vec!["a".into(), Value::Null],
            vec!["c".into(), Value::Int(-2)],
            vec![Value::Null, Value::Float(0.5)],
        ];
        let mut all = f.create();
        for r in &rows {
            f.check(r).unwrap();
            f.add(&mut all, r);
        }
        let expected = vec![
            Value::Int(4),
            Value::Float(2.5),
            Value::Int(-2),
            "c".into(),
            Value::Float(2.5 / 3.0),
        ];
        assert_eq!(f.result(&all), expected);
        let (mut left, mut right) = (f.create(), f.create());
        for r in &rows[..2] {
            f.add(&mut left, r);
        }
        for r in &rows[2..] {
            f.add(&mut right, r);
        }
        f.merge(&mut left, right);
        assert_eq!(f.result(&left), expected);
        // Ints only: the sum stays an int; nothing: nulls.
        let mut ints = f.create();
        f.add(&mut ints, &rows[0]);
        assert_eq!(f.result(&ints)[1], Value::Int(4));
        let empty = f.result(&f.create());
        assert_eq!(empty, [Value::Int(0), Value::Null, Value::Null, Value::Null, Value::Null]);
    }

    #[test]
    fn bad_specs_and_values_are_named() {
        let e = FieldAggregates::new(specs(), &Fields::new(["s"])).unwrap_err().to_string();
        assert!(e.contains("'sum_x'") && e.contains("no field 'x'"), "{e}");
        let no_field: Vec<AggregateSpec> = serde_yaml_ng::from_str("[{fn: sum}]").unwrap();
        let e = FieldAggregates::new(no_field, &Fields::new(["s"])).unwrap_err().to_string();
        assert!(e.contains("needs a field"), "{e}");
        let f = FieldAggregates::new(specs(), &Fields::new(["s", "x"])).unwrap();
        let e = f.check(&vec!["a".into(), "12x".into()]).unwrap_err();
        assert!(e.contains("'sum_x'") && e.contains("string") && e.contains("'12x'"), "{e}");
    }
}
