//! The metrics tests' harness: HTTP reads of `/metrics` parsed with the
//! `prometheus-parse` crate, and a real Prometheus server (Debian's
//! `prometheus`, installed by scripts/setup.sh) started here on 127.0.0.1
//! with its storage in a temporary folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use prometheus_parse::{Sample, Scrape, Value};

use super::{free_port, wait_until};

/// `GET url` (with `token` as a bearer token): the body of a 2xx answer.
pub fn get(url: &str, token: Option<&str>) -> Result<String, String> {
    let client = reqwest::blocking::Client::new();
    let mut request = client.get(url).timeout(std::time::Duration::from_secs(10));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    let body = response.text().map_err(|e| format!("GET {url}: {e}"))?;
    match status.is_success() {
        true => Ok(body),
        false => Err(format!("GET {url}: {status}: {body}")),
    }
}

/// The exposition at `http://addr/metrics`, parsed.
pub fn scrape(addr: &str) -> Result<Scrape, String> {
    let text = get(&format!("http://{addr}/metrics"), None)?;
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).map_err(|e| e.to_string())
}

/// The samples of family `name`.
pub fn family<'a>(scrape: &'a Scrape, name: &str) -> Vec<&'a Sample> {
    scrape.samples.iter().filter(|s| s.metric == name).collect()
}

/// A counter's or gauge's value.
pub fn value(sample: &Sample) -> f64 {
    match sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        _ => panic!("{} is not a counter or gauge", sample.metric),
    }
}

/// Family `name` summed per value of label `by`.
pub fn sum_by(scrape: &Scrape, name: &str, by: &str) -> BTreeMap<String, f64> {
    let mut sums = BTreeMap::new();
    for s in family(scrape, name) {
        let key = s.labels.get(by).unwrap_or_default().to_string();
        *sums.entry(key).or_insert(0.0) += value(s);
    }
    sums
}

/// The values of label `label` over family `name`.
pub fn label_values(scrape: &Scrape, name: &str, label: &str) -> BTreeSet<String> {
    family(scrape, name).iter().filter_map(|s| s.labels.get(label)).map(str::to_string).collect()
}

/// A Prometheus server scraping every second; killed when it drops.
pub struct Prometheus {
    pub port: u16,
    child: Child,
}

impl Prometheus {
    /// Starts `prometheus` with `scrape_configs` (YAML list items, indented
    /// by two spaces) in `dir`, and waits until it is ready.
    ///
    /// # Panics
    /// If `prometheus` is not installed (scripts/setup.sh installs it).
    pub fn start(dir: &Path, scrape_configs: &str) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{scrape_configs}"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus on PATH (Debian's `prometheus`: run scripts/setup.sh)");
        let server = Prometheus { port, child };
        wait_until("prometheus to be ready", || {
            get(&format!("http://127.0.0.1:{port}/-/ready"), None).is_ok()
        });
        server
    }

    /// The value of the instant PromQL `query`'s first result, if any.
    pub fn query(&self, query: &str) -> Option<f64> {
        let url = reqwest::Url::parse_with_params(
            &format!("http://127.0.0.1:{}/api/v1/query", self.port),
            &[("query", query)],
        )
        .unwrap();
        let body = get(url.as_str(), None).ok()?;
        let json: serde_json::Value = serde_json::from_str(&body).ok()?;
        json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// Prometheus's view of its scrape targets (`/api/v1/targets`).
    pub fn targets(&self) -> serde_json::Value {
        let body = get(&format!("http://127.0.0.1:{}/api/v1/targets", self.port), None)
            .unwrap_or_default();
        serde_json::from_str(&body).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
