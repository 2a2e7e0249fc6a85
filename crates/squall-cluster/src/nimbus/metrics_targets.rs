//! Nimbus's list of every process's `/metrics` endpoint for Prometheus's
//! HTTP service discovery (`GET /api/v1/metrics/targets`, behind its
//! token): supervisors from their [`SupervisorInfo`], workers from their
//! reports ([`crate::protocol::metrics_api`] serves each process's own).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::nimbus::api::ApiState;
use crate::nimbus::NimbusError;
use crate::protocol::store::SupervisorInfo;

/// One group of Prometheus's HTTP service discovery
/// (`http_sd_configs`): addresses to scrape and the labels their series
/// get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TargetGroup {
    /// `host:port` of each `/metrics` endpoint.
    pub targets: Vec<String>,
    /// `job_role` (`worker` or `supervisor`), and `topology` for workers.
    pub labels: BTreeMap<String, String>,
}

/// Nimbus's route (behind its token): `GET /api/v1/metrics/targets`.
pub(crate) fn nimbus_routes() -> Router<Arc<ApiState>> {
    Router::new().route("/api/v1/metrics/targets", get(targets))
}

async fn targets(
    State(state): State<Arc<ApiState>>,
) -> Result<Json<Vec<TargetGroup>>, NimbusError> {
    let store = &state.store;
    // Prometheus scrapes over HTTPS where the cluster serves it.
    let scheme = [("__scheme__", crate::protocol::api_tls::served().scheme())];
    let mut groups = Vec::new();
    for (_, s) in store.list::<SupervisorInfo>("supervisors").await? {
        if let Some(addr) = s.metrics_addr {
            let labels = [("job_role", "supervisor"), ("supervisor", s.id.as_str()), scheme[0]];
            groups.push(TargetGroup { targets: vec![addr], labels: labelled(&labels) });
        }
    }
    for t in crate::nimbus::list(store).await? {
        if t.state.is_over() {
            continue;
        }
        let (_, _, reports) = crate::nimbus::control::published(store, &t.name).await?;
        for addr in reports.into_iter().filter_map(|r| r.metrics_addr) {
            let labels = [("job_role", "worker"), ("topology", t.name.as_str()), scheme[0]];
            groups.push(TargetGroup { targets: vec![addr], labels: labelled(&labels) });
        }
    }
    Ok(Json(groups))
}

fn labelled(labels: &[(&str, &str)]) -> BTreeMap<String, String> {
    labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}
