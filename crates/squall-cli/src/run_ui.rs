//! `squall run --ui ADDR`: the web UI nimbus serves, for the topology this
//! process runs (`squall_cluster::ui::local_app`), on a thread of its own.

use std::net::SocketAddr;
use std::sync::Arc;

use squall::topology::Activation;
use squall::{RunSummary, RunningTopology, Topology};
use squall_cluster::store::State;
use squall_cluster::ui_local::LocalBackend;

use crate::failure::Failure;

/// Binds the UI's address before anything runs, so that a taken port is a
/// configuration error.
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, Failure> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| Failure::config(format!("--ui {addr}: cannot listen: {e}")))?;
    listener.set_nonblocking(true).map_err(|e| Failure::config(format!("--ui {addr}: {e}")))?;
    Ok(listener)
}

/// Serves the UI of `running` (which runs `topology`, its spouts switched
/// by `activation`) on `listener`, guarded by `token` (a random one when
/// `None`); prints the URL to open.
pub fn serve(
    listener: std::net::TcpListener,
    topology: &Topology,
    activation: Activation,
    running: Arc<RunningTopology>,
    token: Option<String>,
) -> Result<Arc<LocalBackend>, Failure> {
    let bound = listener.local_addr().map_err(Failure::runtime)?;
    let token = token.unwrap_or_else(|| {
        const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        (0..24).map(|_| CHARS[fastrand::usize(..CHARS.len())] as char).collect()
    });
    let local = LocalBackend::new(topology, activation, running);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("web UI runtime: {e}")))?;
    let served = local.clone();
    // HTTPS with the `[api_tls]` of the SQUALL__API_TLS__* variables.
    let scheme = squall_cluster::api_tls::served().scheme();
    let url = format!("{scheme}://{bound}/#token={token}");
    std::thread::Builder::new()
        .name("squall-ui".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => return eprintln!("error: web UI: {e}"),
                };
                if let Err(e) = squall_cluster::ui::serve_local(listener, served, token).await {
                    eprintln!("error: web UI: {e}");
                }
            })
        })
        .map_err(|e| Failure::runtime(format!("web UI thread: {e}")))?;
    eprintln!("web UI on {url}");
    Ok(local)
}

/// `running` alone: the UI lets go of its handle (waiting for an action
/// in progress with it, such as a savepoint).
pub fn sole(running: Arc<RunningTopology>, ui: Option<&LocalBackend>) -> RunningTopology {
    let mut running = running;
    if let Some(ui) = ui {
        drop(ui.release());
    }
    loop {
        match Arc::try_unwrap(running) {
            Ok(r) => return r,
            Err(still) => {
                running = still;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

/// Shows how the run ended in the UI.
pub fn ended(ui: &LocalBackend, result: &Result<RunSummary, squall::Error>) {
    match result {
        Ok(s) if s.killed => ui.set_outcome(State::Killed, None),
        Ok(_) => ui.set_outcome(State::Finished, None),
        Err(e) => ui.set_outcome(State::Failed, Some(e.to_string())),
    }
}
