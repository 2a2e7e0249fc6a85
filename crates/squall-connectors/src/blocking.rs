//! [`off_runtime`]: runs blocking client code (the `postgres` client, an
//! `object_store` upload) from a bolt. Bolts are called on the engine's
//! tokio worker threads, where a client that starts or drops its own
//! runtime panics; a scoped thread outside the runtime is free to.

/// Runs `f` on a scoped thread outside any tokio runtime and returns its
/// result; a panic in `f` is passed on.
pub(crate) fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        s.spawn(f).join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
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
