//! The savepoint exchange in etcd between nimbus
//! ([`crate::nimbus::savepoint::take`]) and the worker that coordinates a
//! topology's checkpoints ([`serve`]): nimbus writes a request for the
//! running epoch, the coordinator takes the savepoint and writes the answer.
//!
//! | key | value | written by |
//! |---|---|---|
//! | `NS/savepoint-requests/{topology}` | [`SavepointRequest`] | nimbus |
//! | `NS/savepoint-answers/{topology}` | [`SavepointAnswer`] | the coordinating worker |

use serde::{Deserialize, Serialize};
use squall::runtime::SavepointTrigger;

use crate::protocol::records::REPORT_EVERY;
use crate::protocol::store::{Assignment, Store};

/// A savepoint asked of the workers of `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavepointRequest {
    /// The epoch whose coordinator must take it.
    pub epoch: u64,
    /// Tells this request's answer from an earlier one's.
    pub nonce: u64,
    /// The folder (absolute path or URL) to put it in; `None`: beside
    /// the checkpoints.
    #[serde(default)]
    pub dir: Option<String>,
}

/// The coordinating worker's answer to a [`SavepointRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavepointAnswer {
    /// The request's nonce.
    pub nonce: u64,
    /// Where the savepoint is, or why none was taken.
    pub outcome: Result<String, String>,
}

/// The etcd folders of this module, cleared when a topology is submitted
/// anew ([`crate::nimbus::control::forget`]).
pub const FOLDERS: [&str; 2] = ["savepoint-requests", "savepoint-answers"];

pub(crate) fn requests_key(name: &str) -> String {
    format!("savepoint-requests/{name}")
}

pub(crate) fn answers_key(name: &str) -> String {
    format!("savepoint-answers/{name}")
}

/// Worker: the savepoint request for `a`'s epoch not answered yet, if any.
async fn pending(store: &Store, a: &Assignment) -> crate::Result<Option<SavepointRequest>> {
    let name = &a.topology.name;
    let request = store.get::<SavepointRequest>(&requests_key(name)).await?;
    let Some(request) = request.filter(|r| r.epoch == a.epoch) else {
        return Ok(None);
    };
    let answered = store.get::<SavepointAnswer>(&answers_key(name)).await?;
    Ok(answered.is_none_or(|answer| answer.nonce != request.nonce).then_some(request))
}

/// The coordinating worker (of a topology on one worker or spread over
/// several): answers every savepoint request of its epoch with `trigger`,
/// until cancelled (spawn it beside the coordinator; etcd errors are
/// retried).
pub async fn serve(store: Store, a: Assignment, trigger: SavepointTrigger) {
    loop {
        match pending(&store, &a).await {
            Ok(Some(request)) => {
                let outcome = trigger.take(request.dir.clone()).await.map_err(|e| e.to_string());
                tracing::info!("savepoint asked by nimbus: {outcome:?}");
                let answer = SavepointAnswer { nonce: request.nonce, outcome };
                if let Err(e) = store.put(&answers_key(&a.topology.name), &answer, None).await {
                    tracing::warn!("cannot answer the savepoint request: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot read savepoint requests: {e}"),
        }
        tokio::time::sleep(REPORT_EVERY).await;
    }
}
