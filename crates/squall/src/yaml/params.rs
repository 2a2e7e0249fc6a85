//! Parameters of a YAML topology and their `${name}` substitution.
//!
//! Substitution walks the parsed YAML tree, never the source text, so a
//! parameter can never change the document's structure. Rules:
//!
//! - a string that is exactly `${name}` becomes the parameter's value, with
//!   its YAML type (`parallelism: ${p}` with `p: 3` is the integer 3);
//! - `${name}` inside a longer string is replaced by the value's text
//!   (`"out/${name}.csv"`); lists and maps cannot be spliced into text;
//! - `$${` is a literal `${`;
//! - an undeclared `${name}` is an error naming it and where it is.
//!
//! Mapping keys are never substituted.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

use crate::error::{Error, Result};

/// The parameters of one topology: the declared defaults, overridden by
/// `--set key=value`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params {
    values: BTreeMap<String, Value>,
}

impl Params {
    /// The declared defaults with `overrides` applied.
    ///
    /// Each override's value is read as YAML, so `3` is an integer and
    /// `[a, b]` a list; text that is not a scalar or list stays a string.
    ///
    /// # Errors
    /// [`Error::Config`] if an override names a parameter not declared.
    pub fn new(declared: BTreeMap<String, Value>, overrides: &[(String, String)]) -> Result<Self> {
        let mut values = declared;
        for (key, text) in overrides {
            let Some(slot) = values.get_mut(key) else {
                return Err(Error::config(format!(
                    "--set {key}: the topology declares no parameter '{key}'; it has: {}",
                    names_or_none(values.keys())
                )));
            };
            *slot = parse_override(text);
        }
        Ok(Params { values })
    }

    /// The declared names, comma-separated, or `none`.
    fn names(&self) -> String {
        names_or_none(self.values.keys())
    }

    /// Substitutes every `${name}` in the string values of `value`, in place.
    /// `at` says where `value` is, for error messages.
    ///
    /// # Errors
    /// [`Error::Config`] naming the place and the parameter, for an unknown
    /// parameter, an unterminated `${`, or a list or map spliced into text.
    pub fn substitute(&self, value: &mut Value, at: &str) -> Result<()> {
        match value {
            Value::String(s) => {
                if let Some(new) = self.expand(s, at)? {
                    *value = new;
                }
            }
            Value::Sequence(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.substitute(item, &format!("{at}[{i}]"))?;
                }
            }
            Value::Mapping(map) => {
                for (key, item) in map.iter_mut() {
                    let key = match key {
                        Value::String(k) => k.clone(),
                        other => format!("{other:?}"),
                    };
                    self.substitute(item, &format!("{at}.{key}"))?;
                }
            }
            Value::Tagged(tagged) => self.substitute(&mut tagged.value, at)?,
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        Ok(())
    }

    /// Substitutes the parameters in a string that must stay a string (an
    /// id, a type name).
    ///
    /// # Errors
    /// As [`Params::substitute`], and if the result is not a scalar.
    pub fn substitute_str(&self, s: &str, at: &str) -> Result<String> {
        match self.expand(s, at)? {
            None => Ok(s.to_string()),
            Some(value) => scalar_text(&value).ok_or_else(|| {
                Error::config(format!("{at}: must be a string, but '{s}' is a list or map"))
            }),
        }
    }

    /// The value of `s` after substitution, or `None` if it has no `${`.
    fn expand(&self, s: &str, at: &str) -> Result<Option<Value>> {
        if !s.contains("${") {
            return Ok(None);
        }
        let pieces = split(s, at)?;
        // Exactly `${name}`: the parameter's value, typed.
        if let [Piece::Param(name)] = pieces.as_slice() {
            return self.lookup(name, at).cloned().map(Some);
        }
        let mut text = String::with_capacity(s.len());
        for piece in &pieces {
            match piece {
                Piece::Text(t) => text.push_str(t),
                Piece::Param(name) => {
                    let value = self.lookup(name, at)?;
                    let part = scalar_text(value).ok_or_else(|| {
                        Error::config(format!(
                            "{at}: parameter '{name}' is a list or map and cannot be part of the \
                             longer string '{s}'"
                        ))
                    })?;
                    text.push_str(&part);
                }
            }
        }
        Ok(Some(Value::String(text)))
    }

    fn lookup(&self, name: &str, at: &str) -> Result<&Value> {
        self.values.get(name).ok_or_else(|| {
            Error::config(format!(
                "{at}: unknown parameter '${{{name}}}'; declared parameters: {}",
                self.names()
            ))
        })
    }
}

/// Part of a string: literal text or a `${name}` reference.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(String),
    Param(&'a str),
}

/// Splits `s` into text and `${name}` references; `$${` is a literal `${`.
fn split<'a>(s: &'a str, at: &str) -> Result<Vec<Piece<'a>>> {
    let mut pieces = vec![];
    let mut text = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        if rest[..start].ends_with('$') {
            // `$${`: an escaped, literal `${`.
            text.push_str(&rest[..start - 1]);
            text.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
        text.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(Error::config(format!(
                "{at}: unterminated '${{' in '{s}' (write '$${{' for a literal '${{')"
            )));
        };
        let name = after[..end].trim();
        if name.is_empty() {
            return Err(Error::config(format!("{at}: empty parameter name '${{}}' in '{s}'")));
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(Piece::Param(name));
        rest = &after[end + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// A `--set` value read as YAML: numbers, booleans, lists and strings keep
/// their type; anything else (empty, `null`, a map) stays the raw text.
fn parse_override(text: &str) -> Value {
    match serde_yaml_ng::from_str::<Value>(text) {
        Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Sequence(_))) => v,
        _ => Value::String(text.to_string()),
    }
}

/// The text of a scalar value; `None` for lists and maps.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Tagged(t) => scalar_text(&t.value),
        Value::Sequence(_) | Value::Mapping(_) => None,
    }
}

fn names_or_none<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(overrides: &[(&str, &str)]) -> Result<Params> {
        let declared: BTreeMap<String, Value> =
            serde_yaml_ng::from_str("input: data/in\nparallelism: 2\nflag: true\nlist: [a, b]")
                .unwrap();
        let overrides: Vec<(String, String)> =
            overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Params::new(declared, &overrides)
    }

    fn sub(p: &Params, yaml: &str) -> Result<Value> {
        let mut v: Value = serde_yaml_ng::from_str(yaml).unwrap();
        p.substitute(&mut v, "x")?;
        Ok(v)
    }

    #[test]
    fn whole_string_reference_keeps_the_parameters_type() {
        let p = params(&[]).unwrap();
        assert_eq!(sub(&p, "${parallelism}").unwrap(), Value::from(2));
        assert_eq!(sub(&p, "${flag}").unwrap(), Value::Bool(true));
        assert_eq!(
            sub(&p, "- ${list}").unwrap(),
            serde_yaml_ng::from_str::<Value>("[[a, b]]").unwrap()
        );
    }

    #[test]
    fn reference_inside_a_string_is_replaced_by_its_text() {
        let p = params(&[]).unwrap();
        assert_eq!(
            sub(&p, "{path: '${input}/x-${parallelism}.txt'}").unwrap(),
            serde_yaml_ng::from_str::<Value>("{path: data/in/x-2.txt}").unwrap()
        );
    }

    #[test]
    fn escaped_dollar_brace_is_literal() {
        let p = params(&[]).unwrap();
        assert_eq!(sub(&p, "'$${input}'").unwrap(), Value::from("${input}"));
    }

    #[test]
    fn override_is_read_as_yaml() {
        let p = params(&[("parallelism", "3"), ("input", "other"), ("flag", "")]).unwrap();
        assert_eq!(sub(&p, "${parallelism}").unwrap(), Value::from(3));
        assert_eq!(sub(&p, "${input}").unwrap(), Value::from("other"));
        assert_eq!(sub(&p, "${flag}").unwrap(), Value::from(""));
        let p = params(&[("input", "a: b")]).unwrap();
        assert_eq!(sub(&p, "${input}").unwrap(), Value::from("a: b"));
    }

    #[test]
    fn override_of_undeclared_parameter_is_refused() {
        let err = params(&[("foo", "1")]).unwrap_err().to_string();
        assert_eq!(
            err,
            "--set foo: the topology declares no parameter 'foo'; it has: flag, input, list, \
             parallelism"
        );
        let err = Params::new(BTreeMap::new(), &[("foo".into(), "1".into())]).unwrap_err();
        assert!(err.to_string().ends_with("it has: none"), "{err}");
    }

    #[test]
    fn unknown_parameter_is_named_with_its_place() {
        let p = params(&[]).unwrap();
        let err = sub(&p, "{settings: {path: '${inptu}/x'}}").unwrap_err().to_string();
        assert_eq!(
            err,
            "x.settings.path: unknown parameter '${inptu}'; declared parameters: flag, input, \
             list, parallelism"
        );
    }

    #[test]
    fn unterminated_and_spliced_lists_are_errors() {
        let p = params(&[]).unwrap();
        assert!(sub(&p, "'${input'").unwrap_err().to_string().contains("unterminated"));
        assert!(sub(&p, "'a ${list}'").unwrap_err().to_string().contains("list or map"));
        assert!(p.substitute_str("${list}", "id").is_err());
        assert_eq!(p.substitute_str("n-${parallelism}", "id").unwrap(), "n-2");
    }
}
