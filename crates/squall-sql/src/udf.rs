//! Scalar UDFs that `CREATE FUNCTION` can bind by identifier
//! ([`crate::create_function`]), and Flink built-ins the Nexmark queries
//! call that DataFusion lacks:
//!
//! - `COUNT_CHAR(s, c)`: how many times the first character of `c` occurs
//!   in `s` (0 for a NULL `s`), the Nexmark suite's Java UDF
//!   `com.github.nexmark.flink.udf.CountChar` of q14, built in under that
//!   identifier and as `count_char`;
//! - `HOUR(ts)`: the hour of day (0-23, UTC) of a timestamp, Flink's
//!   `HOUR`, a BIGINT.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion_common::arrow::array::{AsArray, Int64Array};
use datafusion_common::arrow::compute::cast;
use datafusion_common::arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use datafusion_expr::{ColumnarValue, ScalarUDF, Volatility};

/// The identifier of the Nexmark suite's `CountChar` UDF (q14).
pub const COUNT_CHAR_CLASS: &str = "com.github.nexmark.flink.udf.CountChar";

/// The UDFs built in for `CREATE FUNCTION`, by identifier (and `count_char`
/// under its own name).
pub fn builtins() -> HashMap<String, Arc<ScalarUDF>> {
    let count_char = Arc::new(count_char());
    HashMap::from([
        (COUNT_CHAR_CLASS.to_string(), count_char.clone()),
        ("count_char".to_string(), count_char),
    ])
}

/// Adds Flink's built-ins of this module (`hour`) and `proctime`
/// ([`crate::proctime`]) to `functions`.
pub fn register(functions: &mut HashMap<String, Arc<ScalarUDF>>) {
    functions.insert("hour".into(), Arc::new(hour()));
    crate::proctime::register(functions);
}

/// `COUNT_CHAR(s VARCHAR, c VARCHAR) -> BIGINT`.
pub fn count_char() -> ScalarUDF {
    datafusion_expr::create_udf(
        "count_char",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = ColumnarValue::values_to_arrays(args)?;
            let (s, c) = (a[0].as_string::<i32>(), a[1].as_string::<i32>());
            let out: Int64Array = s
                .iter()
                .zip(c.iter())
                .map(|(s, c)| {
                    let c = c.and_then(|c| c.chars().next())?;
                    Some(s.map_or(0, |s| s.chars().filter(|x| *x == c).count() as i64))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

/// `HOUR(ts TIMESTAMP) -> BIGINT`.
fn hour() -> ScalarUDF {
    datafusion_expr::create_udf(
        "hour",
        vec![DataType::Timestamp(TimeUnit::Millisecond, None)],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = ColumnarValue::values_to_arrays(args)?;
            let ts = cast(&a[0], &DataType::Timestamp(TimeUnit::Millisecond, None))?;
            let out: Int64Array = ts
                .as_primitive::<TimestampMillisecondType>()
                .iter()
                .map(|t| t.map(|ms| ms.div_euclid(3_600_000).rem_euclid(24)))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}
