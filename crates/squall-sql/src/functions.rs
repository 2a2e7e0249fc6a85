//! Flink SQL's names for scalar functions that DataFusion spells
//! differently or lacks, registered as DataFusion scalar UDFs beside
//! DataFusion's own (see [`register`]):
//!
//! - `DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm')`: a Java `DateTimeFormatter`
//!   pattern, translated to chrono's (`java_to_chrono`) and evaluated by
//!   DataFusion's `to_char`;
//! - `REGEXP_EXTRACT(s, regex [, group])`: the group (0: the whole match) of
//!   the first match, NULL when nothing matches or the group took no part
//!   (Flink's `SqlFunctionUtils.regexpExtract`); the `regex` crate's syntax,
//!   which Java's agrees with for the patterns Nexmark uses;
//! - `SPLIT_INDEX(s, sep, i)`: field `i` (from 0) of `s` split at every
//!   `sep`, empty fields kept, NULL past the last field or for `i < 0`
//!   (Flink's, on commons-lang's `splitByWholeSeparatorPreserveAllTokens`);
//! - `MOD(a, b)` on integers and `CHAR_LENGTH` (DataFusion's
//!   `character_length`).
//!
//! A pattern or index written as a literal is checked when the statement is
//! planned, so a bad one is a one-line SQL error, not a failed run.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion_common::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
use datafusion_common::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, TimeUnit};
use datafusion_common::{exec_err, plan_err, Result, ScalarValue};
use datafusion_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

/// Adds Flink's function names to `functions` (DataFusion's, by lower-case
/// name): `date_format`, `regexp_extract`, `split_index`, `mod`,
/// `char_length`.
pub fn register(functions: &mut HashMap<String, Arc<ScalarUDF>>) {
    if let Some(f) = functions.get("character_length").cloned() {
        functions.entry("char_length".into()).or_insert(f);
    }
    functions.insert("mod".into(), Arc::new(mod_udf()));
    for f in [
        ScalarUDF::from(DateFormat::new()),
        ScalarUDF::from(RegexpExtract::new()),
        ScalarUDF::from(SplitIndex::new()),
    ] {
        functions.insert(f.name().to_string(), Arc::new(f));
    }
}

/// Translates a Java `DateTimeFormatter` pattern (Flink's `DATE_FORMAT`) to
/// a chrono format (DataFusion's `to_char`): `yyyy`, `yy`, `MM`, `M`,
/// `MMM`, `MMMM`, `dd`, `d`, `HH`, `H`, `hh`, `h`, `mm`, `m`, `ss`, `s`,
/// `SSS`/`SSSSSS`/`SSSSSSSSS` (fraction of second), `a`, `EEE`, `EEEE`,
/// `D`/`DDD`, `'quoted text'` and `''`; other characters stand for
/// themselves.
///
/// # Errors
/// A pattern letter that has no chrono equivalent here, named.
pub fn java_to_chrono(pattern: &str) -> std::result::Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut run = 1;
        while i + run < chars.len() && chars[i + run] == c {
            run += 1;
        }
        if c == '\'' {
            if run >= 2 {
                // '' is a quote; a run of 2k quotes is k quotes.
                out.extend(std::iter::repeat_n('\'', run / 2));
                i += run - run % 2;
                continue;
            }
            // Quoted text up to the closing quote ('' inside is a quote).
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unclosed quote in '{pattern}'")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        out.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some('%') => {
                        out.push_str("%%");
                        i += 1;
                    }
                    Some(ch) => {
                        out.push(*ch);
                        i += 1;
                    }
                }
            }
            continue;
        }
        let spec = match (c, run) {
            ('y' | 'u', 2) => "%y",
            ('y' | 'u', _) => "%Y",
            ('M' | 'L', 1) => "%-m",
            ('M' | 'L', 2) => "%m",
            ('M' | 'L', 3) => "%b",
            ('M' | 'L', _) => "%B",
            ('d', 1) => "%-d",
            ('d', 2) => "%d",
            ('D', 1) => "%-j",
            ('D', 3) => "%j",
            ('H', 1) => "%-H",
            ('H', 2) => "%H",
            ('h', 1) => "%-I",
            ('h', 2) => "%I",
            ('m', 1) => "%-M",
            ('m', 2) => "%M",
            ('s', 1) => "%-S",
            ('s', 2) => "%S",
            ('S', 3) => "%3f",
            ('S', 6) => "%6f",
            ('S', 9) => "%9f",
            ('a', 1) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('%', _) => {
                out.extend(std::iter::repeat_n("%%", run));
                i += run;
                continue;
            }
            (c, _) if c.is_ascii_alphabetic() => {
                return Err(format!(
                    "the pattern letters '{}' in '{pattern}' are not supported",
                    String::from_iter(std::iter::repeat_n(c, run))
                ))
            }
            (c, _) => {
                out.extend(std::iter::repeat_n(c, run));
                i += run;
                continue;
            }
        };
        out.push_str(spec);
        i += run;
    }
    Ok(out)
}

/// The literal text of argument `i`, if the call gives one.
fn literal_str<'a>(args: &'a ReturnFieldArgs, i: usize) -> Option<&'a str> {
    match args.scalar_arguments.get(i).copied().flatten() {
        Some(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s))) => Some(s),
        Some(ScalarValue::Utf8View(Some(s))) => Some(s),
        _ => None,
    }
}

fn literal_int(args: &ReturnFieldArgs, i: usize) -> Option<i64> {
    let v = args.scalar_arguments.get(i).copied().flatten()?;
    v.cast_to(&DataType::Int64).ok().and_then(|v| match v {
        ScalarValue::Int64(i) => i,
        _ => None,
    })
}

fn utf8_field(name: &str) -> FieldRef {
    Arc::new(Field::new(name, DataType::Utf8, true))
}

fn check_arity(name: &str, n: usize, allowed: std::ops::RangeInclusive<usize>) -> Result<()> {
    if !allowed.contains(&n) {
        return plan_err!(
            "{} takes {} arguments, not {n}",
            name.to_uppercase(),
            if allowed.start() == allowed.end() {
                allowed.start().to_string()
            } else {
                format!("{} to {}", allowed.start(), allowed.end())
            }
        );
    }
    Ok(())
}

/// Every argument as an array of `n` rows.
fn arrays(args: &[ColumnarValue], n: usize) -> Result<Vec<ArrayRef>> {
    args.iter().map(|a| a.to_array(n)).collect()
}

/// Argument `i` of `arrays` as text (coerced to Utf8 by the signature).
fn strings(arrays: &[ArrayRef], i: usize) -> Result<&StringArray> {
    match arrays.get(i).and_then(|a| a.as_string_opt::<i32>()) {
        Some(a) => Ok(a),
        None => exec_err!("argument {} is not Utf8 after coercion", i + 1),
    }
}

/// `DATE_FORMAT(ts, pattern)`: Flink's, a Java pattern evaluated by
/// DataFusion's `to_char`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DateFormat {
    signature: Signature,
}

impl DateFormat {
    fn new() -> Self {
        DateFormat { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for DateFormat {
    fn name(&self) -> &str {
        "date_format"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(self.name(), arg_types.len(), 2..=2)?;
        let ts = match &arg_types[0] {
            DataType::Date32 => DataType::Date32,
            DataType::Timestamp(_, _)
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Null => DataType::Timestamp(TimeUnit::Millisecond, None),
            other => {
                return plan_err!("DATE_FORMAT of a {other}: it takes a TIMESTAMP, DATE or text")
            }
        };
        Ok(vec![ts, DataType::Utf8])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if let Some(p) = literal_str(&args, 1) {
            if let Err(why) = java_to_chrono(p) {
                return plan_err!("DATE_FORMAT: {why}");
            }
        }
        Ok(utf8_field(self.name()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let to_chrono = |p: &str| java_to_chrono(p).or_else(|why| exec_err!("DATE_FORMAT: {why}"));
        let format = match &args.args[1] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(p))) => {
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(to_chrono(p)?)))
            }
            ColumnarValue::Scalar(_) => return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None))),
            ColumnarValue::Array(a) => {
                let a = strings(std::slice::from_ref(a), 0)?;
                let out: StringArray =
                    a.iter().map(|p| p.map(to_chrono).transpose()).collect::<Result<_>>()?;
                ColumnarValue::Array(Arc::new(out))
            }
        };
        let to_char = datafusion_functions::datetime::to_char();
        to_char.invoke_with_args(ScalarFunctionArgs {
            args: vec![args.args[0].clone(), format],
            ..args
        })
    }
}

/// `REGEXP_EXTRACT(s, regex [, group])`: Flink's.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpExtract {
    signature: Signature,
}

impl RegexpExtract {
    fn new() -> Self {
        RegexpExtract { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

fn compile(pattern: &str) -> std::result::Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| {
        format!(
            "REGEXP_EXTRACT: '{pattern}' is not a regular expression: {}",
            crate::error::one_line(&e.to_string())
        )
    })
}

impl ScalarUDFImpl for RegexpExtract {
    fn name(&self) -> &str {
        "regexp_extract"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(self.name(), arg_types.len(), 2..=3)?;
        let mut out = vec![DataType::Utf8, DataType::Utf8];
        if arg_types.len() == 3 {
            out.push(DataType::Int64);
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if let Some(p) = literal_str(&args, 1) {
            let re = compile(p).or_else(|why| plan_err!("{why}"))?;
            let groups = re.captures_len() - 1;
            if let Some(g) = literal_int(&args, 2) {
                if g < 0 || g as usize > groups {
                    return plan_err!(
                        "REGEXP_EXTRACT: group {g} of '{p}', which has {groups} group(s)"
                    );
                }
            }
        }
        Ok(utf8_field(self.name()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args.args, args.number_rows)?;
        let (text, pattern) = (strings(&a, 0)?, strings(&a, 1)?);
        let group = a.get(2).map(|g| g.as_primitive::<Int64Type>());
        let mut last: Option<(&str, regex::Regex)> = None;
        let mut out = Vec::with_capacity(text.len());
        for row in 0..text.len() {
            let g = match group {
                None => Some(0),
                Some(g) => g.is_valid(row).then(|| g.value(row)),
            };
            let (Some(s), Some(p), Some(g)) = (
                text.is_valid(row).then(|| text.value(row)),
                pattern.is_valid(row).then(|| pattern.value(row)),
                g,
            ) else {
                out.push(None);
                continue;
            };
            if last.as_ref().is_none_or(|(lp, _)| *lp != p) {
                last = Some((p, compile(p).or_else(|why| exec_err!("{why}"))?));
            }
            let re = &last.as_ref().expect("compiled above").1;
            let found = usize::try_from(g)
                .ok()
                .and_then(|g| re.captures(s).and_then(|c| c.get(g)).map(|m| m.as_str()));
            out.push(found);
        }
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
    }
}

/// `SPLIT_INDEX(s, sep, i)`: Flink's.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SplitIndex {
    signature: Signature,
}

impl SplitIndex {
    fn new() -> Self {
        SplitIndex { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

/// Field `index` of `s` split at every `sep` (empty fields kept); `None`
/// past the last field, for an empty `s`, or for an empty `sep` (which
/// commons-lang reads as "split at whitespace": fields between single
/// whitespace characters).
pub fn split_index<'a>(s: &'a str, sep: &str, index: i64) -> Option<&'a str> {
    let index = usize::try_from(index).ok()?;
    if s.is_empty() {
        return None;
    }
    if sep.is_empty() {
        return s.split(char::is_whitespace).nth(index);
    }
    s.split(sep).nth(index)
}

impl ScalarUDFImpl for SplitIndex {
    fn name(&self) -> &str {
        "split_index"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(self.name(), arg_types.len(), 3..=3)?;
        Ok(vec![DataType::Utf8, DataType::Utf8, DataType::Int64])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args.args, args.number_rows)?;
        let (text, sep) = (strings(&a, 0)?, strings(&a, 1)?);
        let index = a[2].as_primitive::<Int64Type>();
        let out: StringArray = (0..text.len())
            .map(|row| {
                if text.is_null(row) || sep.is_null(row) || index.is_null(row) {
                    return None;
                }
                split_index(text.value(row), sep.value(row), index.value(row))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// Flink's `MOD(a, b)` on integers (DataFusion has the `%` operator); NULL
/// for `b = 0`.
fn mod_udf() -> ScalarUDF {
    datafusion_expr::create_udf(
        "mod",
        vec![DataType::Int64, DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let n = args
                .iter()
                .find_map(|a| match a {
                    ColumnarValue::Array(a) => Some(a.len()),
                    _ => None,
                })
                .unwrap_or(1);
            let a = arrays(args, n)?;
            let (x, y) = (a[0].as_primitive::<Int64Type>(), a[1].as_primitive::<Int64Type>());
            let out: Int64Array = x
                .iter()
                .zip(y.iter())
                .map(|(x, y)| match (x, y) {
                    (Some(x), Some(y)) if y != 0 => Some(x.wrapping_rem(y)),
                    _ => None,
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_patterns_become_chrono_formats() {
        assert_eq!(java_to_chrono("yyyy-MM-dd").unwrap(), "%Y-%m-%d");
        assert_eq!(java_to_chrono("HH:mm").unwrap(), "%H:%M");
        assert_eq!(java_to_chrono("yyyy-MM-dd HH:mm:ss.SSS").unwrap(), "%Y-%m-%d %H:%M:%S.%3f");
        assert_eq!(java_to_chrono("yyyy'T'HH 'o''clock' 100%").unwrap(), "%YT%H o'clock 100%%");
        assert!(java_to_chrono("yyyy-ww").unwrap_err().contains("'ww'"));
        assert!(java_to_chrono("'open").unwrap_err().contains("unclosed"));
    }

    #[test]
    fn a_bad_literal_pattern_is_refused_when_planned() {
        let ddl = "CREATE TABLE t (s VARCHAR, ts TIMESTAMP(3)) WITH ('connector' = 'nexmark', 'table' = 'bid');
                   CREATE TABLE o (s VARCHAR) WITH ('connector' = 'blackhole');";
        for (call, want) in [
            ("DATE_FORMAT(ts, 'yyyy-ww')", "DATE_FORMAT: the pattern letters 'ww'"),
            ("REGEXP_EXTRACT(s, 'a(b', 1)", "REGEXP_EXTRACT: 'a(b' is not a regular expression"),
            ("REGEXP_EXTRACT(s, 'a(b)', 2)", "group 2 of 'a(b)', which has 1 group(s)"),
            ("SPLIT_INDEX(s, '/')", "SPLIT_INDEX takes 3 arguments, not 2"),
        ] {
            let sql = format!("{ddl}\nINSERT INTO o SELECT {call} FROM t;");
            let e = crate::Session::new().prepare(&sql).err().expect("refused").to_string();
            assert!(e.contains(want) && !e.contains('\n'), "{call}: {e}");
        }
    }

    #[test]
    fn split_index_counts_from_zero_and_keeps_empty_fields() {
        let url = "https://www.nexmark.com/xyz/abc/item.htm";
        assert_eq!(split_index(url, "/", 0), Some("https:"));
        assert_eq!(split_index(url, "/", 1), Some(""));
        assert_eq!(split_index(url, "/", 3), Some("xyz"));
        assert_eq!(split_index(url, "/", 5), Some("item.htm"));
        assert_eq!(split_index(url, "/", 6), None);
        assert_eq!(split_index(url, "/", -1), None);
        assert_eq!(split_index("", "/", 0), None);
        assert_eq!(split_index("a::b", "::", 1), Some("b"));
    }
}
