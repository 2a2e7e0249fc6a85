//! Splitting a script into statements, `${var}` substitution, and the two
//! Flink constructs that DataFusion's parser does not know, rewritten in
//! place (blanked with spaces, so every line and column stays where the
//! user wrote it): `WATERMARK FOR col AS expr` in `CREATE TABLE`, and the
//! `TABLE` keyword before a table argument of a window TVF.

use std::collections::BTreeMap;

use crate::error::{one_line, SqlError, SqlResult};

/// One statement of a script.
#[derive(Debug, Clone)]
pub struct StatementText {
    /// 1-based index in the script.
    pub index: usize,
    /// The script up to the statement blanked, then the statement (so that
    /// the parser's lines and columns are the script's).
    pub padded: String,
    /// Where the statement's first word is (1-based line and column).
    pub line: u64,
    /// Column of the first word.
    pub column: u64,
    /// A `WATERMARK FOR` clause cut out of it: (column, expression text).
    pub watermark: Option<(String, String)>,
}

/// Replaces `${name}` by `vars[name]`, and `${name:-default}` by
/// `vars[name]` if given, else by `default` (as the shell does).
///
/// # Errors
/// An unknown name without a default, with how to give it.
pub fn substitute(sql: &str, vars: &BTreeMap<String, String>) -> SqlResult<String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find('}') else {
            out.push_str(&rest[i..]);
            rest = "";
            break;
        };
        let (name, default) = match after[..j].split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (&after[..j], None),
        };
        match vars.get(name).map(String::as_str).or(default) {
            Some(v) => out.push_str(v),
            None => {
                return Err(SqlError::config(format!(
                    "the script uses ${{{name}}}: give it with --set {name}=VALUE"
                )))
            }
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Where each byte of `sql` is code (not in a string, quoted name or
/// comment).
fn code_mask(sql: &[u8]) -> Vec<bool> {
    let mut mask = vec![true; sql.len()];
    let mut i = 0;
    while i < sql.len() {
        let c = sql[i];
        if c == b'\'' || c == b'"' || c == b'`' {
            let start = i;
            i += 1;
            while i < sql.len() {
                if sql[i] == c {
                    if i + 1 < sql.len() && sql[i + 1] == c {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            for m in &mut mask[start..(i + 1).min(sql.len())] {
                *m = false;
            }
            i += 1;
        } else if c == b'-' && sql.get(i + 1) == Some(&b'-') {
            let start = i;
            while i < sql.len() && sql[i] != b'\n' {
                i += 1;
            }
            for m in &mut mask[start..i] {
                *m = false;
            }
        } else if c == b'/' && sql.get(i + 1) == Some(&b'*') {
            let start = i;
            i += 2;
            while i + 1 < sql.len() && !(sql[i] == b'*' && sql[i + 1] == b'/') {
                i += 1;
            }
            i = (i + 2).min(sql.len());
            for m in &mut mask[start..i] {
                *m = false;
            }
        } else {
            i += 1;
        }
    }
    mask
}

fn blank(bytes: &mut [u8]) {
    for b in bytes {
        if *b != b'\n' && *b != b'\r' {
            *b = b' ';
        }
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `word` (upper case) starts at `i` as a whole word.
fn word_at(sql: &[u8], mask: &[bool], i: usize, word: &str) -> bool {
    let w = word.as_bytes();
    i + w.len() <= sql.len()
        && mask[i]
        && (i == 0 || !is_word(sql[i - 1]))
        && sql[i..i + w.len()].eq_ignore_ascii_case(w)
        && (i + w.len() == sql.len() || !is_word(sql[i + w.len()]))
}

/// The end of the name starting at `at`: a quoted name (`` `a b` ``,
/// `"a b"`) or a word.
fn name_end(sql: &[u8], at: usize) -> usize {
    let mut j = at;
    if j < sql.len() && (sql[j] == b'`' || sql[j] == b'"') {
        let q = sql[j];
        j += 1;
        while j < sql.len() && sql[j] != q {
            j += 1;
        }
        return j + 1;
    }
    while j < sql.len() && is_word(sql[j]) {
        j += 1;
    }
    j
}

/// After the table name starting at `at` in a TVF's arguments, turns
/// `PARTITION BY cols` (Flink's `SESSION(TABLE t PARTITION BY k, ...)`)
/// into `=> cols`, a named argument the parser takes (`t => k`), blanking
/// the rest of the keywords.
fn partition_by_as_arrow(sql: &mut [u8], mask: &[bool], at: usize) {
    let mut j = name_end(sql, at);
    while j < sql.len() && sql[j].is_ascii_whitespace() {
        j += 1;
    }
    if !word_at(sql, mask, j, "PARTITION") {
        return;
    }
    let mut k = j + 9;
    while k < sql.len() && sql[k].is_ascii_whitespace() {
        k += 1;
    }
    if word_at(sql, mask, k, "BY") {
        blank(&mut sql[j..k + 2]);
        sql[j..j + 2].copy_from_slice(b"=>");
    }
}

fn position(sql: &[u8], offset: usize) -> (u64, u64) {
    let before = &sql[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let col = before.iter().rev().take_while(|b| **b != b'\n').count() as u64 + 1;
    (line, col)
}

/// The statements of `sql`, rewritten as described in the module docs.
///
/// # Errors
/// A `WATERMARK FOR` clause that cannot be read.
pub fn split(sql: &str) -> SqlResult<Vec<StatementText>> {
    let mut bytes = sql.as_bytes().to_vec();
    let mask = code_mask(&bytes);
    // Cut out WATERMARK clauses, remembering them by the offset they were at.
    let mut watermarks: Vec<(usize, String, String)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if word_at(&bytes, &mask, i, "WATERMARK") {
            let mut j = i + "WATERMARK".len();
            let skip_ws = |j: &mut usize, b: &[u8]| {
                while *j < b.len() && b[*j].is_ascii_whitespace() {
                    *j += 1;
                }
            };
            skip_ws(&mut j, &bytes);
            if word_at(&bytes, &mask, j, "FOR") {
                j += 3;
                skip_ws(&mut j, &bytes);
                let col_start = j;
                j = name_end(&bytes, j);
                let column = String::from_utf8_lossy(&bytes[col_start..j.min(bytes.len())])
                    .trim_matches(|c| c == '`' || c == '"')
                    .to_string();
                skip_ws(&mut j, &bytes);
                if !word_at(&bytes, &mask, j, "AS") {
                    let (line, column) = position(&bytes, i);
                    return Err(SqlError::At {
                        statement: 0,
                        line,
                        column,
                        message: "WATERMARK FOR column AS expression: AS is missing".into(),
                    });
                }
                j += 2;
                let expr_start = j;
                let mut depth = 0i32;
                while j < bytes.len() {
                    if mask[j] {
                        match bytes[j] {
                            b'(' => depth += 1,
                            b')' if depth == 0 => break,
                            b')' => depth -= 1,
                            b',' if depth == 0 => break,
                            _ => {}
                        }
                    }
                    j += 1;
                }
                let expr = String::from_utf8_lossy(&bytes[expr_start..j]).trim().to_string();
                // Blank the clause and the comma before it.
                let mut start = i;
                let mut k = i;
                while k > 0 && bytes[k - 1].is_ascii_whitespace() {
                    k -= 1;
                }
                if k > 0 && bytes[k - 1] == b',' {
                    start = k - 1;
                }
                watermarks.push((i, column, expr));
                blank(&mut bytes[start..j]);
                i = j;
                continue;
            }
        }
        i += 1;
    }
    // Blank `TABLE` before a name inside parentheses: TUMBLE(TABLE bid, ...).
    let mut i = 0;
    while i < bytes.len() {
        if word_at(&bytes, &mask, i, "TABLE") {
            let mut k = i;
            while k > 0 && bytes[k - 1].is_ascii_whitespace() {
                k -= 1;
            }
            let mut j = i + 5;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            let name_follows =
                j < bytes.len() && (is_word(bytes[j]) || bytes[j] == b'`' || bytes[j] == b'"');
            if k > 0 && bytes[k - 1] == b'(' && name_follows && k >= 2 {
                // `TABLE(` itself is the table factor; only a TABLE after a
                // function's parenthesis is an argument.
                let mut f = k - 1;
                while f > 0 && bytes[f - 1].is_ascii_whitespace() {
                    f -= 1;
                }
                if f > 0 && is_word(bytes[f - 1]) {
                    blank(&mut bytes[i..i + 5]);
                    partition_by_as_arrow(&mut bytes, &mask, j);
                }
            }
        }
        i += 1;
    }
    // Split at top-level semicolons.
    let mut out = Vec::new();
    let mut start = 0;
    let mut index = 0;
    let n = bytes.len();
    for i in 0..=n {
        if i == n || (mask[i] && bytes[i] == b';') {
            let text = &bytes[start..i];
            let first =
                text.iter().enumerate().find(|(k, b)| !b.is_ascii_whitespace() && mask[start + k]);
            let has_code =
                text.iter().enumerate().any(|(k, b)| !b.is_ascii_whitespace() && mask[start + k]);
            if has_code {
                index += 1;
                let first = first.map(|(k, _)| start + k).unwrap_or(start);
                let (line, column) = position(&bytes, first);
                let mut padded = bytes[..start].to_vec();
                blank(&mut padded);
                padded.extend_from_slice(text);
                let watermark = watermarks
                    .iter()
                    .find(|(at, _, _)| *at >= start && *at < i)
                    .map(|(_, c, e)| (c.clone(), e.clone()));
                out.push(StatementText {
                    index,
                    padded: String::from_utf8_lossy(&padded).into_owned(),
                    line,
                    column,
                    watermark,
                });
            }
            start = i + 1;
        }
    }
    Ok(out)
}

/// A parser error as [`SqlError::At`]: its `at Line: L, Column: C` taken
/// out of the message.
pub fn parse_error(statement: &StatementText, message: &str) -> SqlError {
    let msg = message.strip_prefix("sql parser error: ").unwrap_or(message);
    if let Some(at) = msg.rfind(" at Line: ") {
        let tail = &msg[at + " at Line: ".len()..];
        let mut parts = tail.split(", Column: ");
        let line = parts.next().and_then(|l| l.trim().parse().ok());
        let column = parts
            .next()
            .and_then(|c| c.trim().trim_end_matches(|ch: char| !ch.is_ascii_digit()).parse().ok());
        if let (Some(line), Some(column)) = (line, column) {
            return SqlError::At {
                statement: statement.index,
                line,
                column,
                message: one_line(&msg[..at]),
            };
        }
    }
    SqlError::At {
        statement: statement.index,
        line: statement.line,
        column: statement.column,
        message: one_line(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_clause_is_cut_and_positions_kept() {
        let sql = "CREATE TABLE t (\n  a BIGINT,\n  ts TIMESTAMP(3),\n  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND\n) WITH ('connector' = 'nexmark');\nSELECT 1";
        let s = split(sql).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].watermark, Some(("ts".into(), "ts - INTERVAL '2' SECOND".into())));
        assert!(!s[0].padded.contains("WATERMARK"));
        assert!(s[0].padded.contains("ts TIMESTAMP(3) "));
        assert_eq!((s[1].line, s[1].column), (6, 1));
        assert_eq!(s[1].padded.lines().count(), 6);
    }

    #[test]
    fn partition_by_in_a_tvf_becomes_a_named_argument() {
        let s = split(
            "SELECT * FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(ts), INTERVAL '1' SECOND))",
        )
        .unwrap();
        assert!(
            s[0].padded.contains("SESSION(      bid =>           bidder, DESCRIPTOR"),
            "{}",
            s[0].padded
        );
    }

    #[test]
    fn table_keyword_in_tvf_is_blanked() {
        let s =
            split("SELECT * FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(ts), INTERVAL '1' SECOND))")
                .unwrap();
        assert!(s[0].padded.contains("TABLE(TUMBLE(      bid"));
    }

    #[test]
    fn substitution() {
        let mut v = BTreeMap::new();
        v.insert("N".to_string(), "10".to_string());
        assert_eq!(substitute("a ${N} b", &v).unwrap(), "a 10 b");
        assert_eq!(substitute("${N:-3} ${M:-x/y}", &v).unwrap(), "10 x/y");
        assert!(substitute("${M}", &v).is_err());
    }
}
