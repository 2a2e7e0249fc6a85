//! The DRPC commands: `squall drpc FUNCTION ARGS` (a caller) and `squall
//! drpc-server` (a DRPC server alone, for topologies run with `squall run`
//! or on a cluster whose nimbus should not carry the calls). The server and
//! the HTTP clients are `squall_cluster::drpc_server` and `drpc_client`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use squall_cluster::drpc_server::{self, DrpcServer};

use crate::cluster::block_on;
use crate::failure::Failure;

/// `squall drpc FUNCTION ARGS`: prints the answer on stdout. Without
/// `server`, calls the leading nimbus (found through etcd) with the
/// configuration's token; `token` overrides it.
///
/// # Errors
/// [`Failure::config`] for a bad configuration or URL, [`Failure::runtime`]
/// when the call timed out, failed or could not reach the server (the
/// server's reason quoted).
pub fn call(
    config: Option<&Path>,
    server: Option<String>,
    token: Option<String>,
    function: &str,
    args: &str,
) -> Result<ExitCode, Failure> {
    block_on(async move {
        let (server, token) = match server {
            Some(server) => (server, token),
            None => {
                let (leader, api_token) = crate::cluster::leading_nimbus(config).await?;
                (leader, token.or(Some(api_token).filter(|t| !t.is_empty())))
            }
        };
        let answer =
            squall_cluster::drpc_client::execute(&server, token.as_deref(), function, args)
                .await
                .map_err(|e| match e {
                squall_cluster::Error::Config(_) => Failure::config(e),
                _ => Failure::runtime(e),
            })?;
        println!("{answer}");
        Ok(ExitCode::SUCCESS)
    })
}

/// `squall drpc-server`: serves DRPC on `listen` until killed; prints
/// `drpc server on http://ADDR` (the bound address, so port 0 works) on
/// stdout once it accepts calls.
///
/// # Errors
/// [`Failure::config`] for a timeout of 0 or an address that cannot be
/// bound.
pub fn serve(
    listen: SocketAddr,
    timeout_ms: u64,
    holder_timeout_ms: u64,
    token: Option<String>,
) -> Result<ExitCode, Failure> {
    let server = DrpcServer::new(timeout_ms)
        .map_err(Failure::config)?
        .with_holder_timeout_ms(holder_timeout_ms);
    block_on(async move {
        let listener = drpc_server::bind(listen).await.map_err(Failure::config)?;
        let bound = listener.local_addr().map_err(Failure::runtime)?;
        println!("drpc server on http://{bound}");
        drpc_server::serve(listener, server, token).await.map_err(Failure::runtime)
    })?;
    Ok(ExitCode::SUCCESS)
}
