//! `CREATE [TEMPORARY] [SYSTEM] FUNCTION [IF NOT EXISTS] name AS
//! 'identifier' [LANGUAGE lang]`, Flink SQL's statement: binds `name` to
//! the scalar UDF registered under `identifier`. Flink loads a Java class
//! of that name; Squall looks the identifier up among the UDFs registered
//! from Rust ([`crate::Session::register_udf`]) and the built-in ones of
//! [`crate::udf::builtins`] (q14's `com.github.nexmark.flink.udf.CountChar`).
//! An identifier that names nothing registered is refused with one line.
//!
//! The statement is read with `sqlparser`'s parser primitives (its
//! dialects spell `CREATE FUNCTION` in Hive's or PostgreSQL's form, not
//! Flink's); `LANGUAGE` is accepted and not checked (`JAVA`, `SCALA`,
//! `PYTHON` or `RUST` all bind the Rust UDF).

use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::parser::{Parser, ParserError};
use datafusion_sql::sqlparser::tokenizer::Token;

use crate::catalog::Catalog;
use crate::error::{SqlError, SqlResult};

/// A parsed `CREATE FUNCTION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDef {
    /// The name SQL calls it by (lower-cased: function names are not case
    /// sensitive).
    pub name: String,
    /// The identifier it is registered under (Flink: the class name).
    pub identifier: String,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
}

/// `sql` as a `CREATE FUNCTION`, `None` if it is another statement.
///
/// # Errors
/// A malformed `CREATE FUNCTION` (the parser's message).
pub fn parse(sql: &str) -> Result<Option<FunctionDef>, ParserError> {
    let mut p = Parser::new(&GenericDialect {}).try_with_sql(sql)?;
    if !p.parse_keyword(Keyword::CREATE) {
        return Ok(None);
    }
    let _ = p.parse_keyword(Keyword::TEMPORARY);
    let _ = p.parse_keyword(Keyword::SYSTEM);
    if !p.parse_keyword(Keyword::FUNCTION) {
        return Ok(None);
    }
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = p.parse_object_name(false)?;
    p.expect_keyword_is(Keyword::AS)?;
    let identifier = p.parse_literal_string()?;
    if p.parse_keyword(Keyword::LANGUAGE) {
        p.parse_identifier()?;
    }
    let _ = p.consume_token(&Token::SemiColon);
    if p.peek_token().token != Token::EOF {
        return Err(ParserError::ParserError(format!(
            "CREATE FUNCTION: unexpected {} after the function's identifier",
            p.peek_token().token
        )));
    }
    let name = name.to_string().trim_matches(|c| c == '`' || c == '"').to_ascii_lowercase();
    Ok(Some(FunctionDef { name, identifier, if_not_exists }))
}

/// Binds `def.name` in `catalog` to the UDF registered under
/// `def.identifier`.
///
/// # Errors
/// An identifier that names no registered UDF; a name already bound
/// (without `IF NOT EXISTS`).
pub fn create(catalog: &mut Catalog, def: FunctionDef) -> SqlResult<()> {
    let builtins = crate::udf::builtins();
    let Some(udf) = catalog.udfs.get(&def.identifier).or_else(|| builtins.get(&def.identifier))
    else {
        let mut known: Vec<&String> = catalog.udfs.keys().chain(builtins.keys()).collect();
        known.sort();
        known.dedup();
        return Err(SqlError::plan(format!(
            "CREATE FUNCTION {}: no scalar UDF is registered under '{}' (registered: {})",
            def.name,
            def.identifier,
            known.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ")
        )));
    };
    if catalog.functions.contains_key(&def.name) {
        if def.if_not_exists {
            return Ok(());
        }
        return Err(SqlError::plan(format!("function '{}' exists", def.name)));
    }
    catalog.functions.insert(def.name, udf.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flinks_forms_parse_and_other_statements_are_not_ours() {
        let d = |sql| parse(sql).unwrap();
        let want = |name: &str, id: &str, ine| {
            Some(FunctionDef { name: name.into(), identifier: id.into(), if_not_exists: ine })
        };
        assert_eq!(
            d("CREATE FUNCTION count_char AS 'com.github.nexmark.flink.udf.CountChar';"),
            want("count_char", "com.github.nexmark.flink.udf.CountChar", false)
        );
        assert_eq!(
            d("CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS Cc AS 'x.Y' LANGUAGE JAVA"),
            want("cc", "x.Y", true)
        );
        assert_eq!(d("create temporary function f as 'g' language python"), want("f", "g", false));
        assert_eq!(d("CREATE TABLE t (a INT)"), None);
        assert_eq!(d("INSERT INTO t SELECT 1"), None);
        assert!(parse("CREATE FUNCTION f 'g'").is_err());
        assert!(parse("CREATE FUNCTION f AS 'g' USING JAR 'x.jar'").is_err());
    }
}
