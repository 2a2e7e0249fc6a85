//! [`ShellSpec`]: what a shell component is made of, shared by
//! [`super::ShellBolt`] and [`super::ShellSpout`]: the command, the streams
//! the child emits on, the serializer, the timing options, the metrics its
//! children report;
//! and the handshake's `conf` and `context` built from them.
//!
//! Owns the settings and their validation, not the running child.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde::Deserialize;
use squall::topology::DEFAULT_STREAM;
use squall::topology::{OutputDeclarer, StreamDecl};
use squall::{Error, Fields, Result, TopologyContext};

use super::protocol::Context;
use super::{serializer_named, JsonSerializer, Serializer, ShellCommand};

/// Timing and flow settings of a shell component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShellOptions {
    /// How often an idle bolt sends its child a heartbeat tuple (ms;
    /// Storm: 1000).
    pub heartbeat_interval_ms: u64,
    /// A child that says nothing this long after it was last sent
    /// something, or last said something, while the task waits for it,
    /// fails the task (ms; Storm's `topology.subprocess.timeout.secs`,
    /// 30 s by default).
    pub timeout_ms: u64,
    /// Bolts only: inputs sent to the child before `execute` waits until
    /// it has dealt with all of them (records; Storm's
    /// `topology.shellbolt.max.pending`, 100). Inputs the child keeps
    /// without acking them do not count against it.
    pub max_pending: usize,
}

impl Default for ShellOptions {
    fn default() -> Self {
        ShellOptions { heartbeat_interval_ms: 1000, timeout_ms: 30_000, max_pending: 100 }
    }
}

impl ShellOptions {
    /// [`ShellOptions::timeout_ms`] as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// [`ShellOptions::heartbeat_interval_ms`] as a duration.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }

    /// Checks the options are usable.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad option.
    pub fn validate(&self) -> Result<()> {
        if self.max_pending == 0 {
            return Err(Error::config("multilang: max_pending must be at least 1"));
        }
        if self.heartbeat_interval_ms == 0 || self.heartbeat_interval_ms >= self.timeout_ms {
            return Err(Error::config(format!(
                "multilang: heartbeat_interval_ms ({}) must be above 0 and below timeout_ms ({})",
                self.heartbeat_interval_ms, self.timeout_ms
            )));
        }
        Ok(())
    }
}

/// The last value of each metric the children of one component reported
/// (`metrics` command), by name; shared by every task and clone.
#[derive(Debug, Clone, Default)]
pub struct ShellMetrics(Arc<(Mutex<BTreeMap<String, serde_json::Value>>, Condvar)>);

impl ShellMetrics {
    fn values(&self) -> MutexGuard<'_, BTreeMap<String, serde_json::Value>> {
        self.0 .0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last value reported for `name`.
    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        self.values().get(name).cloned()
    }

    /// Every metric's last value.
    pub fn all(&self) -> BTreeMap<String, serde_json::Value> {
        self.values().clone()
    }

    /// Waits until the value of `name` satisfies `done`, at most `timeout`;
    /// returns the last value (which may not satisfy it, after the timeout).
    pub fn wait_until(
        &self,
        name: &str,
        timeout: Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let values = self.values();
        let waiting = |v: &mut BTreeMap<String, serde_json::Value>| !v.get(name).is_some_and(&done);
        let (values, _) = self
            .0
             .1
            .wait_timeout_while(values, timeout, waiting)
            .unwrap_or_else(|p| p.into_inner());
        values.get(name).cloned()
    }

    pub(crate) fn record(&self, name: String, value: serde_json::Value) {
        self.values().insert(name, value);
        self.0 .1.notify_all();
    }
}

/// A shell component's settings, before any task runs.
#[derive(Debug, Clone)]
pub struct ShellSpec {
    /// What to run.
    pub command: ShellCommand,
    /// The streams the child emits on.
    pub streams: Vec<StreamDecl>,
    /// Timing and flow.
    pub options: ShellOptions,
    /// How messages are encoded on the pipes ([`JsonSerializer`] unless
    /// set).
    pub serializer: Arc<dyn Serializer>,
    /// What the children report.
    pub metrics: ShellMetrics,
}

impl ShellSpec {
    pub(crate) fn new(command: ShellCommand) -> Self {
        ShellSpec {
            command,
            streams: Vec::new(),
            options: ShellOptions::default(),
            serializer: Arc::new(JsonSerializer),
            metrics: ShellMetrics::default(),
        }
    }

    pub(crate) fn add_stream(&mut self, id: &str, fields: Fields, direct: bool) {
        self.streams.retain(|s| s.id != id);
        self.streams.push(StreamDecl { id: id.to_string(), fields, direct });
    }

    pub(crate) fn declare(&self, declarer: &mut OutputDeclarer) {
        for s in &self.streams {
            match s.direct {
                true => declarer.declare_direct_stream(s.id.clone(), s.fields.clone()),
                false => declarer.declare_stream(s.id.clone(), s.fields.clone()),
            }
        }
    }

    /// The handshake's `conf`: Storm's keys for what Squall has, then the
    /// topology's free-form `settings` (a child reads `pystorm.log.path`
    /// and the like there).
    pub(crate) fn conf(&self, ctx: &TopologyContext) -> serde_json::Map<String, serde_json::Value> {
        let c = ctx.config();
        let tracking = c.tracking();
        let mut conf = serde_json::Map::new();
        let mut put = |k: &str, v: serde_json::Value| conf.insert(k.to_string(), v);
        put("topology.name", ctx.topology_name().into());
        put("topology.debug", false.into());
        put("topology.message.timeout.secs", c.message_timeout_ms.div_ceil(1000).into());
        put("topology.max.spout.pending", c.max_spout_pending.into());
        put("topology.acker.executors", (if tracking { c.ackers } else { 0 }).into());
        put("topology.subprocess.timeout.secs", self.options.timeout_ms.div_ceil(1000).into());
        put("topology.shellbolt.max.pending", self.options.max_pending.into());
        put("topology.multilang.serializer", self.serializer.name().into());
        put("squall.guarantee", serde_json::to_value(c.guarantee).unwrap_or_default());
        for (key, value) in &c.settings {
            put(key, crate::to_json(value));
        }
        conf
    }

    /// The handshake's `context` of the task `ctx` describes.
    pub(crate) fn context(&self, ctx: &TopologyContext) -> Context {
        Context {
            taskid: ctx.task_id(),
            task_to_component: ctx
                .components()
                .flat_map(|(c, tasks)| tasks.map(move |t| (t.to_string(), c.to_string())))
                .collect(),
            componentid: ctx.component_id().to_string(),
            streams: self.streams.iter().map(|s| s.id.clone()).collect(),
            stream_to_fields: self
                .streams
                .iter()
                .map(|s| (s.id.clone(), s.fields.names().to_vec()))
                .collect(),
        }
    }
}

/// The settings of YAML kind `shell` (spout and bolt).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellSettings {
    /// The program and its arguments: `[python3, split.py]`.
    pub command: Vec<String>,
    /// The fields of the default stream, if the child emits on it.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Other streams: `{name: [field, ...]}`.
    #[serde(default)]
    pub streams: BTreeMap<String, Vec<String>>,
    /// Which of `streams` are direct (emitted to chosen tasks).
    #[serde(default)]
    pub direct_streams: Vec<String>,
    /// The child's working directory (default: the worker's).
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables for the child.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// See [`ShellOptions::heartbeat_interval_ms`].
    #[serde(default)]
    pub heartbeat_interval_ms: Option<u64>,
    /// See [`ShellOptions::timeout_ms`].
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// See [`ShellOptions::max_pending`] (bolts only).
    #[serde(default)]
    pub max_pending: Option<usize>,
    /// How messages are encoded (Storm's `topology.multilang.serializer`,
    /// per component): `json` (the default) or `msgpack` (pystorm's
    /// `serializer="msgpack"`), or a name given to
    /// [`super::register_serializer`].
    #[serde(default)]
    pub serializer: Option<String>,
}

impl ShellSettings {
    /// The spec these settings describe.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty command, a direct stream that is not
    /// declared, an unknown serializer, or bad options.
    pub fn spec(&self) -> Result<ShellSpec> {
        let mut command = ShellCommand::new(self.command.iter().cloned())?;
        command.cwd = self.cwd.clone();
        command.env = self.env.clone();
        let mut spec = ShellSpec::new(command);
        if let Some(name) = &self.serializer {
            spec.serializer = serializer_named(name)?;
        }
        if let Some(fields) = &self.fields {
            spec.add_stream(DEFAULT_STREAM, Fields::new(fields), false);
        }
        for (id, fields) in &self.streams {
            spec.add_stream(id, Fields::new(fields), self.direct_streams.contains(id));
        }
        if let Some(id) = self.direct_streams.iter().find(|d| !self.streams.contains_key(*d)) {
            return Err(Error::config(format!(
                "multilang: direct stream '{id}' is not one of streams"
            )));
        }
        let defaults = ShellOptions::default();
        spec.options = ShellOptions {
            heartbeat_interval_ms: self
                .heartbeat_interval_ms
                .unwrap_or(defaults.heartbeat_interval_ms),
            timeout_ms: self.timeout_ms.unwrap_or(defaults.timeout_ms),
            max_pending: self.max_pending.unwrap_or(defaults.max_pending),
        };
        spec.options.validate()?;
        Ok(spec)
    }
}

/// What [`super::ShellBolt`] and [`super::ShellSpout`] share, written
/// once: construction, cloning (a copy without a child) and the builder
/// methods. Each type has the fields `spec: ShellSpec`, `run:
/// Option<_>` (the task's child) and `failed: Option<String>`.
macro_rules! shell_component {
    ($ty:ident, $what:literal) => {
        impl Clone for $ty {
            /// A copy without a child (one starts per task), sharing the
            /// metrics.
            fn clone(&self) -> Self {
                $ty { spec: self.spec.clone(), run: None, failed: None }
            }
        }

        impl $ty {
            #[doc = concat!("A ", $what, " running `argv` (`[\"python3\", \"x.py\"]`), declaring")]
            /// no stream yet, with the default [`super::ShellOptions`].
            ///
            /// # Panics
            /// If `argv` is empty (see [`super::ShellCommand::new`]).
            pub fn new<I, S>(argv: I) -> Self
            where
                I: IntoIterator<Item = S>,
                S: Into<String>,
            {
                let command = super::ShellCommand::new(argv).unwrap_or_else(|e| panic!("{e}"));
                $ty::from_spec(super::ShellSpec::new(command))
            }

            #[doc = concat!("A ", $what, " as `spec` describes (the YAML kind `shell` builds one).")]
            pub fn from_spec(spec: super::ShellSpec) -> Self {
                $ty { spec, run: None, failed: None }
            }

            /// Declares the default stream with `fields`.
            pub fn fields<I, S>(mut self, fields: I) -> Self
            where
                I: IntoIterator<Item = S>,
                S: Into<String>,
            {
                self.spec.add_stream(
                    squall::topology::DEFAULT_STREAM,
                    squall::Fields::new(fields),
                    false,
                );
                self
            }

            /// Declares stream `id` with `fields`.
            pub fn stream<I, S>(mut self, id: &str, fields: I) -> Self
            where
                I: IntoIterator<Item = S>,
                S: Into<String>,
            {
                self.spec.add_stream(id, squall::Fields::new(fields), false);
                self
            }

            /// Declares the direct stream `id` with `fields`: the child
            /// emits on it with a `task`.
            pub fn direct_stream<I, S>(mut self, id: &str, fields: I) -> Self
            where
                I: IntoIterator<Item = S>,
                S: Into<String>,
            {
                self.spec.add_stream(id, squall::Fields::new(fields), true);
                self
            }

            /// Runs the child in `dir` instead of the worker's directory.
            pub fn cwd(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
                self.spec.command.cwd = Some(dir.into());
                self
            }

            /// Sets environment variable `key` for the child (`PATH` is
            /// appended to the worker's).
            pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
                self.spec.command.env.insert(key.into(), value.into());
                self
            }

            /// Encodes messages with `serializer` instead of JSON (it
            /// must be the one the child speaks: pystorm's
            /// `serializer="msgpack"` with [`super::MsgpackSerializer`]).
            pub fn serializer(mut self, serializer: impl super::Serializer + 'static) -> Self {
                self.spec.serializer = std::sync::Arc::new(serializer);
                self
            }

            /// Replaces the timing and flow options.
            ///
            /// # Panics
            /// If `options` do not validate ([`super::ShellOptions::validate`]).
            pub fn options(mut self, options: super::ShellOptions) -> Self {
                if let Err(e) = options.validate() {
                    panic!("{e}");
                }
                self.spec.options = options;
                self
            }

            /// The last metric values this component's children reported,
            /// shared by every task.
            pub fn metrics(&self) -> super::ShellMetrics {
                self.spec.metrics.clone()
            }
        }
    };
}
pub(crate) use shell_component;
