//! [`ShellProcess`]: one multilang child process and the pipes to it: it is
//! started with the handshake, messages go to its stdin and come from its
//! stdout, its stderr goes to the worker's log, and its death, silence or a
//! malformed message becomes an [`Error::TaskFailed`] that says which task,
//! which command, and what the child last said.
//!
//! Owns the process and its I/O, not the protocol's meaning
//! ([`super::shell_bolt`], [`super::shell_spout`]).
//!
//! # Threads, not `tokio::process`
//!
//! [`squall::Bolt::execute`] and [`squall::Spout::next_tuple`] are
//! synchronous calls made on the engine's tokio worker threads; they must
//! be able to wait for a child's answer without an async context, and
//! `tokio::process` would need one (a `block_on` inside the runtime
//! panics). So each child gets three plain threads that do the blocking
//! I/O: a reader that splits stdout into messages and decodes them with
//! the component's [`Serializer`] (off the task's thread), a writer that drains a
//! queue into stdin (so that a task never blocks on a full pipe, and a hung
//! child is caught by the heartbeat timeout rather than hanging the task),
//! and a logger for stderr. The task's thread only queues writes and waits
//! on one channel of events, with a deadline: the heartbeat timeout.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use squall::{Error, Result};

use super::protocol::{ChildMessage, Context, Handshake, ToChild};
use super::Serializer;

/// Messages parsed ahead of the task (then the reader waits: backpressure
/// on the child's stdout).
const EVENTS_AHEAD: usize = 4096;

/// Lines of the child's stderr kept to explain its death.
const STDERR_TAIL: usize = 20;

/// Longest quote of a malformed message in an error (bytes).
const QUOTE_MAX: usize = 500;

/// What to run: the program and its arguments, the working directory and
/// extra environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    /// The program, then its arguments (`["python3", "split.py"]`); never
    /// empty.
    pub argv: Vec<String>,
    /// The child's working directory; the worker's when `None`.
    pub cwd: Option<PathBuf>,
    /// Variables set for the child on top of the worker's environment;
    /// `PATH` is appended to the worker's (as Storm does).
    pub env: BTreeMap<String, String>,
}

impl ShellCommand {
    /// Runs `argv` in the worker's directory and environment.
    ///
    /// # Errors
    /// [`Error::Config`] if `argv` is empty.
    pub fn new<I, S>(argv: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let argv: Vec<String> = argv.into_iter().map(Into::into).collect();
        if argv.is_empty() || argv[0].is_empty() {
            return Err(Error::config("multilang: command must name a program to run"));
        }
        Ok(ShellCommand { argv, cwd: None, env: BTreeMap::new() })
    }
}

/// What the child's threads report to the task.
enum Event {
    /// The handshake's answer.
    Pid(u32),
    Message(ChildMessage),
    Malformed {
        text: String,
        reason: String,
    },
    /// Its stdout ended (it exited, or closed it), or could not be read
    /// (the reason).
    Closed(Option<String>),
    /// Its stdin could not be written (it exited, or closed it).
    WriteFailed(String),
}

/// A running child speaking the multilang protocol. Killed when dropped.
pub(crate) struct ShellProcess {
    child: Child,
    /// `component 'split' task 3: [python3, split.py] speaking json (pid
    /// 4242)`.
    label: String,
    pid: u32,
    writer: Option<Sender<Vec<u8>>>,
    events: Receiver<Event>,
    /// Removed when the child is dropped.
    pid_dir_guard: tempfile::TempDir,
    timeout: Duration,
    last_heard: Instant,
    last_sent: Instant,
    serializer: Arc<dyn Serializer>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// The last `error` the child reported.
    reported: Option<String>,
    /// Why it failed, once it has.
    failed: Option<String>,
}

impl ShellProcess {
    /// Starts `command` for task `task` of `component`, sends the handshake
    /// (`conf`, `context`, a fresh pid folder) and waits for the child's
    /// pid, at most `timeout`; every message is encoded and framed by
    /// `serializer`.
    ///
    /// # Errors
    /// [`Error::TaskFailed`] if the program cannot be started, or the child
    /// dies, answers something else or nothing within `timeout`.
    pub fn launch(
        command: &ShellCommand,
        component: &str,
        task: usize,
        conf: &serde_json::Map<String, serde_json::Value>,
        context: &Context,
        timeout: Duration,
        serializer: Arc<dyn Serializer>,
    ) -> Result<ShellProcess> {
        let argv = &command.argv;
        let speaking = serializer.name();
        let mut label =
            format!("component '{component}' task {task}: {argv:?} speaking {speaking}");
        let pid_dir = tempfile::Builder::new()
            .prefix("squall-multilang-")
            .tempdir()
            .map_err(|e| Error::TaskFailed(format!("{label}: no pid folder: {e}")))?;
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if let Some(cwd) = &command.cwd {
            cmd.current_dir(cwd);
        }
        for (key, value) in &command.env {
            match (key.as_str(), std::env::var_os("PATH")) {
                ("PATH", Some(path)) => {
                    let mut joined = path;
                    joined.push(":");
                    joined.push(value);
                    cmd.env(key, joined)
                }
                _ => cmd.env(key, value),
            };
        }
        let mut child = cmd.spawn().map_err(|e| {
            let cwd = command.cwd.as_ref().map_or(".".into(), |c| c.display().to_string());
            Error::TaskFailed(format!("{label}: cannot start it (in {cwd}): {e}"))
        })?;
        let (tx, events) = mpsc::sync_channel(EVENTS_AHEAD);
        let (writer, queue) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        let stdin = child.stdin.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let (reader_tx, tail, name) = (tx.clone(), stderr_tail.clone(), label.clone());
        let decoder = serializer.clone();
        std::thread::Builder::new()
            .name(format!("multilang-out-{task}"))
            .spawn(move || read_messages(stdout, decoder.as_ref(), reader_tx))
            .and_then(|_| {
                std::thread::Builder::new()
                    .name(format!("multilang-in-{task}"))
                    .spawn(move || write_messages(stdin, queue, tx))
            })
            .and_then(|_| {
                std::thread::Builder::new()
                    .name(format!("multilang-err-{task}"))
                    .spawn(move || log_stderr(stderr, tail, name))
            })
            .map_err(|e| {
                let _ = child.kill();
                let _ = child.wait();
                Error::TaskFailed(format!("{label}: no thread for its pipes: {e}"))
            })?;
        let now = Instant::now();
        let mut process = ShellProcess {
            child,
            label: label.clone(),
            pid: 0,
            writer: Some(writer),
            events,
            pid_dir_guard: pid_dir,
            timeout,
            last_heard: now,
            last_sent: now,
            serializer,
            stderr_tail,
            reported: None,
            failed: None,
        };
        let pid_dir = process.pid_dir_guard.path().display().to_string();
        process.send(&ToChild::Handshake(Handshake { pid_dir: &pid_dir, conf, context }))?;
        match process.next_event()? {
            Event::Pid(pid) => {
                label.push_str(&format!(" (pid {pid})"));
                process.label = label;
                process.pid = pid;
                tracing::info!(component, task, pid, command = ?argv, "multilang child started");
                Ok(process)
            }
            Event::Message(msg) => {
                Err(process.fail(format!("answered the handshake with {msg:?}, not its pid")))
            }
            other => Err(process.failure(other)),
        }
    }

    /// The child's pid, as it said in the handshake.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Queues `msg` for the child's stdin; never blocks.
    ///
    /// # Errors
    /// [`Error::TaskFailed`] if the child has failed (its stdin is gone),
    /// or if the serializer cannot encode `msg` (the child is then failed).
    pub fn send(&mut self, msg: &ToChild<'_>) -> Result<()> {
        self.check()?;
        let mut bytes = Vec::with_capacity(128);
        if let Err(e) = self.serializer.write(msg, &mut bytes) {
            let name = self.serializer.name().to_string();
            return Err(self.fail(format!("was sent a message {name} cannot encode: {e}")));
        }
        let sent = self.writer.as_ref().is_some_and(|w| w.send(bytes).is_ok());
        if !sent {
            // The writer thread ended: its reason follows the messages
            // still queued, which no longer matter.
            loop {
                match self.events.recv_timeout(self.timeout) {
                    Ok(Event::Message(_) | Event::Pid(_)) => continue,
                    Ok(event) => return Err(self.failure(event)),
                    Err(_) => return Err(self.fail("stopped reading its stdin".into())),
                }
            }
        }
        self.last_sent = Instant::now();
        Ok(())
    }

    /// The next message if one has arrived, without waiting.
    ///
    /// # Errors
    /// [`Error::TaskFailed`] if the child died or sent a malformed message.
    pub fn try_next(&mut self) -> Result<Option<ChildMessage>> {
        self.check()?;
        match self.events.try_recv() {
            Ok(event) => self.message(event).map(Some),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(self.failure(Event::Closed(None))),
        }
    }

    /// Waits for the next message, as long as the heartbeat timeout allows:
    /// until `timeout` after the later of the last message heard and the
    /// last message sent.
    ///
    /// # Errors
    /// [`Error::TaskFailed`] if the child died, sent a malformed message or
    /// said nothing in time.
    pub fn next(&mut self) -> Result<ChildMessage> {
        let event = self.next_event()?;
        self.message(event)
    }

    fn next_event(&mut self) -> Result<Event> {
        self.check()?;
        loop {
            let deadline = self.last_heard.max(self.last_sent) + self.timeout;
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(wait) {
                Ok(event) => return Ok(event),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.failure(Event::Closed(None)))
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                    let ms = self.timeout.as_millis();
                    return Err(self.fail(format!(
                        "did not answer within {ms} ms (heartbeat timeout): killed"
                    )));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn message(&mut self, event: Event) -> Result<ChildMessage> {
        match event {
            Event::Message(msg) => {
                self.last_heard = Instant::now();
                if let ChildMessage::Error { msg } = &msg {
                    self.reported = Some(msg.clone());
                }
                Ok(msg)
            }
            Event::Pid(pid) => Err(self.fail(format!("sent a second pid ({pid})"))),
            other => Err(self.failure(other)),
        }
    }

    fn check(&self) -> Result<()> {
        match &self.failed {
            Some(reason) => Err(Error::TaskFailed(reason.clone())),
            None => Ok(()),
        }
    }

    /// The error for a child that broke the protocol (`reason`, quoting the
    /// message): the child is killed and every later call fails.
    pub fn protocol_error(&mut self, reason: String) -> Error {
        self.fail(format!("broke the multilang protocol: {reason}"))
    }

    fn failure(&mut self, event: Event) -> Error {
        match event {
            Event::Malformed { text, reason } => {
                let quoted = quote(&text);
                self.fail(format!("sent a malformed message {quoted}: {reason}"))
            }
            Event::Closed(error) => {
                let status = self.exit_status();
                let how = error.map_or(String::new(), |e| format!(" (reading it: {e})"));
                self.fail(format!("closed its stdout{how}; {status}"))
            }
            Event::WriteFailed(error) => {
                let status = self.exit_status();
                self.fail(format!("stopped reading its stdin ({error}); {status}"))
            }
            Event::Pid(_) | Event::Message(_) => self.fail("is out of step".into()),
        }
    }

    /// Marks the child failed for `reason`, kills it, and returns the error
    /// naming the task, with what the child last reported and printed.
    fn fail(&mut self, reason: String) -> Error {
        if let Some(first) = &self.failed {
            return Error::TaskFailed(first.clone());
        }
        self.kill();
        let mut text = format!("multilang child of {} {reason}", self.label);
        if let Some(reported) = &self.reported {
            text.push_str(&format!("; it last reported: {}", reported.trim_end()));
        }
        let tail = self.stderr_tail.lock().unwrap_or_else(|p| p.into_inner());
        if !tail.is_empty() {
            let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
            text.push_str(&format!("; its last stderr lines:\n{}", lines.join("\n")));
        }
        drop(tail);
        tracing::error!(pid = self.pid, "{text}");
        self.failed = Some(text.clone());
        Error::TaskFailed(text)
    }

    /// How the child ended, waiting a little for an exit that is under way
    /// (its pipes close just before its status is known).
    fn exit_status(&mut self) -> String {
        for _ in 0..1000 {
            match self.child.try_wait() {
                Ok(Some(status)) => return format!("it exited ({status})"),
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => return format!("its status is unknown ({e})"),
            }
        }
        "it is still running".into()
    }

    fn kill(&mut self) {
        self.writer = None;
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// Stops the child: closes its stdin and kills it (Storm destroys its
    /// children the same way when a task stops).
    pub fn close(&mut self) {
        if self.failed.is_none() {
            tracing::debug!(pid = self.pid, "multilang child of {} stopped", self.label);
            self.failed = Some(format!("multilang child of {} was stopped", self.label));
        }
        self.kill();
    }
}

impl Drop for ShellProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A message as it appears in an error: JSON-quoted, cut after
/// [`QUOTE_MAX`] bytes.
fn quote(text: &str) -> String {
    let mut end = text.len().min(QUOTE_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let more = if end < text.len() { "..." } else { "" };
    format!("{:?}{more}", &text[..end])
}

/// The reader thread: splits stdout into messages with `serializer` and
/// decodes them, the first as the pid reply; stops after a message that
/// cannot be framed (nothing after it can be trusted).
fn read_messages(stdout: ChildStdout, serializer: &dyn Serializer, tx: SyncSender<Event>) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut frame = Vec::new();
    let mut first = true;
    loop {
        let malformed =
            |frame: &[u8], reason| Event::Malformed { text: serializer.show(frame), reason };
        let (event, last) = match serializer.read_frame(&mut reader, &mut frame) {
            Ok(false) => (Event::Closed(None), true),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                (malformed(&frame, format!("not {}: {e}", serializer.name())), true)
            }
            Err(e) => (Event::Closed(Some(e.to_string())), true),
            Ok(true) if first => match serializer.decode_pid(&frame) {
                Ok(reply) => (Event::Pid(reply.pid), false),
                Err(reason) => (malformed(&frame, reason), false),
            },
            Ok(true) => match serializer.decode(&frame) {
                Ok(m) => (Event::Message(m), false),
                Err(reason) => (malformed(&frame, reason), false),
            },
        };
        first = false;
        if tx.send(event).is_err() || last {
            return; // the task is gone, or the stream is
        }
    }
}

/// The writer thread: writes what is queued, flushing when the queue is
/// empty; ends when the queue's sender is dropped (closing stdin).
fn write_messages(stdin: ChildStdin, queue: Receiver<Vec<u8>>, tx: SyncSender<Event>) {
    let mut out = BufWriter::with_capacity(64 * 1024, stdin);
    while let Ok(bytes) = queue.recv() {
        let mut written = out.write_all(&bytes);
        while let (true, Ok(more)) = (written.is_ok(), queue.try_recv()) {
            written = out.write_all(&more);
        }
        if let Err(e) = written.and_then(|()| out.flush()) {
            let _ = tx.send(Event::WriteFailed(e.to_string()));
            return;
        }
    }
}

/// The stderr thread: every line to the worker's log (info, as Storm),
/// the last ones kept for errors.
fn log_stderr(stderr: impl Read, tail: Arc<Mutex<VecDeque<String>>>, label: String) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        line.clear();
        tracing::info!(target: "squall::multilang", child = %label, "stderr: {text}");
        let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(text);
    }
}
