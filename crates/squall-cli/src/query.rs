//! `squall query`: reads a running topology's keyed state through the
//! query API (`squall_cluster::query_api`, served by `squall run --query`)
//! or through nimbus on a cluster (`squall_cluster::query_route`).

use std::path::Path;
use std::process::ExitCode;

use squall_cluster::query_api::{self, StateQuery};

use crate::cluster::block_on;
use crate::failure::Failure;

/// What a query reads: state `state` of `component` of `topology`.
pub struct Target {
    /// The topology's name.
    pub topology: String,
    /// The component.
    pub component: String,
    /// The state's name.
    pub state: String,
}

/// `squall query TOPOLOGY COMPONENT STATE [KEY]`: prints the answer as
/// JSON. With `server`, asks that query API (`squall run --query`);
/// without, the cluster's leading nimbus (found through etcd, with the
/// configuration's token).
///
/// # Errors
/// [`Failure::config`] for parameters that do not go together or a bad
/// configuration; [`Failure::runtime`] when the server refuses (its reason
/// quoted) or cannot be reached.
pub fn query(
    server: Option<String>,
    config: Option<&Path>,
    target: &Target,
    query: &StateQuery,
) -> Result<ExitCode, Failure> {
    query.asked().map_err(Failure::config)?;
    let Target { topology, component, state } = target;
    block_on(async move {
        let answer = match server {
            Some(server) => query_api::ask(&server, topology, component, state, query).await,
            None => {
                let (leader, token) = crate::cluster::leading_nimbus(config).await?;
                let url =
                    format!("{leader}/api/v1/topologies/{topology}/query/{component}/{state}");
                query_api::ask_url(&url, Some(&token), query).await
            }
        }
        .map_err(Failure::runtime)?;
        let text = serde_json::to_string_pretty(&answer).map_err(Failure::runtime)?;
        println!("{text}");
        Ok(ExitCode::SUCCESS)
    })
}
