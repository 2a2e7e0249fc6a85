//! [`ApiClient`]: the REST API from the CLI's side. Finds the leading
//! nimbus through etcd unless given its URL.

use reqwest::{Client, RequestBuilder, Response};

use crate::protocol::config::ClusterConfig;
use crate::protocol::records::TopologyMetrics;
use crate::protocol::rest::{BinaryDescription, BinarySubmit, Uploaded};
use crate::protocol::rest::{ErrorBody, SubmitRequest};
use crate::protocol::rest::{RebalanceRequest, SavepointBody, SavepointTaken};
use crate::protocol::store::{Store, SupervisorInfo, TopologyStatus};
use crate::{Error, Result};

/// A client of the leading nimbus's API.
pub struct ApiClient {
    http: Client,
    base: String,
    token: String,
}

impl ApiClient {
    /// A client of `url` (e.g. `https://127.0.0.1:7700`), or of the leader
    /// that etcd names when `url` is `None`; HTTPS is checked against
    /// `api_tls.ca` ([`crate::protocol::api_tls`]).
    ///
    /// # Errors
    /// [`Error::Etcd`], or [`Error::Api`] when no nimbus leads;
    /// [`Error::Config`] for a CA file that does not load.
    pub async fn connect(config: &ClusterConfig, url: Option<&str>) -> Result<Self> {
        let base = match url {
            Some(u) => u.to_string(),
            None => Store::connect(config)
                .await?
                .nimbus_leader()
                .await?
                .ok_or_else(|| Error::Api("no nimbus is leading".into()))?,
        };
        Ok(ApiClient {
            http: crate::protocol::api_tls::client_trusting(config.api_tls.ca.as_deref())?,
            base: base.trim_end_matches('/').to_string(),
            token: config.api_token.clone(),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}/api/v1/{path}", self.base)).bearer_auth(&self.token)
    }

    /// Submits a YAML topology.
    ///
    /// # Errors
    /// [`Error::Api`] with nimbus's reason.
    pub async fn submit(&self, request: &SubmitRequest) -> Result<TopologyStatus> {
        answer(self.request(reqwest::Method::POST, "topologies").json(request).send().await).await
    }

    /// Uploads the topology binary at `path` and submits it: runs
    /// `path describe --name NAME --set ...` to learn its components (a
    /// binary that cannot describe itself is refused before anything is
    /// sent), then uploads it and submits it.
    ///
    /// # Errors
    /// [`Error::Config`] if the binary cannot be run or described;
    /// [`Error::Api`] with nimbus's reason.
    pub async fn submit_binary(
        &self,
        path: &std::path::Path,
        name: &str,
        overrides: &[(String, String)],
        workers: usize,
    ) -> Result<TopologyStatus> {
        let mut describe = tokio::process::Command::new(path);
        describe.args(["describe", "--name", name]);
        for (k, v) in overrides {
            describe.arg("--set").arg(format!("{k}={v}"));
        }
        let out = describe.output().await.map_err(|e| {
            Error::Config(format!("cannot run topology binary {}: {e}", path.display()))
        })?;
        let description: BinaryDescription = serde_json::from_slice(&out.stdout).map_err(|e| {
            Error::Config(format!(
                "{} is not a Squall topology binary ({e}; exit {}, stderr: {})",
                path.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        })?;
        let bytes =
            std::fs::read(path).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let uploaded: Uploaded = answer(
            self.request(reqwest::Method::PUT, &format!("binaries/{name}"))
                .body(bytes)
                .send()
                .await,
        )
        .await?;
        let request =
            BinarySubmit { key: uploaded.key, description, overrides: overrides.to_vec(), workers };
        answer(
            self.request(reqwest::Method::POST, &format!("topologies/{name}/binary"))
                .json(&request)
                .send()
                .await,
        )
        .await
    }

    /// Every topology's status.
    ///
    /// # Errors
    /// [`Error::Api`].
    pub async fn list(&self) -> Result<Vec<TopologyStatus>> {
        answer(self.request(reqwest::Method::GET, "topologies").send().await).await
    }

    /// The live supervisors.
    ///
    /// # Errors
    /// [`Error::Api`].
    pub async fn supervisors(&self) -> Result<Vec<SupervisorInfo>> {
        answer(self.request(reqwest::Method::GET, "supervisors").send().await).await
    }

    /// One topology's status.
    ///
    /// # Errors
    /// [`Error::Api`] (also when there is no such topology).
    pub async fn status(&self, name: &str) -> Result<TopologyStatus> {
        answer(self.request(reqwest::Method::GET, &format!("topologies/{name}")).send().await).await
    }

    /// Kills a topology; with a `wait`, deactivates it and kills it that
    /// much later (Storm's `kill -w`).
    ///
    /// # Errors
    /// [`Error::Api`].
    pub async fn kill(&self, name: &str, wait: std::time::Duration) -> Result<TopologyStatus> {
        let path = format!("topologies/{name}?wait_s={}", wait.as_secs());
        answer(self.request(reqwest::Method::DELETE, &path).send().await).await
    }

    /// Deactivates (`active = false`) or activates a topology's spouts.
    ///
    /// # Errors
    /// [`Error::Api`].
    pub async fn set_active(&self, name: &str, active: bool) -> Result<TopologyStatus> {
        let verb = if active { "activate" } else { "deactivate" };
        let path = format!("topologies/{name}/{verb}");
        answer(self.request(reqwest::Method::POST, &path).send().await).await
    }

    /// Asks for a rebalance (through a savepoint).
    ///
    /// # Errors
    /// [`Error::Api`] with nimbus's reason.
    pub async fn rebalance(
        &self,
        name: &str,
        request: &RebalanceRequest,
    ) -> Result<TopologyStatus> {
        let path = format!("topologies/{name}/rebalance");
        answer(self.request(reqwest::Method::POST, &path).json(request).send().await).await
    }

    /// Takes a savepoint of a running topology (with `stop`, stops it with
    /// the savepoint: spouts paused first, killed after), in folder `dir`
    /// when given (see [`SavepointBody::dir`]); waits for it.
    ///
    /// # Errors
    /// [`Error::Api`] with nimbus's reason (400: no checkpoints, over,
    /// refused, a relative `dir`; 504: no answer in time).
    pub async fn savepoint(
        &self,
        name: &str,
        stop: bool,
        dir: Option<String>,
    ) -> Result<SavepointTaken> {
        let path = format!("topologies/{name}/savepoint");
        let body = SavepointBody { stop, dir };
        answer(self.request(reqwest::Method::POST, &path).json(&body).send().await).await
    }

    /// A topology's metrics, per component and task.
    ///
    /// # Errors
    /// [`Error::Api`].
    pub async fn metrics(&self, name: &str) -> Result<TopologyMetrics> {
        answer(
            self.request(reqwest::Method::GET, &format!("topologies/{name}/metrics")).send().await,
        )
        .await
    }
}

async fn answer<T: serde::de::DeserializeOwned>(sent: reqwest::Result<Response>) -> Result<T> {
    let resp = sent.map_err(|e| Error::Api(e.to_string()))?;
    let code = resp.status();
    if code.is_success() {
        return resp.json().await.map_err(|e| Error::Api(format!("unreadable answer: {e}")));
    }
    let text = resp.text().await.unwrap_or_default();
    let reason = serde_json::from_str::<ErrorBody>(&text).map(|b| b.error).unwrap_or(text);
    Err(Error::Api(format!("{code}: {reason}")))
}
