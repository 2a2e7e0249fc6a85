//! `squall query`: reads a running topology's keyed state through the
//! query API (`squall_cluster::query_api`, served by `squall run --query`).

use std::process::ExitCode;

use crate::cluster::block_on;
use crate::failure::Failure;

/// `squall query TOPOLOGY COMPONENT STATE [KEY]`: prints the answer as
/// JSON.
///
/// # Errors
/// [`Failure::config`] for parameters that do not go together;
/// [`Failure::runtime`] when the server refuses (its reason quoted) or
/// cannot be reached.
pub fn query(
    server: &str,
    topology: &str,
    component: &str,
    state: &str,
    query: &squall_cluster::query_api::StateQuery,
) -> Result<ExitCode, Failure> {
    query.asked().map_err(Failure::config)?;
    block_on(async move {
        let answer = squall_cluster::query_api::ask(server, topology, component, state, query)
            .await
            .map_err(Failure::runtime)?;
        let text = serde_json::to_string_pretty(&answer).map_err(Failure::runtime)?;
        println!("{text}");
        Ok(ExitCode::SUCCESS)
    })
}
