//! Issue 19's security on a real cluster: etcd serving TLS only and
//! requiring client certificates, nimbus serving HTTPS with certificates
//! made here (`rcgen`), a full and a read-only token. A word count runs
//! through it all and equals the reference; every route of the OpenAPI
//! document is called with no token, a wrong one, the read-only one and
//! the full one; a renewed certificate is served without a restart; no
//! log holds a token. The other servers (supervisors' logs and
//! `/metrics`, `squall run --query`) serve HTTPS with the same
//! certificates, and plain HTTP gets no answer from them. Needs `etcd` on
//! the PATH (`scripts/setup.sh`).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::Value;
use support::{corpus, read_counts, reference, wait_until, Cluster, EtcdTls, TOKEN};

const READ_TOKEN: &str = "test-read-only-token";

/// A certificate authority made for the test.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        Ca { cert: params.self_signed(&key).unwrap(), key }
    }

    /// Writes `{stem}.crt` and `{stem}.key`: a certificate for 127.0.0.1,
    /// for servers and clients, signed by this CA. Each file is renamed
    /// into place whole.
    fn issue(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, stem);
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let (crt, pem) = (dir.join(format!("{stem}.crt")), dir.join(format!("{stem}.key")));
        for (path, text) in [(&pem, key.serialize_pem()), (&crt, cert.pem())] {
            let part = path.with_extension("part");
            std::fs::write(&part, text).unwrap();
            std::fs::rename(&part, path).unwrap();
        }
        (crt, pem)
    }

    fn write(&self, path: &Path) {
        std::fs::write(path, self.cert.pem()).unwrap();
    }
}

/// A client that trusts `ca` only.
fn client_trusting(ca: &Path) -> Client {
    let pem = std::fs::read(ca).unwrap();
    Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

struct Secure {
    cluster: Cluster,
    base: String,
    ca: PathBuf,
    nimbus_cert: (PathBuf, PathBuf),
}

/// A cluster with TLS to etcd and HTTPS on nimbus (certificates reloaded
/// every 200 ms), both tokens, and `supervisors`.
fn secure_cluster(supervisors: &[&str]) -> Secure {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("squall test CA");
    let ca_file = dir.path().join("ca.crt");
    ca.write(&ca_file);
    let (etcd_cert, etcd_key) = ca.issue(dir.path(), "etcd");
    let (client_cert, client_key) = ca.issue(dir.path(), "squall-client");
    let nimbus_cert = ca.issue(dir.path(), "nimbus");
    let var = |k: &str, v: &Path| (k.to_string(), v.display().to_string());
    let env = vec![
        var("SQUALL__ETCD_TLS__CA", &ca_file),
        var("SQUALL__ETCD_TLS__CERT", &client_cert),
        var("SQUALL__ETCD_TLS__KEY", &client_key),
        var("SQUALL__API_TLS__CERT", &nimbus_cert.0),
        var("SQUALL__API_TLS__KEY", &nimbus_cert.1),
        var("SQUALL__API_TLS__CA", &ca_file),
        ("SQUALL__API_TLS__RELOAD_MS".into(), "200".into()),
        ("SQUALL__API_READ_TOKEN".into(), READ_TOKEN.into()),
        ("SQUALL__NIMBUS__DRPC_REQUEST_TIMEOUT_MS".into(), "1000".into()),
        ("RUST_LOG".into(), "info,squall=debug,squall_cluster=debug".into()),
    ];
    let etcd = EtcdTls { cert: etcd_cert, key: etcd_key, ca: ca_file.clone() };
    let cluster = Cluster::start_secure(dir, env, Some(&etcd), 1, supervisors, &[]);
    let base = format!("https://127.0.0.1:{}", cluster.nimbus[0].0);
    Secure { cluster, base, ca: ca_file, nimbus_cert }
}

/// The value a path parameter gets in the route walk.
fn parameter(name: &str) -> &'static str {
    match name {
        "name" => "wc-secure",
        "component" => "count",
        "state" => "count",
        "worker" => "sup-a-0",
        "function" => "nothing",
        _ => "1",
    }
}

/// Every `(method, path with its parameters filled, public, documented
/// status codes)` of the OpenAPI document.
fn operations(doc: &Value) -> Vec<(String, String, bool, Vec<u16>)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let mut filled = path.clone();
            while let Some(start) = filled.find('{') {
                let end = filled[start..].find('}').unwrap() + start;
                let value = parameter(&filled[start + 1..end]);
                filled.replace_range(start..=end, value);
            }
            // `security: []` (or only `{}`): no token needed.
            let public = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().all(|r| r.as_object().is_some_and(|o| o.is_empty())));
            let codes = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .filter_map(|c| c.parse().ok())
                .collect();
            all.push((method.to_uppercase(), filled, public, codes));
        }
    }
    all
}

fn call(client: &Client, base: &str, method: &str, path: &str, token: Option<&str>) -> StatusCode {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method.clone(), format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if method == reqwest::Method::POST || method == reqwest::Method::PUT {
        request = request.header("content-type", "application/json").body("{}");
    }
    let answer = request.send().unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    answer.status()
}

#[test]
fn over_tls_etcd_and_https_every_route_answers_each_token_as_documented() {
    let secure = secure_cluster(&["sup-a"]);
    let cluster = &secure.cluster;
    // A topology through etcd over TLS, submitted over HTTPS by the CLI.
    let corpus = corpus();
    let output = cluster.submit_word_count("wc-secure", &corpus);
    cluster.wait_for_state("wc-secure", "finished");
    assert_eq!(read_counts(&output), reference(&corpus));
    let worker_log = cluster.worker_log("sup-a", "wc-secure");

    let https = client_trusting(&secure.ca);
    let doc: Value = https
        .get(format!("{}/api/openapi.json", secure.base))
        .bearer_auth(READ_TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let ops = operations(&doc);
    assert!(ops.len() >= 20, "{} operations in the document", ops.len());
    let (mut walked, mut wrong_answers) = (Vec::new(), Vec::new());
    // Reads first, then actions with the full token (they kill the topology).
    let mut ordered = ops.clone();
    ordered.sort_by_key(|(method, ..)| method != "GET");
    for (method, path, public, codes) in &ordered {
        let base = &secure.base;
        let none = call(&https, base, method, path, None);
        let wrong = call(&https, base, method, path, Some("not-the-token"));
        let read = call(&https, base, method, path, Some(READ_TOKEN));
        let full = call(&https, base, method, path, Some(TOKEN));
        walked.push(format!("{method} {path}: {none} {wrong} {read} {full}"));
        let what = format!("{method} {path}");
        let mut check = |ok: bool, why: String| {
            if !ok {
                wrong_answers.push(format!("{what}: {why}"));
            }
        };
        if *public {
            for s in [none, wrong, read, full] {
                check(s.is_success(), format!("public, but {s}"));
            }
            continue;
        }
        check(none == StatusCode::UNAUTHORIZED, format!("{none} without a token"));
        check(wrong == StatusCode::UNAUTHORIZED, format!("{wrong} with a wrong token"));
        let refused = [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN];
        check(!refused.contains(&full), format!("{full} with the full token"));
        check(codes.contains(&full.as_u16()), format!("{full} is not among {codes:?}"));
        check(full != StatusCode::INTERNAL_SERVER_ERROR, "500".into());
        if method == "GET" && !path.starts_with("/drpc/") {
            // The read-only token reads what the full token reads.
            check(read == full, format!("read-only {read}, full {full}"));
        } else {
            check(read == StatusCode::FORBIDDEN, format!("{read} with the read-only token"));
        }
    }
    assert!(wrong_answers.is_empty(), "{}", wrong_answers.join("\n"));
    eprintln!("{}", walked.join("\n"));
    for must in ["GET /api/v1/topologies", "DELETE /api/v1/topologies/wc-secure"] {
        assert!(walked.iter().any(|w| w.starts_with(&format!("{must}:"))), "{must} not walked");
    }

    // The CLI with the read-only token: reads, and is refused an action.
    let list = cluster.command(&["list"]).env("SQUALL__API_TOKEN", READ_TOKEN).output().unwrap();
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    assert!(String::from_utf8_lossy(&list.stdout).contains("wc-secure"));
    let kill =
        cluster.command(&["kill", "wc-secure"]).env("SQUALL__API_TOKEN", READ_TOKEN).output();
    let stderr = String::from_utf8_lossy(&kill.unwrap().stderr).into_owned();
    assert!(stderr.contains("403") && stderr.contains("read-only"), "{stderr}");

    // No token in any daemon's or worker's log.
    let mut logs = vec![worker_log];
    for entry in walk(cluster.dir.path()) {
        if entry.extension().is_some_and(|e| e == "log") {
            logs.push(std::fs::read_to_string(&entry).unwrap_or_default());
        }
    }
    assert!(logs.len() >= 3, "{} logs", logs.len());
    for log in &logs {
        assert!(!log.contains(TOKEN) && !log.contains(READ_TOKEN), "a token was logged:\n{log}");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn plain_clients_are_refused_and_a_renewed_certificate_is_served_without_a_restart() {
    let secure = secure_cluster(&[]);
    let cluster = &secure.cluster;
    let health = "/api/v1/health";
    // Plain HTTP gets no answer of the API; a client without the CA
    // refuses nimbus's certificate.
    let plain = support::http_get(cluster.nimbus[0].0, health).unwrap_or_default();
    assert!(!plain.contains("\"status\""), "plain HTTP answered: {plain}");
    let system_roots = Client::builder().use_rustls_tls().build().unwrap();
    let refused = system_roots.get(format!("{}{health}", secure.base)).send().unwrap_err();
    assert!(format!("{refused:?}").contains("ertificate"), "{refused:?}");

    // A daemon without a client certificate is refused by etcd.
    let out = cluster
        .command(&["list"])
        .env_remove("SQUALL__ETCD_TLS__CERT")
        .env_remove("SQUALL__ETCD_TLS__KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("etcd"), "{out:?}");
    // etcd_tls with an http:// endpoint is refused by name.
    let out = cluster
        .command(&["list"])
        .env("SQUALL__ETCD_ENDPOINTS", "[\"http://127.0.0.1:1\"]")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("http://127.0.0.1:1") && stderr.contains("https"), "{stderr}");

    // The certificate is renewed by another CA: nimbus serves it, without
    // a restart, to clients of the new CA, and no longer to the old one's.
    let dir = cluster.dir.path();
    let renewed = Ca::new("squall renewed CA");
    let renewed_ca = dir.join("renewed-ca.crt");
    renewed.write(&renewed_ca);
    let (cert, key) = renewed.issue(dir, "renewed");
    std::fs::rename(&key, &secure.nimbus_cert.1).unwrap();
    std::fs::rename(&cert, &secure.nimbus_cert.0).unwrap();
    let (old, new) = (client_trusting(&secure.ca), client_trusting(&renewed_ca));
    let url = format!("{}{health}", secure.base);
    wait_until("the renewed certificate to be served", || new.get(&url).send().is_ok());
    assert!(old.get(&url).send().is_err(), "the old CA still verifies nimbus");
    let pid = cluster.nimbus[0].1.id();
    let log = std::fs::read_to_string(dir.join(format!("nimbus-{}.log", cluster.nimbus[0].0)));
    assert!(log.unwrap().contains("certificate reloaded"), "nimbus {pid} did not say so");
    // The CLI trusting the new CA works.
    let list = cluster.command(&["list"]).env("SQUALL__API_TLS__CA", &renewed_ca).output();
    let list = list.unwrap();
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
}

#[test]
fn supervisors_log_and_metrics_servers_serve_https_that_nimbus_and_prometheus_clients_verify() {
    let secure = secure_cluster(&["sup-a"]);
    let cluster = &secure.cluster;
    let corpus = corpus();
    let output = cluster.submit_word_count("wc-https", &corpus);
    cluster.wait_for_state("wc-https", "finished");
    assert_eq!(read_counts(&output), reference(&corpus));
    let https = client_trusting(&secure.ca);
    // The worker's log, which nimbus fetched from sup-a's log server over
    // HTTPS (checking the CA), is the end of the file on disk.
    let url = format!("{}/api/v1/topologies/wc-https/workers/sup-a-0/log?lines=5", secure.base);
    let answer = https.get(url).bearer_auth(READ_TOKEN).send().unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let tail: Value = answer.json().unwrap();
    let text = tail["text"].as_str().unwrap();
    let on_disk = cluster.worker_log("sup-a", "wc-https");
    assert!(!text.is_empty() && on_disk.trim_end().ends_with(text.trim_end()), "{tail}");
    // The supervisor's /metrics (a Prometheus target nimbus lists): HTTPS
    // with the CA, nothing over plain HTTP.
    let url = format!("{}/api/v1/metrics/targets", secure.base);
    let groups: Value = https.get(url).bearer_auth(READ_TOKEN).send().unwrap().json().unwrap();
    let target = groups
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["labels"]["supervisor"] == "sup-a")
        .find_map(|g| g["targets"][0].as_str())
        .unwrap_or_else(|| panic!("no target of sup-a: {groups}"))
        .to_string();
    let scraped = https.get(format!("https://{target}/metrics")).send().unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(scraped.text().unwrap().contains("squall_supervisor_slots"));
    let port: u16 = target.rsplit(':').next().unwrap().parse().unwrap();
    let plain = support::http_get(port, "/metrics").unwrap_or_default();
    assert!(!plain.contains("squall_"), "plain HTTP answered: {plain}");
}

#[test]
fn squall_run_serves_its_query_api_over_https_with_the_configured_certificate() {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("squall run CA");
    let ca_file = dir.path().join("ca.crt");
    ca.write(&ca_file);
    let (cert, key) = ca.issue(dir.path(), "run");
    let (input, _) = support::repeated_corpus(dir.path(), 3);
    let mut run = support::queryable_run(&input, &dir.path().join("out.csv"))
        .env("SQUALL__API_TLS__CERT", &cert)
        .env("SQUALL__API_TLS__KEY", &key)
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(run.stderr.take().unwrap()).read_line(&mut first).unwrap();
    let server = first
        .strip_prefix("query API on ")
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    assert!(server.starts_with("https://127.0.0.1:"), "{first}");
    let url = format!("{server}/query/word-count-queryable/count/count?key=the");
    let https = client_trusting(&ca_file);
    let mut answered = None;
    wait_until("an answer over HTTPS", || {
        answered = https.get(&url).send().ok().filter(|r| r.status().is_success());
        answered.is_some()
    });
    let value: Value = answered.unwrap().json().unwrap();
    assert!(value["value"].as_u64().is_some(), "{value}");
    // A client without the CA refuses the certificate; plain HTTP gets
    // no answer.
    let system_roots = Client::builder().use_rustls_tls().build().unwrap();
    let refused = system_roots.get(&url).send().unwrap_err();
    assert!(format!("{refused:?}").contains("ertificate"), "{refused:?}");
    let port: u16 = server.rsplit(':').next().unwrap().parse().unwrap();
    let plain = support::http_get(port, "/query/word-count-queryable/count/count?key=the");
    assert!(!plain.unwrap_or_default().contains("value"), "plain HTTP answered");
    run.kill().unwrap();
    run.wait().unwrap();
}
