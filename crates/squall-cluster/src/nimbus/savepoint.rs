//! User savepoints of a cluster topology, on one worker or many (Flink's
//! `savepoint` and `stop --savepointPath`): nimbus writes a request for the
//! running epoch into etcd, the worker that coordinates the topology's
//! checkpoints (the only worker, or the one holding task 0) takes the
//! savepoint and writes the answer, and nimbus returns its location.
//!
//! Stop-with-savepoint first deactivates the spouts and waits until every
//! worker has applied it, so the savepoint's barrier follows every tuple
//! the spouts emitted: no checkpoint after it can commit anything the
//! savepoint does not hold, and a topology submitted again from it
//! (`--from-savepoint`) continues exactly where it stopped. Then it kills
//! the topology.
//!
//! Savepoints go to `<checkpoint_dir>/<topology>/savepoints/sp-<id>/`
//! (Flink's `state.savepoints.dir` default), where retention does not
//! delete them, or, when the request names a folder (`squall savepoint
//! NAME --dir DIR`, Flink's `savepoint JOB targetDirectory`), to a new
//! folder `savepoint-<topology>-<id>/` inside it.
//!
//! The requests and answers in etcd are [`crate::protocol::savepoint_requests`]'s.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::nimbus::control::{self, REPORT_EVERY};
use crate::nimbus::{status, NimbusError};
use crate::protocol::savepoint_requests::{answers_key, requests_key};
pub use crate::protocol::savepoint_requests::{SavepointAnswer, SavepointRequest, FOLDERS};
use crate::protocol::store::{Store, TopologyRecord};

/// How long nimbus waits for a savepoint (and, when stopping, for the
/// workers to apply the deactivation) before answering with an error.
pub const SAVEPOINT_TIMEOUT: Duration = Duration::from_secs(120);

/// Nimbus: takes a savepoint of running topology `name` and returns its
/// location; with `stop`, deactivates its spouts first and kills it after
/// (stop-with-savepoint). `dir`, when given, is the folder to put it in
/// (an absolute path on the workers' machines, or a URL such as
/// `s3://bucket/savepoints`).
///
/// # Errors
/// [`NimbusError::NotFound`]; [`NimbusError::BadTopology`] if `dir` is a
/// relative path, or the topology is over, takes no checkpoints, or the
/// worker refused (the reason says why);
/// [`NimbusError::Timeout`] if no answer came within
/// [`SAVEPOINT_TIMEOUT`]; [`NimbusError::Cluster`].
pub async fn take(
    store: &Store,
    name: &str,
    stop: bool,
    dir: Option<String>,
) -> Result<String, NimbusError> {
    let bad = |why: String| Err(NimbusError::BadTopology(format!("topology '{name}': {why}")));
    if let Some(dir) = dir.as_deref().filter(|d| !d.contains("://")) {
        if !std::path::Path::new(dir).is_absolute() {
            return bad(format!(
                "savepoint folder '{dir}' is relative: give an absolute path (the workers \
                 write it on their machines) or a URL"
            ));
        }
    }
    let current = status(store, name).await?;
    let record: Option<TopologyRecord> = store.get(&format!("topologies/{name}")).await?;
    if let Some(record) = record.filter(|r| r.binary.is_none()) {
        let rescale = store.get(&format!("rescale/{name}")).await?.unwrap_or_default();
        let topology = control::build(&record, &rescale)
            .map_err(|e| NimbusError::BadTopology(e.to_string()))?;
        if !topology.config().checkpointing() {
            return bad("savepoints need checkpoints: set config.checkpoint_interval_ms and \
                        checkpoint_dir"
                .into());
        }
    }
    if current.state.is_over() {
        return bad(format!("no savepoint while it is {:?}", current.state).to_lowercase());
    }
    let deadline = Instant::now() + SAVEPOINT_TIMEOUT;
    if stop {
        pause(store, name, deadline).await?;
    }
    let nonce = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let request = SavepointRequest { epoch: current.epoch, nonce, dir };
    store.put(&requests_key(name), &request, None).await?;
    let answer = loop {
        if let Some(a) = store.get::<SavepointAnswer>(&answers_key(name)).await? {
            if a.nonce == nonce {
                break a;
            }
        }
        if Instant::now() >= deadline || status(store, name).await?.state.is_over() {
            store.delete(&requests_key(name), false).await?;
            return Err(NimbusError::Timeout(format!(
                "topology '{name}' took no savepoint within {} s (epoch {}): its workers are \
                 not running, or its checkpoints do not complete",
                SAVEPOINT_TIMEOUT.as_secs(),
                current.epoch
            )));
        }
        tokio::time::sleep(REPORT_EVERY / 2).await;
    };
    store.delete(&requests_key(name), false).await?;
    let location = answer.outcome.or_else(|why| bad(format!("no savepoint: {why}")))?;
    tracing::info!(topology = %name, %location, stop, "savepoint taken");
    if stop {
        crate::nimbus::kill(store, name).await?;
        let message = format!("stopped with savepoint {location}");
        store.update_status(name, |s| s.message = Some(message.clone())).await?;
    }
    Ok(location)
}

/// Deactivates `name`'s spouts and waits until every worker of its
/// current epoch reports them paused, until `deadline`.
///
/// # Errors
/// [`NimbusError::Timeout`] past `deadline`; as [`control::set_active`]
/// and [`control::metrics`].
pub(crate) async fn pause(store: &Store, name: &str, deadline: Instant) -> Result<(), NimbusError> {
    control::set_active(store, name, false).await?;
    loop {
        let metrics = control::metrics(store, name).await?;
        if !metrics.active && metrics.applied {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(NimbusError::Timeout(format!(
                "the workers of topology '{name}' did not pause their spouts within {} s",
                SAVEPOINT_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(REPORT_EVERY / 2).await;
    }
}
