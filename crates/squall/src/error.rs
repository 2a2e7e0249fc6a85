//! The core crate's error type.
//!
//! One [`Error`] enum for everything the engine reports: a topology that does
//! not validate, a tuple field that is missing or of the wrong type, a user's
//! component that failed or panicked (always with the component and task
//! named), and I/O. `anyhow` is only used by binaries and tests.

use std::path::PathBuf;

/// Result alias used throughout the core crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The topology is malformed; found before anything runs.
    #[error("invalid topology: component '{component}': {reason}")]
    InvalidTopology {
        /// The component the problem is about.
        component: String,
        /// What is wrong.
        reason: String,
    },

    /// A tuple has no field of that name, or no value at that index.
    #[error("tuple from component '{component}' stream '{stream}' has no field {field}")]
    NoSuchField {
        /// The component that emitted the tuple.
        component: String,
        /// The stream the tuple travelled on.
        stream: String,
        /// The field name or `#index` that was asked for.
        field: String,
    },

    /// A tuple field holds a value of another type than the one asked for.
    #[error(
        "tuple from component '{component}' stream '{stream}': field {field} is {found}, not {expected}"
    )]
    WrongType {
        /// The component that emitted the tuple.
        component: String,
        /// The stream the tuple travelled on.
        stream: String,
        /// The field name or `#index` that was asked for.
        field: String,
        /// The type that was asked for.
        expected: &'static str,
        /// The type the value has.
        found: &'static str,
    },

    /// A component emitted in a way its declaration does not allow
    /// (undeclared stream, wrong number of values, direct emit to a task of
    /// another component...).
    #[error("component '{component}' task {task}: bad emit: {reason}")]
    BadEmit {
        /// The emitting component.
        component: String,
        /// The emitting task id.
        task: usize,
        /// What was wrong with the emit.
        reason: String,
    },

    /// A user's component returned an error.
    #[error("component '{component}' task {task} failed: {source}")]
    ComponentFailed {
        /// The failing component.
        component: String,
        /// The failing task id.
        task: usize,
        /// The error the component returned.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A user's component panicked.
    #[error("component '{component}' task {task} panicked: {message}")]
    ComponentPanicked {
        /// The panicking component.
        component: String,
        /// The panicking task id.
        task: usize,
        /// The panic message, when it was a string.
        message: String,
    },

    /// A task kept failing in `at_least_once`: it was restarted
    /// `restarts` times (`config.max_task_restarts`) and failed again.
    #[error(
        "component '{component}' task {task} failed after {restarts} restarts (max_task_restarts): {last}"
    )]
    TooManyRestarts {
        /// The failing component.
        component: String,
        /// The failing task id.
        task: usize,
        /// Restarts done before the last failure.
        restarts: usize,
        /// The last failure.
        #[source]
        last: Box<Error>,
    },

    /// A topology's attempts kept failing past its `restart_strategy`
    /// (the job driver gives up): how many restarts it made, where they
    /// count (`" in epoch 3"` on a cluster), the rule that refused the
    /// next, and how often each cause ended an attempt.
    #[error("giving up after {restarts} restarts{scope} ({rule}): {reasons}")]
    GaveUp {
        /// Restarts made before giving up.
        restarts: u64,
        /// Where the restarts count: empty locally, `" in epoch N"` on a
        /// cluster.
        scope: String,
        /// The strategy's refusal, e.g. `restart_strategy allows 3`.
        rule: String,
        /// How often each cause ended an attempt: `2 x "..."`.
        reasons: String,
        /// The last attempt's failure, when this copy saw it.
        #[source]
        last: Option<Box<Error>>,
    },

    /// A component's task cannot go on (a multilang subprocess died or sent
    /// a malformed message): returned by `Bolt::execute`, it fails the task
    /// itself, not only the input at hand as other errors do under
    /// `at_least_once`. The task is then restarted (`at_least_once`, its
    /// input failed and replayed) or the topology stopped, as after a panic.
    #[error("{0}")]
    TaskFailed(String),

    /// A DRPC request was not answered: it timed out or its tuple tree
    /// failed.
    #[error("drpc function '{function}': {reason}")]
    Drpc {
        /// The function called.
        function: String,
        /// Why there is no answer.
        reason: String,
    },

    /// A built-in component or YAML topology got a bad setting.
    #[error("{0}")]
    Config(String),

    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Keyed or operator state was misused or could not be encoded/decoded.
    #[error("state: {0}")]
    State(String),

    /// A checkpoint could not be taken, written, read or restored.
    #[error("checkpoint: {0}")]
    Checkpoint(String),

    /// Any other error raised inside a component; wrapped with the component
    /// and task by the executor (see [`Error::ComponentFailed`]).
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// A configuration error with a message that names what was wrong.
    pub fn config(msg: impl Into<String>) -> Self {
        Error::Config(msg.into())
    }

    /// An invalid-topology error naming `component`.
    pub fn invalid(component: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidTopology { component: component.into(), reason: reason.into() }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// Attach the component and task to an error raised by a user's component,
    /// unless it already names one.
    pub fn in_task(self, component: &str, task: usize) -> Self {
        match self {
            e @ (Error::ComponentFailed { .. }
            | Error::ComponentPanicked { .. }
            | Error::BadEmit { .. }
            | Error::TooManyRestarts { .. }) => e,
            other => Error::ComponentFailed {
                component: component.to_string(),
                task,
                source: Box::new(other),
            },
        }
    }
}
