//! [`SqlError`]: what goes wrong with a SQL script, as one line.

/// An error of the SQL front end. Its `Display` is one line; errors about a
/// statement start with `statement N (line L, column C):`.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// A statement failed to parse or plan, at a place in the script.
    #[error("statement {statement} (line {line}, column {column}): {message}")]
    At {
        /// 1-based index of the statement in the script.
        statement: usize,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
        /// What is wrong (one line).
        message: String,
    },
    /// A construct Squall's streaming SQL does not run yet.
    #[error("not supported yet: {0}")]
    Unsupported(String),
    /// A planning error without a place (DataFusion's message).
    #[error("{0}")]
    Plan(String),
    /// A table's options are wrong.
    #[error("{0}")]
    Config(String),
    /// An error while the query runs.
    #[error("{0}")]
    Exec(String),
    /// The engine's error.
    #[error(transparent)]
    Engine(#[from] squall::Error),
}

/// The result of the SQL front end.
pub type SqlResult<T> = std::result::Result<T, SqlError>;

impl SqlError {
    /// An unsupported construct, named.
    pub fn unsupported(what: impl Into<String>) -> Self {
        SqlError::Unsupported(what.into())
    }
    /// A run-time error.
    pub fn exec(what: impl Into<String>) -> Self {
        SqlError::Exec(what.into())
    }
    /// A bad table option.
    pub fn config(what: impl Into<String>) -> Self {
        SqlError::Config(what.into())
    }
    /// A planning error.
    pub fn plan(what: impl Into<String>) -> Self {
        SqlError::Plan(one_line(&what.into()))
    }
}

impl From<datafusion_common::DataFusionError> for SqlError {
    fn from(e: datafusion_common::DataFusionError) -> Self {
        SqlError::plan(e.to_string())
    }
}

impl From<SqlError> for squall::Error {
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::Engine(e) => e,
            other => squall::Error::Other(other.to_string()),
        }
    }
}

/// `text` on one line: line breaks and runs of spaces become one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
