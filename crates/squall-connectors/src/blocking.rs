//! Blocking client code called from spouts and bolts, which run on the
//! engine's tokio worker threads.
//!
//! - [`off_runtime`]: clients that start or drop a runtime of their own (the
//!   `postgres` client, an `object_store` upload) panic on a worker thread;
//!   a scoped thread outside the runtime is free to.
//! - [`blocking`]: calls that wait on the network for long (a Kafka flush,
//!   transaction commit, metadata request). On a worker thread they hold
//!   every other task queued on it, the checkpoint coordinator included: on
//!   a 2-thread runtime two Kafka tasks waiting on the broker kept the
//!   coordinator from triggering a single checkpoint for a whole run.

/// Runs `f` on a scoped thread outside any tokio runtime and returns its
/// result; a panic in `f` is passed on.
pub(crate) fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        s.spawn(f).join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Runs `f`, which blocks for long, telling a multi-thread tokio runtime
/// first (`block_in_place`), so that it moves the other tasks of this
/// worker thread to another thread; outside such a runtime just runs `f`.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread")]
    async fn a_runtime_can_be_made_and_dropped_from_a_worker_thread() {
        let n = super::off_runtime(|| {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async { 7 })
        });
        assert_eq!(n, 7);
    }
}
