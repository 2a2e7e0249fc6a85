//! Keeps etcd small, from the leading nimbus: compaction of the key
//! history, defragmentation of its file, and the keys of finished epochs
//! and attempts removed.
//!
//! etcd keeps every revision of every key until it is compacted, and its
//! bbolt file (memory-mapped, so resident) keeps the pages they used until
//! it is defragmented ([etcd's maintenance guide]). A cluster rewrites a
//! few records all the time (the workers' reports and web UI views, the
//! checkpoint record), so without both etcd's memory grows for as long as
//! the cluster runs: 82 → 322 MB in 30 minutes of `scripts/soak.sh`.
//!
//! Every `nimbus.etcd_compaction_ms` (default 60 000 ms; 0 turns all of
//! this off) the leader:
//! 1. compacts to the revision it saw one period before, so at least one
//!    period of history stays for watchers that reconnect (as etcd's own
//!    `--auto-compaction-mode revision`);
//! 2. defragments each endpoint whose file is more than half free and has
//!    at least [`DEFRAGMENT_FREE_BYTES`] free, one member at a time
//!    (defragmenting blocks that member's reads and writes while it runs,
//!    milliseconds for a file this size);
//! 3. deletes what a topology's finished epochs and attempts left:
//!    `run/{t}/{e}/...`, `attempt/{t}/{e}`, `workers/{t}/{e}/...` and
//!    `done/{t}/{e}/...` of every epoch before the previous one, and
//!    `run/{t}/{e}/{a}/...` of every attempt before the previous one in
//!    the current epoch. The previous epoch and attempt stay, for a copy
//!    that has not yet seen the move.
//!
//! [etcd's maintenance guide]: https://etcd.io/docs/v3.5/op-guide/maintenance/

use std::collections::BTreeSet;
use std::time::Duration;

use etcd_client::{Client, CompactionOptions, GetOptions};

use crate::protocol::store::{Store, TopologyStatus};
use crate::{ClusterConfig, Result};

/// An endpoint is defragmented only with at least this much free space
/// in its file (bytes), besides more than half of it free.
pub const DEFRAGMENT_FREE_BYTES: i64 = 16 << 20;

/// What one round did, for the log and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// The revision compacted to, if any.
    pub compacted_to: Option<i64>,
    /// Endpoints defragmented.
    pub defragmented: Vec<String>,
    /// Keys of finished epochs and attempts deleted.
    pub deleted: i64,
}

/// The leader's housekeeping of etcd: one [`Compactor::round`] per period.
pub struct Compactor {
    store: Store,
    config: ClusterConfig,
    /// The revision seen at the previous round: the next compaction's.
    seen: Option<i64>,
}

impl Compactor {
    /// A compactor for the cluster of `config`, through `store`.
    pub fn new(store: Store, config: ClusterConfig) -> Self {
        Compactor { store, config, seen: None }
    }

    /// Runs a round every `nimbus.etcd_compaction_ms` until dropped
    /// (never, when that is 0). A failed round is logged and the next
    /// one tries again.
    ///
    /// # Cancel safety
    /// Cancel-safe: every step is an etcd call that either happened or
    /// did not.
    pub async fn run(mut self) {
        let every = self.config.nimbus.etcd_compaction_ms;
        if every == 0 {
            return std::future::pending().await;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(every));
        loop {
            tick.tick().await;
            match self.round().await {
                Ok(round) => tracing::info!(?round, "etcd housekeeping"),
                Err(e) => tracing::warn!(error = %e, "etcd housekeeping failed; next period"),
            }
        }
    }

    /// One round: compaction to the revision of the previous round,
    /// defragmentation where due, finished epochs' keys deleted.
    ///
    /// # Errors
    /// [`crate::Error::Etcd`] or [`crate::Error::Record`].
    pub async fn round(&mut self) -> Result<Round> {
        let mut round = Round { deleted: self.forget_finished().await?, ..Round::default() };
        let mut client = self.store.client();
        let now = revision(&mut client).await?;
        if let Some(seen) = self.seen.filter(|&seen| seen > 1) {
            // Physical: returns once the history is gone from the backend.
            let options = CompactionOptions::new().with_physical();
            match client.compact(seen, Some(options)).await {
                Ok(_) => round.compacted_to = Some(seen),
                // A compaction by someone else (etcd's own, an operator's)
                // went further already.
                Err(e) if e.to_string().contains("compacted") => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.seen = Some(now);
        for endpoint in &self.config.etcd_endpoints {
            if self.defragment(endpoint).await? {
                round.defragmented.push(endpoint.clone());
            }
        }
        Ok(round)
    }

    /// Defragments `endpoint` when its file is mostly free; whether it did.
    async fn defragment(&self, endpoint: &str) -> Result<bool> {
        let endpoints = [endpoint.to_string()];
        let options =
            crate::protocol::etcd_tls::connect_options(self.config.etcd_tls.as_ref(), &endpoints)?;
        let mut member = Client::connect(endpoints, options).await?;
        let status = member.status().await?;
        let (size, used) = (status.db_size(), status.raft_used_db_size());
        let free = size - used;
        if free < DEFRAGMENT_FREE_BYTES || free * 2 < size {
            return Ok(false);
        }
        member.defragment().await?;
        tracing::info!(endpoint, size, used, "etcd defragmented");
        Ok(true)
    }

    /// Deletes the keys of finished epochs and attempts (see the module
    /// documentation); how many.
    async fn forget_finished(&self) -> Result<i64> {
        let mut deleted = 0;
        for (name, status) in self.store.list::<TopologyStatus>("status").await? {
            let epoch = status.epoch;
            for dir in ["run", "workers", "done"] {
                for old in self.numbers(&format!("{dir}/{name}")).await? {
                    if old + 1 < epoch {
                        deleted += self.delete(&format!("{dir}/{name}/{old}/")).await?;
                    }
                }
            }
            for old in self.numbers(&format!("attempt/{name}")).await? {
                if old + 1 < epoch {
                    deleted += self.delete(&format!("attempt/{name}/{old}")).await?;
                }
            }
            let attempt: Option<u64> = self.store.get(&format!("attempt/{name}/{epoch}")).await?;
            for old in self.numbers(&format!("run/{name}/{epoch}")).await? {
                if attempt.is_some_and(|now| old + 1 < now) {
                    deleted += self.delete(&format!("run/{name}/{epoch}/{old}/")).await?;
                }
            }
        }
        Ok(deleted)
    }

    /// The numbers that follow `NS/{dir}/` in its keys (epochs, attempts).
    async fn numbers(&self, dir: &str) -> Result<BTreeSet<u64>> {
        let base = self.store.key(&format!("{dir}/"));
        let options = GetOptions::new().with_prefix().with_keys_only();
        let resp = self.store.client().get(base.clone(), Some(options)).await?;
        let mut numbers = BTreeSet::new();
        for kv in resp.kvs() {
            let key = String::from_utf8_lossy(kv.key());
            let next = key[base.len()..].split('/').next().unwrap_or_default();
            numbers.extend(next.parse::<u64>().ok());
        }
        Ok(numbers)
    }

    /// Deletes `NS/{rest}` (every key under it when it ends in `/`); how
    /// many keys.
    async fn delete(&self, rest: &str) -> Result<i64> {
        let options = rest.ends_with('/').then(|| etcd_client::DeleteOptions::new().with_prefix());
        let resp = self.store.client().delete(self.store.key(rest), options).await?;
        Ok(resp.deleted())
    }
}

/// The store's current revision.
async fn revision(client: &mut Client) -> Result<i64> {
    let status = client.status().await?;
    Ok(status.header().map(|h| h.revision()).unwrap_or_default())
}
